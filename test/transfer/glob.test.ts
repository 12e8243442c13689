// Remote glob expansion, run here over the LocalEndpoint (the engine sees only
// the endpoint interface). Semantics are OpenSSH's: glob(3) with `*`, `?`,
// `[...]` (`!` negates) and backslash escapes; braces, extglobs and a leading
// `!` are ordinary characters; wildcards never match a leading dot.
import * as fs from 'node:fs/promises';
import * as os from 'node:os';
import * as path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { DirEntry, Endpoint } from '../../src/transfer/endpoint.js';
import { expandGlob, hasGlobMagic } from '../../src/transfer/glob.js';
import { LocalEndpoint } from '../../src/transfer/local.js';

const ep = new LocalEndpoint();
let root: string;

const FILES = [
  'a.txt', 'b.txt', 'c.log', '.hidden.txt', '!bang.txt', 'x{a,b}', 'xa', 'xb',
  'photos (2019)/p1.jpg', 'photos 2019/p2.jpg', 'sub/d.txt', 'subtoo/e.txt', 'star*.txt', 'q?.txt', 'qa.txt',
  'copy.glob[123]', 'ünï.txt', 'a(b).txt', 'ab.txt', ']x', '[x', 'new\nline',
];

beforeAll(async () => {
  root = await fs.mkdtemp(path.join(os.tmpdir(), 'ferry-glob-'));
  for (const f of FILES) {
    await fs.mkdir(path.dirname(`${root}/${f}`), { recursive: true });
    await fs.writeFile(`${root}/${f}`, f);
  }
});
afterAll(async () => {
  await fs.rm(root, { recursive: true, force: true });
});

const expand = async (pattern: string) => (await expandGlob(ep, `${root}/${pattern}`)).map((p) => p.slice(root.length + 1));

describe('hasGlobMagic', () => {
  it.each(['*.txt', 'dir/?', 'a[bc]', 'logs/*/x', 'a[!b]'])('%s has magic', (p) => {
    expect(hasGlobMagic(p)).toBe(true);
  });
  it.each(['a.txt', 'photos (2019)/x', 'x{a,b}', '!x', 'a+b', '@(a)', 'file (1).pdf', '$(touch pwned)', 'a\\*b', 'unclosed['])(
    '%s is a plain name',
    (p) => {
      expect(hasGlobMagic(p)).toBe(false);
    },
  );
});

describe('expandGlob over the local endpoint', () => {
  it('matches in one directory, sorted, skipping dotfiles', async () => {
    expect(await expand('*.txt')).toEqual(['!bang.txt', 'a(b).txt', 'a.txt', 'ab.txt', 'b.txt', 'q?.txt', 'qa.txt', 'star*.txt', 'ünï.txt']);
  });

  it('matches dotfiles only when the pattern starts with a dot', async () => {
    expect(await expand('.*.txt')).toEqual(['.hidden.txt']);
    expect(await expand('?hidden.txt')).toEqual([]);
  });

  it('? matches exactly one character (a whole unicode code point)', async () => {
    expect(await expand('?.txt')).toEqual(['a.txt', 'b.txt']);
    expect(await expand('ün?.txt')).toEqual(['ünï.txt']);
  });

  it('[...] classes, ranges and [!...] negation', async () => {
    expect(await expand('[ab].txt')).toEqual(['a.txt', 'b.txt']);
    expect(await expand('[a-b].txt')).toEqual(['a.txt', 'b.txt']);
    expect(await expand('[!a].txt')).toEqual(['b.txt']);
  });

  it('class edge cases: a leading ], a reversed range, an unclosed [', async () => {
    expect(await expand('[]]x')).toEqual([']x']);
    expect(await expand('[z-a]*')).toEqual([]);
    expect(await expand('[[]x*')).toEqual(['[x']);
    expect(await expand('new?line')).toEqual(['new\nline']);
  });

  it('expands directory components', async () => {
    expect(await expand('sub*/*.txt')).toEqual(['sub/d.txt', 'subtoo/e.txt']);
  });

  it('leaves parentheses in other components literal (photos (2019) is not photos 2019)', async () => {
    expect(await expand('photos (2019)/*.jpg')).toEqual(['photos (2019)/p1.jpg']);
    expect(await expand('a(b)*')).toEqual(['a(b).txt']);
  });

  it('treats braces and a leading ! as ordinary characters', async () => {
    expect(await expand('x{a,b}*')).toEqual(['x{a,b}']);
    expect(await expand('!*')).toEqual(['!bang.txt']);
  });

  it('honours backslash escapes', async () => {
    expect(await expand('star\\*.*')).toEqual(['star*.txt']);
    expect(await expand('q\\?.*')).toEqual(['q?.txt']);
  });

  it('returns [] when nothing matches, or a literal tail does not exist', async () => {
    expect(await expand('*.nothing')).toEqual([]);
    expect(await expand('sub*/missing.txt')).toEqual([]);
    expect(await expand('nodir/*')).toEqual([]);
    expect(await expand('a.txt/*')).toEqual([]);
  });

  it('a literal name that looks like a class matches itself only through the caller\'s fallback', async () => {
    // copy.glob[123] matches copy.glob1..3, none of which exist: [] here, and cp-plan then
    // takes the operand literally (covered in test/commands/cp-globs.test.ts).
    expect(await expand('copy.glob[123]')).toEqual([]);
  });

  it('never returns names a server lists that are not one path component', async () => {
    // Only what expandGlob uses: a listing, and an lstat that must not be needed.
    const hostile = {
      side: 'remote',
      label: 'hostile',
      readdir: async (): Promise<DirEntry[]> =>
        ['.', '..', '../../etc/passwd', 'ok.txt', 'a/b.txt', ''].map((name) => ({
          name,
          attrs: { kind: 'file', size: 0, mode: 0o644, mtime: 0, atime: 0 },
        })),
      lstat: async () => {
        throw new Error('listed names need no second look');
      },
    } as unknown as Endpoint;
    expect(await expandGlob(hostile, 'dir/*')).toEqual(['dir/ok.txt']);
  });
});
