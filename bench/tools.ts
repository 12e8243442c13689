/**
 * How each tool in the comparison is invoked against one sshd. Every tool
 * gets the same key, known_hosts and port, so only the tool differs.
 */
import type { Sshd } from '../test/support/sshd.js';
import { ferryBin } from '../test/support/run-ferry.js';

/**
 * Where a tool connects: the sshd itself, or a delay proxy in front of it
 * (another port, so another known_hosts file pinning the same host key).
 */
export type Target = Pick<Sshd, 'host' | 'port' | 'user' | 'clientKey' | 'knownHosts'>;

export type Direction = 'upload' | 'download';

export interface ToolRun {
  cmd: string;
  args: string[];
  /** Batch file contents for sftp -b. */
  stdin?: string;
}

export interface Tool {
  name: string;
  /** Copy `local` to `remote` (upload) or back (download); recursive when `dir`. */
  command(sd: Target, dir: Direction, local: string, remote: string, opts: { recursive: boolean }): ToolRun;
}

function sshOpts(sd: Target): string[] {
  return ['-F', '/dev/null', '-o', 'BatchMode=yes', '-o', `UserKnownHostsFile=${sd.knownHosts}`, '-o', 'StrictHostKeyChecking=yes', '-i', sd.clientKey];
}

export const ferry: Tool = {
  name: 'ferry',
  command: (sd, dir, local, remote, o) => {
    const r = `${sd.user}@${sd.host}:${remote}`;
    const flags = ['-q', '-B', '-P', String(sd.port), '-o', `UserKnownHostsFile=${sd.knownHosts}`, ...(o.recursive ? ['-r'] : [])];
    return { cmd: process.execPath, args: [ferryBin, 'cp', ...flags, ...(dir === 'upload' ? [local, r] : [r, local])] };
  },
};

export const sftp: Tool = {
  name: 'OpenSSH sftp',
  command: (sd, dir, local, remote, o) => ({
    cmd: 'sftp',
    args: ['-q', ...sshOpts(sd), '-P', String(sd.port), '-b', '-', `${sd.user}@${sd.host}`],
    stdin: `${dir === 'upload' ? 'put' : 'get'}${o.recursive ? ' -r' : ''} "${dir === 'upload' ? local : remote}" "${dir === 'upload' ? remote : local}"\n`,
  }),
};

export const scp: Tool = {
  name: 'OpenSSH scp',
  command: (sd, dir, local, remote, o) => {
    const r = `${sd.user}@${sd.host}:${remote}`;
    const flags = ['-q', ...sshOpts(sd), '-P', String(sd.port), ...(o.recursive ? ['-r'] : [])];
    return { cmd: 'scp', args: [...flags, ...(dir === 'upload' ? [local, r] : [r, local])] };
  },
};

export const rsync: Tool = {
  name: 'rsync -a',
  command: (sd, dir, local, remote, o) => {
    const r = `${sd.user}@${sd.host}:${remote}${o.recursive ? '/' : ''}`;
    const l = `${local}${o.recursive ? '/' : ''}`;
    const e = ['ssh', ...sshOpts(sd), '-p', String(sd.port)].join(' ');
    return { cmd: 'rsync', args: ['-a', '-e', e, ...(dir === 'upload' ? [l, r] : [r, l])] };
  },
};

export const rclone: Tool = {
  name: 'rclone (4 streams)',
  command: (sd, dir, local, remote, o) => {
    const r = `:sftp:${remote}`;
    // No hash check: rclone would run md5sum/sha1sum over a new SSH session
    // per file after the copy (7x slower on 4 KiB files), which no other tool
    // here does; every run is checked by the bench itself instead.
    const flags = [
      '--config', '/dev/null', '--sftp-host', sd.host, '--sftp-port', String(sd.port), '--sftp-user', sd.user,
      '--sftp-key-file', sd.clientKey, '--sftp-known-hosts-file', sd.knownHosts,
      '--transfers', '4', '--multi-thread-streams', '4', '--multi-thread-cutoff', '1M', '--sftp-disable-hashcheck', '-q',
    ];
    const verb = o.recursive ? 'copy' : 'copyto';
    return { cmd: 'rclone', args: [verb, ...flags, ...(dir === 'upload' ? [local, r] : [r, local])] };
  },
};
