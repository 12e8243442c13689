// Every operand form `ferry cp` accepts, in every direction, against real sshd.
// Remote "home" is pinned with sftp-server -d so relative paths land in a temp
// dir; one test uses the login user's real home and removes what it wrote.
import { randomBytes } from 'node:crypto';
import * as fs from 'node:fs/promises';
import * as net from 'node:net';
import * as os from 'node:os';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { cpVia, exists, knownHostsLine, listTree, makeTempDir } from '../support/cp-helpers.js';
import { runFerry } from '../support/run-ferry.js';
import { startSshd, sshdLog, type Sshd } from '../support/sshd.js';

async function ipv6LoopbackWorks(): Promise<boolean> {
  return new Promise((resolve) => {
    const srv = net.createServer();
    srv.once('error', () => resolve(false));
    srv.listen(0, '::1', () => srv.close(() => resolve(true)));
  });
}
const hasIpv6 = await ipv6LoopbackWorks();

let work: string;
let remoteHome: string;
let sd: Sshd; // sftp start directory = remoteHome
let other: Sshd; // stock sshd: its home is the login user's real home
let sd6: Sshd | undefined;
const realHomeLeftovers: string[] = [];

beforeAll(async () => {
  work = await makeTempDir('forms');
  remoteHome = await makeTempDir('forms-home');
  [sd, other, sd6] = await Promise.all([
    startSshd({ sftpServerArgs: ['-d', remoteHome] }),
    startSshd(),
    hasIpv6 ? startSshd({ listen: '::1' }) : Promise.resolve(undefined),
  ]);
});
afterAll(async () => {
  await Promise.all([sd?.stop(), other?.stop(), sd6?.stop()]);
  for (const p of realHomeLeftovers) await fs.rm(p, { force: true });
  await fs.rm(work, { recursive: true, force: true });
  await fs.rm(remoteHome, { recursive: true, force: true });
});

let n = 0;
/** A new local file with random content; returns its path and content. */
async function fresh(name = `f${++n}.bin`, size = 1000 + n): Promise<{ path: string; data: Buffer }> {
  const data = randomBytes(size);
  const p = `${work}/${name}`;
  await fs.writeFile(p, data);
  return { path: p, data };
}

const cp = (...args: Parameters<ReturnType<typeof cpVia>>) => cpVia(sd)(...args);

describe.concurrent('host:path forms', () => {
  it('uploads to host:/absolute/path', async () => {
    const src = await fresh();
    const r = await cp([src.path, `127.0.0.1:${work}/abs-up.bin`]);
    expect(r.stderr).toBe('');
    expect(r.code, sshdLog(sd)).toBe(0);
    expect(await fs.readFile(`${work}/abs-up.bin`)).toEqual(src.data);
  });

  it('downloads from host:/absolute/path', async () => {
    const src = await fresh();
    const r = await cp([`127.0.0.1:${src.path}`, `${work}/abs-down.bin`]);
    expect(r.stderr).toBe('');
    expect(r.code).toBe(0);
    expect(await fs.readFile(`${work}/abs-down.bin`)).toEqual(src.data);
  });

  it('accepts user@host:path in both directions', async () => {
    const src = await fresh();
    const up = await cp([src.path, `${sd.user}@127.0.0.1:${work}/user-up.bin`]);
    expect(up.code, up.stderr).toBe(0);
    const down = await cp([`${sd.user}@127.0.0.1:${work}/user-up.bin`, `${work}/user-down.bin`]);
    expect(down.code, down.stderr).toBe(0);
    expect(await fs.readFile(`${work}/user-down.bin`)).toEqual(src.data);
  });

  it('resolves host:relative against the remote home', async () => {
    const src = await fresh();
    const r = await cp([src.path, '127.0.0.1:rel-up.bin']);
    expect(r.code, r.stderr).toBe(0);
    expect(await fs.readFile(`${remoteHome}/rel-up.bin`)).toEqual(src.data);
    expect(await exists(`${work}/rel-up.bin`)).toBe(false);

    const down = await cp(['127.0.0.1:rel-up.bin', `${work}/rel-down.bin`]);
    expect(down.code, down.stderr).toBe(0);
    expect(await fs.readFile(`${work}/rel-down.bin`)).toEqual(src.data);
  });

  it('copies into the remote home for host: and host:~/', async () => {
    const a = await fresh('home-a.bin');
    const b = await fresh('home-b.bin');
    const r1 = await cp([a.path, '127.0.0.1:']);
    expect(r1.code, r1.stderr).toBe(0);
    const r2 = await cp([b.path, '127.0.0.1:~/home-b-renamed.bin']);
    expect(r2.code, r2.stderr).toBe(0);
    expect(await fs.readFile(`${remoteHome}/home-a.bin`)).toEqual(a.data);
    expect(await fs.readFile(`${remoteHome}/home-b-renamed.bin`)).toEqual(b.data);
  });

  it("host: is the login user's real home when sftp-server is not told otherwise", async () => {
    const home = os.userInfo().homedir;
    const name = `ferry-test-${process.pid}-${randomBytes(6).toString('hex')}.bin`;
    const src = await fresh(name);
    realHomeLeftovers.push(`${home}/${name}`);
    try {
      const up = await cpVia(other)([src.path, '127.0.0.1:']);
      expect(up.code, up.stderr).toBe(0);
      expect(await fs.readFile(`${home}/${name}`)).toEqual(src.data);
      const down = await cpVia(other)([`127.0.0.1:${name}`, `${work}/from-real-home.bin`]);
      expect(down.code, down.stderr).toBe(0);
      expect(await fs.readFile(`${work}/from-real-home.bin`)).toEqual(src.data);
    } finally {
      await fs.rm(`${home}/${name}`, { force: true });
    }
  });

  it('takes the port from -o Port= and host settings from an -F config alias', async () => {
    const src = await fresh();
    const viaO = await runFerry(['cp', '-o', `Port=${sd.port}`, src.path, `127.0.0.1:${work}/port-o.bin`], { env: sd.env });
    expect(viaO.code, viaO.stderr).toBe(0);
    const cfg = `${work}/alias_config`;
    await fs.writeFile(cfg, `Host ferry-alias\n  HostName 127.0.0.1\n  Port ${sd.port}\n  User ${sd.user}\n  IdentityFile ${sd.clientKey}\n`);
    const viaF = await runFerry(['cp', '-F', cfg, `ferry-alias:${work}/port-o.bin`, `${work}/alias-down.bin`], { env: sd.env });
    expect(viaF.code, viaF.stderr).toBe(0);
    expect(await fs.readFile(`${work}/alias-down.bin`)).toEqual(src.data);
  });

  it('downloads into "." (the current directory)', async () => {
    const src = await fresh('dot-src.bin');
    const cwd = await fs.mkdtemp(`${work}/cwd-`);
    const r = await cp([`127.0.0.1:${src.path}`, '.'], { cwd });
    expect(r.code, r.stderr).toBe(0);
    expect(await fs.readFile(`${cwd}/dot-src.bin`)).toEqual(src.data);
  });
});

describe.concurrent('scp:// URIs', () => {
  it('scp://user@host:port/relpath is relative to the remote home', async () => {
    const src = await fresh();
    const uri = `scp://${sd.user}@127.0.0.1:${sd.port}/uri-rel.bin`;
    const up = await runFerry(['cp', src.path, uri], { env: sd.env });
    expect(up.code, up.stderr).toBe(0);
    expect(await fs.readFile(`${remoteHome}/uri-rel.bin`)).toEqual(src.data);
    const down = await runFerry(['cp', uri, `${work}/uri-rel-down.bin`], { env: sd.env });
    expect(down.code, down.stderr).toBe(0);
    expect(await fs.readFile(`${work}/uri-rel-down.bin`)).toEqual(src.data);
  });

  it('scp://host:port//abs/path is absolute', async () => {
    const src = await fresh();
    const up = await runFerry(['cp', src.path, `scp://127.0.0.1:${sd.port}/${work}/uri-abs.bin`], { env: sd.env });
    expect(up.code, up.stderr).toBe(0);
    expect(await fs.readFile(`${work}/uri-abs.bin`)).toEqual(src.data);
    expect(await exists(`${remoteHome}${work}/uri-abs.bin`)).toBe(false);
  });

  it('scp://host:port with no path is the remote home', async () => {
    const src = await fresh('uri-home.bin');
    const r = await runFerry(['cp', src.path, `scp://127.0.0.1:${sd.port}`], { env: sd.env });
    expect(r.code, r.stderr).toBe(0);
    expect(await fs.readFile(`${remoteHome}/uri-home.bin`)).toEqual(src.data);
  });
});

describe.skipIf(!hasIpv6).concurrent('IPv6 [::1]:path', () => {
  it('uploads and downloads through [::1]:path and user@[::1]:path', async () => {
    const src = await fresh();
    const cp6 = cpVia(sd6!);
    const up = await cp6([src.path, `[::1]:${work}/v6-up.bin`]);
    expect(up.code, up.stderr).toBe(0);
    expect(await fs.readFile(`${work}/v6-up.bin`)).toEqual(src.data);
    const down = await cp6([`${sd6!.user}@[::1]:${work}/v6-up.bin`, `${work}/v6-down.bin`]);
    expect(down.code, down.stderr).toBe(0);
    expect(await fs.readFile(`${work}/v6-down.bin`)).toEqual(src.data);
  });

  it('accepts scp://[::1]:port//abs/path', async () => {
    const src = await fresh();
    const r = await runFerry(['cp', src.path, `scp://[::1]:${sd6!.port}/${work}/v6-uri.bin`], { env: sd6!.env });
    expect(r.code, r.stderr).toBe(0);
    expect(await fs.readFile(`${work}/v6-uri.bin`)).toEqual(src.data);
  });
});

describe.concurrent('local paths', () => {
  it('copies local to local', async () => {
    const src = await fresh();
    const r = await runFerry(['cp', src.path, `${work}/local-copy.bin`], { env: sd.env });
    expect(r.code, r.stderr).toBe(0);
    expect(await fs.readFile(`${work}/local-copy.bin`)).toEqual(src.data);
  });

  it('treats a ":" after a "/" as part of a local name', async () => {
    const cwd = await fs.mkdtemp(`${work}/colon-`);
    await fs.mkdir(`${cwd}/d`);
    const data = randomBytes(321);
    await fs.writeFile(`${cwd}/a:b`, data);
    const r1 = await runFerry(['cp', './a:b', './c:d'], { env: sd.env, cwd });
    expect(r1.code, r1.stderr).toBe(0);
    const r2 = await runFerry(['cp', './c:d', 'd/e:f'], { env: sd.env, cwd });
    expect(r2.code, r2.stderr).toBe(0);
    expect(await fs.readFile(`${cwd}/c:d`)).toEqual(data);
    expect(await fs.readFile(`${cwd}/d/e:f`)).toEqual(data);
  });
});

describe.concurrent('several sources and existing targets', () => {
  it('uploads several sources into an existing remote dir', async () => {
    const dir = await fs.mkdtemp(`${work}/multi-up-`);
    const a = await fresh('multi-a.bin');
    const b = await fresh('multi-b.bin');
    const r = await cp([a.path, b.path, `127.0.0.1:${dir}`]);
    expect(r.code, r.stderr).toBe(0);
    expect((await fs.readdir(dir)).sort()).toEqual(['multi-a.bin', 'multi-b.bin']);
    expect(await fs.readFile(`${dir}/multi-a.bin`)).toEqual(a.data);
    expect(await fs.readFile(`${dir}/multi-b.bin`)).toEqual(b.data);
  });

  it('downloads several sources into an existing local dir', async () => {
    const dir = await fs.mkdtemp(`${work}/multi-down-`);
    const a = await fresh('multi-c.bin');
    const b = await fresh('multi-d.bin');
    const r = await cp([`127.0.0.1:${a.path}`, `127.0.0.1:${b.path}`, `${dir}/`]);
    expect(r.code, r.stderr).toBe(0);
    expect((await fs.readdir(dir)).sort()).toEqual(['multi-c.bin', 'multi-d.bin']);
    expect(await fs.readFile(`${dir}/multi-d.bin`)).toEqual(b.data);
  });

  it('replaces an existing (longer) target file in both directions', async () => {
    const src = await fresh('replace-src.bin', 100);
    const up = `${work}/replace-up.bin`;
    const down = `${work}/replace-down.bin`;
    await fs.writeFile(up, randomBytes(5000));
    await fs.writeFile(down, randomBytes(5000));
    const r1 = await cp([src.path, `127.0.0.1:${up}`]);
    expect(r1.code, r1.stderr).toBe(0);
    const r2 = await cp([`127.0.0.1:${src.path}`, down]);
    expect(r2.code, r2.stderr).toBe(0);
    expect(await fs.readFile(up)).toEqual(src.data);
    expect(await fs.readFile(down)).toEqual(src.data);
  });
});

describe.concurrent('running the same command again', () => {
  it('copies a changed source again, both ways (a finished run leaves nothing to resume)', async () => {
    const dir = await fs.mkdtemp(`${work}/again-`);
    await fs.mkdir(`${dir}/up`);
    await fs.mkdir(`${dir}/down`);
    for (const size of [70_000, 50_000]) {
      const data = randomBytes(size);
      await fs.writeFile(`${dir}/src.bin`, data);
      const up = await cp([`${dir}/src.bin`, `127.0.0.1:${dir}/up`]);
      const down = await cp([`127.0.0.1:${dir}/src.bin`, `${dir}/down`]);
      expect(up.code, up.stderr).toBe(0);
      expect(down.code, down.stderr).toBe(0);
      expect(await fs.readFile(`${dir}/up/src.bin`)).toEqual(data);
      expect(await fs.readFile(`${dir}/down/src.bin`)).toEqual(data);
    }
  });
});

describe.concurrent('remote to remote', () => {
  let knownHosts: string;
  let ids: string[];
  beforeAll(async () => {
    knownHosts = `${work}/known_hosts_both`;
    await fs.writeFile(knownHosts, `${knownHostsLine(sd)}\n${knownHostsLine(other)}\n`);
    ids = ['-i', sd.clientKey, '-i', other.clientKey, '-o', `UserKnownHostsFile=${knownHosts}`];
  });

  it('copies a file between two sshd instances with -3', async () => {
    const src = await fresh('r2r.bin', 200_000);
    const dst = `${work}/r2r-copy.bin`;
    const r = await runFerry(
      ['cp', '-3', ...ids, `scp://127.0.0.1:${sd.port}/${src.path}`, `scp://${other.user}@127.0.0.1:${other.port}/${dst}`],
      { env: sd.env },
    );
    expect(r.stderr).toBe('');
    expect(r.code).toBe(0);
    expect(await fs.readFile(dst)).toEqual(src.data);
  });

  it('copies a tree between two sshd instances with -3 -r', async () => {
    const root = await fs.mkdtemp(`${work}/r2r-tree-`);
    await fs.mkdir(`${root}/src/sub/empty`, { recursive: true });
    await fs.writeFile(`${root}/src/sub/x.bin`, randomBytes(50_000));
    await fs.writeFile(`${root}/src/y.txt`, 'y\n');
    const r = await runFerry(
      ['cp', '-3', '-r', ...ids, `scp://127.0.0.1:${sd.port}/${root}/src`, `scp://127.0.0.1:${other.port}/${root}/dst`],
      { env: sd.env },
    );
    expect(r.code, r.stderr).toBe(0);
    expect(await listTree(`${root}/dst`)).toEqual(['sub/', 'sub/empty/', 'sub/x.bin', 'y.txt']);
    expect(await fs.readFile(`${root}/dst/sub/x.bin`)).toEqual(await fs.readFile(`${root}/src/sub/x.bin`));
  });

  it('copies a relative remote path into the other host by name', async () => {
    await fs.writeFile(`${remoteHome}/r2r-rel.bin`, 'from the start dir\n');
    const dir = await fs.mkdtemp(`${work}/r2r-dir-`);
    const r = await runFerry(
      ['cp', '-3', ...ids, `scp://127.0.0.1:${sd.port}/r2r-rel.bin`, `scp://127.0.0.1:${other.port}/${dir}`],
      { env: sd.env },
    );
    expect(r.code, r.stderr).toBe(0);
    expect(await fs.readFile(`${dir}/r2r-rel.bin`, 'utf8')).toBe('from the start dir\n');
  });

  it('copies between two paths on the same host', async () => {
    const src = await fresh();
    const r = await cp([`127.0.0.1:${src.path}`, `127.0.0.1:${work}/same-host.bin`]);
    expect(r.code, r.stderr).toBe(0);
    expect(await fs.readFile(`${work}/same-host.bin`)).toEqual(src.data);
  });
});
