// Catalog 1, 24, 25: names a server lists or a user types.
// 1: readdir entries that are not one path component (CVE-2019-6111: the
//    server steering writes outside the target) are refused, each with a
//    "suspect name" error; the rest of the tree is copied; exit 1. The
//    protocol's own "." and ".." entries (every server lists them) are skipped
//    silently, as ssh2 and OpenSSH do; they are tested for harm in modes.test.ts.
// 24: names a shell would act on round-trip exactly and run nothing
//    (cp-names.test.ts has more such names against sshd; these add NFC/NFD,
//    emoji, "-rf", "[123]" and a newline).
// 25: a symlink loop in a -r source is not walked forever.
import { randomBytes } from 'node:crypto';
import * as fs from 'node:fs/promises';
import * as os from 'node:os';
import * as path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Attributes, FileEntry } from 'ssh2';
import { expectCleanOutput, expectIdentical, exists, makeCanary, sha256 } from '../support/hostile-checks.js';
import { startHostileServer, type HostileServer } from '../support/hostile-server.js';
import { cpVia, findNames, findPartials, listTree } from '../support/cp-helpers.js';
import { startSshd, type Sshd } from '../support/sshd.js';

const SUSPECT = ['../x', '../../x', '/abs/x', 'a/b', 'x\0y', '', 'C:\\x'];
const SELF_PARENT = ['.', '..'];

function fakeFile(filename: string): FileEntry {
  const attrs = { mode: 0o100644, uid: 0, gid: 0, size: 5, atime: 0, mtime: 0 } as Attributes;
  return { filename, longname: `-rw-r--r-- 1 0 0 5 Jan 1 1970 ${filename}`, attrs };
}

describe.concurrent('1: suspect names in a listing', () => {
  let srv: HostileServer;
  const data = { 'a.txt': Buffer.from('A\n'), 'b.bin': randomBytes(100_000) };

  beforeAll(async () => {
    srv = await startHostileServer();
    await fs.mkdir(path.join(srv.root, 'src', 'sub'), { recursive: true });
    await fs.mkdir(path.join(srv.root, 'a'));
    for (const [n, d] of Object.entries(data)) await fs.writeFile(path.join(srv.root, 'src', n), d);
    await fs.writeFile(path.join(srv.root, 'src', 'sub', 'c.txt'), 'C\n');
    // Bait: what the names would reach on the server if they were followed.
    await fs.writeFile(path.join(srv.root, 'x'), 'bait');
    await fs.writeFile(path.join(srv.root, 'a', 'b'), 'bait');
    srv.hooks.readdirNames = (p, names) =>
      p === '/src' || p === '/src/sub' ? [...names, ...[...SUSPECT, ...SELF_PARENT].map(fakeFile)] : names;
  });
  afterAll(() => srv?.close());

  it('-r download: every suspect name refused by name, the rest copied, exit 1, nothing outside', async () => {
    const top = await fs.mkdtemp(path.join(srv.work, 'r-'));
    const dst = path.join(top, 'in', 'dst');
    await fs.mkdir(path.dirname(dst));
    const canary = await makeCanary(dst);
    const r = await srv.cp(['-r', srv.remote('/src'), dst]);
    expect(r.code, r.stderr).toBe(1);
    expectCleanOutput(r);
    const refusals = r.stderr.split('\n').filter((l) => l.includes('suspect name'));
    // Each suspect name once per listing that held it (/src and /src/sub).
    expect(refusals, r.stderr).toHaveLength(2 * SUSPECT.length);
    for (const n of SUSPECT) expect(r.stderr, n).toContain(`suspect name ${JSON.stringify(n).replace(/\\/g, '\\\\')}`);
    expect(await listTree(dst)).toEqual(['a.txt', 'b.bin', 'sub/', 'sub/c.txt']);
    await expectIdentical(path.join(dst, 'b.bin'), sha256(data['b.bin']));
    // Nothing reached by the names: beside the target, above it, or at an absolute path.
    expect(await listTree(top)).toEqual(['in/', 'in/canary-dst/', 'in/canary-dst/canary.txt', 'in/dst/', ...(await listTree(dst)).map((p) => `in/dst/${p}`)].sort());
    expect(await exists('/abs/x')).toBe(false);
    expect(await findNames([srv.work], (n) => n === 'x' || n === 'y' || n.startsWith('C:') || n.includes('\0'))).toEqual([]);
    await canary.check();
  });

  it('--json: the refusals are error events, the summary counts them', async () => {
    const dst = path.join(await fs.mkdtemp(path.join(srv.work, 'j-')), 'dst');
    const r = await srv.cp(['-r', '--json', srv.remote('/src'), dst]);
    expect(r.code, r.stderr).toBe(1);
    expectCleanOutput(r);
    const evs = r.stdout.trim().split('\n').map((l) => JSON.parse(l) as Record<string, unknown>);
    const errors = evs.filter((e) => e.event === 'error');
    expect(errors).toHaveLength(2 * SUSPECT.length);
    // The exact name survives the round trip through JSON, NUL byte included.
    for (const n of SUSPECT) expect(errors.some((e) => String(e.message).includes(`suspect name ${JSON.stringify(n)}`)), n).toBe(true);
    expect(evs.at(-1)).toMatchObject({ event: 'summary', files: 3, failed: 2 * SUSPECT.length });
  });

  it('a remote glob never matches a suspect name (nothing outside the target)', async () => {
    const top = await fs.mkdtemp(path.join(srv.work, 'g-'));
    const dst = path.join(top, 'dst');
    await fs.mkdir(dst);
    const canary = await makeCanary(dst);
    const r = await srv.cp([srv.remote('/src/*'), dst]);
    expectCleanOutput(r);
    // "sub" is a directory without -r: that one error is expected, nothing else.
    expect(r.code, r.stderr).toBe(1);
    expect(r.stderr).not.toContain('suspect');
    expect(await listTree(dst)).toEqual(['a.txt', 'b.bin']);
    await canary.check();
  });
});

describe.concurrent('24: names a shell would act on', () => {
  const NAMES = [
    'caf\u00e9 NFC.txt', 'cafe\u0301 NFD.txt', '🚢 emoji.txt', 'quote \'single\' "double".txt', 'star*.txt', '[123].txt',
    '-rf', 'new\nline.txt', '`touch pwned`', '$(touch pwned)',
  ];
  let sd: Sshd;
  let work: string;
  beforeAll(async () => {
    sd = await startSshd();
    work = await fs.mkdtemp(path.join(os.tmpdir(), 'ferry-hostile-names-'));
  });
  afterAll(async () => {
    await sd?.stop();
    if (work) await fs.rm(work, { recursive: true, force: true });
  });

  async function expectNoPwned() {
    expect(await findNames([work, sd.home], (n) => n === 'pwned')).toEqual([]);
    expect(await exists(path.join(os.homedir(), 'pwned'))).toBe(false);
    expect(await exists(path.join(process.cwd(), 'pwned'))).toBe(false);
  }

  for (const dir of ['upload', 'download'] as const) {
    it(`${dir} -r: every name arrives byte for byte (NFC and NFD stay distinct), nothing runs`, async () => {
      const root = await fs.mkdtemp(path.join(work, `${dir}-`));
      const src = path.join(root, 'src');
      await fs.mkdir(src);
      for (const n of NAMES) await fs.writeFile(path.join(src, n), `${n}\n`);
      const dst = path.join(root, 'dst');
      const canary = await makeCanary(dst);
      const args = dir === 'upload' ? [src, `127.0.0.1:${dst}`] : [`127.0.0.1:${src}`, dst];
      const r = await cpVia(sd)(['-r', ...args], { cwd: root });
      expect(r.code, r.stderr).toBe(0);
      expectCleanOutput(r);
      const got = (await fs.readdir(dst, { encoding: 'buffer' })).map((b) => b.toString('hex')).sort();
      expect(got).toEqual(NAMES.map((n) => Buffer.from(n).toString('hex')).sort());
      for (const n of NAMES) expect(await fs.readFile(path.join(dst, n), 'utf8')).toBe(`${n}\n`);
      expect(await findPartials(dst)).toEqual([]);
      await canary.check();
      await expectNoPwned();
    });
  }
});

describe.concurrent('25: a symlink loop in a local -r source', () => {
  let srv: HostileServer;
  beforeAll(async () => {
    srv = await startHostileServer();
  });
  afterAll(() => srv?.close());

  it('is not followed around: a clear error naming it, the rest copied, exit 1, quickly', async () => {
    const src = path.join(srv.work, 'tree');
    await fs.mkdir(path.join(src, 'sub'), { recursive: true });
    await fs.writeFile(path.join(src, 'a.txt'), 'A\n');
    await fs.writeFile(path.join(src, 'sub', 'b.txt'), 'B\n');
    await fs.symlink('..', path.join(src, 'sub', 'up'));
    await fs.symlink('.', path.join(src, 'self'));
    await fs.symlink(path.join(src, 'sub'), path.join(src, 'sub-again')); // not a loop: a second copy
    const t0 = Date.now();
    const r = await srv.cp(['-r', src, srv.remote('/dst')]);
    expect(Date.now() - t0).toBeLessThan(15_000);
    expect(r.code, r.stderr).toBe(1);
    expectCleanOutput(r);
    expect(r.stderr).toMatch(/tree\/self".*symlink loop/);
    expect(r.stderr).toMatch(/tree\/sub\/up".*symlink loop/);
    expect(await listTree(path.join(srv.root, 'dst'))).toEqual(['a.txt', 'sub-again/', 'sub-again/b.txt', 'sub/', 'sub/b.txt']);
  });
});
