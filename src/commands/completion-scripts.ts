/**
 * The scripts `ferry completion bash|zsh` prints. Each hands the command line
 * to `ferry __complete` and shows what comes back; all the knowledge (options,
 * hosts, remote listing, quoting) stays in ferry.
 */

// bash: ferry gets the raw line up to the cursor and COMP_WORDBREAKS, and
// answers a directive line ("nospace" or "space") then one COMPREPLY entry a
// line, already quoted and cut to the part bash replaces. Read line by line,
// not by $(...) word splitting, so a `*` in a name is never globbed here (and
// without mapfile, which macOS's bash 3.2 lacks).
export const BASH_SCRIPT = `# bash completion for ferry. In this shell:  source <(ferry completion bash)
# For every new shell, add that line to ~/.bashrc, or save the script as
# ~/.local/share/bash-completion/completions/ferry (with bash-completion).
_ferry_complete() {
  local -a lines=()
  local line
  while IFS= read -r line; do
    lines+=("$line")
  done < <(FERRY_COMP_WORDBREAKS="$COMP_WORDBREAKS" command ferry __complete bash -- "\${COMP_LINE:0:COMP_POINT}" 2>/dev/null)
  [[ \${#lines[@]} -gt 0 ]] || return 0
  [[ \${lines[0]} == nospace ]] && compopt -o nospace 2>/dev/null
  COMPREPLY=("\${lines[@]:1}")
  return 0
}
complete -F _ferry_complete ferry
`;

// zsh: ferry gets the words unquoted and answers plain values, each tagged
// "more" (a directory or host:, no space after it) or "done"; compadd does
// the quoting for whatever quote the word is in. -U: ferry already matched.
export const ZSH_SCRIPT = `#compdef ferry
# zsh completion for ferry. In this shell (after compinit):  source <(ferry completion zsh)
# For every new shell, add that line to ~/.zshrc after compinit, or save the
# script as _ferry in a directory on $fpath.
_ferry() {
  local -a answer more done_
  local c
  answer=("\${(@f)$(command ferry __complete zsh -- "\${(@Q)words[1,CURRENT-1]}" "\${(Q)PREFIX}" 2>/dev/null)}")
  for c in "\${answer[@]}"; do
    case $c in
      (*$'\\t'more) more+=("\${c%$'\\t'more}") ;;
      (*$'\\t'done) done_+=("\${c%$'\\t'done}") ;;
    esac
  done
  (( \${#more} )) && compadd -S '' -- "\${more[@]}"
  (( \${#done_} )) && compadd -- "\${done_[@]}"
  return 0
}
if (( $+functions[compdef] )); then
  compdef _ferry ferry
fi
`;
