// `ferry copy-id` end to end against the real OpenSSH sshd, for a real system
// user whose own ~/.ssh/authorized_keys sshd reads (StrictModes yes). The
// password is typed at a pseudo-terminal, as a person would. Needs root
// (useradd) and a built CLI (`npx tsc -p tsconfig.json`).
import { ferryOnTty } from '../support/pty.js';
import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { execFile, execFileSync, spawnSync } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { existsSync } from 'node:fs';
import { chmod, chown, copyFile, lstat, mkdir, mkdtemp, readdir, readFile, rm, stat, symlink, utimes, writeFile } from 'node:fs/promises';
import * as os from 'node:os';
import * as path from 'node:path';
import { promisify } from 'node:util';
import { ferryBin, repoRoot, runFerry } from '../support/run-ferry.js';
import { startSshAgent, type SshAgent } from '../support/ssh-agent.js';
import { freePort, sshdLog, startSshd, type Sshd } from '../support/sshd.js';

const execFileP = promisify(execFile);

const isRoot = process.getuid?.() === 0;
const hasTools = ['useradd', 'userdel', 'chpasswd', 'ssh', 'ssh-agent', 'ssh-add', 'python3'].every(
  (t) => spawnSync('sh', ['-c', `command -v ${t}`], { stdio: 'ignore' }).status === 0,
);

// A pseudo-terminal via python3's pty module: answers each prompt in turn (as in keygen.test.ts).

let sd: Sshd;
let base: string;
let home: string;
let keys: string;
let user: string;
let uid: number;
let gid: number;
let password: string;
let env: NodeJS.ProcessEnv;
let dest: string;

async function makeKey(name: string, opts: { type?: string; comment?: string } = {}): Promise<{ key: string; pub: string; line: string }> {
  const key = path.join(keys, name);
  await execFileP('ssh-keygen', ['-q', '-t', opts.type ?? 'ed25519', '-N', '', '-C', opts.comment ?? `${name}@test`, '-f', key]);
  return { key, pub: `${key}.pub`, line: await readFile(`${key}.pub`, 'utf8') };
}

/** ferry copy-id at a terminal, typing the user's password when asked. */
function copyIdOnTty(args: string[], o: { env?: NodeJS.ProcessEnv; answers?: string[] } = {}): { code: number; out: string } {
  return ferryOnTty(['copy-id', ...args], o.answers ?? [password], o.env ?? env);
}

const portArgs = () => ['-p', String(sd.port)];
const sshDir = () => path.join(home, '.ssh');
const authFile = () => path.join(home, '.ssh', 'authorized_keys');
const modeOf = async (p: string) => (await stat(p)).mode & 0o777;

/** Files as the user would have made them: theirs, with the given mode. */
async function writeAsUser(file: string, text: string, mode: number): Promise<void> {
  await writeFile(file, text, { mode });
  await chmod(file, mode);
  await chown(file, uid, gid);
}

async function mkdirAsUser(dir: string, mode = 0o700): Promise<void> {
  await mkdir(dir, { mode });
  await chmod(dir, mode);
  await chown(dir, uid, gid);
}

/** Key login with the real OpenSSH client, never a password. */
function opensshLogin(key: string): { status: number | null; stderr: string } {
  const r = spawnSync('ssh', [
    '-F', '/dev/null', '-o', 'BatchMode=yes', '-o', 'IdentitiesOnly=yes', '-o', 'StrictHostKeyChecking=yes',
    '-o', `UserKnownHostsFile=${sd.knownHosts}`, '-i', key, '-p', String(sd.port), `${user}@127.0.0.1`, 'true',
  ], { encoding: 'utf8', timeout: 30_000, env: { PATH: process.env.PATH } });
  return { status: r.status, stderr: r.stderr };
}

const agents: SshAgent[] = [];

/**
 * An ssh-agent holding `keyFiles`; the environment to run ferry with it.
 * `ssh-agent -s` returns only once its socket listens: waiting for the socket
 * file alone raced with listen() and ssh-add could be refused.
 */
async function startAgent(keyFiles: string[]): Promise<NodeJS.ProcessEnv> {
  const agent = await startSshAgent(await mkdtemp(path.join(base, 'agent-')));
  agents.push(agent);
  for (const k of keyFiles) await agent.add(k);
  return { ...env, SSH_AUTH_SOCK: agent.sock };
}

async function stopAgents(): Promise<void> {
  await Promise.all(agents.splice(0).map((a) => a.stop()));
}

describe.skipIf(!isRoot || !hasTools)('ferry copy-id against sshd, for a real user', () => {
  beforeAll(async () => {
    if (!existsSync(path.join(repoRoot, 'dist', 'commands', 'copy-id.js'))) {
      throw new Error('dist/commands/copy-id.js is missing: run `npx tsc -p tsconfig.json` before these tests');
    }
    base = await mkdtemp('/tmp/ferry-cid-');
    await chmod(base, 0o755); // the user must be able to reach the home below it
    home = path.join(base, 'home');
    keys = path.join(base, 'keys');
    await mkdir(keys, { mode: 0o700 });
    user = `fcid${randomBytes(5).toString('hex')}`;
    password = `pw-${randomBytes(9).toString('base64url')}`;
    execFileSync('useradd', ['-m', '-d', home, '-s', '/bin/sh', user]);
    execFileSync('chpasswd', { input: `${user}:${password}\n` });
    uid = Number(execFileSync('id', ['-u', user], { encoding: 'utf8' }).trim());
    gid = Number(execFileSync('id', ['-g', user], { encoding: 'utf8' }).trim());
    sd = await startSshd({
      extraConfig: [
        'AuthorizedKeysFile .ssh/authorized_keys', 'PasswordAuthentication yes', 'KbdInteractiveAuthentication yes', 'StrictModes yes',
        // Without PAM each keyboard-interactive try fails at once, and the client tries it
        // NumberOfPasswordPrompts times (as OpenSSH does): with agent keys too, the default
        // of 6 would end the login before the password prompt.
        'MaxAuthTries 20',
        // ECDSA keys can be installed but never log in: the check after installing must notice.
        'PubkeyAcceptedAlgorithms ssh-ed25519,rsa-sha2-512,rsa-sha2-256',
      ],
    });
    env = { ...sd.env };
    dest = `${user}@127.0.0.1`;
  });

  afterAll(async () => {
    await stopAgents();
    await sd?.stop();
    if (user) spawnSync('userdel', ['-f', '-r', user], { stdio: 'ignore' });
    if (base) await rm(base, { recursive: true, force: true });
  });

  beforeEach(async () => {
    await rm(sshDir(), { recursive: true, force: true });
    await chmod(home, 0o755);
  });

  it('installs into a home without ~/.ssh (0700/0600, the user\'s), then key login needs no password', async () => {
    const a = await makeKey('first');
    // Given the private key's name, the .pub beside it is installed.
    const r = copyIdOnTty([...portArgs(), '-i', a.key, dest]);
    expect(r.code, `${r.out}\n${sshdLog(sd)}`).toBe(0);
    expect(r.out).toContain(`${user}@127.0.0.1's password: `);
    expect(r.out).toContain('\nNumber of key(s) added: 1\n');
    expect(r.out).toContain(`Now try logging into the machine, with: "ssh -p ${sd.port} '${dest}'"\n` +
      'and check to make sure that only the key(s) you wanted were added.\n');
    expect(r.out).toMatch(new RegExp(`Key login works: logged in again with only ${a.key} \\(SHA256:.*\\), no password needed`));

    expect(await modeOf(sshDir())).toBe(0o700);
    expect(await modeOf(authFile())).toBe(0o600);
    for (const p of [sshDir(), authFile()]) expect((await stat(p)).uid).toBe(uid);
    expect(await readFile(authFile(), 'utf8')).toBe(a.line);
    expect(await readdir(sshDir())).toEqual(['authorized_keys']);
    const login = opensshLogin(a.key);
    expect(login.status, login.stderr).toBe(0);
  });

  it('run twice in a row adds the key once; -f adds it again', async () => {
    const a = await makeKey('twice');
    expect(copyIdOnTty([...portArgs(), '-i', a.pub, dest]).code).toBe(0);
    const again = copyIdOnTty([...portArgs(), '-i', a.pub, dest]);
    expect(again.code, again.out).toBe(0);
    expect(again.out).toContain('Number of key(s) added: 0');
    expect(again.out).toContain('All keys were skipped because they already exist on the remote system.');
    expect(again.out).not.toContain('Now try logging');
    expect(await readFile(authFile(), 'utf8')).toBe(a.line);

    const forced = copyIdOnTty([...portArgs(), '-f', '-i', a.pub, dest]);
    expect(forced.code, forced.out).toBe(0);
    expect(forced.out).toContain('Number of key(s) added: 1');
    expect(await readFile(authFile(), 'utf8')).toBe(a.line + a.line);
  });

  it('counts a key as present whatever its options and comment', async () => {
    const a = await makeKey('options');
    const [type, b64] = a.line.split(' ');
    await mkdirAsUser(sshDir());
    const existing = `from="127.0.0.1",no-pty ${type} ${b64} renamed by the admin\n`;
    await writeAsUser(authFile(), existing, 0o600);
    const r = copyIdOnTty([...portArgs(), '-i', a.pub, dest]);
    expect(r.code, r.out).toBe(0);
    expect(r.out).toContain('Number of key(s) added: 0');
    expect(await readFile(authFile(), 'utf8')).toBe(existing);
  });

  it('-n prints the keys it would add and changes nothing', async () => {
    const a = await makeKey('dry');
    const fresh = copyIdOnTty([...portArgs(), '-n', '-i', a.pub, dest]);
    expect(fresh.code, fresh.out).toBe(0);
    expect(fresh.out).toContain(`=-=-=-=-=-=-=-=\nWould have added the following key(s):\n\n${a.line}=-=-=-=-=-=-=-=\n`);
    expect(fresh.out).not.toContain('Number of key(s) added');
    expect(existsSync(sshDir())).toBe(false);

    const b = await makeKey('dry-existing');
    await mkdirAsUser(sshDir());
    await writeAsUser(authFile(), b.line, 0o600);
    const past = new Date('2020-01-02T03:04:05Z');
    await utimes(authFile(), past, past);
    const r = copyIdOnTty([...portArgs(), '-n', '-i', a.pub, dest]);
    expect(r.code, r.out).toBe(0);
    expect(r.out).toContain(a.line);
    expect(await readFile(authFile(), 'utf8')).toBe(b.line);
    expect((await stat(authFile())).mtime).toEqual(past);
    expect(await readdir(sshDir())).toEqual(['authorized_keys']);
  });

  it('adds the missing final newline, keeps the old line and the old mode', async () => {
    const old = await makeKey('old');
    const a = await makeKey('newline');
    await mkdirAsUser(sshDir());
    const oldText = old.line.trimEnd(); // no final newline
    await writeAsUser(authFile(), oldText, 0o640);
    const r = copyIdOnTty([...portArgs(), '-i', a.pub, dest]);
    expect(r.code, r.out).toBe(0);
    expect(await readFile(authFile(), 'utf8')).toBe(`${oldText}\n${a.line}`);
    expect(await modeOf(authFile())).toBe(0o640);
    expect(opensshLogin(old.key).status).toBe(0);
    expect(opensshLogin(a.key).status).toBe(0);
  });

  it('refuses a symlinked authorized_keys or ~/.ssh and changes nothing', async () => {
    const a = await makeKey('symlink');
    const target = path.join(home, 'elsewhere');
    await writeAsUser(target, 'keep me\n', 0o600);
    await mkdirAsUser(sshDir());
    await symlink('../elsewhere', authFile());
    const r = copyIdOnTty([...portArgs(), '-i', a.pub, dest]);
    expect(r.code, r.out).toBe(1);
    expect(r.out).toContain('ferry: install keys into remote ".ssh/authorized_keys": is a symbolic link; refusing to follow it');
    expect(await readFile(target, 'utf8')).toBe('keep me\n');
    expect((await lstat(authFile())).isSymbolicLink()).toBe(true);

    await rm(sshDir(), { recursive: true });
    await mkdirAsUser(path.join(home, 'real-ssh'));
    await symlink('real-ssh', sshDir());
    const d = copyIdOnTty([...portArgs(), '-i', a.pub, dest]);
    expect(d.code, d.out).toBe(1);
    expect(d.out).toContain('ferry: install keys into remote ".ssh": is a symbolic link');
    expect(await readdir(path.join(home, 'real-ssh'))).toEqual([]);
    await rm(sshDir());
    await rm(path.join(home, 'real-ssh'), { recursive: true });
    await rm(target);
  });

  it('says so, and exits 1, when sshd will not accept the new key (world-writable home, StrictModes)', async () => {
    const a = await makeKey('strict');
    await chmod(home, 0o757);
    const r = copyIdOnTty([...portArgs(), '-i', a.pub, dest]);
    expect(r.code, r.out).toBe(1);
    expect(r.out).toContain('Number of key(s) added: 1');
    expect(r.out).toContain('ferry: warning: the home directory is writable by group or others (mode 0757)');
    expect(r.out).toContain(`ferry: key login with ${a.key} (SHA256:`);
    expect(r.out).toMatch(/\) failed: .*Permission denied/);
    expect(r.out).not.toContain('Key login works');
    expect(await readFile(authFile(), 'utf8')).toBe(a.line);
  });

  it('checks with the new key only: another key that logs in does not count', async () => {
    // The server refuses ECDSA keys; the ed25519 key beside it in the agent is already installed.
    const works = await makeKey('works');
    const refused = await makeKey('refused', { type: 'ecdsa' });
    await mkdirAsUser(sshDir());
    await writeAsUser(authFile(), works.line, 0o600);
    const agentEnv = await startAgent([works.key]);
    try {
      const r = copyIdOnTty([...portArgs(), '-i', refused.pub, dest], { env: agentEnv, answers: [] });
      expect(r.code, `${r.out}\n${sshdLog(sd)}`).toBe(1);
      // Installed over a login with the agent's key: no password asked.
      expect(r.out).not.toContain('password');
      expect(r.out).toContain('Number of key(s) added: 1');
      expect(r.out).toContain(`ferry: key login with ${refused.key} (SHA256:`);
      expect(await readFile(authFile(), 'utf8')).toBe(works.line + refused.line);
    } finally {
      await stopAgents();
    }
  });

  it('without -i installs the newest ~/.ssh/id*.pub, never a certificate', async () => {
    const local = await mkdtemp(path.join(base, 'local-home-'));
    await mkdir(path.join(local, '.ssh'), { mode: 0o700 });
    await copyFile(sd.knownHosts, path.join(local, '.ssh', 'known_hosts'));
    const older = await makeKey('id_older');
    const newer = await makeKey('id_newer');
    for (const k of [older, newer]) {
      await copyFile(k.key, path.join(local, '.ssh', path.basename(k.key)));
      await copyFile(k.pub, path.join(local, '.ssh', path.basename(k.pub)));
    }
    // Newest of all, but a certificate: skipped as ssh-copy-id skips it.
    await writeFile(path.join(local, '.ssh', 'id_newer-cert.pub'), older.line);
    const t = (s: number) => new Date(Date.now() - s * 1000);
    await utimes(path.join(local, '.ssh', 'id_older.pub'), t(300), t(300));
    await utimes(path.join(local, '.ssh', 'id_newer.pub'), t(200), t(200));
    await utimes(path.join(local, '.ssh', 'id_newer-cert.pub'), t(100), t(100));
    const r = copyIdOnTty([...portArgs(), dest], { env: { ...env, HOME: local } });
    expect(r.code, r.out).toBe(0);
    expect(await readFile(authFile(), 'utf8')).toBe(newer.line);
    expect(r.out).toContain(`Key login works: logged in again with only ${path.join(local, '.ssh', 'id_newer')} (`);
  });

  it('checks a passphrase-protected key, asking for the passphrase (and nothing else) at the terminal', async () => {
    const key = path.join(keys, 'locked');
    await execFileP('ssh-keygen', ['-q', '-t', 'ed25519', '-N', 'open sesame', '-C', 'locked@test', '-f', key]);
    const r = copyIdOnTty([...portArgs(), '-i', key, dest], { answers: [password, 'open sesame'] });
    expect(r.code, r.out).toBe(0);
    expect(r.out).toContain(`Enter passphrase for key '${key}': `);
    expect(r.out.match(/password: /g)).toHaveLength(1);
    expect(r.out).toContain(`Key login works: logged in again with only ${key} (`);
  });

  it('a .pub without its private key is installed, but the login cannot be checked', async () => {
    const a = await makeKey('pubonly');
    const lone = path.join(keys, 'lone.pub');
    await copyFile(a.pub, lone);
    const r = copyIdOnTty([...portArgs(), '-i', lone, dest]);
    expect(r.code, r.out).toBe(0);
    expect(r.out).toContain('Number of key(s) added: 1');
    expect(r.out).toContain(`ferry: could not check the login with ${lone} (SHA256:`);
    expect(await readFile(authFile(), 'utf8')).toBe(a.line);
  });

  it('without -i installs the agent\'s keys, and checks each through the agent alone', async () => {
    const c = await makeKey('agent-c', { comment: 'agent-c' });
    const d = await makeKey('agent-d', { type: 'rsa', comment: 'agent-d' });
    const agentEnv = await startAgent([c.key, d.key]);
    try {
      const r = copyIdOnTty([...portArgs(), dest], { env: agentEnv });
      expect(r.code, `${r.out}\n${sshdLog(sd)}`).toBe(0);
      expect(r.out).toContain('Number of key(s) added: 2');
      expect(r.out).toMatch(/Key login works: logged in again with only agent key "agent-c" \(SHA256:.*\), no password needed/);
      expect(r.out).toMatch(/Key login works: logged in again with only agent key "agent-d" \(SHA256:.*\), no password needed/);
      // Only the agent's keys: not the ~/.ssh/id_ed25519 that is there too.
      expect(await readFile(authFile(), 'utf8')).toBe(c.line + d.line);
    } finally {
      await stopAgents();
    }
  });

  it('checks an agent key through the agent alone: another agent key that logs in does not count', async () => {
    const works = await makeKey('agent-works');
    const refused = await makeKey('agent-refused', { type: 'ecdsa', comment: 'agent-refused' });
    await mkdirAsUser(sshDir());
    await writeAsUser(authFile(), works.line, 0o600);
    const agentEnv = await startAgent([works.key, refused.key]);
    try {
      const r = copyIdOnTty([...portArgs(), dest], { env: agentEnv, answers: [] });
      expect(r.code, `${r.out}\n${sshdLog(sd)}`).toBe(1);
      expect(r.out).toContain('Number of key(s) added: 1');
      expect(r.out).toContain('ferry: key login with agent key "agent-refused" (SHA256:');
      expect(await readFile(authFile(), 'utf8')).toBe(works.line + refused.line);
    } finally {
      await stopAgents();
    }
  });

  it('ferry keygen, then copy-id, then cp: no password on the last step', async () => {
    const local = await mkdtemp(path.join(base, 'flow-home-'));
    await mkdir(path.join(local, '.ssh'), { mode: 0o700 });
    await copyFile(sd.knownHosts, path.join(local, '.ssh', 'known_hosts'));
    const flowEnv = { ...env, HOME: local };
    const kg = await runFerry(['keygen', '-q', '-N', ''], { env: flowEnv });
    expect(kg.code, kg.stderr).toBe(0);
    const r = copyIdOnTty([...portArgs(), dest], { env: flowEnv });
    expect(r.code, r.out).toBe(0);
    expect(r.out).toContain('Key login works');
    const file = path.join(local, 'payload.txt');
    await writeFile(file, 'hello over key login\n');
    // No terminal and batch mode: a password could not be asked for.
    const cp = await runFerry(['cp', '-B', '-P', String(sd.port), file, `${dest}:`], { env: flowEnv });
    expect(cp.code, cp.stderr).toBe(0);
    expect(await readFile(path.join(home, 'payload.txt'), 'utf8')).toBe('hello over key login\n');
    await rm(path.join(home, 'payload.txt'));
  });

  it('exit codes: usage 2, unreadable key 1, connection 3, authentication 4', async () => {
    const a = await makeKey('codes');
    expect((await runFerry(['copy-id'], { env })).code).toBe(2);
    expect((await runFerry(['copy-id', '-p', '0', dest], { env })).code).toBe(2);
    expect((await runFerry(['copy-id', '-i', path.join(keys, 'missing'), dest], { env })).code).toBe(1);
    // In `-i user@host` the operand is the host (as ssh-copy-id reads it): a bare -i, here with no key to find.
    const empty = await mkdtemp(path.join(base, 'empty-home-'));
    const bare = await runFerry(['copy-id', '-i', dest], { env: { ...env, HOME: empty } });
    expect(bare.code, bare.stderr).toBe(1);
    expect(bare.stderr).toContain('ferry: no identities found');
    const closed = await freePort();
    const conn = await runFerry(['copy-id', '-p', String(closed), '-i', a.pub, dest], { env });
    expect(conn.code, conn.stderr).toBe(3);
    // No terminal: the password cannot be asked for, and the user has no key yet.
    const auth = await runFerry(['copy-id', ...portArgs(), '-i', a.pub, dest], { env });
    expect(auth.code, auth.stderr).toBe(4);
    expect(existsSync(sshDir())).toBe(false);
  });
});
