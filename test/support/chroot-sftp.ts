// An SFTP-only account as hosting providers set them up: sshd with
// `ForceCommand internal-sftp` and `ChrootDirectory` for one (throwaway)
// user, for the server matrix. sshd wants every component of the chroot path
// owned by root and writable by no one else, which /tmp (1777) is not, so the
// chroot is a temp dir under /run (root's 0755 tmpfs); the account writes in
// /data inside it.
import * as fs from 'node:fs/promises';
import * as path from 'node:path';
import { startSshd } from './sshd.js';
import { chownTree, createTestUser, type TestServer } from './server-setup.js';

export async function startChrootSftp(): Promise<TestServer> {
  const chroot = await fs.mkdtemp('/run/ferry-chroot-');
  const data = path.join(chroot, 'data');
  let user: Awaited<ReturnType<typeof createTestUser>> | undefined;
  let sd: Awaited<ReturnType<typeof startSshd>> | undefined;
  const cleanup = async () => {
    await sd?.stop();
    await user?.remove();
    await fs.rm(chroot, { recursive: true, force: true });
  };
  try {
    await fs.chmod(chroot, 0o755);
    // The home as the account sees it, inside the chroot.
    user = await createTestUser('/data');
    await fs.mkdir(data);
    await chownTree(data, user.uid, user.gid);
    sd = await startSshd({
      extraConfig: [`Match User ${user.name}`, `  ChrootDirectory ${chroot}`, '  ForceCommand internal-sftp', '  AllowTcpForwarding no'],
    });
    // sshd reads authorized_keys as the user, so it (not only root) must be able to.
    await fs.chmod(sd.dir, 0o755);
    await fs.chmod(path.join(sd.dir, 'authorized_keys'), 0o644);
    const u = user;
    const s = sd;
    let stopping: Promise<void> | undefined;
    return {
      kind: 'chroot', host: s.host, port: s.port, user: u.name, env: s.env, remoteDir: '/data', diskDir: data,
      own: (p) => chownTree(p, u.uid, u.gid),
      log: () => fs.readFile(s.logFile, 'utf8').catch(() => '(no log)'),
      stop: () => (stopping ??= cleanup()),
    };
  } catch (err) {
    await cleanup();
    throw err;
  }
}

/** The plain harness sshd, as root, in the matrix's terms. */
export async function startOpensshServer(): Promise<TestServer> {
  const sd = await startSshd();
  const data = path.join(sd.home, 'data');
  await fs.mkdir(data);
  let stopping: Promise<void> | undefined;
  return {
    kind: 'openssh', host: sd.host, port: sd.port, user: sd.user, env: sd.env, remoteDir: data, diskDir: data,
    own: async () => undefined,
    log: () => fs.readFile(sd.logFile, 'utf8').catch(() => '(no log)'),
    stop: () => (stopping ??= sd.stop()),
  };
}
