// What the servers of the conformance matrix (test/servers/) share: installing
// a missing server the way .ci/run installs sshd, a throwaway login user, the
// client side (a temp HOME with a key and the server's pinned host key), and
// waiting for a banner. Nothing here touches the real ~/.ssh.
import { execFile, execFileSync, type ChildProcess } from 'node:child_process';
import { existsSync } from 'node:fs';
import * as fs from 'node:fs/promises';
import * as net from 'node:net';
import * as os from 'node:os';
import * as path from 'node:path';
import { promisify } from 'node:util';

const execFileP = promisify(execFile);

/** A server of the matrix, as the tests see it. */
export interface TestServer {
  /** For test names: "openssh", "dropbear", ... */
  kind: string;
  host: string;
  port: number;
  /** The account ferry logs in as. */
  user: string;
  /** ferry's environment: HOME with the client key and known_hosts, no agent. */
  env: NodeJS.ProcessEnv;
  /** A directory the account may write, as the client names it... */
  remoteDir: string;
  /** ...and where that is on this machine's disk. */
  diskDir: string;
  /** Hand what a test put under diskDir to the account (a no-op for root). */
  own(p: string): Promise<void>;
  /** The server's log so far, for assertion messages. */
  log(): Promise<string>;
  stop(): Promise<void>;
}

const LOCK = path.join(os.tmpdir(), 'ferry-apt-install.lock');

/**
 * Make sure `binary` exists, installing Debian package `pkg` when it does not
 * and we may (root with apt-get), once across test workers (a lock dir).
 * Otherwise one clear line says what to install: a missing server is a
 * failure, never a skipped test.
 */
export async function ensureInstalled(binary: string, pkg: string): Promise<void> {
  if (existsSync(binary)) return;
  const canInstall = process.getuid?.() === 0 && existsSync('/usr/bin/apt-get');
  if (!canInstall) throw new Error(`${binary} is missing: install the Debian package ${pkg} (apt-get install ${pkg}) to run the server matrix`);
  const deadline = Date.now() + 300_000;
  for (;;) {
    try {
      await fs.mkdir(LOCK);
      break;
    } catch {
      // Another worker is installing; it may be installing this very package.
      if (existsSync(binary)) return;
      if (Date.now() > deadline) throw new Error(`${binary} is missing and ${LOCK} stayed locked for 5 min (remove it if no install is running)`);
      await new Promise((r) => setTimeout(r, 500));
    }
  }
  try {
    if (existsSync(binary)) return;
    const env = { ...process.env, DEBIAN_FRONTEND: 'noninteractive' };
    const install = () => execFileP('apt-get', ['install', '-y', '--no-install-recommends', pkg], { env, timeout: 280_000 });
    // A fresh machine has no package lists yet: update once, then try again.
    await install().catch(async () => {
      await execFileP('apt-get', ['update'], { env, timeout: 280_000 });
      await install();
    });
    if (!existsSync(binary)) throw new Error(`installed ${pkg}, but ${binary} is still missing`);
  } finally {
    await fs.rmdir(LOCK).catch(() => undefined);
  }
}

export interface TestUser {
  name: string;
  uid: number;
  gid: number;
  remove(): Promise<void>;
}

// Users still present when the process exits (a crashed run) are removed then.
const usersLeft = new Set<string>();
let hooked = false;
function removeOnExit(name: string): void {
  usersLeft.add(name);
  if (hooked) return;
  hooked = true;
  process.once('exit', () => {
    for (const n of usersLeft) {
      try {
        // Synchronous: nothing async runs in an exit hook.
        execFileSync('userdel', [n], { stdio: 'ignore' });
      } catch {}
    }
  });
}

/**
 * A login account whose home is `home`: Dropbear reads authorized_keys from
 * the passwd home (it has no AuthorizedKeysFile), and a chroot needs a user
 * who is not root. Password "*": no password login, but not a locked account
 * (sshd without PAM and Dropbear refuse locked ones). Needs root; remove() it.
 */
export async function createTestUser(home: string): Promise<TestUser> {
  if (process.getuid?.() !== 0) throw new Error('the server matrix creates a test user: run it as root (as CI does)');
  const name = `ferry${Math.random().toString(16).slice(2, 10)}`;
  await execFileP('useradd', ['-M', '-N', '-g', 'nogroup', '-d', home, '-s', '/bin/sh', '-p', '*', name]);
  removeOnExit(name);
  const id = async (flag: string) => Number((await execFileP('id', [flag, name])).stdout.trim());
  const [uid, gid] = [await id('-u'), await id('-g')];
  return {
    name, uid, gid,
    async remove() {
      usersLeft.delete(name);
      await execFileP('userdel', [name]).catch(() => undefined);
    },
  };
}

/** chown -R, for what root created on an account's behalf. */
export async function chownTree(p: string, uid: number, gid: number): Promise<void> {
  await execFileP('chown', ['-R', `${uid}:${gid}`, p]);
}

export interface ClientSide {
  home: string;
  key: string;
  pub: string;
  env: NodeJS.ProcessEnv;
  /** Pin the server's host key ("type base64 ...") for [host]:port. */
  trust(host: string, port: number, hostKeyPub: string): Promise<void>;
}

/** ferry's side: a temp HOME with an ed25519 key, no agent. */
export async function makeClient(): Promise<ClientSide> {
  const home = await fs.mkdtemp(path.join(os.tmpdir(), 'ferry-client-'));
  await fs.mkdir(path.join(home, '.ssh'), { mode: 0o700 });
  const key = path.join(home, '.ssh', 'id_ed25519');
  await execFileP('ssh-keygen', ['-q', '-t', 'ed25519', '-N', '', '-C', 'ferry-matrix', '-f', key]);
  const pub = (await fs.readFile(`${key}.pub`, 'utf8')).trim();
  const env: NodeJS.ProcessEnv = { ...process.env, HOME: home };
  delete env.SSH_AUTH_SOCK;
  return {
    home, key, pub, env,
    async trust(host, port, hostKeyPub) {
      const [type, b64] = hostKeyPub.trim().split(/\s+/);
      await fs.writeFile(path.join(home, '.ssh', 'known_hosts'), `[${host}]:${port} ${type} ${b64}\n`, { mode: 0o600 });
    },
  };
}

/** The server's first line, or '' (refused, closed, or nothing within 2 s). */
export function readBanner(host: string, port: number): Promise<string> {
  return new Promise((resolve) => {
    const sock = net.connect({ host, port });
    let buf = '';
    const done = (line: string) => {
      sock.destroy();
      resolve(line);
    };
    sock.setTimeout(2000, () => done(''));
    sock.on('error', () => done(''));
    sock.on('data', (d) => {
      buf += d.toString('latin1');
      if (buf.includes('\n')) done(buf.split('\n')[0]);
    });
    sock.on('close', () => done(''));
  });
}

/** Wait until `child` serves an SSH banner matching `want` on the port; throws with its log if it exits. */
export async function waitForBanner(child: ChildProcess, host: string, port: number, want: RegExp, log: () => Promise<string>): Promise<void> {
  const deadline = Date.now() + 15_000;
  while (Date.now() < deadline) {
    if (child.exitCode !== null || child.signalCode !== null) throw new Error(`server exited during startup:\n${await log()}`);
    if (want.test(await readBanner(host, port))) return;
    await new Promise((r) => setTimeout(r, 50));
  }
  throw new Error(`server not ready after 15 s:\n${await log()}`);
}

// Servers still running when the process exits (a crashed run) are killed then.
const childrenLeft = new Set<ChildProcess>();
let childHook = false;
/** Kill `child` when this process exits, unless stopChild() stopped it first. */
export function killOnExit(child: ChildProcess): void {
  childrenLeft.add(child);
  if (childHook) return;
  childHook = true;
  process.once('exit', () => childrenLeft.forEach((c) => c.kill('SIGKILL')));
}

/** SIGTERM, SIGKILL after 5 s; resolves once it is gone. */
export function stopChild(child: ChildProcess): Promise<void> {
  childrenLeft.delete(child);
  if (child.exitCode !== null || child.signalCode !== null) return Promise.resolve();
  return new Promise((resolve) => {
    const force = setTimeout(() => child.kill('SIGKILL'), 5000);
    child.once('exit', () => {
      clearTimeout(force);
      resolve();
    });
    child.kill('SIGTERM');
  });
}
