// `ferry sync` through the real CLI against a real sshd, in both directions:
// first sync copies all, a second one sends nothing, touched/changed/deleted
// files are handled exactly (quick check, --checksum, --delete), --dry-run
// changes nothing, --max-delete stops, filters match a reference list,
// --verify catches corruption, and an interrupted sync rerun does not send
// completed files again. Needs the built CLI (`npx tsc -p tsconfig.json`).
import { spawn } from 'node:child_process';
import { createHash, randomBytes } from 'node:crypto';
import { existsSync } from 'node:fs';
import * as fs from 'node:fs/promises';
import * as path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { findPartials, listTree, makeTempDir } from '../support/cp-helpers.js';
import { ferryBin, repoRoot, runFerry, type RunFerryResult } from '../support/run-ferry.js';
import { startSshd, type Sshd } from '../support/sshd.js';
import { withLogins } from '../support/budget.js';

let sd: Sshd;
let work: string;

beforeAll(async () => {
  if (!existsSync(path.join(repoRoot, 'dist', 'cli.js'))) {
    throw new Error('dist/cli.js is missing: run `npx tsc -p tsconfig.json` before these tests');
  }
  [sd, work] = await Promise.all([startSshd(), makeTempDir('sync')]);
});
afterAll(async () => {
  await sd?.stop();
  if (work) await fs.rm(work, { recursive: true, force: true });
});

type Event = Record<string, unknown> & { event: string };
const events = (stdout: string): Event[] => stdout.split('\n').filter((l) => l.trim() !== '').map((l) => JSON.parse(l) as Event);
const ofType = (evs: Event[], type: string) => evs.filter((e) => e.event === type);
const summaryOf = (r: RunFerryResult) => ofType(events(r.stdout), 'summary')[0];
/** "action path" for every file event that is not a skip, sorted. */
const changes = (r: RunFerryResult) =>
  ofType(events(r.stdout), 'file').filter((e) => e.action !== 'skipped').map((e) => `${e.action} ${e.path}`).sort();

const T0 = 1_600_000_000;

/** Files of a source tree, relative path -> content. */
const FILES: Record<string, Buffer | string> = {
  'top.txt': 'top\n',
  'docs/readme.md': '# readme\n',
  'docs/guide/intro.md': 'intro\n',
  'docs/guide/deep/deeper/leaf.bin': randomBytes(50_000),
  'data/a.bin': randomBytes(120_000),
  'data/b.bin': randomBytes(3000),
  'data/c.bin': randomBytes(70_000),
  'empty.txt': '',
};
const FILE_COUNT = Object.keys(FILES).length;
const TOTAL_BYTES = Object.values(FILES).reduce((n, c) => n + Buffer.byteLength(c), 0);

async function makeSource(dir: string, files: Record<string, Buffer | string> = FILES): Promise<void> {
  for (const [rel, content] of Object.entries(files)) {
    await fs.mkdir(path.dirname(path.join(dir, rel)), { recursive: true });
    await fs.writeFile(path.join(dir, rel), content);
  }
  // Whole seconds in the past, so a copy made now differs in mtime unless times are preserved.
  for (const rel of Object.keys(files)) await fs.utimes(path.join(dir, rel), T0, T0);
  if (files !== FILES) return;
  await fs.mkdir(path.join(dir, 'empty-dir'));
  await fs.chmod(path.join(dir, 'data/b.bin'), 0o600);
  await fs.chmod(path.join(dir, 'docs/guide'), 0o750);
  for (const d of ['docs/guide/deep/deeper', 'docs/guide/deep', 'docs/guide', 'docs', 'data', 'empty-dir', '.']) await fs.utimes(path.join(dir, d), T0 + 5, T0 + 5);
}

/** Every entry: kind, mode, whole-second mtime, and a hash of the content for files. */
async function snapshot(dir: string): Promise<Record<string, string>> {
  const out: Record<string, string> = {};
  for (const rel of ['', ...(await listTree(dir))]) {
    const p = path.join(dir, rel);
    const st = await fs.lstat(p);
    const mtime = Math.floor(st.mtimeMs / 1000);
    const mode = (st.mode & 0o777).toString(8);
    if (st.isFile()) out[rel] = `file ${mode} ${mtime} ${createHash('sha256').update(await fs.readFile(p)).digest('hex').slice(0, 16)}`;
    else out[rel] = `${st.isDirectory() ? 'dir' : 'other'} ${mode} ${mtime}`;
  }
  return out;
}

async function expectMirror(src: string, dst: string) {
  expect(await snapshot(dst)).toEqual(await snapshot(src));
}

interface Scenario {
  dir: string;
  src: string;
  dst: string;
  /** Operands for the chosen direction. */
  from: string;
  to: string;
  sync(args: string[], env?: NodeJS.ProcessEnv): Promise<RunFerryResult>;
}

async function scenario(name: string, direction: 'up' | 'down' = 'up'): Promise<Scenario> {
  const dir = await fs.mkdtemp(path.join(work, `${name}-`));
  const src = path.join(dir, 'src');
  const dst = path.join(dir, 'dst');
  await makeSource(src);
  const env = { ...sd.env, FERRY_STATE_DIR: path.join(dir, 'state') };
  const remote = (p: string) => `127.0.0.1:${p}`;
  return {
    dir, src, dst,
    from: direction === 'down' ? remote(src) : src,
    to: direction === 'up' ? remote(dst) : dst,
    sync: (args, extra) => runFerry(['sync', '-P', String(sd.port), ...args], { env: { ...env, ...extra }, timeoutMs: 60_000 }),
  };
}

/** Touch one file (mtime only), change one (same size, new content), delete one. */
async function modify(src: string) {
  await fs.utimes(path.join(src, 'data/a.bin'), T0 + 100, T0 + 100);
  const c = path.join(src, 'data/c.bin');
  await fs.writeFile(c, randomBytes(70_000));
  await fs.utimes(c, T0, T0); // Same size and mtime as before: only the content says it changed.
  await fs.rm(path.join(src, 'docs/readme.md'));
}

describe.concurrent('mirror, then send only what changed', () => {
  for (const direction of ['up', 'down'] as const) {
    it(`${direction === 'up' ? 'local -> remote' : 'remote -> local'}: all, then nothing, then exactly the touched + changed, and --delete removes exactly the deleted one`, async () => {
      const s = await scenario(`basic-${direction}`, direction);
      const r1 = await s.sync(['--json', s.from, s.to]);
      expect(r1.code, r1.stderr).toBe(0);
      expect(summaryOf(r1)).toMatchObject({ files: FILE_COUNT, transferred: FILE_COUNT, new: FILE_COUNT, skipped: 0, failed: 0, bytes: TOTAL_BYTES });
      await expectMirror(s.src, s.dst);

      const r2 = await s.sync(['--json', s.from, s.to]);
      expect(r2.code, r2.stderr).toBe(0);
      expect(summaryOf(r2)).toMatchObject({ files: FILE_COUNT, transferred: 0, skipped: FILE_COUNT, deleted: 0, bytes: 0, bytesSkipped: TOTAL_BYTES });
      expect(changes(r2)).toEqual([]);

      await modify(s.src);
      // c.bin kept its size and mtime: rsync's quick check cannot see it, so it is touched too (below).
      await fs.utimes(path.join(s.src, 'data/c.bin'), T0 + 7, T0 + 7);
      const r3 = await s.sync(['--json', '--delete', s.from, s.to]);
      expect(r3.code, r3.stderr).toBe(0);
      expect(changes(r3)).toEqual(['changed data/a.bin', 'changed data/c.bin', 'deleted docs/readme.md']);
      expect(summaryOf(r3)).toMatchObject({ transferred: 2, changed: 2, deleted: 1, skipped: FILE_COUNT - 3, bytes: 120_000 + 70_000 });
      await expectMirror(s.src, s.dst);
      expect(await findPartials(s.dst)).toEqual([]);
    });
  }

  it('--checksum sends only the changed file (same size and mtime), not the touched one, and fixes the touched one\'s mtime', async () => {
    const s = await scenario('checksum', 'up');
    expect((await s.sync(['-q', s.from, s.to])).code).toBe(0);
    await modify(s.src);
    const r = await s.sync(['--json', '--checksum', '--delete', s.from, s.to]);
    expect(r.code, r.stderr).toBe(0);
    expect(changes(r)).toEqual(['changed data/c.bin', 'deleted docs/readme.md']);
    expect(summaryOf(r)).toMatchObject({ transferred: 1, bytes: 70_000 });
    await expectMirror(s.src, s.dst);
    // Without --checksum the quick check now agrees too: nothing to send.
    expect(summaryOf(await s.sync(['--json', s.from, s.to]))).toMatchObject({ transferred: 0 });
  });

  it('--update keeps files that are newer on the target; --ignore-existing keeps every existing one', async () => {
    const s = await scenario('update', 'down');
    expect((await s.sync(['-q', s.from, s.to])).code).toBe(0);
    await fs.writeFile(path.join(s.dst, 'top.txt'), 'edited on the target\n');
    await fs.utimes(path.join(s.dst, 'top.txt'), T0 + 500, T0 + 500);
    await fs.writeFile(path.join(s.src, 'data/b.bin'), 'changed in the source');
    await fs.writeFile(path.join(s.src, 'added.txt'), 'added');
    const u = await s.sync(['--json', '-u', s.from, s.to]);
    expect(u.code, u.stderr).toBe(0);
    expect(changes(u)).toEqual(['changed data/b.bin', 'new added.txt']);
    expect(ofType(events(u.stdout), 'file').find((e) => e.path === 'top.txt')).toMatchObject({ action: 'skipped', reason: 'newer on the target' });
    expect(await fs.readFile(path.join(s.dst, 'top.txt'), 'utf8')).toBe('edited on the target\n');

    await fs.writeFile(path.join(s.src, 'data/b.bin'), 'changed again');
    await fs.writeFile(path.join(s.src, 'added2.txt'), 'added');
    const i = await s.sync(['--json', '--ignore-existing', s.from, s.to]);
    expect(changes(i)).toEqual(['new added2.txt']);
    expect(await fs.readFile(path.join(s.dst, 'data/b.bin'), 'utf8')).toBe('changed in the source');
  });

  it('prints a human summary, itemizes with --itemize, and is silent with -q', async () => {
    const s = await scenario('human', 'down');
    const r1 = await s.sync(['--itemize', s.from, s.to]);
    expect(r1.code, r1.stderr).toBe(0);
    const lines = r1.stdout.trimEnd().split('\n');
    expect(lines.slice(0, -1).sort()).toEqual([
      ...Object.keys(FILES).map((f) => `+ ${f}`),
      '+ data/', '+ docs/', '+ docs/guide/', '+ docs/guide/deep/', '+ docs/guide/deep/deeper/', '+ empty-dir/',
    ].sort());
    expect(lines.at(-1)).toMatch(new RegExp(`^${FILE_COUNT} files: ${FILE_COUNT} transferred \\(${FILE_COUNT} new, 0 changed\\), 0 skipped, 0 deleted; sent .* in .* s \\(.*/s\\)$`));
    const r2 = await s.sync(['-q', s.from, s.to]);
    expect(r2).toEqual({ code: 0, stdout: '', stderr: '' });
  });

  it('--log-file appends one timestamped line per action', async () => {
    const s = await scenario('log', 'up');
    const log = path.join(s.dir, 'sync.log');
    expect((await s.sync(['-q', '--log-file', log, s.from, s.to])).code).toBe(0);
    await modify(s.src);
    expect((await s.sync(['-q', '--delete', '--log-file', log, s.from, s.to])).code).toBe(0);
    const lines = (await fs.readFile(log, 'utf8')).trimEnd().split('\n');
    for (const l of lines) expect(l).toMatch(/^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z /);
    const actions = lines.map((l) => l.slice(25));
    expect(actions.filter((a) => a.startsWith('sync ')).length).toBe(4); // start + done, twice
    expect(actions).toContain(`+ data/a.bin 120000 bytes`);
    expect(actions).toContain('~ data/a.bin 120000 bytes');
    expect(actions).toContain('- docs/readme.md');
    expect(actions.filter((a) => a.startsWith('+ ') && !a.endsWith('/'))).toHaveLength(FILE_COUNT);
  });
});

describe.concurrent('safety', () => {
  it('--dry-run changes nothing (times included) and prints what would change', async () => {
    const s = await scenario('dry', 'up');
    expect((await s.sync(['-q', s.from, s.to])).code).toBe(0);
    await modify(s.src);
    await fs.writeFile(path.join(s.src, 'docs/new.txt'), 'new\n');
    await fs.mkdir(path.join(s.src, 'newdir'));
    const before = await snapshot(s.dst);
    const r = await s.sync(['-n', '--delete', s.from, s.to]);
    expect(r.code, r.stderr).toBe(0);
    const lines = r.stdout.trimEnd().split('\n');
    expect(lines.slice(0, -1).sort()).toEqual(['+ docs/new.txt', '+ newdir/', '- docs/readme.md', '~ data/a.bin']);
    expect(lines.at(-1)).toMatch(/^dry run: .* 2 would be transferred .* 1 would be deleted; would send /);
    expect(await snapshot(s.dst)).toEqual(before);

    const j = await s.sync(['-n', '--json', '--delete', s.from, s.to]);
    expect(summaryOf(j)).toMatchObject({ dryRun: true, transferred: 2, deleted: 1, bytes: 0, bytesToSend: 120_000 + 4 });
    expect(await snapshot(s.dst)).toEqual(before);
    // A dry run into a missing target creates nothing.
    const missing = path.join(s.dir, 'nowhere');
    expect((await s.sync(['-n', '-q', s.from, `127.0.0.1:${missing}`])).code).toBe(0);
    expect(existsSync(missing)).toBe(false);
  });

  it('--max-delete: more deletions than allowed deletes none and fails; the transfers still happen', async () => {
    const s = await scenario('max-delete', 'down');
    expect((await s.sync(['-q', s.from, s.to])).code).toBe(0);
    for (const f of ['data/a.bin', 'data/b.bin', 'top.txt']) await fs.rm(path.join(s.src, f));
    await fs.writeFile(path.join(s.src, 'added.txt'), 'added\n');
    const r = await s.sync(['--json', '--delete', '--max-delete', '2', s.from, s.to]);
    expect(r.code).toBe(1);
    const errs = ofType(events(r.stdout), 'error');
    expect(errs.map((e) => e.message)).toEqual(['not deleting anything: 3 deletions would exceed --max-delete 2']);
    expect(changes(r)).toEqual(['new added.txt']);
    for (const f of ['data/a.bin', 'data/b.bin', 'top.txt']) expect(existsSync(path.join(s.dst, f)), f).toBe(true);
    const human = await s.sync(['--delete', '--max-delete', '2', s.from, s.to]);
    expect(human.code).toBe(1);
    expect(human.stderr).toContain('--max-delete 2');

    const ok = await s.sync(['--json', '--delete', '--max-delete', '3', s.from, s.to]);
    expect(ok.code, ok.stderr).toBe(0);
    expect(changes(ok)).toEqual(['deleted data/a.bin', 'deleted data/b.bin', 'deleted top.txt']);
    await expectMirror(s.src, s.dst);
  });

  it('a failed transfer stops --delete', async () => {
    const s = await scenario('fail-no-delete', 'up');
    expect((await s.sync(['-q', s.from, s.to])).code).toBe(0);
    await fs.rm(path.join(s.src, 'top.txt'));
    await fs.writeFile(path.join(s.src, 'data/new.bin'), 'x');
    // The target directory refuses the new file: a directory stands where its partial file would go.
    await fs.mkdir(path.join(s.dst, 'data/.new.bin.ferry-part'));
    await fs.writeFile(path.join(s.dst, 'data/.new.bin.ferry-part/blocker'), '');
    const r = await s.sync(['--json', '--delete', s.from, s.to]);
    expect(r.code).toBe(1);
    expect(summaryOf(r)).toMatchObject({ failed: 1, deleted: 0 });
    expect(summaryOf(r).deleteRefused).toMatch(/1 error/);
    expect(existsSync(path.join(s.dst, 'top.txt'))).toBe(true);
  });

  it('a source that is not a directory is a usage error', async () => {
    const s = await scenario('not-dir', 'up');
    const r = await s.sync([path.join(s.src, 'top.txt'), s.to]);
    expect(r.code).toBe(2);
    expect(r.stderr).toMatch(/not a directory/);
  });
});

describe.concurrent('filters', () => {
  const NESTED: Record<string, string> = {
    'README.md': 'r', 'build/out.o': 'o', 'src/main.ts': 'm', 'src/debug.log': 'l', 'src/cache/x.bin': 'x',
    'src/lib/util.ts': 'u', 'src/lib/cache': 'a file named cache', 'logs/a.log': 'a', 'logs/keep/important.log': 'i',
    'docs/a.pdf': 'p', 'docs/sub/b.pdf': 'p', 'docs/sub/b.txt': 't',
  };

  async function nested(name: string) {
    const s = await scenario(name, 'up');
    await fs.rm(s.src, { recursive: true });
    for (const [rel, c] of Object.entries(NESTED)) {
      await fs.mkdir(path.dirname(path.join(s.src, rel)), { recursive: true });
      await fs.writeFile(path.join(s.src, rel), c);
    }
    return s;
  }

  it('--exclude by name, directory ("dir/") and anchored ("/x"), --include first-match-wins, against a reference list', async () => {
    const s = await nested('filters');
    const rules = path.join(s.dir, 'rules');
    await fs.writeFile(rules, '# build output\n/build\n\n+ important.log\n');
    const r = await s.sync(['-q', '--exclude-from', rules, '--exclude', '*.log', '--exclude', 'cache/', '--exclude', 'docs/**/*.pdf', s.from, s.to]);
    expect(r.code, r.stderr).toBe(0);
    expect(await listTree(s.dst)).toEqual([
      'README.md', 'docs/', 'docs/sub/', 'docs/sub/b.txt', 'logs/', 'logs/keep/', 'logs/keep/important.log',
      'src/', 'src/lib/', 'src/lib/cache', 'src/lib/util.ts', 'src/main.ts',
    ]);
  });

  it('include-only (rsync style: "*/", the includes, then exclude "*")', async () => {
    const s = await nested('include-only');
    const r = await s.sync(['-q', '--include', '*/', '--include', '*.pdf', '--exclude', '*', s.from, s.to]);
    expect(r.code, r.stderr).toBe(0);
    expect((await listTree(s.dst)).filter((p) => !p.endsWith('/'))).toEqual(['docs/a.pdf', 'docs/sub/b.pdf']);
  });

  it('--delete leaves excluded target files (and the directories holding them) alone', async () => {
    const s = await nested('filters-delete');
    expect((await s.sync(['-q', s.from, s.to])).code).toBe(0);
    await fs.rm(path.join(s.src, 'logs'), { recursive: true });
    await fs.rm(path.join(s.src, 'docs'), { recursive: true });
    const r = await s.sync(['--json', '--delete', '--exclude', '*.log', s.from, s.to]);
    expect(r.code, r.stderr).toBe(0);
    expect(changes(r)).toEqual(['deleted docs', 'deleted docs/a.pdf', 'deleted docs/sub', 'deleted docs/sub/b.pdf', 'deleted docs/sub/b.txt']);
    expect((await listTree(s.dst)).filter((p) => p.startsWith('logs'))).toEqual(['logs/', 'logs/a.log', 'logs/keep/', 'logs/keep/important.log']);
    expect(existsSync(path.join(s.dst, 'src/debug.log'))).toBe(true);
  });
});

describe.concurrent('verify and resume', () => {
  it('--verify catches a target copy corrupted after the transfer (test hook) and sends it again', async () => {
    const s = await scenario('verify', 'up');
    const r = await s.sync(['--json', '--verify', s.from, s.to], { FERRY_TEST_CORRUPT_AFTER_COPY: 'data/a.bin' });
    expect(r.code, r.stderr).toBe(0);
    const evs = events(r.stdout);
    const a = ofType(evs, 'file').find((e) => e.path === 'data/a.bin')!;
    expect(a).toMatchObject({ action: 'new', verified: true, resent: true, bytes: 2 * 120_000 });
    expect(ofType(evs, 'warning').map((w) => w.message)).toEqual([expect.stringMatching(/^verify remote ".*data\/a\.bin": content differs from the source; sending it again$/)]);
    expect(summaryOf(r)).toMatchObject({ transferred: FILE_COUNT, verified: FILE_COUNT, failed: 0, bytes: TOTAL_BYTES + 120_000 });
    await expectMirror(s.src, s.dst);

    // Downloads verify the same way.
    const down = await s.sync(['--json', '--verify', `127.0.0.1:${s.dst}`, path.join(s.dir, 'back')]);
    expect(summaryOf(down)).toMatchObject({ transferred: FILE_COUNT, verified: FILE_COUNT, failed: 0 });
  });

  it('an interrupted sync (SIGKILL) rerun does not send completed files again', async () => {
    const s = await scenario('interrupt', 'up');
    await fs.rm(s.src, { recursive: true });
    // Files are sent in parallel and share the -l budget: the small ones land first, the big ones are cut.
    const MiB = 1024 * 1024;
    const sizes = new Map<string, number>();
    for (let i = 0; i < 16; i++) sizes.set(`big/f${String(i).padStart(2, '0')}.bin`, i < 4 ? MiB : 4 * MiB);
    const files = Object.fromEntries([...sizes].map(([rel, n]) => [rel, randomBytes(n)]));
    await makeSource(s.src, files);
    const total = [...sizes.values()].reduce((a, b) => a + b, 0);
    const env = { ...sd.env, FERRY_STATE_DIR: path.join(s.dir, 'state') };
    // 6 MiB/s over 52 MiB: about 9 s, killed once a few files are in place.
    const child = spawn(process.execPath, [ferryBin, 'sync', '-P', String(sd.port), '--json', '-l', String(6 * 8 * 1024), s.from, s.to], { env, cwd: repoRoot, stdio: ['ignore', 'pipe', 'pipe'] });
    let out = '';
    child.stdout.on('data', (d: Buffer) => (out += d.toString()));
    const done = () => ofType(events(out.slice(0, out.lastIndexOf('\n') + 1)), 'file').filter((e) => e.action === 'new' && e.kind === 'file');
    const deadline = Date.now() + withLogins(30_000);
    while (done().length < 3 && Date.now() < deadline && child.exitCode === null) await new Promise((r) => setTimeout(r, 20));
    child.kill('SIGKILL');
    await new Promise((r) => child.once('close', r));
    const completed = done().map((e) => e.path as string);
    expect(completed.length, out).toBeGreaterThanOrEqual(3);
    expect(completed.length).toBeLessThan(16);

    const r = await s.sync(['--json', s.from, s.to]);
    expect(r.code, r.stderr).toBe(0);
    const evs = ofType(events(r.stdout), 'file');
    const skipped = evs.filter((e) => e.action === 'skipped').map((e) => e.path);
    for (const c of completed) expect(skipped, c).toContain(c);
    const sent = summaryOf(r).bytes as number;
    expect(sent).toBeLessThanOrEqual(total - completed.reduce((n, c) => n + sizes.get(c)!, 0));
    expect(summaryOf(r)).toMatchObject({ transferred: 16 - skipped.length, failed: 0 });
    await expectMirror(s.src, s.dst);
    expect(await findPartials(s.dst)).toEqual([]);
  });
});
