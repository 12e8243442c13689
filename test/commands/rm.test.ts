// `ferry rm` against the real sshd: it removes what it is told, refuses the
// root, the login directory and anything holding it before removing anything,
// and never follows a symlink, neither as an operand nor inside the tree.
import * as fs from 'node:fs/promises';
import * as os from 'node:os';
import * as path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { exists, listTree, makeTempDir } from '../support/cp-helpers.js';
import { runFerry } from '../support/run-ferry.js';
import { startSshd, type Sshd } from '../support/sshd.js';
import { isDotName, protectedReason } from '../../src/transfer/remove.js';

let sd: Sshd;
let work: string;

beforeAll(async () => {
  [sd, work] = await Promise.all([startSshd(), makeTempDir('rm')]);
});
afterAll(async () => {
  await sd?.stop();
  if (work) await fs.rm(work, { recursive: true, force: true });
});

const rm = (args: string[]) => runFerry(['rm', '-P', String(sd.port), ...args], { env: sd.env });
const remote = (p: string) => `127.0.0.1:${p}`;

/** A snapshot-like tree with a partial file, an empty dir, and symlinks pointing out of it. */
async function makeTree(top: string): Promise<{ snap: string; outside: string }> {
  const snap = `${top}/2026-11-01`;
  const outside = `${top}/outside`;
  await fs.mkdir(`${snap}/a/b/empty`, { recursive: true });
  await fs.mkdir(outside);
  await fs.writeFile(`${outside}/precious.txt`, 'keep me\n');
  await fs.writeFile(`${snap}/top.txt`, 'x');
  await fs.writeFile(`${snap}/a/b/deep.txt`, 'y');
  await fs.writeFile(`${snap}/a/.deep.txt.ferry-part`, 'partial');
  await fs.symlink(outside, `${snap}/a/link-to-dir`);
  await fs.symlink(`${outside}/precious.txt`, `${snap}/link-to-file`);
  return { snap, outside };
}

describe('ferry rm', () => {
  it('-r removes a whole tree, links as links, and nothing they point to', async () => {
    const top = await fs.mkdtemp(`${work}/tree-`);
    const { snap, outside } = await makeTree(top);
    const r = await rm(['-r', remote(snap)]);
    expect(r, r.stderr).toMatchObject({ code: 0, stdout: '', stderr: '' });
    expect(await exists(snap)).toBe(false);
    expect(await listTree(outside)).toEqual(['precious.txt']);
    expect(await fs.readFile(`${outside}/precious.txt`, 'utf8')).toBe('keep me\n');
  });

  it('a symlink operand is removed as a link, even with -r', async () => {
    const top = await fs.mkdtemp(`${work}/link-`);
    const { outside } = await makeTree(top);
    await fs.symlink(outside, `${top}/latest`);
    const r = await rm(['-r', remote(`${top}/latest`)]);
    expect(r.code, r.stderr).toBe(0);
    expect(await exists(`${top}/latest`)).toBe(false);
    expect(await listTree(outside)).toEqual(['precious.txt']);
  });

  it('-n lists what would go and removes nothing; without -r a directory is refused', async () => {
    const top = await fs.mkdtemp(`${work}/dry-`);
    const { snap } = await makeTree(top);
    const before = await listTree(snap);
    const r = await rm(['-n', '-r', remote(snap)]);
    expect(r.code, r.stderr).toBe(0);
    expect(r.stdout).toContain(`would remove ${snap}/a/b/deep.txt\n`);
    expect(r.stdout.trimEnd().split('\n').at(-1)).toBe(`would remove ${snap}`);
    expect(await listTree(snap)).toEqual(before);
    const noR = await rm([remote(snap)]);
    expect(noR.code).toBe(1);
    expect(noR.stderr).toContain(`ferry: remove remote "${snap}": Is a directory`);
    expect(await listTree(snap)).toEqual(before);
  });

  it('refuses /, the login directory, ~, . and .., and a directory holding the home, before removing anything', async () => {
    const top = await fs.mkdtemp(`${work}/refuse-`);
    const { snap } = await makeTree(top);
    // The server's home is the test user's real one: these run with -n, so a
    // broken check would list, never remove, what must never go.
    const home = os.userInfo().homedir;
    for (const bad of ['/', '', '.', '~', `${snap}/..`, home, `${home}/`, path.dirname(home), `${home}/.`]) {
      const r = await rm(['-n', '-r', remote(snap), remote(bad)]);
      expect(r.code, `${bad}: ${r.stderr}`).toBe(2);
      expect(r.stderr, bad).toMatch(/^ferry: remove remote "[^"]*": refusing to remove/);
      expect(r.stdout, bad).toBe('');
    }
    // And for real, with an operand whose mistake could only cost this test's own tree.
    const r = await rm(['-r', remote(snap), remote(`${snap}/a/..`)]);
    expect(r.code).toBe(2);
    expect(await exists(`${snap}/top.txt`)).toBe(true);
  });

  it('a missing path is an error (exit 1) unless -f; the other operands still go', async () => {
    const top = await fs.mkdtemp(`${work}/missing-`);
    await fs.writeFile(`${top}/f.txt`, 'f');
    const r = await rm([remote(`${top}/nope`), remote(`${top}/f.txt`)]);
    expect(r.code).toBe(1);
    expect(r.stderr).toContain(`ferry: remove remote "${top}/nope": No such file or directory`);
    expect(await exists(`${top}/f.txt`)).toBe(false);
    expect((await rm(['-f', remote(`${top}/nope`)])).code).toBe(0);
  });

  it('protectedReason and isDotName', () => {
    expect(protectedReason('/', '/root')).toMatch(/root directory/);
    expect(protectedReason('/root/', '/root')).toMatch(/home directory/);
    expect(protectedReason('/home', '/home/me')).toMatch(/holds the home/);
    expect(protectedReason('/home/me2', '/home/me')).toBeUndefined();
    expect(protectedReason('/home/me/backups/old', '/home/me')).toBeUndefined();
    for (const p of ['', '.', '..', 'a/.', 'a/..', 'a/../', '/x/.']) expect(isDotName(p), p).toBe(true);
    for (const p of ['a', '.hidden', '..x', 'a/.b']) expect(isDotName(p), p).toBe(false);
  });
});
