// Remote globs are expanded by ferry over SFTP (never by a remote shell); a
// pattern matching nothing is taken literally, as OpenSSH does.
import * as fs from 'node:fs/promises';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { cpVia, listTree, makeTempDir } from '../support/cp-helpers.js';
import { startSshd, type Sshd } from '../support/sshd.js';

let sd: Sshd;
let work: string;
let cp: ReturnType<typeof cpVia>;

beforeAll(async () => {
  [sd, work] = await Promise.all([startSshd(), makeTempDir('globs')]);
  cp = cpVia(sd);
});
afterAll(async () => {
  await sd?.stop();
  await fs.rm(work, { recursive: true, force: true });
});

/** A remote-side dir `src` with a mix of names, and an empty `dst` beside it. */
async function makeSrc(name: string): Promise<string> {
  const root = await fs.mkdtemp(`${work}/${name}-`);
  await fs.mkdir(`${root}/src/sub`, { recursive: true });
  await fs.mkdir(`${root}/src/subtoo`);
  await fs.mkdir(`${root}/dst`);
  for (const f of ['a.txt', 'b.txt', 'c.log', '.hidden.txt', 'sub/d.txt', 'sub/e.log', 'subtoo/f.txt']) {
    await fs.writeFile(`${root}/src/${f}`, `${f}\n`);
  }
  return root;
}

describe.concurrent('remote globs', () => {
  it("host:'dir/*.txt' copies only the matches (dotfiles excluded)", async () => {
    const root = await makeSrc('star');
    const r = await cp([`127.0.0.1:${root}/src/*.txt`, `${root}/dst`]);
    expect(r.code, r.stderr).toBe(0);
    expect(await listTree(`${root}/dst`)).toEqual(['a.txt', 'b.txt']);
    expect(await fs.readFile(`${root}/dst/a.txt`, 'utf8')).toBe('a.txt\n');
  });

  it('expands a glob in a directory component', async () => {
    const root = await makeSrc('dir-glob');
    const r = await cp([`127.0.0.1:${root}/src/s*/?.txt`, `${root}/dst`]);
    expect(r.code, r.stderr).toBe(0);
    expect(await listTree(`${root}/dst`)).toEqual(['d.txt', 'f.txt']);
  });

  it('with -r, matching directories are copied whole', async () => {
    const root = await makeSrc('glob-r');
    const r = await cp(['-r', `127.0.0.1:${root}/src/sub*`, `${root}/dst`]);
    expect(r.code, r.stderr).toBe(0);
    expect(await listTree(`${root}/dst`)).toEqual(['sub/', 'sub/d.txt', 'sub/e.log', 'subtoo/', 'subtoo/f.txt']);
  });

  it('several matches into a non-directory target exit 2, nothing written', async () => {
    const root = await makeSrc('glob-nondir');
    const r = await cp([`127.0.0.1:${root}/src/*.txt`, `${root}/dst/one-file`]);
    expect(r.code).toBe(2);
    expect(await listTree(`${root}/dst`)).toEqual([]);
  });

  it('only *, ? and [...] are wildcards (as OpenSSH): "(1)" and braces are literal, [!a] negates', async () => {
    const root = await makeSrc('syntax');
    for (const f of ['report (1).pdf', 'report 1.pdf', 'x{a,b}', 'xa']) await fs.writeFile(`${root}/src/${f}`, f);
    const r1 = await cp([`127.0.0.1:${root}/src/report (1).pdf`, `127.0.0.1:${root}/src/x{a,b}`, `${root}/dst`]);
    expect(r1.code, r1.stderr).toBe(0);
    expect(await listTree(`${root}/dst`)).toEqual(['report (1).pdf', 'x{a,b}']);
    await fs.rm(`${root}/dst`, { recursive: true });
    await fs.mkdir(`${root}/dst`);
    const r2 = await cp([`127.0.0.1:${root}/src/[!a]*.txt`, `${root}/dst`]);
    expect(r2.code, r2.stderr).toBe(0);
    expect(await listTree(`${root}/dst`)).toEqual(['b.txt']);
  });

  it('a backslash escapes a wildcard, as in OpenSSH (st\\*r is the file "st*r" only)', async () => {
    const root = await makeSrc('escape');
    for (const f of ['st*r', 'stxr']) await fs.writeFile(`${root}/src/${f}`, f);
    const r = await cp([`127.0.0.1:${root}/src/st\\*r`, `${root}/dst`]);
    expect(r.code, r.stderr).toBe(0);
    expect(await listTree(`${root}/dst`)).toEqual(['st*r']);
  });

  it('a pattern that matches nothing but exists literally is copied (copy.glob[123])', async () => {
    const root = await makeSrc('literal');
    await fs.writeFile(`${root}/src/copy.glob[123]`, 'literal brackets\n');
    const r = await cp([`127.0.0.1:${root}/src/copy.glob[123]`, `${root}/dst`]);
    expect(r.code, r.stderr).toBe(0);
    expect(await listTree(`${root}/dst`)).toEqual(['copy.glob[123]']);
    expect(await fs.readFile(`${root}/dst/copy.glob[123]`, 'utf8')).toBe('literal brackets\n');
  });

  it('a pattern that matches nothing and does not exist fails (exit 1), naming it; the rest is copied', async () => {
    const root = await makeSrc('nomatch');
    const r = await cp([`127.0.0.1:${root}/src/*.nothing`, `127.0.0.1:${root}/src/a.txt`, `${root}/dst`]);
    expect(r.code).toBe(1);
    expect(r.stderr).toContain(`${root}/src/*.nothing`);
    expect(await listTree(`${root}/dst`)).toEqual(['a.txt']);
  });

  it('local operands are not globbed by ferry (that is the shell\'s job)', async () => {
    const root = await makeSrc('local');
    const r = await cp([`${root}/src/*.txt`, `127.0.0.1:${root}/dst`]);
    expect(r.code).toBe(1);
    expect(r.stderr).toContain(`${root}/src/*.txt`);
    expect(await listTree(`${root}/dst`)).toEqual([]);
  });
});
