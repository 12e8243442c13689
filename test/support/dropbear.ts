// Starts Dropbear (Debian's dropbear-bin, installed when missing) on a free
// loopback port, for the server matrix. Dropbear finds authorized_keys only
// in the passwd home of the account (2022.83 has no option for it), so the
// login is a throwaway user whose home is a temp dir; SFTP is OpenSSH's
// sftp-server, which Dropbear runs for the subsystem. Its channel receive
// window is small (-W, 24 KiB by default): what uploads get to fill.
import { spawn } from 'node:child_process';
import { closeSync, openSync } from 'node:fs';
import * as fs from 'node:fs/promises';
import * as os from 'node:os';
import * as path from 'node:path';
import { promisify } from 'node:util';
import { execFile } from 'node:child_process';
import { freePort } from './sshd.js';
import { chownTree, createTestUser, ensureInstalled, killOnExit, makeClient, stopChild, waitForBanner, type TestServer } from './server-setup.js';

const execFileP = promisify(execFile);
const DROPBEAR = '/usr/sbin/dropbear';
const DROPBEARKEY = '/usr/bin/dropbearkey';

export interface DropbearOptions {
  /** -W: the receive window of each channel, bytes (Dropbear's default 24576). */
  window?: number;
}

export async function startDropbear(opts: DropbearOptions = {}): Promise<TestServer> {
  await ensureInstalled(DROPBEAR, 'dropbear-bin');
  await ensureInstalled('/usr/lib/sftp-server', 'openssh-sftp-server');
  const dir = await fs.mkdtemp(path.join(os.tmpdir(), 'ferry-dropbear-'));
  const home = path.join(dir, 'home');
  const data = path.join(dir, 'data');
  const client = await makeClient();
  const user = await createTestUser(home);
  let child: ReturnType<typeof spawn> | undefined;
  const logFile = path.join(dir, 'dropbear.log');
  const log = () => fs.readFile(logFile, 'utf8').catch(() => '(no log)');
  const cleanup = async () => {
    if (child) await stopChild(child);
    await user.remove();
    await fs.rm(dir, { recursive: true, force: true });
    await fs.rm(client.home, { recursive: true, force: true });
  };
  try {
    // Dropbear, like sshd, refuses keys a group or others could have written.
    await fs.mkdir(path.join(home, '.ssh'), { recursive: true, mode: 0o700 });
    await fs.writeFile(path.join(home, '.ssh', 'authorized_keys'), client.pub + '\n', { mode: 0o600 });
    await fs.mkdir(data);
    await chownTree(home, user.uid, user.gid);
    await chownTree(data, user.uid, user.gid);
    await fs.chmod(dir, 0o755);
    const hostKey = path.join(dir, 'host_ed25519');
    await execFileP(DROPBEARKEY, ['-t', 'ed25519', '-f', hostKey]);
    const pubOut = (await execFileP(DROPBEARKEY, ['-y', '-f', hostKey])).stdout;
    const hostPub = pubOut.split('\n').find((l) => l.startsWith('ssh-'));
    if (!hostPub) throw new Error(`dropbearkey -y printed no public key:\n${pubOut}`);
    const host = '127.0.0.1';
    for (let attempt = 0; ; attempt++) {
      const port = await freePort(host);
      const fd = openSync(logFile, 'w');
      const args = ['-F', '-E', '-s', '-m', '-p', `${host}:${port}`, '-r', hostKey, '-P', path.join(dir, 'dropbear.pid')];
      if (opts.window) args.push('-W', String(opts.window));
      child = spawn(DROPBEAR, args, { stdio: ['ignore', fd, fd] });
      closeSync(fd);
      killOnExit(child);
      try {
        await waitForBanner(child, host, port, /^SSH-2\.0-dropbear/, log);
      } catch (err) {
        // freePort() races other workers for the port: try another.
        if (attempt < 4 && /Address already in use|Error listening/i.test(await log())) continue;
        throw err;
      }
      await client.trust(host, port, hostPub);
      let stopping: Promise<void> | undefined;
      return {
        kind: 'dropbear', host, port, user: user.name, env: client.env, remoteDir: data, diskDir: data,
        own: (p) => chownTree(p, user.uid, user.gid),
        log,
        stop: () => (stopping ??= cleanup()),
      };
    }
  } catch (err) {
    await cleanup();
    throw err;
  }
}
