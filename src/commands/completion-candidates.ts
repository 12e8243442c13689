/**
 * What to offer at the cursor: subcommands, a command's options, local paths,
 * host names, or (through `list`, over SFTP) remote paths. Works on the
 * command line split as the shell will split it (shell-words.ts) and on a
 * description of the commands taken from commander, so it never drifts from
 * what ferry accepts.
 */
import { readdir, stat } from 'node:fs/promises';
import { homedir } from 'node:os';
import type { SplitLine } from '../cli/shell-words.js';
import { listHostNames } from '../ssh/host-names.js';
import { colonIndex } from './location.js';

export type ValueKind = 'file' | 'host' | 'none';

export interface OptionSpec {
  names: string[];
  takesValue: boolean;
  value: ValueKind;
}

export interface CommandSpec {
  name: string;
  options: OptionSpec[];
  /** cp/sync take local or remote paths; copy-id/ssh-config a host. */
  operands: 'paths' | 'host' | 'none';
  /** cp expands remote globs, so remote names are glob-escaped for it. */
  remoteGlobs: boolean;
  /** Fixed operand words (completion: bash, zsh). */
  choices?: string[];
}

export interface Candidate {
  value: string;
  /** More can follow (a directory, `host:`): no space after it. */
  more: boolean;
}

/** The SSH settings typed so far, for listing a remote directory the way the command would connect. */
export interface RemoteRequest {
  /** `[user@]host` as typed before the ':'. */
  target: string;
  /** The directory to list, as the SFTP server takes it ('.' = login directory). */
  dir: string;
  /** Only names starting with this are wanted. */
  prefix: string;
  port?: number;
  identity: string[];
  sshOptions: string[];
  configFile?: string;
  jump?: string;
}

export interface CompletionIo {
  listRemote(r: RemoteRequest): Promise<{ name: string; dir: boolean }[]>;
}

const byValue = (a: Candidate, b: Candidate) => (a.value < b.value ? -1 : a.value > b.value ? 1 : 0);
const escapeGlob = (name: string) => name.replace(/[\\*?[]/g, '\\$&');
const unescapeGlob = (s: string) => s.replace(/\\(.)/gsu, '$1');

/** The option a word names (`-P`, `--retries`, `-P2222`, `--retries=3`), and a value given with it. */
function optionOf(spec: CommandSpec, word: string): { opt: OptionSpec; inline?: string } | undefined {
  const eq = word.indexOf('=');
  if (word.startsWith('--')) {
    const opt = spec.options.find((o) => o.names.includes(eq < 0 ? word : word.slice(0, eq)));
    return opt && { opt, inline: eq < 0 ? undefined : word.slice(eq + 1) };
  }
  // A cluster: -rpP 22 or -P22; the first flag that takes a value ends it.
  for (let i = 1; i < word.length; i++) {
    const opt = spec.options.find((o) => o.names.includes(`-${word[i]}`));
    if (!opt) return undefined;
    if (opt.takesValue) return { opt, inline: i < word.length - 1 ? word.slice(i + 1) : undefined };
  }
  return undefined;
}

interface Parsed {
  spec?: CommandSpec;
  /** The option whose value the current word is. */
  valueFor?: OptionSpec;
  afterDashDash: boolean;
  settings: Omit<RemoteRequest, 'target' | 'dir' | 'prefix'>;
}

function parseWords(line: SplitLine, specs: CommandSpec[]): Parsed {
  const words = line.words.slice(1).map((w) => w.value);
  const settings: Parsed['settings'] = { identity: [], sshOptions: [] };
  let spec: CommandSpec | undefined;
  let i = 0;
  for (; i < words.length && !spec; i++) spec = words[i].startsWith('-') ? undefined : specs.find((s) => s.name === words[i]);
  if (!spec) return { afterDashDash: false, settings };
  let afterDashDash = false;
  let valueFor: OptionSpec | undefined;
  const record = (opt: OptionSpec, v: string) => {
    if (opt.names.includes('-P') || (opt.names.includes('-p') && spec!.name === 'copy-id')) settings.port = Number(v) || undefined;
    else if (opt.names.includes('-i')) settings.identity.push(v);
    else if (opt.names.includes('-o')) settings.sshOptions.push(v);
    else if (opt.names.includes('-F')) settings.configFile = v;
    else if (opt.names.includes('-J')) settings.jump = v;
  };
  for (; i < words.length; i++) {
    const w = words[i];
    if (valueFor) {
      record(valueFor, w);
      valueFor = undefined;
    } else if (afterDashDash || !w.startsWith('-') || w === '-') {
      continue;
    } else if (w === '--') {
      afterDashDash = true;
    } else {
      const o = optionOf(spec, w);
      if (o?.inline !== undefined) record(o.opt, o.inline);
      else if (o?.opt.takesValue) valueFor = o.opt;
    }
  }
  return { spec, valueFor, afterDashDash, settings };
}

async function localPaths(prefix: string): Promise<Candidate[]> {
  const slash = prefix.lastIndexOf('/');
  const dirPart = prefix.slice(0, slash + 1);
  const base = prefix.slice(slash + 1);
  const home = homedir();
  const expanded = dirPart.startsWith('~/') ? `${home}/${dirPart.slice(2)}` : dirPart;
  if (prefix === '~') return [{ value: '~/', more: true }];
  let entries;
  try {
    entries = await readdir(expanded || '.', { withFileTypes: true });
  } catch {
    return [];
  }
  const out: Candidate[] = [];
  for (const e of entries) {
    if (!e.name.startsWith(base) || (e.name.startsWith('.') && !base.startsWith('.')) || /[\n\0]/.test(e.name)) continue;
    let dir = e.isDirectory();
    if (e.isSymbolicLink()) dir = (await stat(`${expanded || '.'}/${e.name}`).catch(() => undefined))?.isDirectory() ?? false;
    out.push({ value: `${dirPart}${e.name}${dir ? '/' : ''}`, more: dir });
  }
  return out.sort(byValue);
}

function hostCandidates(value: string, settings: Parsed['settings'], suffix: ':' | ''): Candidate[] {
  const at = value.lastIndexOf('@');
  const user = value.slice(0, at + 1);
  const typed = value.slice(at + 1);
  return listHostNames({ configFile: settings.configFile })
    .filter((h) => h.startsWith(typed))
    .map((h) => ({ value: `${user}${h}${suffix}`, more: suffix !== '' }));
}

async function remotePaths(value: string, colon: number, p: Parsed, io: CompletionIo): Promise<Candidate[]> {
  const target = value.slice(0, colon);
  const typedPath = value.slice(colon + 1);
  const slash = typedPath.lastIndexOf('/');
  const dirTyped = typedPath.slice(0, slash + 1);
  const globs = p.spec!.remoteGlobs;
  const base = globs ? unescapeGlob(typedPath.slice(slash + 1)) : typedPath.slice(slash + 1);
  let dir = globs ? unescapeGlob(dirTyped) : dirTyped;
  if (dir.startsWith('~/')) dir = dir.slice(2);
  const entries = await io.listRemote({ ...p.settings, target, dir: dir === '' ? '.' : dir, prefix: base });
  return entries
    // A name that would break the one-per-line answer, or hidden unless asked for, is left out.
    .filter((e) => e.name.startsWith(base) && !/[\n\0/]/.test(e.name) && e.name !== '.' && e.name !== '..'
      && (!e.name.startsWith('.') || base.startsWith('.')))
    .map((e) => ({ value: `${target}:${dirTyped}${globs ? escapeGlob(e.name) : e.name}${e.dir ? '/' : ''}`, more: e.dir }))
    .sort(byValue);
}

/** Candidates for the word under the cursor, as values (unquoted). */
export async function completeLine(line: SplitLine, specs: CommandSpec[], top: OptionSpec[], io: CompletionIo): Promise<Candidate[]> {
  const cur = line.current.value;
  const p = parseWords(line, specs);
  const words = (list: string[]) => list.filter((w) => w.startsWith(cur)).sort().map((value) => ({ value, more: false }));
  if (!p.spec) {
    if (line.words.slice(1).some((w) => !w.value.startsWith('-'))) return []; // an unknown command
    if (cur.startsWith('-')) return words(top.flatMap((o) => o.names));
    return words(specs.map((s) => s.name));
  }
  if (p.valueFor) {
    if (p.valueFor.value === 'file') return localPaths(cur);
    if (p.valueFor.value === 'host') return hostCandidates(cur, p.settings, '');
    return [];
  }
  if (cur.startsWith('-') && !p.afterDashDash) return words(p.spec.options.flatMap((o) => o.names));
  if (p.spec.choices) return words(p.spec.choices);
  if (p.spec.operands === 'host') return hostCandidates(cur, p.settings, '');
  if (p.spec.operands !== 'paths') return [];
  if (cur.startsWith('scp://')) return [];
  const colon = colonIndex(cur);
  if (colon > 0) return remotePaths(cur, colon, p, io);
  const hosts = cur.includes('/') || cur.startsWith('~') || cur.startsWith('.') ? [] : hostCandidates(cur, p.settings, ':');
  return [...(await localPaths(cur)), ...hosts];
}
