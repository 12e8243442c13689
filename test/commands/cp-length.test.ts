// A file is as long as its source reads, not as its stat says, against real
// sshd: /proc files (stat says 0) copied down and up arrive as `cat` reads
// them, and a local file that grows while it is uploaded fails clearly with
// nothing at the final name, never a shorter copy with exit 0. Needs the
// built CLI (`npm run build`).
import { randomBytes } from 'node:crypto';
import { existsSync, statSync } from 'node:fs';
import * as fs from 'node:fs/promises';
import * as path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { cpVia, exists, makeTempDir } from '../support/cp-helpers.js';
import { jsonEvents, ofType } from '../support/hostile-checks.js';
import { repoRoot } from '../support/run-ferry.js';
import { startSshd, type Sshd } from '../support/sshd.js';

/**
 * Files whose stat says 0 and whose content holds still between two reads.
 * kallsyms (megabytes, where the kernel exposes it) is read in many chunks, so
 * the read-until-EOF path is pipelined there, not only probed.
 */
const PROC_FILES = ['/proc/cpuinfo', '/proc/version', '/proc/mounts', '/proc/kallsyms'].filter((f) => existsSync(f));

let sd: Sshd;
let work: string;
let cp: ReturnType<typeof cpVia>;

beforeAll(async () => {
  if (!existsSync(path.join(repoRoot, 'dist', 'cli.js'))) throw new Error('dist/cli.js is missing: run `npm run build` first');
  [sd, work] = await Promise.all([startSshd(), makeTempDir('length')]);
  cp = cpVia(sd);
});
afterAll(async () => {
  await sd?.stop();
  if (work) await fs.rm(work, { recursive: true, force: true });
});

/** The copy must equal what `cat` read just before or just after it (a /proc file may change between runs, never within one). */
async function expectAsCat(copy: string, before: Buffer, source: string) {
  const got = await fs.readFile(copy);
  const after = await fs.readFile(source);
  expect(got.length, `${source}: ${copy} is ${got.length} bytes, cat read ${before.length}`).toBeGreaterThan(0);
  expect(got.equals(before) || got.equals(after), `${copy} differs from ${source} as cat reads it`).toBe(true);
}

describe.concurrent('/proc files: stat says 0, reads return data', () => {
  it('the /proc files this test reads stat as 0 bytes and hold data', async () => {
    expect(PROC_FILES).toContain('/proc/cpuinfo');
    for (const f of PROC_FILES) {
      expect(statSync(f).size, f).toBe(0);
      expect((await fs.readFile(f)).length, f).toBeGreaterThan(0);
    }
  });

  for (const source of PROC_FILES) {
    const name = path.basename(source);
    it(`download ${source}: identical to cat, exit 0, --json bytes is its length`, async () => {
      const dir = await fs.mkdtemp(path.join(work, `down-${name}-`));
      const before = await fs.readFile(source);
      // kallsyms takes one round trip per page: give a loaded machine time.
      const r = await cp(['--json', `127.0.0.1:${source}`, dir], { timeoutMs: 50_000 });
      expect(r.code, r.stderr).toBe(0);
      await expectAsCat(path.join(dir, name), before, source);
      const [file] = ofType(jsonEvents(r.stdout), 'file');
      expect(file.bytes).toBe((await fs.stat(path.join(dir, name))).size);
    });

    it(`upload ${source}: identical to cat on the server, exit 0`, async () => {
      const dir = await fs.mkdtemp(path.join(work, `up-${name}-`));
      const before = await fs.readFile(source);
      const r = await cp(['-q', source, `127.0.0.1:${dir}/`], { timeoutMs: 50_000 });
      expect(r.code, r.stderr).toBe(0);
      await expectAsCat(path.join(dir, name), before, source);
    });
  }

  it('-p keeps the mode and mtime stat gave, with the whole content', async () => {
    const dir = await fs.mkdtemp(path.join(work, 'p-'));
    const before = await fs.readFile('/proc/version');
    const r = await cp(['-p', '127.0.0.1:/proc/version', dir]);
    expect(r.code, r.stderr).toBe(0);
    const copy = path.join(dir, 'version');
    await expectAsCat(copy, before, '/proc/version');
    const [src, dst] = [statSync('/proc/version'), statSync(copy)];
    expect(dst.mode & 0o777).toBe(src.mode & 0o777);
    expect(Math.floor(dst.mtimeMs / 1000)).toBe(Math.floor(src.mtimeMs / 1000));
  });
});

describe.concurrent('a local file that grows while it is uploaded', () => {
  it('fails naming the change, leaves no final file, and the rerun copies it whole', async () => {
    const dir = await fs.mkdtemp(path.join(work, 'grow-'));
    const local = path.join(dir, 'log.txt');
    const remote = path.join(dir, 'remote', 'log.txt');
    await fs.mkdir(path.dirname(remote));
    const first = randomBytes(2 * 1024 * 1024);
    await fs.writeFile(local, first);
    // 4 Mbit/s: 2 MiB takes about 4 s, so the append below lands mid-copy, wherever the copy is.
    const run = cp(['-l', '4000', local, `127.0.0.1:${remote}`]);
    const partial = path.join(path.dirname(remote), '.log.txt.ferry-part');
    for (let i = 0; i < 600 && !((await fs.stat(partial).catch(() => undefined))?.size ?? 0); i++) await new Promise((r) => setTimeout(r, 25));
    expect((await fs.stat(partial)).size, 'the copy started').toBeGreaterThan(0);
    const tail = randomBytes(64 * 1024);
    await fs.appendFile(local, tail);
    const r = await run;
    expect(r.code, r.stderr).toBe(1);
    expect(r.stderr).toContain(`read local "${local}": changed while being copied (its size went from ${first.length} to ${first.length + tail.length})`);
    expect(await exists(remote)).toBe(false);

    const again = await cp(['-q', local, `127.0.0.1:${remote}`]);
    expect(again.code, again.stderr).toBe(0);
    expect((await fs.readFile(remote)).equals(Buffer.concat([first, tail]))).toBe(true);
  });
});
