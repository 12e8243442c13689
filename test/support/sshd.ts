// Starts a real OpenSSH sshd on loopback for integration tests, so ferry is
// exercised against the same server (and sftp-server quirks) users will hit.
import { spawn, execFile, type ChildProcess } from 'node:child_process';
import { createHash } from 'node:crypto';
import { createReadStream, mkdirSync, openSync, closeSync, readFileSync, rmSync } from 'node:fs';
import * as fs from 'node:fs/promises';
import * as net from 'node:net';
import * as os from 'node:os';
import * as path from 'node:path';
import { promisify } from 'node:util';

const execFileP = promisify(execFile);

const SSHD = '/usr/sbin/sshd'; // sshd refuses to re-exec itself unless started by absolute path
const SFTP_SERVER = '/usr/lib/openssh/sftp-server';
const READY_TIMEOUT_MS = 10_000;
const BIND_ATTEMPTS = 5;

export interface SshdOptions {
  /** Extra args for sftp-server, e.g. ['-P', 'open'] to deny opens even for root. */
  sftpServerArgs?: string[];
  /**
   * Extra sshd_config lines. sshd keeps the FIRST value it sees for most
   * keywords, so these are written before the harness defaults (and can
   * override them); a `Match` block and everything after it goes at the end.
   */
  extraConfig?: string[];
  listen?: '127.0.0.1' | '::1';
  /**
   * Seconds every SFTP session waits before sftp-server starts, as on servers
   * whose login shell runs conda/pyenv/nvm init (sshd starts subsystems
   * through the user's shell, and bash reads ~/.bashrc for them).
   */
  sessionStartDelay?: number;
}

export interface Sshd {
  host: string;
  port: number;
  user: string;
  dir: string;
  home: string;
  clientKey: string;
  knownHosts: string;
  hostKeyPub: string;
  env: NodeJS.ProcessEnv;
  /** pid of the listening sshd (for leak checks). */
  pid: number;
  /** sshd's stderr (-e), useful in assertion messages. */
  logFile: string;
  stop(): Promise<void>;
}

export async function freePort(host = '127.0.0.1'): Promise<number> {
  return new Promise((resolve, reject) => {
    const srv = net.createServer();
    srv.unref();
    srv.once('error', reject);
    srv.listen(0, host, () => {
      const { port } = srv.address() as net.AddressInfo;
      srv.close(() => resolve(port));
    });
  });
}

export async function sha256File(file: string): Promise<string> {
  const hash = createHash('sha256');
  for await (const chunk of createReadStream(file)) hash.update(chunk as Buffer);
  return hash.digest('hex');
}

async function keygen(file: string, comment: string): Promise<string> {
  await execFileP('ssh-keygen', ['-q', '-t', 'ed25519', '-N', '', '-C', comment, '-f', file]);
  return (await fs.readFile(`${file}.pub`, 'utf8')).trim();
}

let sshdVersion: Promise<[number, number]> | undefined;
function getSshdVersion(): Promise<[number, number]> {
  // `sshd -V` prints the version (older builds print it in the usage text and exit 1).
  sshdVersion ??= execFileP(SSHD, ['-V']).then(
    (r) => r.stderr + r.stdout,
    (e: { stderr?: string }) => e.stderr ?? '',
  ).then((out) => {
    const m = /OpenSSH_(\d+)\.(\d+)/.exec(out);
    return m ? [Number(m[1]), Number(m[2])] : [0, 0];
  });
  return sshdVersion;
}

function checkSftpArgs(args: string[]): void {
  // sshd joins the Subsystem words with spaces and runs them via the user's
  // shell, so quoting can't be relied on; refuse anything the shell would mangle.
  for (const a of args) {
    if (!a || /[\s'"\\$`;&|<>*?(){}]/.test(a)) throw new Error(`unsafe sftp-server arg: ${JSON.stringify(a)}`);
  }
}

async function buildConfig(dir: string, host: string, port: number, opts: SshdOptions): Promise<string> {
  const extra = opts.extraConfig ?? [];
  const matchAt = extra.findIndex((l) => /^\s*match\s/i.test(l));
  const [early, late] = matchAt < 0 ? [extra, []] : [extra.slice(0, matchAt), extra.slice(matchAt)];
  const [major, minor] = await getSshdVersion();
  const lines = [
    ...early,
    `ListenAddress ${host}`,
    `Port ${port}`,
    `HostKey ${dir}/ssh_host_ed25519_key`,
    `PidFile ${dir}/sshd.pid`,
    `AuthorizedKeysFile ${dir}/authorized_keys`,
    'PermitRootLogin yes',
    'PubkeyAuthentication yes',
    'PasswordAuthentication no',
    'KbdInteractiveAuthentication no',
    'UsePAM no',
    'StrictModes no',
    // Parallel transfers open many channels/connections; the defaults
    // (10 sessions, random drops past 10 unauthenticated) would cause flakes.
    'MaxSessions 64',
    'MaxStartups 100',
    // OpenSSH >= 9.8 penalises sources that fail auth; tests that provoke
    // failures from 127.0.0.1 would then lock out every later test.
    ...(major > 9 || (major === 9 && minor >= 8) ? ['PerSourcePenalties no'] : []),
    `Subsystem sftp ${opts.sessionStartDelay ? `sleep ${opts.sessionStartDelay}; exec ` : ''}${[SFTP_SERVER, ...(opts.sftpServerArgs ?? [])].join(' ')}`,
    'LogLevel VERBOSE',
    ...late,
  ];
  return lines.join('\n') + '\n';
}

/** Resolves once sshd logged that it listens AND a TCP client got its SSH banner. */
async function waitReady(child: ChildProcess, host: string, port: number, logFile: string): Promise<void> {
  const deadline = Date.now() + READY_TIMEOUT_MS;
  while (Date.now() < deadline) {
    if (child.pid === undefined || child.exitCode !== null || child.signalCode !== null) {
      throw new Error('sshd exited (or failed to spawn) during startup');
    }
    // The log line proves the listener is ours, not another process that grabbed the port.
    const log = await fs.readFile(logFile, 'utf8').catch(() => '');
    if (log.includes(`Server listening on ${host} port ${port}`) && (await readBanner(host, port))) return;
    await new Promise((r) => setTimeout(r, 50));
  }
  throw new Error(`sshd not ready after ${READY_TIMEOUT_MS} ms`);
}

function readBanner(host: string, port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const sock = net.connect({ host, port });
    let buf = '';
    const done = (ok: boolean) => {
      sock.destroy();
      resolve(ok);
    };
    sock.setTimeout(2000, () => done(false));
    sock.on('error', () => done(false));
    sock.on('data', (d) => {
      buf += d.toString('latin1');
      if (buf.includes('\n')) done(buf.startsWith('SSH-2.0-'));
    });
    sock.on('close', () => done(false));
  });
}

// One process-wide 'exit' hook (not one per sshd, which would trip the
// MaxListeners warning) so a crashed test run doesn't leak sshd processes.
const crashCleanup = new Set<() => void>();
let exitHookInstalled = false;
function onProcessExit(fn: () => void): () => void {
  if (!exitHookInstalled) {
    exitHookInstalled = true;
    process.once('exit', () => crashCleanup.forEach((f) => f()));
  }
  crashCleanup.add(fn);
  return () => crashCleanup.delete(fn);
}

function killAndWait(child: ChildProcess): Promise<void> {
  if (child.pid === undefined || child.exitCode !== null || child.signalCode !== null) return Promise.resolve();
  return new Promise((resolve) => {
    // Escalate if sshd ignores SIGTERM, and never hang a test run forever.
    const force = setTimeout(() => child.kill('SIGKILL'), 5000);
    const giveUp = setTimeout(resolve, 10_000);
    child.once('exit', () => {
      clearTimeout(force);
      clearTimeout(giveUp);
      resolve();
    });
    child.kill('SIGTERM');
  });
}

export async function startSshd(opts: SshdOptions = {}): Promise<Sshd> {
  const host = opts.listen ?? '127.0.0.1';
  const user = os.userInfo().username;
  checkSftpArgs(opts.sftpServerArgs ?? []);
  // Privilege separation dir; packages create it via systemd tmpfiles, containers often lack it.
  // Only root can (and needs to) create it; sshd's own error is clearer otherwise.
  try {
    mkdirSync('/run/sshd', { recursive: true, mode: 0o755 });
  } catch {}

  const dir = await fs.mkdtemp(path.join(os.tmpdir(), 'ferry-sshd-'));
  const home = await fs.mkdtemp(path.join(os.tmpdir(), 'ferry-home-'));
  const cleanupDirs = () => {
    rmSync(dir, { recursive: true, force: true });
    rmSync(home, { recursive: true, force: true });
  };
  try {
    const sshDir = path.join(home, '.ssh');
    await fs.mkdir(sshDir, { mode: 0o700 });
    const clientKey = path.join(sshDir, 'id_ed25519');
    const knownHosts = path.join(sshDir, 'known_hosts');
    const [hostKeyPub, clientPub] = await Promise.all([
      keygen(path.join(dir, 'ssh_host_ed25519_key'), 'ferry-test-host'),
      keygen(clientKey, 'ferry-test-client'),
    ]);
    await fs.writeFile(path.join(dir, 'authorized_keys'), clientPub + '\n', { mode: 0o600 });

    const configFile = path.join(dir, 'sshd_config');
    const logFile = path.join(dir, 'sshd.log');
    let lastErr: unknown;
    for (let attempt = 0; attempt < BIND_ATTEMPTS; attempt++) {
      // freePort() can race with other workers grabbing the same port; retry on EADDRINUSE.
      const port = await freePort(host);
      await fs.writeFile(configFile, await buildConfig(dir, host, port, opts));
      const fd = openSync(logFile, 'w');
      const child = spawn(SSHD, ['-D', '-e', '-f', configFile], { stdio: ['ignore', fd, fd] });
      closeSync(fd);
      let spawnErr: Error | undefined;
      child.on('error', (e) => (spawnErr = e));
      const unhook = onProcessExit(() => {
        child.kill('SIGKILL');
        cleanupDirs();
      });
      try {
        await waitReady(child, host, port, logFile);
      } catch (err) {
        unhook();
        if (spawnErr) throw spawnErr;
        await killAndWait(child);
        const log = await fs.readFile(logFile, 'utf8').catch(() => '');
        lastErr = new Error(`${(err as Error).message} (port ${port})\n--- ${logFile} ---\n${log}`);
        if (/Address already in use/.test(log)) continue;
        throw lastErr;
      }

      const [keyType, keyB64] = hostKeyPub.split(/\s+/);
      await fs.writeFile(knownHosts, `[${host}]:${port} ${keyType} ${keyB64}\n`, { mode: 0o600 });
      const env: NodeJS.ProcessEnv = { ...process.env, HOME: home };
      delete env.SSH_AUTH_SOCK; // an agent would let ferry authenticate with keys we didn't intend

      let stopping: Promise<void> | undefined;
      return {
        host, port, user, dir, home, clientKey, knownHosts, hostKeyPub, env, logFile,
        pid: child.pid!,
        stop() {
          stopping ??= (async () => {
            unhook();
            await killAndWait(child);
            await fs.rm(dir, { recursive: true, force: true });
            await fs.rm(home, { recursive: true, force: true });
          })();
          return stopping;
        },
      };
    }
    throw lastErr;
  } catch (err) {
    cleanupDirs();
    throw err;
  }
}

/** Reads the log synchronously — handy inside expect() messages. */
export function sshdLog(sd: Pick<Sshd, 'logFile'>): string {
  try {
    return readFileSync(sd.logFile, 'utf8');
  } catch {
    return '(log unavailable)';
  }
}
