// Sizes around the request boundaries (32 KiB, OpenSSH's 255 KiB read limit)
// and a 10 MiB file, compared by sha256 in both directions; no partial
// files may be left once a copy succeeded.
import { randomBytes } from 'node:crypto';
import * as fs from 'node:fs/promises';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { cpVia, findPartials, listTree, makeTempDir } from '../support/cp-helpers.js';
import { sha256File, startSshd, type Sshd } from '../support/sshd.js';

const SIZES = [0, 1, 32767, 32768, 32769, 261120, 261121, 10 * 1024 * 1024];

let sd: Sshd;
let work: string;
let srcDir: string;
let cp: ReturnType<typeof cpVia>;
const digest = new Map<number, string>();
const name = (size: number) => `s${size}.bin`;

beforeAll(async () => {
  [sd, work] = await Promise.all([startSshd(), makeTempDir('sizes')]);
  cp = cpVia(sd);
  srcDir = `${work}/src`;
  await fs.mkdir(srcDir);
  for (const size of SIZES) {
    await fs.writeFile(`${srcDir}/${name(size)}`, randomBytes(size));
    digest.set(size, await sha256File(`${srcDir}/${name(size)}`));
  }
});
afterAll(async () => {
  await sd?.stop();
  await fs.rm(work, { recursive: true, force: true });
});

describe.concurrent('file sizes', () => {
  for (const dir of ['upload', 'download'] as const) {
    it(`${dir}: every size arrives intact (one run, several files at once)`, async () => {
      const dst = await fs.mkdtemp(`${work}/${dir}-all-`);
      const srcs = SIZES.map((size) => (dir === 'upload' ? `${srcDir}/${name(size)}` : `127.0.0.1:${srcDir}/${name(size)}`));
      const r = await cp([...srcs, dir === 'upload' ? `127.0.0.1:${dst}` : dst]);
      expect(r.code, r.stderr).toBe(0);
      expect(r.stderr).toBe('');
      expect(await listTree(dst)).toEqual(SIZES.map(name).sort());
      for (const size of SIZES) {
        expect((await fs.stat(`${dst}/${name(size)}`)).size, name(size)).toBe(size);
        expect(await sha256File(`${dst}/${name(size)}`), name(size)).toBe(digest.get(size));
      }
    });

    it.each([0, 32769, 10 * 1024 * 1024])(`${dir}: %i bytes to an explicitly named target`, async (size) => {
      const dst = await fs.mkdtemp(`${work}/${dir}-${size}-`);
      const [s, d] = [`${srcDir}/${name(size)}`, `${dst}/copy.bin`];
      const r = await cp(dir === 'upload' ? [s, `127.0.0.1:${d}`] : [`127.0.0.1:${s}`, d]);
      expect(r.code, r.stderr).toBe(0);
      expect(await sha256File(d)).toBe(digest.get(size));
      expect(await listTree(dst)).toEqual(['copy.bin']);
    });
  }

  it('remote to remote: all sizes in one run, several files at once', async () => {
    const dst = await fs.mkdtemp(`${work}/r2r-`);
    const r = await cp([...SIZES.map((s) => `127.0.0.1:${srcDir}/${name(s)}`), `127.0.0.1:${dst}`]);
    expect(r.code, r.stderr).toBe(0);
    for (const size of SIZES) expect(await sha256File(`${dst}/${name(size)}`), name(size)).toBe(digest.get(size));
    expect(await findPartials(dst)).toEqual([]);
  });

  it('-r both ways leaves no .ferry-part files', async () => {
    const root = await fs.mkdtemp(`${work}/tree-`);
    const up = await cp(['-r', srcDir, `127.0.0.1:${root}/up`]);
    const down = await cp(['-r', `127.0.0.1:${srcDir}`, `${root}/down`]);
    expect(up.code, up.stderr).toBe(0);
    expect(down.code, down.stderr).toBe(0);
    const names = SIZES.map(name).sort();
    expect(await listTree(`${root}/up`)).toEqual(names);
    expect(await listTree(`${root}/down`)).toEqual(names);
    expect(await findPartials(root, srcDir)).toEqual([]);
  });
});
