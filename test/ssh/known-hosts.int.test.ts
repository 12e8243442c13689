// Host trust against a real sshd, with OpenSSH's own tools on the other side:
// ssh-keygen -H hashes a file ferry must read, OpenSSH's sftp reads the file
// ferry wrote (and ferry the one sftp wrote); changed, revoked and CA-only keys
// stop the run with exit 4 before authentication; a rekey re-checks the key.
import { execFile, spawn } from 'node:child_process';
import * as fs from 'node:fs/promises';
import { promisify } from 'node:util';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { knownHostsLine, makeKey, makeTempDir } from '../support/cp-helpers.js';
import { runFerry } from '../support/run-ferry.js';
import { sha256File, startSshd, type Sshd } from '../support/sshd.js';

const execFileP = promisify(execFile);

let sd: Sshd;
let work: string;
let impostor: string; // "type base64" of a key that is not the server's

beforeAll(async () => {
  // A low RekeyLimit makes sshd rekey during a transfer of a few hundred KB.
  [sd, work] = await Promise.all([startSshd({ extraConfig: ['RekeyLimit 64K'] }), makeTempDir('kh-int')]);
  const [t, b64] = (await makeKey(work, 'impostor')).pub.split(/\s+/);
  impostor = `${t} ${b64}`;
});
afterAll(async () => {
  await sd?.stop();
  await fs.rm(work, { recursive: true, force: true });
});

async function setup(name: string, lines: string[]) {
  const dir = await fs.mkdtemp(`${work}/${name}-`);
  await fs.writeFile(`${dir}/src.txt`, 'payload\n');
  const kh = `${dir}/known_hosts`;
  await fs.writeFile(kh, lines.map((l) => `${l}\n`).join(''));
  return { dir, kh, opts: ['-o', `UserKnownHostsFile=${kh}`, '-o', 'GlobalKnownHostsFile=none'] };
}

function cp(args: string[]) {
  return runFerry(['cp', '-P', String(sd.port), ...args], { env: sd.env });
}

/** OpenSSH's sftp client, non-interactive, just connecting and quitting. */
function openSshSftp(opts: string[]): Promise<{ code: number | null; stderr: string }> {
  return new Promise((resolve) => {
    const child = spawn('sftp', ['-b', '-', '-P', String(sd.port), '-i', sd.clientKey, '-o', 'BatchMode=yes', ...opts.flatMap((o) => ['-o', o]), `${sd.user}@127.0.0.1`],
      { env: sd.env, stdio: ['pipe', 'ignore', 'pipe'] });
    let stderr = '';
    child.stderr.on('data', (d: Buffer) => (stderr += d.toString()));
    child.stdin.end('bye\n');
    child.on('close', (code) => resolve({ code, stderr }));
  });
}

const name = () => `[127.0.0.1]:${sd.port}`;

describe.concurrent('reading and writing known_hosts with OpenSSH', () => {
  it('an entry hashed by ssh-keygen -H is accepted under StrictHostKeyChecking=yes', async () => {
    const { dir, kh, opts } = await setup('hashed', [knownHostsLine(sd)]);
    await execFileP('ssh-keygen', ['-H', '-f', kh]);
    expect(await fs.readFile(kh, 'utf8')).not.toContain('127.0.0.1');
    const r = await cp([...opts, '-o', 'StrictHostKeyChecking=yes', `${dir}/src.txt`, `127.0.0.1:${dir}/dst.txt`]);
    expect(r.code, r.stderr).toBe(0);
  });

  it('accept-new with HashKnownHosts=yes writes a hashed entry that OpenSSH\'s sftp then trusts', async () => {
    const { dir, kh, opts } = await setup('accept-new-hashed', ['# existing comment, no trailing newline']);
    await fs.writeFile(kh, '# existing comment, no trailing newline');
    const r = await cp([...opts, '-o', 'StrictHostKeyChecking=accept-new', '-o', 'HashKnownHosts=yes', `${dir}/src.txt`, `127.0.0.1:${dir}/dst.txt`]);
    expect(r.code, r.stderr).toBe(0);
    expect(r.stderr).toContain(`Permanently added '${name()}'`);
    const lines = (await fs.readFile(kh, 'utf8')).split('\n');
    expect(lines[0]).toBe('# existing comment, no trailing newline');
    expect(lines[1]).toMatch(/^\|1\|[A-Za-z0-9+/=]+\|[A-Za-z0-9+/=]+ ssh-ed25519 /);
    const sftp = await openSshSftp([`UserKnownHostsFile=${kh}`, 'StrictHostKeyChecking=yes']);
    expect(sftp.code, sftp.stderr).toBe(0);
  });

  it('ferry trusts the entry OpenSSH\'s sftp recorded', async () => {
    const { dir, kh, opts } = await setup('openssh-wrote', []);
    const sftp = await openSshSftp([`UserKnownHostsFile=${kh}`, 'StrictHostKeyChecking=accept-new', 'HashKnownHosts=yes']);
    expect(sftp.code, sftp.stderr).toBe(0);
    const r = await cp([...opts, '-o', 'StrictHostKeyChecking=yes', `${dir}/src.txt`, `127.0.0.1:${dir}/dst.txt`]);
    expect(r.code, r.stderr).toBe(0);
  });
});

describe.concurrent('keys that stop the run before authentication', () => {
  it('a changed key: exit 4, OpenSSH\'s warning naming file:line, no login attempted', async () => {
    const { dir, kh, opts } = await setup('changed', ['# line 1', `${name()} ${impostor}`]);
    const r = await cp([...opts, '-v', `${dir}/src.txt`, `127.0.0.1:${dir}/dst.txt`]);
    expect(r.code, r.stderr).toBe(4);
    expect(r.stderr).toContain('WARNING: REMOTE HOST IDENTIFICATION HAS CHANGED!');
    expect(r.stderr).toContain(`Offending ED25519 key in ${kh}:2`);
    expect(r.stderr).toContain(`${kh}:2`);
    expect(await fs.readdir(dir)).toEqual(['known_hosts', 'src.txt']);
    // -v shows every key offered: none was, so authentication never started.
    expect(r.stderr).toContain('Server host key: ssh-ed25519');
    expect(r.stderr).not.toMatch(/Offering public key|Trying keys/);
  });

  it('a revoked key: exit 4 even though it is also listed as known', async () => {
    const [t, b64] = sd.hostKeyPub.split(/\s+/);
    const { dir, opts } = await setup('revoked', [knownHostsLine(sd), `@revoked * ${t} ${b64}`]);
    const r = await cp([...opts, `${dir}/src.txt`, `127.0.0.1:${dir}/dst.txt`]);
    expect(r.code, r.stderr).toBe(4);
    expect(r.stderr).toContain('REVOKED HOST KEY');
  });

  it('a host trusted only through @cert-authority: exit 4 saying host certificates are not supported', async () => {
    const { dir, kh, opts } = await setup('ca-only', [`@cert-authority [127.0.0.1]:* ${impostor}`]);
    const r = await cp([...opts, '-o', 'StrictHostKeyChecking=accept-new', `${dir}/src.txt`, `127.0.0.1:${dir}/dst.txt`]);
    expect(r.code, r.stderr).toBe(4);
    expect(r.stderr).toContain('host certificates are not supported');
    expect(r.stderr).toContain(`${kh}:1`);
    expect(await fs.readFile(kh, 'utf8')).toBe(`@cert-authority [127.0.0.1]:* ${impostor}\n`);
  });

  it('a plain entry for port 22 does not vouch for another port', async () => {
    const [t, b64] = sd.hostKeyPub.split(/\s+/);
    const { dir, opts } = await setup('port-22-only', [`127.0.0.1 ${t} ${b64}`]);
    const r = await cp([...opts, '-o', 'StrictHostKeyChecking=yes', `${dir}/src.txt`, `127.0.0.1:${dir}/dst.txt`]);
    expect(r.code, r.stderr).toBe(4);
    expect(r.stderr).toMatch(/no ED25519 host key is known/);
  });
});

describe('rekey', () => {
  it('the server rekeys during a transfer; the same key passes the re-check', async () => {
    const { dir, opts } = await setup('rekey', [knownHostsLine(sd)]);
    await fs.writeFile(`${dir}/big.bin`, Buffer.alloc(512 * 1024, 7));
    const r = await cp([...opts, '-v', `${dir}/big.bin`, `127.0.0.1:${dir}/copy.bin`]);
    expect(r.code, r.stderr).toBe(0);
    expect(await sha256File(`${dir}/copy.bin`)).toBe(await sha256File(`${dir}/big.bin`));
    expect(r.stderr).toMatch(/Rekey: the host key of 127\.0\.0\.1 is unchanged/);
  });
});
