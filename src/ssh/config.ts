/**
 * Resolve the settings for one host from the command line (-o, -P, -i,
 * user@, -J, -c, -C) and ssh_config files (-F, else ~/.ssh/config then
 * /etc/ssh/ssh_config), first value winning as in OpenSSH.
 */
import { homedir, hostname as localHostName, userInfo } from 'node:os';
import { UsageError } from '../errors.js';
import { ALGORITHM_KEYWORDS, assembleAlgorithms, type AlgorithmKind } from './algorithms.js';
import { applyConfigFile, applyOptionLine, configError, describeOrigin, OptionStore, type EvalContext, type OptionValue, type Origin } from './config-file.js';

export type StrictMode = 'ask' | 'yes' | 'no' | 'accept-new';

export interface SshCliOptions {
  /** -F */
  configFile?: string;
  /** -o, in the order given. */
  options?: string[];
  /** -P / -p */
  port?: number;
  /** -i, in the order given. */
  identityFiles?: string[];
  /** -C */
  compression?: boolean;
  /** -c */
  cipher?: string;
  /** -J */
  jump?: string;
}

export interface HostSettings {
  /** What the user typed (alias). */
  alias: string;
  hostName: string;
  port: number;
  user: string;
  /** Identity files to try, tokens expanded (OpenSSH's defaults when none is configured). */
  identityFiles: string[];
  /** The same as written in the config, as `ssh -G` prints them. */
  identityFileSpecs: string[];
  /** False when identityFiles are only OpenSSH's defaults (missing ones are not worth a warning). */
  identityFilesExplicit: boolean;
  identitiesOnly: boolean;
  /** none, SSH_AUTH_SOCK, $VAR, or a socket path (expanded). */
  identityAgent?: string;
  batchMode: boolean;
  /** Seconds. */
  connectTimeout?: number;
  strictHostKeyChecking: StrictMode;
  userKnownHostsFiles: string[];
  globalKnownHostsFiles: string[];
  hashKnownHosts: boolean;
  /** The name to look the host key up under, instead of [host]:port. */
  hostKeyAlias?: string;
  /** Jump hosts, `[user@]host[:port]` comma-separated; undefined for none. */
  proxyJump?: string;
  compression: boolean;
  /** Same as algorithms.cipher. */
  ciphers?: string[];
  /** Only the kinds configured; the others are ssh2's defaults. */
  algorithms: Partial<Record<AlgorithmKind, string[]>>;
  serverAliveInterval: number;
  serverAliveCountMax: number;
  pubkeyAuthentication: boolean;
  kbdInteractiveAuthentication: boolean;
  passwordAuthentication: boolean;
  /** Method names in order; undefined for OpenSSH's default order. */
  preferredAuthentications?: string[];
  numberOfPasswordPrompts: number;
}

export interface ResolveOptions {
  /** -v notes: files read, blocks applied, what is not supported. */
  debug?: (msg: string) => void;
}

/** The keywords ferry acts on; any other is ignored, as the issue asks (with a -v note for -o). */
export const HONOURED_KEYWORDS = new Set([
  'hostname', 'port', 'user', 'identityfile', 'identitiesonly', 'identityagent', 'proxyjump', 'proxycommand',
  'stricthostkeychecking', 'userknownhostsfile', 'globalknownhostsfile', 'hashknownhosts', 'hostkeyalias', 'batchmode',
  'connecttimeout', 'serveraliveinterval', 'serveralivecountmax', 'compression', 'ciphers', 'kexalgorithms',
  'hostkeyalgorithms', 'macs', 'preferredauthentications', 'pubkeyauthentication', 'kbdinteractiveauthentication',
  'challengeresponseauthentication', 'passwordauthentication', 'numberofpasswordprompts',
]);

/** OpenSSH 9's default identity files, in its order. */
export const DEFAULT_IDENTITY_FILES = ['id_rsa', 'id_ecdsa', 'id_ecdsa_sk', 'id_ed25519', 'id_ed25519_sk', 'id_xmss', 'id_dsa'].map((n) => `~/.ssh/${n}`);

/** Parse `-o Key=Value` / `-o "Key Value"` into lower-cased keys. */
export function parseOption(opt: string): [string, string] {
  const m = /^\s*([A-Za-z][A-Za-z0-9]*)\s*(?:=\s*|\s+)(.*?)\s*$/.exec(opt);
  if (!m || m[2] === '') throw new UsageError(`bad -o option "${opt}"`, { hint: 'write it as -o Key=Value, e.g. -o Port=2222' });
  return [m[1].toLowerCase(), m[2]];
}

/** `[user@]host[:port]` or `ssh://[user@]host[:port]`, as -J and ProxyJump write a hop. */
export function parseJumpHop(spec: string): { alias: string; user?: string; port?: number } {
  const s = spec.trim().replace(/^ssh:\/\//, '');
  const m = /^(?:([^@]+)@)?(\[[^\]]+\]|[^:@[\]]+)(?::(\d+))?$/.exec(s);
  const port = m?.[3] ? Number(m[3]) : undefined;
  if (!m || (port !== undefined && (port < 1 || port > 65535))) {
    throw new UsageError(`bad jump host "${spec}"`, { hint: 'write it as [user@]host[:port], several separated by commas' });
  }
  return { user: m[1], alias: m[2].replace(/^\[|\]$/g, ''), port };
}

interface Tokens {
  home: string;
  localUser: string;
  user: string;
  host: string;
  alias: string;
  port: number;
}

/** ~, ${VAR} and OpenSSH's %-tokens, as ssh_config's TOKENS section describes. */
function expandPath(p: string, t: Tokens, origin: Origin): string {
  let out = p === '~' ? t.home : p.startsWith('~/') ? t.home + p.slice(1) : p;
  out = out.replace(/\$\{([A-Za-z_][A-Za-z0-9_]*)\}/g, (_, name: string) => {
    const v = process.env[name];
    if (v === undefined) throw configError(origin, `environment variable "${name}" in "${p}" is not set`);
    return v;
  });
  const full = localHostName();
  const values: Record<string, string> = {
    '%': '%', d: t.home, u: t.localUser, r: t.user, h: t.host, n: t.alias, p: String(t.port),
    l: full, L: full.split('.')[0], i: String(process.getuid?.() ?? ''),
  };
  return out.replace(/%(.?)/g, (_, k: string) => {
    if (!(k in values)) throw configError(origin, `unknown token %${k} in "${p}"`);
    return values[k];
  });
}

/** Typed access to the store; a bad value is an error naming where it came from. */
class Values {
  constructor(private readonly store: OptionStore) {}

  raw(k: string): OptionValue | undefined {
    const v = this.store.get(k);
    if (v && v.args.length === 0) throw configError(v.origin, `${k}: missing argument`);
    return v;
  }

  str(k: string): string | undefined {
    return this.raw(k)?.args[0];
  }

  choice<T>(k: string, map: Record<string, T>, dflt: T): T {
    const v = this.raw(k);
    if (!v) return dflt;
    if (!Object.hasOwn(map, v.args[0].toLowerCase())) throw configError(v.origin, `unsupported value "${v.args[0]}" for ${k} (one of: ${Object.keys(map).join(', ')})`);
    return map[v.args[0].toLowerCase()];
  }

  flag(k: string, dflt: boolean): boolean {
    return this.choice<boolean>(k, { yes: true, true: true, no: false, false: false }, dflt);
  }

  int(k: string, dflt: number, min: number, max: number): number {
    const v = this.raw(k);
    if (!v) return dflt;
    const n = Number(v.args[0]);
    if (!/^\d+$/.test(v.args[0]) || n < min || n > max) throw configError(v.origin, `bad number "${v.args[0]}" for ${k} (${min}-${max})`);
    return n;
  }

  /** OpenSSH time format: 30, 30s, 5m, 1h30m. undefined = "none". */
  seconds(k: string): number | undefined {
    const v = this.raw(k);
    if (!v || v.args[0].toLowerCase() === 'none') return undefined;
    const units: Record<string, number> = { '': 1, s: 1, m: 60, h: 3600, d: 86400, w: 604800 };
    const parts = /^(\d+[smhdw]?)+$/i.test(v.args[0]) ? v.args[0].match(/\d+[smhdw]?/gi)! : undefined;
    if (!parts) throw configError(v.origin, `bad time value "${v.args[0]}" for ${k}`);
    return parts.reduce((sum, p) => sum + Number(/\d+/.exec(p)![0]) * units[p.replace(/\d+/, '').toLowerCase()], 0);
  }
}

function fileList(v: OptionValue | undefined, dflt: string[], t: Tokens): string[] {
  if (!v) return dflt;
  const words = v.args.flatMap((a) => a.split(/\s+/)).filter(Boolean);
  if (words.length === 1 && words[0].toLowerCase() === 'none') return [];
  return words.map((w) => expandPath(w, t, v.origin));
}

function resolveAlgorithms(vals: Values, debug: (m: string) => void): Partial<Record<AlgorithmKind, string[]>> {
  const out: Partial<Record<AlgorithmKind, string[]>> = {};
  for (const [kind, keyword] of Object.entries(ALGORITHM_KEYWORDS) as [AlgorithmKind, string][]) {
    const v = vals.raw(keyword);
    if (!v) continue;
    const { list, unsupported } = assembleAlgorithms(kind, v.args.join(','));
    if (unsupported.length > 0) debug(`${describeOrigin(v.origin)}: ${keyword}: not supported by ferry, ignored: ${unsupported.join(',')}`);
    if (list.length === 0) throw configError(v.origin, `none of the ${keyword} in "${v.args.join(' ')}" is supported by ferry`);
    out[kind] = list;
  }
  return out;
}

/** IdentityAgent keeps none, SSH_AUTH_SOCK and $VAR as written; a path is expanded. */
function identityAgent(v: OptionValue | undefined, t: Tokens): string | undefined {
  const a = v?.args[0];
  if (a === undefined || a === 'none' || a === 'SSH_AUTH_SOCK') return a;
  if (a.startsWith('$') && !a.startsWith('${')) {
    if (!/^\$[A-Za-z_][A-Za-z0-9_]*$/.test(a)) throw configError(v!.origin, `invalid environment name ${a}`);
    return a;
  }
  return expandPath(a, t, v!.origin);
}

/** ProxyJump unless a ProxyCommand came first; ferry runs no local proxy commands. */
function proxyJump(vals: Values): string | undefined {
  const jump = vals.raw('proxyjump');
  const cmd = vals.raw('proxycommand');
  if (cmd && cmd.args.join(' ').toLowerCase() !== 'none' && (!jump || cmd.seq < jump.seq)) {
    throw new UsageError(`${describeOrigin(cmd.origin)}: ProxyCommand is not supported by ferry`, {
      hint: 'use ProxyJump [user@]host[:port] instead, or -o ProxyCommand=none to ignore it',
    });
  }
  const spec = jump?.args.join('');
  if (spec === undefined || spec.toLowerCase() === 'none') return undefined;
  for (const hop of spec.split(',')) {
    try {
      parseJumpHop(hop);
    } catch (err) {
      throw configError(jump!.origin, (err as Error).message);
    }
  }
  return spec;
}

function seedCommandLine(ctx: EvalContext, user: string | undefined, cli: SshCliOptions): void {
  const at = (option: string): Origin => ({ file: 'command line', line: 0, option });
  for (const p of cli.identityFiles ?? []) ctx.store.set('identityfile', [p], at(`-i ${p}`));
  if (user !== undefined) ctx.store.set('user', [user], at(`${user}@`));
  if (cli.port !== undefined) ctx.store.set('port', [String(cli.port)], at(`-P ${cli.port}`));
  if (cli.jump !== undefined) ctx.store.set('proxyjump', [cli.jump], at(`-J ${cli.jump}`));
  if (cli.cipher !== undefined) ctx.store.set('ciphers', [cli.cipher], at(`-c ${cli.cipher}`));
  if (cli.compression) ctx.store.set('compression', ['yes'], at('-C'));
  for (const o of cli.options ?? []) {
    const [k, v] = parseOption(o);
    if (!HONOURED_KEYWORDS.has(k)) ctx.debug(`-o ${o}: ferry does not use ${k}; ignored`);
    applyOptionLine(`-o ${o}`, `${k} ${v}`, ctx);
  }
}

export function resolveHost(alias: string, user: string | undefined, cli: SshCliOptions, opts: ResolveOptions = {}): HostSettings {
  const home = homedir();
  const debug = opts.debug ?? (() => undefined);
  const host = alias.toLowerCase();
  const ctx: EvalContext = { host, home, store: new OptionStore(), debug };
  seedCommandLine(ctx, user, cli);
  if (cli.configFile !== 'none') {
    const files = cli.configFile ? [{ file: cli.configFile, required: true, system: false }]
      : [{ file: `${home}/.ssh/config`, required: false, system: false }, { file: '/etc/ssh/ssh_config', required: false, system: true }];
    for (const f of files) applyConfigFile(f.file, ctx, f);
  }

  const vals = new Values(ctx.store);
  const localUser = userInfo().username;
  const hostNameRaw = vals.str('hostname');
  const hostName = hostNameRaw === undefined ? host : hostNameRaw.replace(/%([%h])/g, (_, t: string) => (t === 'h' ? host : '%'));
  const port = vals.int('port', 22, 1, 65535);
  const finalUser = vals.str('user') ?? localUser;
  const t: Tokens = { home, localUser, user: finalUser, host: hostName, alias, port };

  const idValues = ctx.store.getAll('identityfile');
  const identityFilesExplicit = idValues.length > 0;
  const identityFileSpecs = identityFilesExplicit ? idValues.map((v) => v.args.join(' ')) : DEFAULT_IDENTITY_FILES;
  const identityFiles = identityFilesExplicit
    ? idValues.map((v) => expandPath(v.args.join(' '), t, v.origin))
    : DEFAULT_IDENTITY_FILES.map((p) => `${home}${p.slice(1)}`);
  const algorithms = resolveAlgorithms(vals, debug);
  const prefAuth = vals.str('preferredauthentications');
  const batchMode = vals.flag('batchmode', false);

  return {
    alias,
    hostName,
    port,
    user: finalUser,
    identityFiles,
    identityFileSpecs,
    identityFilesExplicit,
    identitiesOnly: vals.flag('identitiesonly', false),
    identityAgent: identityAgent(vals.raw('identityagent'), t),
    batchMode,
    connectTimeout: vals.seconds('connecttimeout') || undefined,
    strictHostKeyChecking: vals.choice<StrictMode>('stricthostkeychecking',
      { yes: 'yes', true: 'yes', no: 'no', false: 'no', off: 'no', ask: 'ask', 'accept-new': 'accept-new' }, 'ask'),
    userKnownHostsFiles: fileList(vals.raw('userknownhostsfile'), [`${home}/.ssh/known_hosts`, `${home}/.ssh/known_hosts2`], t),
    globalKnownHostsFiles: fileList(vals.raw('globalknownhostsfile'), ['/etc/ssh/ssh_known_hosts', '/etc/ssh/ssh_known_hosts2'], t),
    hashKnownHosts: vals.flag('hashknownhosts', false),
    hostKeyAlias: vals.str('hostkeyalias'),
    proxyJump: proxyJump(vals),
    compression: vals.flag('compression', false),
    ciphers: algorithms.cipher,
    algorithms,
    // As OpenSSH: in BatchMode a dead server is noticed after 300 s unless told otherwise.
    serverAliveInterval: vals.seconds('serveraliveinterval') ?? (batchMode ? 300 : 0),
    serverAliveCountMax: vals.int('serveralivecountmax', 3, 0, 1_000_000),
    pubkeyAuthentication: vals.choice<boolean>('pubkeyauthentication',
      { yes: true, true: true, unbound: true, 'host-bound': true, no: false, false: false }, true),
    kbdInteractiveAuthentication: vals.raw('kbdinteractiveauthentication') ? vals.flag('kbdinteractiveauthentication', true)
      : vals.flag('challengeresponseauthentication', true),
    passwordAuthentication: vals.flag('passwordauthentication', true),
    preferredAuthentications: prefAuth?.split(',').map((m) => m.trim()).filter(Boolean),
    numberOfPasswordPrompts: vals.int('numberofpasswordprompts', 3, 0, 1000),
  };
}
