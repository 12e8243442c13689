/** `ferry ssh-config HOST`: the settings ferry resolves for a host, like `ssh -G`. */
import { ExitCode, UsageError } from '../errors.js';
import { resolveHost } from '../ssh/config.js';
import { formatHostSettings } from '../ssh/config-dump.js';
import { escapeForTerminal } from '../util/escape.js';

export interface SshConfigOptions {
  configFile?: string;
  sshOptions: string[];
  port?: number;
  identity: string[];
  jump?: string;
  verbose: number;
}

/** `[user@]host`: the user is what precedes the last "@", as ssh reads it. */
function splitDestination(dest: string): { user?: string; host: string } {
  const at = dest.lastIndexOf('@');
  const d = at < 0 ? { host: dest } : { user: dest.slice(0, at), host: dest.slice(at + 1) };
  if (d.host === '' || d.user === '') throw new UsageError(`bad destination "${dest}"`, { hint: 'ferry ssh-config [user@]host' });
  return d;
}

export function runSshConfig(destination: string, o: SshConfigOptions): number {
  const { user, host } = splitDestination(destination);
  const debug = o.verbose > 0 ? (m: string) => process.stderr.write(`debug1: ${escapeForTerminal(m)}\n`) : undefined;
  const settings = resolveHost(host, user, {
    configFile: o.configFile, options: o.sshOptions, port: o.port, identityFiles: o.identity, jump: o.jump,
  }, { debug });
  process.stdout.write(formatHostSettings(settings));
  return ExitCode.ok;
}
