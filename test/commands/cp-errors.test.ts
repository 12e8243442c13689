// Failures and their exit codes: 1 for per-file failures (the rest still
// copied), 2 for usage errors (nothing written), 3 for connection errors.
// Permission denied is provoked with sftp-server's request deny list, since
// the tests run as root and file modes would not stop them.
import * as fs from 'node:fs/promises';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { cpVia, exists, findPartials, listTree, makeTempDir } from '../support/cp-helpers.js';
import { runFerry } from '../support/run-ferry.js';
import { freePort, startSshd, type Sshd } from '../support/sshd.js';

let sd: Sshd;
let denied: Sshd; // sftp-server -P open: every open is refused
let work: string;
let cp: ReturnType<typeof cpVia>;

beforeAll(async () => {
  [sd, denied, work] = await Promise.all([startSshd(), startSshd({ sftpServerArgs: ['-P', 'open'] }), makeTempDir('errors')]);
  cp = cpVia(sd);
});
afterAll(async () => {
  await Promise.all([sd?.stop(), denied?.stop()]);
  await fs.rm(work, { recursive: true, force: true });
});

/** A new dir holding files a.txt and b.txt. */
async function twoFiles(name: string): Promise<string> {
  const dir = await fs.mkdtemp(`${work}/${name}-`);
  await fs.writeFile(`${dir}/a.txt`, 'A\n');
  await fs.writeFile(`${dir}/b.txt`, 'B\n');
  return dir;
}

describe.concurrent('missing sources (exit 1, the rest still copied)', () => {
  it('upload: names the missing local source', async () => {
    const dir = await twoFiles('miss-up');
    await fs.mkdir(`${dir}/dst`);
    const r = await cp([`${dir}/a.txt`, `${dir}/nope.txt`, `${dir}/b.txt`, `127.0.0.1:${dir}/dst`]);
    expect(r.code).toBe(1);
    expect(r.stderr).toContain(`${dir}/nope.txt`);
    expect(r.stderr).toMatch(/No such file/);
    expect(await listTree(`${dir}/dst`)).toEqual(['a.txt', 'b.txt']);
  });

  it('download: names the missing remote source', async () => {
    const dir = await twoFiles('miss-down');
    await fs.mkdir(`${dir}/dst`);
    const r = await cp([`127.0.0.1:${dir}/a.txt`, `127.0.0.1:${dir}/nope.txt`, `127.0.0.1:${dir}/b.txt`, `${dir}/dst`]);
    expect(r.code).toBe(1);
    expect(r.stderr).toContain(`${dir}/nope.txt`);
    expect(r.stderr).toMatch(/No such file/);
    expect(await listTree(`${dir}/dst`)).toEqual(['a.txt', 'b.txt']);
  });

  it('a single missing source creates no target', async () => {
    const dir = await twoFiles('miss-single');
    const up = await cp([`${dir}/nope.txt`, `127.0.0.1:${dir}/up.txt`]);
    const down = await cp([`127.0.0.1:${dir}/nope.txt`, `${dir}/down.txt`]);
    expect(up.code).toBe(1);
    expect(down.code).toBe(1);
    expect(up.stderr).toContain('nope.txt');
    expect(down.stderr).toContain('nope.txt');
    expect(await listTree(dir)).toEqual(['a.txt', 'b.txt']);
  });
});

describe.concurrent('unwritable targets (exit 1)', () => {
  it('upload into a missing remote directory names the target, not the partial file', async () => {
    const dir = await twoFiles('no-parent-up');
    const r = await cp([`${dir}/a.txt`, `127.0.0.1:${dir}/nodir/a.txt`]);
    expect(r.code).toBe(1);
    expect(r.stderr).toContain(`"${dir}/nodir/a.txt"`);
    expect(r.stderr).not.toContain('ferry-part');
  });

  it('download into a missing local directory names the target, not the partial file', async () => {
    const dir = await twoFiles('no-parent-down');
    const r = await cp([`127.0.0.1:${dir}/a.txt`, `${dir}/nodir/a.txt`]);
    expect(r.code).toBe(1);
    expect(r.stderr).toContain(`"${dir}/nodir/a.txt"`);
    expect(r.stderr).not.toContain('ferry-part');
  });
});

describe.concurrent('several sources into a non-directory (exit 2, nothing written)', () => {
  it('upload onto an existing remote file', async () => {
    const dir = await twoFiles('multi-file-up');
    await fs.writeFile(`${dir}/target`, 'old\n');
    const r = await cp([`${dir}/a.txt`, `${dir}/b.txt`, `127.0.0.1:${dir}/target`]);
    expect(r.code).toBe(2);
    expect(r.stderr).toMatch(/not a directory/);
    expect(await fs.readFile(`${dir}/target`, 'utf8')).toBe('old\n');
    expect(await listTree(dir)).toEqual(['a.txt', 'b.txt', 'target']);
  });

  it('download into a local path that does not exist', async () => {
    const dir = await twoFiles('multi-missing-down');
    const r = await cp([`127.0.0.1:${dir}/a.txt`, `127.0.0.1:${dir}/b.txt`, `${dir}/newdir`]);
    expect(r.code).toBe(2);
    expect(r.stderr).toContain(`${dir}/newdir`);
    expect(await listTree(dir)).toEqual(['a.txt', 'b.txt']);
  });
});

describe.concurrent('permission denied by the server (exit 1)', () => {
  const cpDenied = (args: string[]) => cpVia(denied)(args);

  it('upload: reports the remote path, leaves nothing behind', async () => {
    const dir = await twoFiles('deny-up');
    await fs.mkdir(`${dir}/dst`);
    const r = await cpDenied([`${dir}/a.txt`, `127.0.0.1:${dir}/dst/a.txt`]);
    expect(r.code).toBe(1);
    expect(r.stderr).toMatch(/permission denied/i);
    expect(r.stderr).toContain(`${dir}/dst/a.txt`);
    expect(await listTree(`${dir}/dst`)).toEqual([]);
  });

  it('download: reports the remote path, creates no local file', async () => {
    const dir = await twoFiles('deny-down');
    const r = await cpDenied([`127.0.0.1:${dir}/a.txt`, `${dir}/got.txt`]);
    expect(r.code).toBe(1);
    expect(r.stderr).toMatch(/permission denied/i);
    expect(r.stderr).toContain(`${dir}/a.txt`);
    expect(await listTree(dir)).toEqual(['a.txt', 'b.txt']);
  });

  it('-r upload: every file fails, exit 1, no partial files', async () => {
    const dir = await twoFiles('deny-r');
    const r = await cpDenied(['-r', dir, `127.0.0.1:${dir}-copy`]);
    try {
      expect(r.code).toBe(1);
      expect(r.stderr).toContain(`${dir}-copy/a.txt`);
      expect(r.stderr).toContain(`${dir}-copy/b.txt`);
      expect(await findPartials(`${dir}-copy`)).toEqual([]);
    } finally {
      await fs.rm(`${dir}-copy`, { recursive: true, force: true });
    }
  });
});

describe.concurrent('connection and usage errors', () => {
  it('connection refused exits 3 and says so', async () => {
    const port = await freePort();
    const r = await runFerry(['cp', '-P', String(port), `${work}/x`, `127.0.0.1:${work}/y`], { env: sd.env });
    expect(r.code).toBe(3);
    expect(r.stderr).toMatch(/Connection refused/);
    expect(r.stderr).toContain(String(port));
  });

  it.each([
    ['-P notaport', ['cp', '-P', 'notaport', 'a', 'b'], /port/],
    ['-P 0', ['cp', '-P', '0', 'a', 'b'], /port/],
    ['-P 65536', ['cp', '-P', '65536', 'a', 'b'], /port/],
    ['no operands', ['cp'], /operand|argument/i],
    ['one operand', ['cp', 'only-one'], /source and a target/],
    ['an unknown option', ['cp', '--no-such-option', 'a', 'b'], /unknown option/i],
    ['a bad scp:// URI', ['cp', 'a', 'scp://'], /URI/],
    ['a bad port in a URI', ['cp', 'a', 'scp://127.0.0.1:99999/x'], /port/],
    ['an empty host', ['cp', 'a', '@:x'], /host/],
  ])('%s exits 2', async (_name, args, msg) => {
    const cwd = await fs.mkdtemp(`${work}/usage-`);
    await fs.writeFile(`${cwd}/a`, 'a');
    const r = await runFerry(args, { env: sd.env, cwd });
    expect(r.code).toBe(2);
    expect(r.stderr).toMatch(msg);
    expect(r.stdout).toBe('');
    expect(await listTree(cwd)).toEqual(['a']);
  });

  it('a malformed -o option exits 2 before anything is copied', async () => {
    const dir = await twoFiles('bad-o');
    const r = await cp(['-o', 'NoValueHere', `${dir}/a.txt`, `127.0.0.1:${dir}/c.txt`]);
    expect(r.code).toBe(2);
    expect(r.stderr).toContain('NoValueHere');
    expect(await exists(`${dir}/c.txt`)).toBe(false);
  });
});
