// Keyboard-interactive against the real sshd through PAM (UsePAM yes), for a
// real system user with a password: the server's own "Password: " prompt is
// what ferry shows and answers, at the API and at a terminal. Needs root
// (useradd) and the system's /etc/pam.d/sshd, which the openssh-server
// package installs; the user is removed afterwards.
import { execFileSync, spawnSync } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { existsSync } from 'node:fs';
import { chmod, mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import * as path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { connectSsh } from '../../src/ssh/connect.js';
import type { Prompter } from '../../src/ssh/prompter.js';
import { scriptedPrompter } from '../support/prompter.js';
import { ferryOnTty, hasPty } from '../support/pty.js';
import { startSshd, type Sshd } from '../support/sshd.js';

const isRoot = process.getuid?.() === 0;
const canRun = isRoot && hasPty && existsSync('/etc/pam.d/sshd') &&
  ['useradd', 'userdel', 'chpasswd'].every((t) => spawnSync('sh', ['-c', `command -v ${t}`], { stdio: 'ignore' }).status === 0);

let sd: Sshd;
let base: string;
let user: string;
let password: string;

describe.skipIf(!canRun)('keyboard-interactive through PAM, against sshd', () => {
  beforeAll(async () => {
    base = await mkdtemp('/tmp/ferry-pam-');
    await chmod(base, 0o755);
    user = `fpam${randomBytes(5).toString('hex')}`;
    password = `pw-${randomBytes(9).toString('base64url')}`;
    execFileSync('useradd', ['-m', '-d', path.join(base, 'home'), '-s', '/bin/sh', user]);
    execFileSync('chpasswd', { input: `${user}:${password}\n` });
    // Only PAM's conversation can log in: no keys, no plain password method.
    sd = await startSshd({ extraConfig: ['UsePAM yes', 'KbdInteractiveAuthentication yes', 'PasswordAuthentication no', 'PubkeyAuthentication no'] });
  });

  afterAll(async () => {
    await sd?.stop();
    if (user) spawnSync('userdel', ['-f', '-r', user], { stdio: 'ignore' });
    if (base) await rm(base, { recursive: true, force: true });
  });

  const login = (p: Prompter, options: string[] = []) =>
    connectSsh({
      alias: '127.0.0.1',
      user,
      cli: { configFile: 'none', port: sd.port, options: [`UserKnownHostsFile=${sd.knownHosts}`, 'GlobalKnownHostsFile=none', 'StrictHostKeyChecking=yes', ...options] },
      prompter: p,
    });

  it('asks PAM\'s own prompt, logs in with the answer (not a key login), and SFTP starts', async () => {
    const p = scriptedPrompter([password]);
    const conn = await login(p.prompter);
    try {
      expect(p.asked).toEqual(['Password: ']);
      expect(conn.keyAuth).toBe(false);
      const sftp = await conn.openSftp();
      sftp.end();
    } finally {
      conn.end();
    }
  });

  it('a wrong answer is asked again, NumberOfPasswordPrompts times, then the login fails', async () => {
    const p = scriptedPrompter(['wrong-1', 'wrong-2', password]);
    await expect(login(p.prompter, ['NumberOfPasswordPrompts=2'])).rejects.toThrow(/authentication|permission denied/i);
    expect(p.asked).toEqual(['Password: ', 'Password: ']);
  });

  it('ferry cp at a terminal: the prompt is typed into, the file arrives, and the password shows nowhere', async () => {
    const src = path.join(base, 'src.txt');
    await writeFile(src, 'through PAM\n');
    // Relative: into the user's login directory, the one place the user may write.
    const r = ferryOnTty(['cp', '-P', String(sd.port), src, `${user}@127.0.0.1:dst.txt`], [password], { ...sd.env });
    expect(r.code, r.out).toBe(0);
    expect(r.out).toContain('Password: ');
    expect(r.out).not.toContain(password);
    expect(await readFile(path.join(base, 'home', 'dst.txt'), 'utf8')).toBe('through PAM\n');
  });
});
