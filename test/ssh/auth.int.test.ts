// Logins against a real sshd the way users have them set up: keys in a real
// ssh-agent (and no key files), a passphrase-protected key unlocked through
// SSH_ASKPASS, a key file others can read (refused). The passphrase must never
// show up in ferry's output, -v included.
import { execFile } from 'node:child_process';
import * as fs from 'node:fs/promises';
import * as path from 'node:path';
import { promisify } from 'node:util';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { makeKey, makeTempDir } from '../support/cp-helpers.js';
import { runFerry } from '../support/run-ferry.js';
import { startSshAgent, type SshAgent } from '../support/ssh-agent.js';
import { startSshd, type Sshd } from '../support/sshd.js';

const execFileP = promisify(execFile);
const PASSPHRASE = 'correct horse battery staple';

let sd: Sshd;
let work: string;
let agent: SshAgent;
let agentKey: string; // authorized, held by the agent, its file moved out of HOME
let encKey: string; // authorized, encrypted with PASSPHRASE, no .pub beside it
let askpass: string;

beforeAll(async () => {
  [sd, work] = await Promise.all([startSshd(), makeTempDir('auth-int')]);
  // No default key in HOME: every login below must come from the agent or an explicit file.
  agentKey = path.join(work, 'agent_key');
  await fs.rename(sd.clientKey, agentKey);
  await fs.rename(`${sd.clientKey}.pub`, `${agentKey}.pub`);
  agent = await startSshAgent(work);
  await agent.add(agentKey);

  encKey = path.join(work, 'enc_key');
  await execFileP('ssh-keygen', ['-q', '-t', 'ed25519', '-N', PASSPHRASE, '-C', 'enc', '-f', encKey]);
  const encPub = await fs.readFile(`${encKey}.pub`, 'utf8');
  await fs.rm(`${encKey}.pub`); // the public half then comes from the key file's own header
  await fs.appendFile(path.join(sd.dir, 'authorized_keys'), encPub);

  askpass = path.join(work, 'askpass.sh');
  // Logs each prompt it is given to $FERRY_TEST_LOG; answers with $FERRY_TEST_ANSWER, or the passphrase.
  await fs.writeFile(askpass, `#!/bin/sh\nprintf '%s\\n' "$1" >> "$FERRY_TEST_LOG"\nprintf '%s\\n' "\${FERRY_TEST_ANSWER:-${PASSPHRASE}}"\n`, { mode: 0o755 });
});
afterAll(async () => {
  await agent?.stop();
  await sd?.stop();
  await fs.rm(work, { recursive: true, force: true });
});

async function caseDir(name: string): Promise<string> {
  const dir = await fs.mkdtemp(`${work}/${name}-`);
  await fs.writeFile(`${dir}/src.txt`, `payload for ${name}\n`);
  return dir;
}

function cp(args: string[], env: NodeJS.ProcessEnv = {}) {
  return runFerry(['cp', '-P', String(sd.port), ...args], { env: { ...sd.env, ...env }, timeoutMs: 30_000 });
}

async function askpassCalls(dir: string): Promise<string[]> {
  return (await fs.readFile(`${dir}/askpass.log`, 'utf8').catch(() => '')).split('\n').filter(Boolean);
}

describe.concurrent('ssh-agent', () => {
  it('logs in with the agent\'s key alone (SSH_AUTH_SOCK), and -v says so', async () => {
    const dir = await caseDir('agent');
    const r = await cp(['-v', `${dir}/src.txt`, `127.0.0.1:${dir}/dst.txt`], { SSH_AUTH_SOCK: agent.sock });
    expect(r.code, r.stderr).toBe(0);
    expect(await fs.readFile(`${dir}/dst.txt`, 'utf8')).toBe('payload for agent\n');
    expect(r.stderr).toContain(`agent at ${agent.sock}`);
  });

  it('IdentityAgent names the socket: a path, or $VAR; none turns it off', async () => {
    const dir = await caseDir('identity-agent');
    const viaPath = await cp(['-o', `IdentityAgent=${agent.sock}`, `${dir}/src.txt`, `127.0.0.1:${dir}/a.txt`]);
    expect(viaPath.code, viaPath.stderr).toBe(0);
    const viaVar = await cp(['-o', 'IdentityAgent=$FERRY_AGENT', `${dir}/src.txt`, `127.0.0.1:${dir}/b.txt`], { FERRY_AGENT: agent.sock });
    expect(viaVar.code, viaVar.stderr).toBe(0);
    const off = await cp(['-o', 'IdentityAgent=none', '-B', `${dir}/src.txt`, `127.0.0.1:${dir}/c.txt`], { SSH_AUTH_SOCK: agent.sock });
    expect(off.code, off.stderr).toBe(4);
    expect(await fs.readdir(dir)).toEqual(['a.txt', 'b.txt', 'src.txt']);
  });

  it('IdentitiesOnly uses only agent keys named by an identity file (a .pub is enough)', async () => {
    const dir = await caseDir('identities-only');
    const other = await makeKey(dir, 'other');
    const refused = await cp(['-B', '-o', 'IdentitiesOnly=yes', '-i', other.key, `${dir}/src.txt`, `127.0.0.1:${dir}/no.txt`], { SSH_AUTH_SOCK: agent.sock });
    expect(refused.code, refused.stderr).toBe(4);
    // Only the public half of the agent's key on disk: the agent signs.
    const pubOnly = path.join(dir, 'pub_only');
    await fs.copyFile(`${agentKey}.pub`, `${pubOnly}.pub`);
    const ok = await cp(['-B', '-o', 'IdentitiesOnly=yes', '-i', pubOnly, `${dir}/src.txt`, `127.0.0.1:${dir}/yes.txt`], { SSH_AUTH_SOCK: agent.sock });
    expect(ok.code, ok.stderr).toBe(0);
  });
});

describe.concurrent('encrypted key through SSH_ASKPASS', () => {
  const askpassEnv = (dir: string) => ({ SSH_ASKPASS: askpass, SSH_ASKPASS_REQUIRE: 'force', FERRY_TEST_LOG: `${dir}/askpass.log` });

  it('is unlocked once for the whole run, and the passphrase appears nowhere', async () => {
    const dir = await caseDir('askpass');
    await fs.writeFile(`${dir}/src2.txt`, 'second\n');
    await fs.mkdir(`${dir}/out`);
    // Three connections to one host: one passphrase prompt.
    const r = await cp(['-v', '--connections', '3', '-i', encKey, `${dir}/src.txt`, `${dir}/src2.txt`, `127.0.0.1:${dir}/out/`], askpassEnv(dir));
    expect(r.code, r.stderr).toBe(0);
    expect(await fs.readFile(`${dir}/out/src2.txt`, 'utf8')).toBe('second\n');
    const calls = await askpassCalls(dir);
    expect(calls).toEqual([`Enter passphrase for key '${encKey}': `]);
    for (const out of [r.stdout, r.stderr]) expect(out).not.toContain(PASSPHRASE);
  });

  it('a wrong passphrase is asked NumberOfPasswordPrompts times, then login fails with exit 4', async () => {
    const dir = await caseDir('askpass-wrong');
    const r = await cp(['-v', '-o', 'NumberOfPasswordPrompts=2', '-i', encKey, `${dir}/src.txt`, `127.0.0.1:${dir}/dst.txt`],
      { ...askpassEnv(dir), FERRY_TEST_ANSWER: 'wrong guess' });
    expect(r.code, r.stderr).toBe(4);
    const calls = await askpassCalls(dir);
    expect(calls).toEqual([`Enter passphrase for key '${encKey}': `, `Bad passphrase, try again for ${encKey}: `]);
    expect(r.stderr + r.stdout).not.toContain('wrong guess');
  });

  it('a key the server would not accept is never unlocked', async () => {
    const dir = await caseDir('askpass-lazy');
    const stranger = path.join(dir, 'stranger');
    await execFileP('ssh-keygen', ['-q', '-t', 'ed25519', '-N', 'other pass', '-f', stranger]);
    const r = await cp(['-i', stranger, '-i', agentKey, `${dir}/src.txt`, `127.0.0.1:${dir}/dst.txt`], askpassEnv(dir));
    expect(r.code, r.stderr).toBe(0);
    expect(await askpassCalls(dir)).toEqual([]);
  });

  it('BatchMode never runs askpass', async () => {
    const dir = await caseDir('askpass-batch');
    const r = await cp(['-B', '-i', encKey, `${dir}/src.txt`, `127.0.0.1:${dir}/dst.txt`], askpassEnv(dir));
    expect(r.code, r.stderr).toBe(4);
    expect(await askpassCalls(dir)).toEqual([]);
  });
});

describe('identity files', () => {
  it('an RSA key signs with rsa-sha2 (OpenSSH servers refuse ssh-rsa SHA-1 signatures)', async () => {
    const dir = await caseDir('rsa');
    const key = path.join(dir, 'rsa_key');
    await execFileP('ssh-keygen', ['-q', '-t', 'rsa', '-b', '2048', '-N', '', '-f', key]);
    await fs.appendFile(path.join(sd.dir, 'authorized_keys'), await fs.readFile(`${key}.pub`));
    const r = await cp(['-i', key, `${dir}/src.txt`, `127.0.0.1:${dir}/dst.txt`]);
    expect(r.code, r.stderr).toBe(0);
  });

  it('a private key others can read is refused with OpenSSH\'s UNPROTECTED PRIVATE KEY FILE advice', async () => {
    const dir = await caseDir('unprotected');
    const key = path.join(dir, 'open_key');
    await fs.copyFile(agentKey, key);
    await fs.chmod(key, 0o644);
    const r = await cp(['-i', key, `${dir}/src.txt`, `127.0.0.1:${dir}/dst.txt`]);
    expect(r.code, r.stderr).toBe(4);
    expect(r.stderr).toContain('WARNING: UNPROTECTED PRIVATE KEY FILE!');
    expect(r.stderr).toContain(`Permissions 0644 for '${key}' are too open.`);
    expect(r.stderr).toContain('This private key will be ignored.');
    await fs.chmod(key, 0o600);
    const ok = await cp(['-i', key, `${dir}/src.txt`, `127.0.0.1:${dir}/dst.txt`]);
    expect(ok.code, ok.stderr).toBe(0);
  });
});
