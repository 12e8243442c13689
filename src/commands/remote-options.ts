/**
 * The options every transferring command shares (scp's -P -i -o -F -l -C -c
 * -J -B -v, and ferry's --connections --retries --no-resume): registered,
 * read back and turned into endpoints and engine settings in one place.
 */
import { homedir } from 'node:os';
import { type Command, InvalidArgumentError, Option } from 'commander';
import type { SshCliOptions } from '../ssh/config.js';
import { DirJournalStore } from '../transfer/journal.js';
import { RateLimiter } from '../transfer/rate-limit.js';
import type { TransferOptions } from '../transfer/transfer.js';
import { Endpoints, type EndpointsOptions } from './endpoints.js';
import { createTtyPrompter } from './tty-prompter.js';

export function intArg(name: string, min: number, max: number) {
  return (v: string) => {
    const n = Number(v);
    if (!/^\d+$/.test(v) || n < min || n > max) throw new InvalidArgumentError(`${name} must be a whole number from ${min} to ${max}`);
    return n;
  };
}

/** Repeatable option; no default given to commander, so help shows none. */
export const collect = (v: string, acc: string[] | undefined) => [...(acc ?? []), v];

export interface RemoteOptions {
  port?: number;
  identity: string[];
  sshOptions: string[];
  configFile?: string;
  /** Kbit/s, as scp's -l. */
  limitKbps?: number;
  compression: boolean;
  cipher?: string;
  jump?: string;
  verbose: number;
  batch: boolean;
  /** SSH connections per host; undefined = auto. */
  connections?: number;
  resume: boolean;
  retries?: number;
  signal: AbortSignal;
}

export function addRemoteOptions(cmd: Command): Command {
  return cmd
    .option('-P <port>', 'port to connect to on the remote host', intArg('port', 1, 65535))
    .option('-i <identity_file>', 'private key to authenticate with (repeatable)', collect)
    .option('-o <ssh_option>', 'ssh_config option, e.g. -o Port=2222 (repeatable)', collect)
    .option('-F <ssh_config>', 'ssh_config file to read instead of ~/.ssh/config')
    .option('-l <limit>', 'limit total bandwidth to this many Kbit/s', intArg('limit', 1, 1e9))
    .option('-C', 'enable compression')
    .option('-c <cipher>', 'cipher(s) to use, comma separated')
    .option('-J <destination>', 'connect through jump host(s): [user@]host[:port][,...]')
    .option('-B', 'batch mode: never ask for passwords, passphrases or host keys')
    .option('-v', 'verbose: debug output on stderr (repeat for more)', (_v: string, n: number) => n + 1, 0)
    .addOption(new Option('-4').hideHelp())
    .addOption(new Option('-6').hideHelp())
    .option('--connections <n>', 'SSH connections per host (default: auto)', intArg('connections', 1, 16))
    .option('--no-resume', 'ignore partial files of an interrupted run and start over')
    .option('--retries <n>', 'reconnect and continue this many times after a dropped connection (default 3)', intArg('retries', 0, 100));
}

export function readRemoteOptions(opts: Record<string, unknown>, signal: AbortSignal): RemoteOptions {
  return {
    port: opts.P as number | undefined,
    identity: (opts.i as string[] | undefined) ?? [],
    sshOptions: (opts.o as string[] | undefined) ?? [],
    configFile: opts.F as string | undefined,
    limitKbps: opts.l as number | undefined,
    compression: Boolean(opts.C),
    cipher: opts.c as string | undefined,
    jump: opts.J as string | undefined,
    verbose: opts.v as number,
    batch: Boolean(opts.B),
    connections: opts.connections as number | undefined,
    resume: opts.resume !== false,
    retries: opts.retries as number | undefined,
    signal,
  };
}

/** Local state (journals of partial files): $FERRY_STATE_DIR, else XDG's state dir. */
export function stateDir(): string {
  if (process.env.FERRY_STATE_DIR) return process.env.FERRY_STATE_DIR;
  const base = process.env.XDG_STATE_HOME || `${homedir()}/.local/state`;
  return `${base}/ferry`;
}

/** `quiet` (-q) also silences the SSH layer's notices (the server's banner, host key warnings), as scp -q. */
export function openEndpoints(o: RemoteOptions & { quiet?: boolean }, onSetup?: EndpointsOptions['onSetup']): Endpoints {
  // First value wins in ssh_config: -B must come before any -o to mean what it says.
  const sshOptions = o.batch ? ['BatchMode=yes', ...o.sshOptions] : o.sshOptions;
  const cli: SshCliOptions = {
    configFile: o.configFile, options: sshOptions, port: o.port, identityFiles: o.identity,
    compression: o.compression, cipher: o.cipher, jump: o.jump,
  };
  const batch = o.batch || sshOptions.some((s) => /^\s*batchmode\s*[= ]\s*(yes|true)\s*$/i.test(s));
  const prompter = createTtyPrompter({ verbose: o.verbose, batch, quiet: o.quiet });
  return new Endpoints({ cli, prompter, trace: o.verbose >= 3, connections: o.connections, onSetup });
}

/** The engine settings these options imply. */
export function engineOptions(o: RemoteOptions): Pick<TransferOptions, 'maxLanes' | 'journals' | 'resume' | 'retries' | 'limiter'> {
  return {
    maxLanes: o.connections !== undefined ? Math.max(8, o.connections) : undefined,
    journals: new DirJournalStore(`${stateDir()}/partials`),
    resume: o.resume,
    retries: o.retries,
    limiter: o.limitKbps ? new RateLimiter((o.limitKbps * 1024) / 8) : undefined,
  };
}
