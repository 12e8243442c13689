/**
 * The command line as the shell will hand it to ferry, for completion: the
 * shell passes the raw text before the cursor, and we split it with sh's
 * quoting rules (backslash, '...', "..."), so a name with spaces or quotes
 * completes the same whether it was typed escaped or quoted. Candidates are
 * quoted back the way the word was begun. No expansion ($VAR, globs) is done:
 * completion must never run anything.
 */

export type QuoteStyle = 'none' | "'" | '"';

export interface ShellWord {
  /** The text as typed. */
  raw: string;
  /** What the program will receive. */
  value: string;
}

export interface SplitLine {
  /** Complete words before the one under the cursor. */
  words: ShellWord[];
  /** The word under the cursor (possibly empty). */
  current: ShellWord;
  /** The quote still open at the cursor. */
  open: QuoteStyle;
}

const isBlank = (c: string) => c === ' ' || c === '\t' || c === '\n';

export function splitShellLine(line: string): SplitLine {
  const words: ShellWord[] = [];
  let raw = '';
  let value = '';
  let inWord = false;
  let open: QuoteStyle = 'none';
  for (let i = 0; i < line.length; i++) {
    const c = line[i];
    if (open === "'") {
      raw += c;
      if (c === "'") open = 'none';
      else value += c;
      continue;
    }
    if (open === '"') {
      raw += c;
      if (c === '"') open = 'none';
      else if (c === '\\' && i + 1 < line.length && '"\\$`\n'.includes(line[i + 1])) {
        raw += line[++i];
        if (line[i] !== '\n') value += line[i];
      } else value += c;
      continue;
    }
    if (isBlank(c)) {
      if (inWord) words.push({ raw, value });
      raw = '';
      value = '';
      inWord = false;
      continue;
    }
    inWord = true;
    raw += c;
    if (c === '\\') {
      if (i + 1 < line.length) {
        raw += line[++i];
        if (line[i] !== '\n') value += line[i];
      }
    } else if (c === "'" || c === '"') {
      open = c;
    } else {
      value += c;
    }
  }
  return { words, current: { raw, value }, open };
}

// Characters the shell would split on or interpret in an unquoted word.
const SPECIAL = /[\s\\'"`$&|;<>()*?[\]{}!#~]/;

/**
 * `value` quoted for a word that began in `style`; the leading quote is
 * included. Names with a newline are never offered (answers are one a line).
 */
export function quoteFor(value: string, style: QuoteStyle, opts: { keepTilde?: boolean } = {}): string {
  if (style === "'") return `'${value.replace(/'/g, `'\\''`)}`;
  if (style === '"') return `"${value.replace(/["\\$`]/g, '\\$&')}`;
  let out = '';
  for (let i = 0; i < value.length; i++) {
    const c = value[i];
    // A leading ~/ must stay unquoted to be expanded. ':' and '=' are only
    // word breaks to completion (trimForBash), not to the shell: left as typed.
    if (c === '~' && i === 0 && opts.keepTilde) out += c;
    else out += SPECIAL.test(c) ? `\\${c}` : c;
  }
  return out;
}

/**
 * bash replaces only the text after the last COMP_WORDBREAKS character of the
 * word (':' and '=' by default), so a candidate for the whole word is cut to
 * what follows that point. Breaks inside quotes or escaped do not count.
 */
export function trimForBash(candidate: string, typedRaw: string, wordbreaks: string): string {
  let cut = 0;
  let open: QuoteStyle = 'none';
  for (let i = 0; i < typedRaw.length; i++) {
    const c = typedRaw[i];
    if (open !== 'none') {
      if (c === open) open = 'none';
      else if (c === '\\' && open === '"') i++;
      continue;
    }
    if (c === '\\') i++;
    else if (c === "'" || c === '"') open = c;
    else if (wordbreaks.includes(c) && !isBlank(c)) cut = i + 1;
  }
  return candidate.startsWith(typedRaw.slice(0, cut)) ? candidate.slice(cut) : candidate;
}
