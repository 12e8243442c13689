/**
 * The options every transferring command shares, turned into endpoints and
 * engine settings in one place. The flags themselves (commander only) live in
 * remote-flags.ts so that start-up never loads ssh2 or the engine.
 */
import { homedir } from 'node:os';
import type { SshCliOptions } from '../ssh/config.js';
import { DirJournalStore } from '../transfer/journal.js';
import { RateLimiter } from '../transfer/rate-limit.js';
import type { TransferOptions } from '../transfer/transfer.js';
import { Endpoints, type EndpointsOptions } from './endpoints.js';
import type { RemoteOptions } from './remote-flags.js';
import { createTtyPrompter } from './tty-prompter.js';

export { addRemoteOptions, collect, intArg, readRemoteOptions, type RemoteOptions } from './remote-flags.js';

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
