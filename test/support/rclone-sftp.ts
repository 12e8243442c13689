// Starts `rclone serve sftp DIR` (Debian's rclone, installed when missing) on
// a free loopback port, for the server matrix: Go's pkg/sftp in front of
// rclone's VFS, which with the default --vfs-cache-mode off writes a file as a
// stream (a write must land at the end of what it has, "Illegal seek"
// otherwise), cannot reopen a file to append, and offers no fsync or limits
// extension. No rclone config: an empty one, and rclone's HOME is a temp dir.
import { spawn } from 'node:child_process';
import { closeSync, openSync } from 'node:fs';
import * as fs from 'node:fs/promises';
import * as os from 'node:os';
import * as path from 'node:path';
import { promisify } from 'node:util';
import { execFile } from 'node:child_process';
import { freePort } from './sshd.js';
import { ensureInstalled, killOnExit, makeClient, stopChild, waitForBanner, type TestServer } from './server-setup.js';

const execFileP = promisify(execFile);
const RCLONE = '/usr/bin/rclone';

export interface RcloneSftpOptions {
  /**
   * --vfs-cache-mode: 'off' (the default: files are streams) or 'writes'
   * (files are written in a local cache first: any order, reopen works; still
   * no fsync@openssh.com, the case a journal must survive without).
   */
  cacheMode?: 'off' | 'writes';
}

export async function startRcloneSftp(opts: RcloneSftpOptions = {}): Promise<TestServer> {
  await ensureInstalled(RCLONE, 'rclone');
  const dir = await fs.mkdtemp(path.join(os.tmpdir(), 'ferry-rclone-'));
  const data = path.join(dir, 'data');
  const client = await makeClient();
  let child: ReturnType<typeof spawn> | undefined;
  const logFile = path.join(dir, 'rclone.log');
  const log = () => fs.readFile(logFile, 'utf8').catch(() => '(no log)');
  const cleanup = async () => {
    if (child) await stopChild(child);
    await fs.rm(dir, { recursive: true, force: true });
    await fs.rm(client.home, { recursive: true, force: true });
  };
  try {
    await fs.mkdir(data);
    const hostKey = path.join(dir, 'host_ed25519');
    await execFileP('ssh-keygen', ['-q', '-t', 'ed25519', '-N', '', '-f', hostKey]);
    const hostPub = await fs.readFile(`${hostKey}.pub`, 'utf8');
    const keys = path.join(dir, 'authorized_keys');
    await fs.writeFile(keys, client.pub + '\n');
    const config = path.join(dir, 'rclone.conf');
    await fs.writeFile(config, '');
    // rclone keeps a cache and may write config beside HOME: both stay in the temp dir.
    const env = { ...process.env, HOME: dir, XDG_CACHE_HOME: path.join(dir, 'cache'), XDG_CONFIG_HOME: path.join(dir, 'config') };
    const host = '127.0.0.1';
    for (let attempt = 0; ; attempt++) {
      const port = await freePort(host);
      const fd = openSync(logFile, 'w');
      child = spawn(RCLONE, ['serve', 'sftp', data, '--addr', `${host}:${port}`, '--key', hostKey, '--authorized-keys', keys,
        '--config', config, '--cache-dir', path.join(dir, 'cache'),
        // The tests put files in DIR behind rclone's back: no listing may be served from memory.
        '--dir-cache-time', '0s', '--vfs-cache-mode', opts.cacheMode ?? 'off',
        // With a cache: to the disk at close, not 5 s later, so the tests can look there.
        '--vfs-write-back', '0s'], { stdio: ['ignore', fd, fd], env });
      closeSync(fd);
      killOnExit(child);
      try {
        await waitForBanner(child, host, port, /^SSH-2\.0-/, log);
      } catch (err) {
        if (attempt < 4 && /address already in use/i.test(await log())) continue;
        throw err;
      }
      await client.trust(host, port, hostPub);
      let stopping: Promise<void> | undefined;
      return {
        // Paths are the served directory's: "/" is DIR.
        kind: opts.cacheMode === 'writes' ? 'rclone-cache' : 'rclone', host, port, user: 'ferry', env: client.env, remoteDir: '/', diskDir: data,
        own: async () => undefined,
        log,
        stop: () => (stopping ??= cleanup()),
      };
    }
  } catch (err) {
    await cleanup();
    throw err;
  }
}
