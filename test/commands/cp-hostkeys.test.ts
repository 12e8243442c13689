// Host-key and authentication failures stop the run with exit 4 before any
// byte moves; accept-new records an unknown key. The sshd's home pins its real
// host key; these tests point UserKnownHostsFile elsewhere to vary that.
import * as fs from 'node:fs/promises';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { cpVia, exists, knownHostsHas, makeKey, makeTempDir } from '../support/cp-helpers.js';
import { startSshd, type Sshd } from '../support/sshd.js';

let sd: Sshd;
let work: string;
let cp: ReturnType<typeof cpVia>;
let impostorKey: string; // an ed25519 public key that is not the server's

beforeAll(async () => {
  [sd, work] = await Promise.all([startSshd(), makeTempDir('hostkeys')]);
  cp = cpVia(sd);
  const [type, b64] = (await makeKey(work, 'impostor')).pub.split(/\s+/);
  impostorKey = `${type} ${b64}`;
});
afterAll(async () => {
  await sd?.stop();
  await fs.rm(work, { recursive: true, force: true });
});

/** A dir with a source file `src.txt` and a known_hosts file holding `lines`. */
async function setup(name: string, lines: string[]): Promise<{ dir: string; kh: string; opts: string[] }> {
  const dir = await fs.mkdtemp(`${work}/${name}-`);
  await fs.writeFile(`${dir}/src.txt`, 'payload\n');
  const kh = `${dir}/known_hosts`;
  await fs.writeFile(kh, lines.map((l) => `${l}\n`).join(''));
  return { dir, kh, opts: ['-o', `UserKnownHostsFile=${kh}`, '-o', 'GlobalKnownHostsFile=/dev/null'] };
}

describe.concurrent('unknown host key', () => {
  it('BatchMode=yes with an empty known_hosts exits 4, mentions the host key, copies nothing', async () => {
    const { dir, opts } = await setup('batch', []);
    const r = await cp([...opts, '-o', 'BatchMode=yes', `${dir}/src.txt`, `127.0.0.1:${dir}/dst.txt`]);
    expect(r.code).toBe(4);
    expect(r.stderr).toMatch(/host key/i);
    expect(r.stderr).toContain(`[127.0.0.1]:${sd.port}`);
    expect(await exists(`${dir}/dst.txt`)).toBe(false);
  });

  it('-B behaves as BatchMode=yes (download)', async () => {
    const { dir, opts } = await setup('dash-b', []);
    const r = await cp([...opts, '-B', `127.0.0.1:${dir}/src.txt`, `${dir}/dst.txt`]);
    expect(r.code).toBe(4);
    expect(r.stderr).toMatch(/host key/i);
    expect(await exists(`${dir}/dst.txt`)).toBe(false);
  });

  it('without a terminal it is refused rather than asked (no hang)', async () => {
    const { dir, opts } = await setup('no-tty', []);
    const r = await cp([...opts, `${dir}/src.txt`, `127.0.0.1:${dir}/dst.txt`], { input: 'yes\n' });
    expect(r.code).toBe(4);
    expect(r.stderr).toMatch(/host key/i);
    expect(await exists(`${dir}/dst.txt`)).toBe(false);
  });

  it('StrictHostKeyChecking=yes refuses it', async () => {
    const { dir, opts } = await setup('strict-yes', []);
    const r = await cp([...opts, '-o', 'StrictHostKeyChecking=yes', `${dir}/src.txt`, `127.0.0.1:${dir}/dst.txt`]);
    expect(r.code).toBe(4);
    expect(r.stderr).toMatch(/host key/i);
    expect(await exists(`${dir}/dst.txt`)).toBe(false);
  });

  it('StrictHostKeyChecking=accept-new copies and records the key for the next run', async () => {
    const { dir, kh, opts } = await setup('accept-new', []);
    const r = await cp([...opts, '-o', 'StrictHostKeyChecking=accept-new', `${dir}/src.txt`, `127.0.0.1:${dir}/dst.txt`]);
    expect(r.code, r.stderr).toBe(0);
    expect(await fs.readFile(`${dir}/dst.txt`, 'utf8')).toBe('payload\n');
    // ssh-keygen -F understands hashed entries too (HashKnownHosts may be on).
    const found = await knownHostsHas(kh, `[127.0.0.1]:${sd.port}`);
    expect(found).toContain(sd.hostKeyPub.split(/\s+/)[1]);

    const again = await cp([...opts, '-o', 'BatchMode=yes', `127.0.0.1:${dir}/dst.txt`, `${dir}/back.txt`]);
    expect(again.code, again.stderr).toBe(0);
    expect(await fs.readFile(`${dir}/back.txt`, 'utf8')).toBe('payload\n');
  });
});

describe.concurrent('known_hosts files from ssh_config', () => {
  it('a UserKnownHostsFile directive naming several files is searched in full', async () => {
    const { dir, kh } = await setup('two-files', [`[127.0.0.1]:${sd.port} ${sd.hostKeyPub.split(/\s+/).slice(0, 2).join(' ')}`]);
    await fs.writeFile(`${dir}/empty_known_hosts`, '');
    const cfg = `${dir}/ssh_config`;
    await fs.writeFile(cfg, `Host *\n  UserKnownHostsFile ${dir}/empty_known_hosts ${kh}\n  GlobalKnownHostsFile /dev/null\n  BatchMode yes\n`);
    const r = await cp(['-F', cfg, `${dir}/src.txt`, `127.0.0.1:${dir}/dst.txt`]);
    expect(r.code, r.stderr).toBe(0);
    expect(await fs.readFile(`${dir}/dst.txt`, 'utf8')).toBe('payload\n');
  });
});

describe.concurrent('changed host key', () => {
  const changedLine = () => `[127.0.0.1]:${sd.port} ${impostorKey}`;

  it('upload exits 4 with OpenSSH\'s warning and writes nothing', async () => {
    const { dir, opts } = await setup('changed-up', [changedLine()]);
    const r = await cp([...opts, `${dir}/src.txt`, `127.0.0.1:${dir}/dst.txt`]);
    expect(r.code).toBe(4);
    expect(r.stderr).toContain('REMOTE HOST IDENTIFICATION HAS CHANGED');
    expect(await fs.readdir(dir)).toEqual(['known_hosts', 'src.txt']);
  });

  it('download exits 4 and writes nothing', async () => {
    const { dir, opts } = await setup('changed-down', [changedLine()]);
    const r = await cp([...opts, `127.0.0.1:${dir}/src.txt`, `${dir}/dst.txt`]);
    expect(r.code).toBe(4);
    expect(r.stderr).toContain('REMOTE HOST IDENTIFICATION HAS CHANGED');
    expect(await fs.readdir(dir)).toEqual(['known_hosts', 'src.txt']);
  });

  it('accept-new does not accept a changed key, nor rewrite known_hosts', async () => {
    const { dir, kh, opts } = await setup('changed-accept-new', [changedLine()]);
    const r = await cp([...opts, '-o', 'StrictHostKeyChecking=accept-new', `${dir}/src.txt`, `127.0.0.1:${dir}/dst.txt`]);
    expect(r.code).toBe(4);
    expect(r.stderr).toContain('REMOTE HOST IDENTIFICATION HAS CHANGED');
    expect(await exists(`${dir}/dst.txt`)).toBe(false);
    expect(await fs.readFile(kh, 'utf8')).toBe(`${changedLine()}\n`);
  });
});

describe.concurrent('authentication', () => {
  it('a wrong identity exits 4 and copies nothing', async () => {
    const { dir } = await setup('wrong-id', []);
    const { key } = await makeKey(dir, 'stranger');
    const r = await cp(['-i', key, `${dir}/src.txt`, `127.0.0.1:${dir}/dst.txt`]);
    expect(r.code).toBe(4);
    expect(r.stderr).toMatch(/permission denied|authentication/i);
    expect(await exists(`${dir}/dst.txt`)).toBe(false);
  });

  it('the right identity given with -i works', async () => {
    const { dir } = await setup('right-id', []);
    const r = await cp(['-i', sd.clientKey, `${dir}/src.txt`, `127.0.0.1:${dir}/dst.txt`]);
    expect(r.code, r.stderr).toBe(0);
    expect(await fs.readFile(`${dir}/dst.txt`, 'utf8')).toBe('payload\n');
  });
});
