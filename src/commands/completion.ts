/**
 * `ferry completion bash|zsh` prints a script to source; the script asks the
 * hidden `ferry __complete` what to offer, as gh and kubectl do, so the
 * answers come from the same option table and ssh code the commands use.
 * Remote paths are listed over SFTP in BatchMode, within a 3 s ceiling: a
 * TAB never prompts and never hangs the shell.
 */
import type { Command } from 'commander';
import { quoteFor, splitShellLine, trimForBash, type SplitLine } from '../cli/shell-words.js';
import { UsageError } from '../errors.js';
import { silentPrompter } from '../ssh/prompter.js';
import { completeLine, type Candidate, type CommandSpec, type OptionSpec, type RemoteRequest } from './completion-candidates.js';
import { BASH_SCRIPT, ZSH_SCRIPT } from './completion-scripts.js';

const CEILING_MS = 3000;
const FILE_OPTIONS = new Set(['-i', '-F', '-f', '--log-file', '--exclude-from']);
const HOST_OPTIONS = new Set(['-J']);
const OPERANDS: Record<string, CommandSpec['operands']> = { cp: 'paths', sync: 'paths', 'copy-id': 'host', 'ssh-config': 'host' };

export function runCompletionScript(shell: string): number {
  if (shell === 'bash') process.stdout.write(BASH_SCRIPT);
  else if (shell === 'zsh') process.stdout.write(ZSH_SCRIPT);
  else throw new UsageError(`no completion for shell "${shell}"`, { hint: 'ferry completion bash, or ferry completion zsh' });
  return 0;
}

function optionSpecs(cmd: Command): OptionSpec[] {
  const out: OptionSpec[] = cmd.options.filter((o) => !o.hidden).map((o) => {
    const names = [o.short, o.long].filter((n): n is string => Boolean(n));
    const takesValue = o.required || o.optional;
    const value = names.some((n) => FILE_OPTIONS.has(n)) ? 'file' : names.some((n) => HOST_OPTIONS.has(n)) ? 'host' : 'none';
    return { names, takesValue, value };
  });
  return [...out, { names: ['-h', '--help'], takesValue: false, value: 'none' }];
}

/** The commands and options as commander knows them, hidden ones left out. */
export function commandSpecs(program: Command): { commands: CommandSpec[]; top: OptionSpec[] } {
  const commands = program.commands
    .filter((c) => !c.name().startsWith('__'))
    .map((c): CommandSpec => ({
      name: c.name(), options: optionSpecs(c), operands: OPERANDS[c.name()] ?? 'none', remoteGlobs: c.name() === 'cp',
      choices: c.name() === 'completion' ? ['bash', 'zsh'] : undefined,
    }));
  return { commands, top: optionSpecs(program) };
}

async function listRemote(r: RemoteRequest): Promise<{ name: string; dir: boolean }[]> {
  const [{ Endpoints }, { parseLocation }] = await Promise.all([import('./endpoints.js'), import('./location.js')]);
  const loc = parseLocation(`${r.target}:`);
  if (loc.kind !== 'remote') return [];
  // BatchMode and ConnectTimeout first: in ssh_config the first value wins, so -o cannot undo them.
  const endpoints = new Endpoints({
    cli: { configFile: r.configFile, options: ['BatchMode=yes', 'ConnectTimeout=3', ...r.sshOptions], port: r.port, identityFiles: r.identity, jump: r.jump },
    prompter: silentPrompter,
    connections: 1,
  });
  try {
    const ep = await endpoints.get(loc);
    const entries = (await ep.readdir(r.dir)).filter((e) => e.name.startsWith(r.prefix));
    const base = r.dir.endsWith('/') ? r.dir : `${r.dir}/`;
    // readdir reports links as links: the wanted ones (a few dozen at most) are asked whether they lead to a directory.
    let stats = 0;
    return await Promise.all(entries.map(async (e) => ({
      name: e.name,
      dir: e.attrs.kind === 'dir' || (e.attrs.kind === 'symlink' && stats++ < 64 &&
        (await ep.stat(`${base}${e.name}`).catch(() => undefined))?.kind === 'dir'),
    })));
  } finally {
    void endpoints.closeAll();
  }
}

const commonPrefix = (list: string[]) => list.reduce((a, b) => {
  let i = 0;
  while (i < a.length && i < b.length && a[i] === b[i]) i++;
  return a.slice(0, i);
});

/**
 * bash inserts the longest common prefix of its candidates, which for quoted
 * forms can end inside an escape (`a\ b` and `a\*1` share `a\`). So the
 * prefix is worked out on the values: a longer one is the single answer; else
 * the list is shown, with the typed word added when the quoted forms would
 * still share more than it.
 */
function renderBash(line: SplitLine, found: Candidate[]): string {
  const wordbreaks = process.env.FERRY_COMP_WORDBREAKS ?? '"\'><=;|&(:';
  const show = (value: string) => trimForBash(quoteFor(value, line.open, { keepTilde: true }), line.current.raw, wordbreaks);
  let lines: string[];
  let more = found.some((c) => c.more);
  const shared = found.length > 1 ? commonPrefix(found.map((c) => c.value)) : '';
  if (found.length > 1 && shared.length > line.current.value.length) {
    lines = [show(shared)];
    more = true;
  } else {
    lines = found.map((c) => show(c.value));
    const typed = trimForBash(line.current.raw, line.current.raw, wordbreaks);
    if (lines.length > 1 && commonPrefix(lines).length > typed.length) lines.push(typed);
  }
  // One answer that is a directory or `host:` (or a common prefix) leaves the cursor on the word.
  return [more ? 'nospace' : 'space', ...lines].map((l) => `${l}\n`).join('');
}

function render(shell: string, line: SplitLine, found: Candidate[]): string {
  if (shell === 'zsh') return found.map((c) => `${c.value}\t${c.more ? 'more' : 'done'}\n`).join('');
  return renderBash(line, found);
}

/**
 * `ferry __complete bash LINE` (LINE: the command line up to the cursor, as
 * typed) or `ferry __complete zsh WORD...` (the words, unquoted, the last one
 * under the cursor). Prints the answer; nothing at all after the ceiling.
 */
export async function runComplete(program: Command, shell: string, args: string[]): Promise<number> {
  const ceiling = setTimeout(() => process.exit(0), CEILING_MS);
  const line: SplitLine = shell === 'zsh'
    ? { words: args.slice(0, -1).map((v) => ({ raw: v, value: v })), current: { raw: args.at(-1) ?? '', value: args.at(-1) ?? '' }, open: 'none' }
    : splitShellLine(args.join(' '));
  const { commands, top } = commandSpecs(program);
  let found: Candidate[] = [];
  try {
    found = await completeLine(line, commands, top, { listRemote });
  } catch {
    // No answer is better than an error message in the middle of a command line.
  }
  clearTimeout(ceiling);
  process.stdout.write(render(shell, line, found));
  return 0;
}
