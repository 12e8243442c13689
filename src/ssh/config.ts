/**
 * Resolve the settings for one host from the command line (-o, -P, -i,
 * user@) and ssh_config files, first value winning as in OpenSSH.
 */
import { existsSync, readFileSync } from 'node:fs';
import { homedir, userInfo } from 'node:os';
import SSHConfig from 'ssh-config';
import { UsageError } from '../errors.js';

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
  identityFiles: string[];
  identitiesOnly: boolean;
  identityAgent?: string;
  batchMode: boolean;
  connectTimeout?: number;
  strictHostKeyChecking: StrictMode;
  userKnownHostsFiles: string[];
  globalKnownHostsFiles: string[];
  hashKnownHosts: boolean;
  proxyJump?: string;
  compression: boolean;
  ciphers?: string[];
  serverAliveInterval: number;
  serverAliveCountMax: number;
  passwordAuthentication: boolean;
  numberOfPasswordPrompts: number;
}

type Values = Record<string, string | string[]>;

/** Parse `-o Key=Value` / `-o "Key Value"` into lower-cased keys. */
export function parseOption(opt: string): [string, string] {
  const m = /^\s*([A-Za-z][A-Za-z0-9]*)\s*(?:=\s*|\s+)(.*?)\s*$/.exec(opt);
  if (!m || m[2] === '') throw new UsageError(`bad -o option "${opt}"`, { hint: 'write it as -o Key=Value, e.g. -o Port=2222' });
  return [m[1].toLowerCase(), m[2]];
}

function loadConfig(file: string, required: boolean): SSHConfig | undefined {
  if (!existsSync(file)) {
    if (required) throw new UsageError(`can't open config file "${file}": No such file or directory`);
    return undefined;
  }
  try {
    return SSHConfig.parse(readFileSync(file, 'utf8'));
  } catch (err) {
    throw new UsageError(`config file "${file}": ${(err as Error).message}`, { cause: err });
  }
}

function lower(values: Record<string, unknown>): Values {
  const out: Values = {};
  for (const [k, v] of Object.entries(values)) out[k.toLowerCase()] = v as string | string[];
  return out;
}

function yes(v: string | undefined, dflt: boolean): boolean {
  if (v === undefined) return dflt;
  return /^(yes|true|on)$/i.test(v);
}

function expandTilde(p: string, home: string): string {
  return p === '~' ? home : p.startsWith('~/') ? home + p.slice(1) : p;
}

function expandTokens(p: string, ctx: { home: string; user: string; host: string; localUser: string }): string {
  return expandTilde(p, ctx.home).replace(/%([%dhru])/g, (_, t: string) =>
    t === '%' ? '%' : t === 'd' ? ctx.home : t === 'h' ? ctx.host : t === 'r' ? ctx.user : ctx.localUser,
  );
}

export function resolveHost(alias: string, user: string | undefined, cli: SshCliOptions): HostSettings {
  const home = homedir();
  // First value wins: command line, then the user's file, then the system one.
  const layers: Values[] = [];
  const cliValues: Values = {};
  for (const o of cli.options ?? []) {
    const [k, v] = parseOption(o);
    if (k === 'identityfile') cliValues[k] = [...((cliValues[k] as string[]) ?? []), v];
    else cliValues[k] ??= v;
  }
  layers.push(cliValues);
  const files = cli.configFile ? [cli.configFile] : [`${home}/.ssh/config`, '/etc/ssh/ssh_config'];
  for (const f of files) {
    const cfg = loadConfig(f, f === cli.configFile);
    if (cfg) layers.push(lower(cfg.compute(alias) as Record<string, unknown>));
  }
  const get = (k: string): string | undefined => {
    for (const l of layers) {
      const v = l[k];
      if (v !== undefined) return Array.isArray(v) ? v[0] : v;
    }
    return undefined;
  };
  const getAll = (k: string): string[] => layers.flatMap((l) => (l[k] === undefined ? [] : ([] as string[]).concat(l[k])));

  const localUser = userInfo().username;
  const hostName = (get('hostname') ?? alias).replace(/%h/g, alias);
  const finalUser = user ?? get('user') ?? localUser;
  const ctx = { home, user: finalUser, host: hostName, localUser };
  const port = cli.port ?? Number(get('port') ?? 22);
  if (!Number.isInteger(port) || port < 1 || port > 65535) throw new UsageError(`bad port "${get('port')}" for ${alias}`);

  const identityFiles = [...(cli.identityFiles ?? []), ...getAll('identityfile')].map((p) => expandTokens(p, ctx));
  const strictRaw = (get('stricthostkeychecking') ?? 'ask').toLowerCase();
  const strict: StrictMode =
    strictRaw === 'yes' || strictRaw === 'true' ? 'yes'
    : strictRaw === 'no' || strictRaw === 'off' || strictRaw === 'false' ? 'no'
    : strictRaw === 'accept-new' ? 'accept-new'
    : 'ask';
  const splitFiles = (v: string | undefined, dflt: string[]) =>
    v === undefined ? dflt : v.split(/\s+/).filter(Boolean).map((p) => expandTokens(p, ctx));
  const timeout = get('connecttimeout');

  return {
    alias,
    hostName,
    port,
    user: finalUser,
    identityFiles,
    identitiesOnly: yes(get('identitiesonly'), false),
    identityAgent: get('identityagent'),
    batchMode: yes(get('batchmode'), false),
    connectTimeout: timeout ? Number(timeout) : undefined,
    strictHostKeyChecking: strict,
    userKnownHostsFiles: splitFiles(get('userknownhostsfile'), [`${home}/.ssh/known_hosts`, `${home}/.ssh/known_hosts2`]),
    globalKnownHostsFiles: splitFiles(get('globalknownhostsfile'), ['/etc/ssh/ssh_known_hosts', '/etc/ssh/ssh_known_hosts2']),
    hashKnownHosts: yes(get('hashknownhosts'), false),
    proxyJump: cli.jump ?? get('proxyjump'),
    compression: cli.compression || yes(get('compression'), false),
    ciphers: cli.cipher ? cli.cipher.split(',') : get('ciphers')?.split(','),
    serverAliveInterval: Number(get('serveraliveinterval') ?? 0),
    serverAliveCountMax: Number(get('serveralivecountmax') ?? 3),
    passwordAuthentication: yes(get('passwordauthentication'), true),
    numberOfPasswordPrompts: Number(get('numberofpasswordprompts') ?? 3),
  };
}
