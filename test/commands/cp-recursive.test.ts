// -r (nested and empty directories, new vs existing target) and -p (times and
// modes, never setuid), in both directions against real sshd.
import { randomBytes } from 'node:crypto';
import * as fs from 'node:fs/promises';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { cpVia, exists, listTree, makeTempDir, modeOf, mtimeSec } from '../support/cp-helpers.js';
import { startSshd, type Sshd } from '../support/sshd.js';

let sd: Sshd;
let work: string;
let cp: ReturnType<typeof cpVia>;

beforeAll(async () => {
  [sd, work] = await Promise.all([startSshd(), makeTempDir('recursive')]);
  cp = cpVia(sd);
});
afterAll(async () => {
  await sd?.stop();
  await fs.rm(work, { recursive: true, force: true });
});

const TREE = ['empty/', 'sub/', 'sub/deeper/', 'sub/deeper/leaf.bin', 'sub/empty2/', 'sub/mid.txt', 'top.txt'];

/** A fresh source tree with nested and empty directories under a new dir. */
async function makeTree(name: string): Promise<string> {
  const root = await fs.mkdtemp(`${work}/${name}-`);
  const src = `${root}/src`;
  await fs.mkdir(`${src}/sub/deeper`, { recursive: true });
  await fs.mkdir(`${src}/sub/empty2`);
  await fs.mkdir(`${src}/empty`);
  await fs.writeFile(`${src}/top.txt`, 'top\n');
  await fs.writeFile(`${src}/sub/mid.txt`, 'middle\n');
  await fs.writeFile(`${src}/sub/deeper/leaf.bin`, randomBytes(70_000));
  return root;
}

async function expectSameTree(a: string, b: string) {
  expect(await listTree(b)).toEqual(TREE);
  for (const f of TREE.filter((p) => !p.endsWith('/'))) {
    expect(await fs.readFile(`${b}/${f}`), f).toEqual(await fs.readFile(`${a}/${f}`));
  }
}

describe.concurrent('-r', () => {
  it('uploads a tree into a new target: the target becomes the copy', async () => {
    const root = await makeTree('up-new');
    const r = await cp(['-r', `${root}/src`, `127.0.0.1:${root}/dst`]);
    expect(r.code, r.stderr).toBe(0);
    await expectSameTree(`${root}/src`, `${root}/dst`);
  });

  it('uploads a tree into an existing dir: copied inside it', async () => {
    const root = await makeTree('up-existing');
    await fs.mkdir(`${root}/dst`);
    const r = await cp(['-r', `${root}/src`, `127.0.0.1:${root}/dst`]);
    expect(r.code, r.stderr).toBe(0);
    expect(await fs.readdir(`${root}/dst`)).toEqual(['src']);
    await expectSameTree(`${root}/src`, `${root}/dst/src`);
  });

  it('downloads a tree into a new target: the target becomes the copy', async () => {
    const root = await makeTree('down-new');
    const r = await cp(['-r', `127.0.0.1:${root}/src`, `${root}/dst`]);
    expect(r.code, r.stderr).toBe(0);
    await expectSameTree(`${root}/src`, `${root}/dst`);
  });

  it('downloads a tree into an existing dir: copied inside it', async () => {
    const root = await makeTree('down-existing');
    await fs.mkdir(`${root}/dst`);
    const r = await cp(['-r', `127.0.0.1:${root}/src/`, `${root}/dst`]);
    expect(r.code, r.stderr).toBe(0);
    expect(await fs.readdir(`${root}/dst`)).toEqual(['src']);
    await expectSameTree(`${root}/src`, `${root}/dst/src`);
  });

  it('copies a tree remote to remote on one host', async () => {
    const root = await makeTree('r2r');
    const r = await cp(['-r', `127.0.0.1:${root}/src`, `127.0.0.1:${root}/dst`]);
    expect(r.code, r.stderr).toBe(0);
    await expectSameTree(`${root}/src`, `${root}/dst`);
  });

  it('copies a directory of 150 files both ways (listings span several READDIR replies)', async () => {
    const root = await fs.mkdtemp(`${work}/many-`);
    await fs.mkdir(`${root}/src`);
    const names = Array.from({ length: 150 }, (_, i) => `file-${String(i).padStart(3, '0')}.txt`);
    await Promise.all(names.map((n) => fs.writeFile(`${root}/src/${n}`, `${n}\n`)));
    const up = await cp(['-r', `${root}/src`, `127.0.0.1:${root}/up`]);
    const down = await cp(['-r', `127.0.0.1:${root}/src`, `${root}/down`]);
    expect(up.code, up.stderr).toBe(0);
    expect(down.code, down.stderr).toBe(0);
    for (const d of ['up', 'down']) {
      expect(await listTree(`${root}/${d}`)).toEqual(names);
      expect(await fs.readFile(`${root}/${d}/file-149.txt`, 'utf8')).toBe('file-149.txt\n');
    }
  });

  it('copies a lone empty directory', async () => {
    const root = await fs.mkdtemp(`${work}/lone-`);
    await fs.mkdir(`${root}/nothing`);
    const up = await cp(['-r', `${root}/nothing`, `127.0.0.1:${root}/up`]);
    const down = await cp(['-r', `127.0.0.1:${root}/nothing`, `${root}/down`]);
    expect(up.code, up.stderr).toBe(0);
    expect(down.code, down.stderr).toBe(0);
    expect(await fs.readdir(`${root}/up`)).toEqual([]);
    expect(await fs.readdir(`${root}/down`)).toEqual([]);
  });

  it('refuses a directory source without -r (exit 1) and still copies the other sources', async () => {
    const root = await makeTree('no-r');
    await fs.mkdir(`${root}/dst`);
    const r = await cp([`${root}/src`, `${root}/src/top.txt`, `127.0.0.1:${root}/dst`]);
    expect(r.code).toBe(1);
    expect(r.stderr).toContain(`${root}/src`);
    expect(r.stderr).toMatch(/directory/i);
    expect(await listTree(`${root}/dst`)).toEqual(['top.txt']);

    const down = await cp([`127.0.0.1:${root}/src`, `${root}/down-no-r`]);
    expect(down.code).toBe(1);
    expect(down.stderr).toContain(`${root}/src`);
    expect(await exists(`${root}/down-no-r`)).toBe(false);
  });

  it('fails (exit 1) when the target of a tree is an existing file, leaving it alone', async () => {
    const root = await makeTree('onto-file');
    await fs.writeFile(`${root}/plain`, 'keep me\n');
    const r = await cp(['-r', `${root}/src`, `127.0.0.1:${root}/plain`]);
    expect(r.code).toBe(1);
    expect(r.stderr).toContain(`${root}/plain`);
    expect(await fs.readFile(`${root}/plain`, 'utf8')).toBe('keep me\n');
  });
});

describe.concurrent('-p', () => {
  const MTIME = 1_000_000_000; // 2001-09-09
  const DIR_MTIME = 1_100_000_000;

  async function makeAged(name: string, mode: number): Promise<string> {
    const root = await fs.mkdtemp(`${work}/${name}-`);
    await fs.writeFile(`${root}/f`, 'aged\n');
    await fs.chmod(`${root}/f`, mode);
    await fs.utimes(`${root}/f`, MTIME, MTIME);
    return root;
  }

  for (const dir of ['upload', 'download'] as const) {
    const remote = (p: string) => `127.0.0.1:${p}`;
    const route = (src: string, dst: string) => (dir === 'upload' ? [src, remote(dst)] : [remote(src), dst]);

    it(`${dir}: -p keeps mtime and mode; without -p the mtime is the copy's own`, async () => {
      const root = await makeAged(`p-${dir}`, 0o640);
      const withP = await cp(['-p', ...route(`${root}/f`, `${root}/with-p`)]);
      const withoutP = await cp(route(`${root}/f`, `${root}/without-p`));
      expect(withP.code, withP.stderr).toBe(0);
      expect(withoutP.code, withoutP.stderr).toBe(0);
      expect(await mtimeSec(`${root}/with-p`)).toBe(MTIME);
      expect((await modeOf(`${root}/with-p`)).toString(8)).toBe('640');
      expect(await mtimeSec(`${root}/without-p`)).toBeGreaterThan(MTIME + 1e8);
    });

    it(`${dir}: a setuid source (04755) never yields a setuid copy`, async () => {
      const root = await makeAged(`suid-${dir}`, 0o4755);
      expect(await modeOf(`${root}/f`)).toBe(0o4755);
      const withP = await cp(['-p', ...route(`${root}/f`, `${root}/with-p`)]);
      const withoutP = await cp(route(`${root}/f`, `${root}/without-p`));
      expect(withP.code, withP.stderr).toBe(0);
      expect(withoutP.code, withoutP.stderr).toBe(0);
      expect((await modeOf(`${root}/with-p`)).toString(8)).toBe('755');
      expect((await modeOf(`${root}/without-p`)) & 0o7000).toBe(0);
    });

    it(`${dir}: -rp preserves directory times and modes`, async () => {
      const root = await fs.mkdtemp(`${work}/rp-${dir}-`);
      await fs.mkdir(`${root}/tree/inner`, { recursive: true });
      await fs.writeFile(`${root}/tree/inner/x`, 'x');
      await fs.utimes(`${root}/tree/inner/x`, MTIME, MTIME);
      await fs.chmod(`${root}/tree/inner`, 0o750);
      await fs.utimes(`${root}/tree/inner`, DIR_MTIME, DIR_MTIME);
      await fs.utimes(`${root}/tree`, DIR_MTIME, DIR_MTIME);
      const r = await cp(['-rp', ...route(`${root}/tree`, `${root}/copy`)]);
      expect(r.code, r.stderr).toBe(0);
      expect(await mtimeSec(`${root}/copy/inner/x`)).toBe(MTIME);
      expect(await mtimeSec(`${root}/copy/inner`)).toBe(DIR_MTIME);
      expect(await mtimeSec(`${root}/copy`)).toBe(DIR_MTIME);
      expect((await modeOf(`${root}/copy/inner`)).toString(8)).toBe('750');
    });
  }
});
