/**
 * The flags every transferring command shares (scp's -P -i -o -F -l -C -c -J
 * -B -v, and ferry's --connections --retries --no-resume): registered and
 * read back. Only commander here, so src/cli.ts can load it for `--help` and
 * `--version` without pulling in ssh2 and the engine (see remote-options.ts
 * for what turns these options into endpoints and engine settings).
 */
import { type Command, InvalidArgumentError, Option } from 'commander';

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
