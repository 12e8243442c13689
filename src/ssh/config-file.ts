/**
 * Reading ssh_config files the way OpenSSH's readconf.c does: lines in order,
 * `Host`/`Match` switching the following lines on or off, `Include` read in
 * place, and the first value of each keyword kept. The `ssh-config` package
 * tokenises each line; this file adds what it lacks for that: line numbers,
 * Include, OpenSSH's `?` (exactly one character), and Match that never runs
 * `exec` commands.
 */
import { readdirSync, readFileSync, statSync } from 'node:fs';
import { isAbsolute } from 'node:path';
import SSHConfig from 'ssh-config';
import { UsageError } from '../errors.js';
import { matchPatternList } from './match-pattern.js';

/** Where a value came from: a file and line, or a command-line option. */
export interface Origin {
  file: string;
  line: number;
  /** Set for -o and the other command-line flags: the option as typed. */
  option?: string;
}

export function describeOrigin(o: Origin): string {
  return o.option !== undefined ? `command-line option ${o.option}` : `${o.file} line ${o.line}`;
}

export function configError(o: Origin, reason: string): UsageError {
  return new UsageError(`${describeOrigin(o)}: ${reason}`, {
    hint: o.option !== undefined ? 'see "man ssh_config" for the keyword\'s values' : `fix that line of ${o.file} (see "man ssh_config")`,
  });
}

export interface ConfigLine {
  line: number;
  /** Lower-cased keyword. */
  keyword: string;
  args: string[];
}

export interface OptionValue {
  args: string[];
  origin: Origin;
  /** Order of arrival, to tell which of two related keywords came first. */
  seq: number;
}

/** Keywords whose every occurrence adds to a list; all others keep their first value. */
const CUMULATIVE = new Set(['identityfile', 'certificatefile']);

/** The values found so far: command line first, then files, first one winning. */
export class OptionStore {
  private readonly first = new Map<string, OptionValue>();
  private readonly lists = new Map<string, OptionValue[]>();
  private seq = 0;

  set(keyword: string, args: string[], origin: Origin): void {
    const v = { args, origin, seq: this.seq++ };
    if (CUMULATIVE.has(keyword)) {
      const list = this.lists.get(keyword) ?? [];
      list.push(v);
      this.lists.set(keyword, list);
    } else if (!this.first.has(keyword)) {
      this.first.set(keyword, v);
    }
  }

  get(keyword: string): OptionValue | undefined {
    return this.first.get(keyword);
  }

  getAll(keyword: string): OptionValue[] {
    return this.lists.get(keyword) ?? [];
  }
}

function parseReason(err: unknown, keyword: string): string {
  const msg = err instanceof Error ? err.message : String(err);
  if (/unexpected line break/i.test(msg)) return 'unterminated quote';
  if (err instanceof TypeError) return `${keyword}: missing argument`;
  return msg;
}

/** Tokenise one file's text; a line the parser rejects is an error naming file and line. */
export function parseConfigText(text: string, file: string, option?: string): ConfigLine[] {
  const out: ConfigLine[] = [];
  text.split(/\r?\n/).forEach((raw, i) => {
    const trimmed = raw.trim();
    if (trimmed === '' || trimmed.startsWith('#')) return;
    const origin: Origin = { file, line: i + 1, option };
    const keyword = /^[^\s=]*/.exec(trimmed)![0];
    let node;
    try {
      node = SSHConfig.parse(trimmed)[0];
    } catch (err) {
      throw configError(origin, parseReason(err, keyword));
    }
    if (!node || node.type !== SSHConfig.DIRECTIVE) return;
    if (!node.param) throw configError(origin, `no keyword before "${trimmed}"`);
    const args = Array.isArray(node.value) ? node.value.map((v) => v.val) : node.value === '' ? [] : [node.value];
    out.push({ line: i + 1, keyword: node.param.toLowerCase(), args });
  });
  return out;
}

export interface EvalContext {
  /** The host as typed, lower-cased: what `Host` lines are matched against. */
  host: string;
  home: string;
  store: OptionStore;
  debug: (msg: string) => void;
}

interface FileState {
  active: boolean;
  /** Set inside an Include read from an inactive block: nothing in it may apply. */
  neverMatch: boolean;
  system: boolean;
  depth: number;
}

const MAX_INCLUDE_DEPTH = 16;

/** `Match host` compares against HostName as set so far (with %h), else the host typed. */
function hostForMatch(ctx: EvalContext): string {
  const hn = ctx.store.get('hostname')?.args[0];
  return hn ? hn.replace(/%([%h])/g, (_, t: string) => (t === 'h' ? ctx.host : '%')) : ctx.host;
}

function matchLineMatches(args: string[], ctx: EvalContext, origin: Origin): boolean {
  if (args.length === 0) throw configError(origin, 'Match needs criteria, e.g. "Match host NAME" or "Match all"');
  let result = true;
  for (let i = 0; i < args.length; ) {
    const word = args[i++].toLowerCase();
    const negate = word.startsWith('!');
    const kw = negate ? word.slice(1) : word;
    let r: boolean;
    if (kw === 'all') {
      r = !negate;
    } else if (kw === 'host') {
      if (i >= args.length) throw configError(origin, 'Match host: missing argument');
      r = matchPatternList(hostForMatch(ctx), args[i++]) !== negate;
    } else {
      const argless = kw === 'canonical' || kw === 'final';
      if (!argless && i >= args.length) throw configError(origin, `Match ${kw}: missing argument`);
      if (!argless) i++;
      // exec would run a command; user, localuser, originalhost etc. are not implemented.
      ctx.debug(`${describeOrigin(origin)}: Match ${kw} is not supported by ferry; the block is treated as not matching`);
      r = false;
    }
    if (!r) result = false;
  }
  return result;
}

/** The files an `Include` pattern names: `~` is the home, relative is to ~/.ssh (or /etc/ssh in the system file). */
export function includeFiles(pattern: string, home: string, system: boolean): string[] {
  let p: string;
  if (pattern === '~' || pattern.startsWith('~/')) p = home + pattern.slice(1);
  else if (isAbsolute(pattern)) p = pattern;
  else p = `${system ? '/etc/ssh' : `${home}/.ssh`}/${pattern}`;
  return globFiles(p).sort();
}

/**
 * glob(3) as OpenSSH's Include uses it: `*`, `?` and `[...]` within one path
 * component, a leading dot matched only by a dot, symlinks followed, files
 * only. Written out (a directory read per wildcard component) because every
 * run reads Debian's `Include /etc/ssh/ssh_config.d/*.conf`, and loading a
 * glob library cost more start-up time than the rest of reading the config.
 */
function globFiles(pattern: string): string[] {
  const parts = pattern.split('/');
  let paths = [parts[0] === '' ? '/' : parts[0]];
  for (let i = 1; i < parts.length; i++) {
    const part = parts[i];
    if (part === '') continue;
    const next: string[] = [];
    for (const dir of paths) {
      const join = (name: string) => (dir.endsWith('/') ? dir + name : `${dir}/${name}`);
      if (!/[*?[]/.test(part)) {
        next.push(join(part.replace(/\\(.)/g, '$1')));
        continue;
      }
      let names: string[];
      try {
        names = readdirSync(dir);
      } catch {
        continue;
      }
      const re = globPart(part);
      for (const n of names.sort()) if (re.test(n)) next.push(join(n));
    }
    paths = next;
  }
  return paths.filter((f) => {
    try {
      return statSync(f).isFile();
    } catch {
      return false;
    }
  });
}

/** One component's glob as a regular expression; a leading dot must be matched by one. */
function globPart(part: string): RegExp {
  let re = part.startsWith('.') ? '' : '(?!\\.)';
  for (let i = 0; i < part.length; i++) {
    const c = part[i];
    if (c === '*') re += '[^/]*';
    else if (c === '?') re += '[^/]';
    else if (c === '\\' && i + 1 < part.length) re += escapeRe(part[++i]);
    else if (c === '[') {
      const end = part.indexOf(']', i + 2);
      if (end < 0) {
        re += '\\[';
        continue;
      }
      let set = part.slice(i + 1, end);
      if (set.startsWith('!')) set = `^${set.slice(1)}`;
      re += `[${set.replace(/\\/g, '\\\\')}]`;
      i = end;
    } else re += escapeRe(c);
  }
  return new RegExp(`^${re}$`);
}

const escapeRe = (c: string) => c.replace(/[.*+?^${}()|[\]\\]/g, '\\$&');

function applyLines(lines: ConfigLine[], file: string, ctx: EvalContext, state: FileState): void {
  for (const l of lines) {
    const origin: Origin = { file, line: l.line };
    switch (l.keyword) {
      case 'host':
        if (l.args.length === 0) throw configError(origin, 'Host needs at least one pattern');
        state.active = !state.neverMatch && matchPatternList(ctx.host, l.args);
        if (state.active) ctx.debug(`${describeOrigin(origin)}: Applying options for ${l.args.join(' ')}`);
        break;
      case 'match':
        state.active = matchLineMatches(l.args, ctx, origin) && !state.neverMatch;
        if (state.active) ctx.debug(`${describeOrigin(origin)}: Applying options for Match ${l.args.join(' ')}`);
        break;
      case 'include': {
        if (l.args.length === 0) throw configError(origin, 'Include: missing argument');
        if (state.depth >= MAX_INCLUDE_DEPTH) throw configError(origin, 'Include nested too deeply (a file including itself?)');
        const outer = state.active;
        for (const pattern of l.args) {
          const files = includeFiles(pattern, ctx.home, state.system);
          if (files.length === 0) ctx.debug(`${describeOrigin(origin)}: Include "${pattern}" matches no files`);
          for (const f of files) {
            readConfigFile(f, ctx, { active: outer, neverMatch: state.neverMatch || !outer, system: state.system, depth: state.depth + 1 });
          }
        }
        state.active = outer;
        break;
      }
      default:
        if (state.active) ctx.store.set(l.keyword, l.args, origin);
    }
  }
}

function readText(file: string, required: boolean): string | undefined {
  try {
    return readFileSync(file, 'utf8');
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code;
    if (code === 'ENOENT' && !required) return undefined;
    const reason = code === 'ENOENT' ? 'No such file or directory' : code === 'EACCES' ? 'Permission denied' : (err as Error).message;
    throw new UsageError(`can't open config file "${file}": ${reason}`, { cause: err });
  }
}

function readConfigFile(file: string, ctx: EvalContext, state: FileState, required = true): void {
  const text = readText(file, required);
  if (text === undefined) return;
  ctx.debug(`Reading configuration data ${file}`);
  applyLines(parseConfigText(text, file), file, ctx, state);
}

/**
 * Apply one top-level config file (-F, ~/.ssh/config or /etc/ssh/ssh_config).
 * A missing file is an error only when `required`.
 */
export function applyConfigFile(file: string, ctx: EvalContext, opts: { required: boolean; system: boolean }): void {
  readConfigFile(file, ctx, { active: true, neverMatch: false, system: opts.system, depth: 0 }, opts.required);
}

/** Apply -o options: each is one config line, active for every host. */
export function applyOptionLine(option: string, text: string, ctx: EvalContext): void {
  for (const l of parseConfigText(text, 'command line', option)) {
    const origin: Origin = { file: 'command line', line: 0, option };
    if (l.keyword === 'host' || l.keyword === 'match' || l.keyword === 'include') {
      throw configError(origin, `${l.keyword} is not allowed on the command line`);
    }
    ctx.store.set(l.keyword, l.args, origin);
  }
}
