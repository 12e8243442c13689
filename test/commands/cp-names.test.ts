// Names a shell would mangle or run: spaces, unicode, quotes, $(...), `...`.
// ferry never runs a remote shell, so they must arrive byte for byte and
// nothing named `pwned` may appear anywhere (cwd, temp dirs, remote home).
import * as fs from 'node:fs/promises';
import * as os from 'node:os';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { cpVia, exists, findNames, findPartials, listTree, makeTempDir } from '../support/cp-helpers.js';
import { startSshd, type Sshd } from '../support/sshd.js';

const NAMES = [
  'with space.txt',
  '  leading and trailing  ',
  'ünïcødé – 文件 🚢.txt',
  "it's \"quoted\".txt",
  '$(touch pwned)',
  '`touch pwned`',
  'semi;touch pwned;.txt',
  '-dash-first.txt',
  'star*?[x].txt',
];

let sd: Sshd;
let work: string;
let cwd: string;
let cp: ReturnType<typeof cpVia>;

beforeAll(async () => {
  [sd, work] = await Promise.all([startSshd(), makeTempDir('names')]);
  cwd = await fs.mkdtemp(`${work}/cwd-`);
  cp = (args, o) => cpVia(sd)(args, { cwd, ...o });
});
afterAll(async () => {
  await sd?.stop();
  await fs.rm(work, { recursive: true, force: true });
});

async function expectNoPwned() {
  expect(await findNames([work], (n) => n === 'pwned')).toEqual([]);
  expect(await exists(`${os.userInfo().homedir}/pwned`)).toBe(false);
  expect(await exists(`${sd.home}/pwned`)).toBe(false);
  expect(await exists(`${process.cwd()}/pwned`)).toBe(false);
}

/** A dir `src` holding one file per name, each with its own name as content. */
async function makeSrc(name: string): Promise<string> {
  const root = await fs.mkdtemp(`${work}/${name}-`);
  await fs.mkdir(`${root}/src/nested ${NAMES[4]}`, { recursive: true });
  for (const n of NAMES) {
    await fs.writeFile(`${root}/src/${n}`, `${n}\n`);
    await fs.writeFile(`${root}/src/nested ${NAMES[4]}/${n}`, `nested ${n}\n`);
  }
  return root;
}

async function expectCopies(src: string, dst: string) {
  expect(await listTree(dst)).toEqual(await listTree(src));
  for (const p of await listTree(src)) {
    if (!p.endsWith('/')) expect(await fs.readFile(`${dst}/${p}`, 'utf8'), p).toBe(await fs.readFile(`${src}/${p}`, 'utf8'));
  }
}

describe.concurrent('hostile and unusual names', () => {
  for (const dir of ['upload', 'download'] as const) {
    it(`${dir}: each name as an explicit source and target`, async () => {
      const root = await makeSrc(`explicit-${dir}`);
      await fs.mkdir(`${root}/dst`);
      await Promise.all(
        NAMES.map(async (n) => {
          const [s, d] = [`${root}/src/${n}`, `${root}/dst/${n}`];
          const r = await cp(dir === 'upload' ? [s, `127.0.0.1:${d}`] : [`127.0.0.1:${s}`, d]);
          expect(r.code, `${n}: ${r.stderr}`).toBe(0);
          expect(await fs.readFile(d, 'utf8')).toBe(`${n}\n`);
        }),
      );
      await expectNoPwned();
    });

    it(`${dir}: all names at once into a directory (names taken from the sources)`, async () => {
      const root = await makeSrc(`into-dir-${dir}`);
      await fs.mkdir(`${root}/dst`);
      // '*?[' in a remote operand would be a glob; give that one as a literal local/other name below.
      const plain = NAMES.filter((n) => !/[*?[]/.test(n));
      const srcs = plain.map((n) => (dir === 'upload' ? `${root}/src/${n}` : `127.0.0.1:${root}/src/${n}`));
      const r = await cp([...srcs, dir === 'upload' ? `127.0.0.1:${root}/dst` : `${root}/dst`]);
      expect(r.code, r.stderr).toBe(0);
      expect(await listTree(`${root}/dst`)).toEqual([...plain].sort());
      await expectNoPwned();
    });

    it(`${dir}: -r copies a tree of such names intact`, async () => {
      const root = await makeSrc(`tree-${dir}`);
      const r = await cp(dir === 'upload' ? ['-r', `${root}/src`, `127.0.0.1:${root}/dst`] : ['-r', `127.0.0.1:${root}/src`, `${root}/dst`]);
      expect(r.code, r.stderr).toBe(0);
      await expectCopies(`${root}/src`, `${root}/dst`);
      expect(await findPartials(`${root}/dst`)).toEqual([]);
      await expectNoPwned();
    });
  }

  it('a remote glob matching such names copies them all (-r)', async () => {
    const root = await makeSrc('glob');
    await fs.mkdir(`${root}/dst`);
    const r = await cp(['-r', `127.0.0.1:${root}/src/*`, `${root}/dst`]);
    expect(r.code, r.stderr).toBe(0);
    await expectCopies(`${root}/src`, `${root}/dst`);
    await expectNoPwned();
  });

  it('a listed name with a backslash is refused (exit 1); the rest of the tree is copied', async () => {
    const root = await fs.mkdtemp(`${work}/backslash-`);
    await fs.mkdir(`${root}/src`);
    await fs.writeFile(`${root}/src/back\\slash`, 'x');
    await fs.writeFile(`${root}/src/fine.txt`, 'fine\n');
    const r = await cp(['-r', `127.0.0.1:${root}/src`, `${root}/dst`]);
    expect(r.code).toBe(1);
    expect(r.stderr).toContain('back');
    expect(await listTree(`${root}/dst`)).toEqual(['fine.txt']);
  });

  it('relative names are resolved against the cwd, which gets nothing else', async () => {
    const r1 = await fs.mkdtemp(`${work}/cwd-rel-`);
    await fs.writeFile(`${r1}/${NAMES[4]}`, 'x\n');
    const r = await cpVia(sd)([NAMES[4], `127.0.0.1:${r1}/copy of ${NAMES[4]}`], { cwd: r1 });
    expect(r.code, r.stderr).toBe(0);
    expect((await fs.readdir(r1)).sort()).toEqual([NAMES[4], `copy of ${NAMES[4]}`].sort());
    await expectNoPwned();
  });
});
