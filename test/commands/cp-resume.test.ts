// Resume through the real CLI against a real sshd: ferry is killed (SIGKILL,
// no chance to clean up) or interrupted (SIGINT) mid-transfer, in both
// directions and with -r, and the same command run again must finish with
// identical bytes while sending only what was missing. Interrupted runs are
// slowed with -l so they checkpoint (every 1 s or 16 MiB) before the kill; the kill
// waits for the journal, not for a clock. Needs the built CLI
// (`npx tsc -p tsconfig.json`).
import { spawn, type ChildProcess } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { existsSync } from 'node:fs';
import * as fs from 'node:fs/promises';
import * as path from 'node:path';
import { afterAll, beforeAll, describe, expect, it, type TestContext } from 'vitest';
import { findPartials, listTree, makeTempDir } from '../support/cp-helpers.js';
import { ferryBin, repoRoot, runFerry } from '../support/run-ferry.js';
import { sha256File, startSshd, type Sshd } from '../support/sshd.js';
import { withLogins } from '../support/budget.js';

const MiB = 1024 * 1024;
const BIG = 64 * MiB;
const MID = 24 * MiB;
const TREE_FILES = ['a.bin', 'b.bin', 'c.bin'];
const TREE_FILE_SIZE = 16 * MiB;
/** -l takes Kbit/s. */
const kbps = (bytesPerSec: number) => String(Math.round((bytesPerSec * 8) / 1024));

let sd: Sshd;
let work: string;
let bigFile: string;
let midFile: string;
let treeDir: string;
const digests = new Map<string, string>();
const children = new Set<ChildProcess>();

beforeAll(async () => {
  if (!existsSync(path.join(repoRoot, 'dist', 'cli.js'))) {
    throw new Error('dist/cli.js is missing: run `npx tsc -p tsconfig.json` before these tests');
  }
  [sd, work] = await Promise.all([startSshd(), makeTempDir('resume')]);
  bigFile = path.join(work, 'big.bin');
  midFile = path.join(work, 'mid.bin');
  treeDir = path.join(work, 'tree');
  await fs.mkdir(treeDir);
  const files: [string, number][] = [[bigFile, BIG], [midFile, MID], ...TREE_FILES.map((n): [string, number] => [path.join(treeDir, n), TREE_FILE_SIZE])];
  for (const [file, size] of files) {
    await fs.writeFile(file, randomBytes(size));
    digests.set(file, await sha256File(file));
  }
});
afterAll(async () => {
  for (const c of children) if (c.exitCode === null && c.signalCode === null) c.kill('SIGKILL');
  await sd?.stop();
  if (work) await fs.rm(work, { recursive: true, force: true });
});

interface Exit {
  code: number | null;
  signal: NodeJS.Signals | null;
  stdout: string;
  stderr: string;
}

type Running = { child: ChildProcess; exited: Promise<Exit>; stdout: () => string };

/** ferry in the background, to be killed; `exited` resolves when it is gone. */
function startFerry(args: string[], env: NodeJS.ProcessEnv, ctx: TestContext): Running {
  const child = spawn(process.execPath, [ferryBin, ...args], { env, cwd: repoRoot, stdio: ['ignore', 'pipe', 'pipe'] });
  children.add(child);
  // A failed assertion must not leave this ferry running (tests run concurrently: only our own).
  ctx.onTestFinished(() => {
    if (child.exitCode === null && child.signalCode === null) child.kill('SIGKILL');
  });
  const out: Buffer[] = [];
  const err: Buffer[] = [];
  child.stdout!.on('data', (d: Buffer) => out.push(d));
  child.stderr!.on('data', (d: Buffer) => err.push(d));
  const exited = new Promise<Exit>((resolve, reject) => {
    child.on('error', reject);
    child.on('close', (code, signal) => {
      children.delete(child);
      resolve({ code, signal, stdout: Buffer.concat(out).toString('utf8'), stderr: Buffer.concat(err).toString('utf8') });
    });
  });
  return { child, exited, stdout: () => Buffer.concat(out).toString('utf8') };
}

interface JournalView {
  files: number;
  /** Bytes recorded as done, per journal file. */
  recorded: number[];
}

async function readJournals(stateDir: string): Promise<JournalView> {
  const dir = path.join(stateDir, 'partials');
  const names = (await fs.readdir(dir).catch(() => [] as string[])).filter((n) => n.endsWith('.json'));
  const recorded: number[] = [];
  for (const n of names) {
    try {
      const j = JSON.parse(await fs.readFile(path.join(dir, n), 'utf8')) as { done: [number, number][] };
      recorded.push(j.done.reduce((sum, [a, b]) => sum + b - a, 0));
    } catch {
      // Renamed away between readdir and read: look again next time.
    }
  }
  return { files: names.length, recorded };
}

/** Poll the journals until `ready` holds; fail early (with ferry's output) if ferry exits first. */
async function waitForJournals(
  stateDir: string,
  run: { child: ChildProcess; stdout: () => string },
  ready: (v: JournalView) => boolean,
  timeoutMs = withLogins(30_000),
): Promise<JournalView> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const v = await readJournals(stateDir);
    if (ready(v)) return v;
    if (run.child.exitCode !== null || run.child.signalCode !== null) {
      throw new Error(`ferry exited (${run.child.exitCode}) before the journals were ready: ${JSON.stringify(v)}\n${run.stdout()}`);
    }
    if (Date.now() > deadline) throw new Error(`journals not ready after ${timeoutMs} ms: ${JSON.stringify(v)}`);
    await new Promise((r) => setTimeout(r, 50));
  }
}

async function kill(run: { child: ChildProcess; exited: Promise<Exit> }, signal: NodeJS.Signals): Promise<Exit> {
  run.child.kill(signal);
  return run.exited;
}

type Event = Record<string, unknown> & { event: string };
function events(stdout: string): Event[] {
  return stdout.split('\n').filter((l) => l.trim() !== '').map((l) => JSON.parse(l) as Event);
}
const ofType = (evs: Event[], type: string) => evs.filter((e) => e.event === type);

async function scenario(name: string, ctx: TestContext) {
  const dir = await fs.mkdtemp(path.join(work, `${name}-`));
  const stateDir = path.join(dir, 'state');
  const env = { ...sd.env, FERRY_STATE_DIR: stateDir };
  const cp = ['cp', '-P', String(sd.port), '--json'];
  return { dir, stateDir, env, cp, start: (args: string[]) => startFerry(args, env, ctx) };
}

describe.concurrent('resume after the process died', () => {
  for (const direction of ['upload', 'download'] as const) {
    it(`${direction}: SIGKILL past 25% and again past 55%, then the rerun sends only the rest`, async (ctx) => {
      const s = await scenario(direction, ctx);
      const dst = path.join(s.dir, 'copy.bin');
      const operands = direction === 'upload' ? [bigFile, `127.0.0.1:${dst}`] : [`127.0.0.1:${bigFile}`, dst];
      // 10 MiB/s: the first checkpoint (2 s) lands near 30%, the next run's near 60%;
      // on a slower machine the kill waits for a later checkpoint.
      const slow = [...s.cp, '-l', kbps(10 * MiB), ...operands];

      const run1 = s.start(slow);
      const at1 = await waitForJournals(s.stateDir, run1, (v) => v.files === 1 && v.recorded[0] >= 0.25 * BIG);
      const exit1 = await kill(run1, 'SIGKILL');
      expect(exit1.signal).toBe('SIGKILL');
      expect(existsSync(dst), 'nothing under the final name').toBe(false);
      expect(await findPartials(s.dir)).toEqual([path.join(s.dir, '.copy.bin.ferry-part')]);

      const run2 = s.start(slow);
      const at2 = await waitForJournals(s.stateDir, run2, (v) => v.files === 1 && v.recorded[0] > at1.recorded[0] && v.recorded[0] >= 0.55 * BIG);
      const exit2 = await kill(run2, 'SIGKILL');
      expect(exit2.signal).toBe('SIGKILL');
      // The second run resumed from the first one's journal, not from zero.
      const resume2 = ofType(events(exit2.stdout), 'resume');
      expect(resume2, exit2.stdout).toHaveLength(1);
      expect(resume2[0].resumedFrom).toBeGreaterThanOrEqual(at1.recorded[0]);
      expect(existsSync(dst)).toBe(false);

      const run3 = await runFerry([...s.cp, ...operands], { env: s.env, timeoutMs: 60_000 });
      expect(run3.code, run3.stderr).toBe(0);
      const evs = events(run3.stdout);
      const [file] = ofType(evs, 'file');
      expect(file, run3.stdout).toBeDefined();
      const resumedFrom = file.resumedFrom as number;
      expect(resumedFrom).toBeGreaterThanOrEqual(at2.recorded[0]);
      expect(file.bytes).toBe(BIG - resumedFrom);
      // Only what the last checkpoint did not cover (under 45% of the file).
      expect(file.bytes as number).toBeLessThanOrEqual(BIG - at2.recorded[0]);
      expect(ofType(evs, 'summary')[0]).toMatchObject({ files: 1, failed: 0, bytes: BIG - resumedFrom });
      expect(await sha256File(dst)).toBe(digests.get(bigFile));
      expect(await findPartials(s.dir)).toEqual([]);
      expect((await readJournals(s.stateDir)).files, 'journal removed after success').toBe(0);
    });
  }

  it('SIGINT exits with 130 within about 2 s; the rerun completes identically', async (ctx) => {
    const s = await scenario('sigint', ctx);
    const dst = path.join(s.dir, 'copy.bin');
    const operands = [midFile, `127.0.0.1:${dst}`];
    const run1 = s.start([...s.cp, '-l', kbps(6 * MiB), ...operands]);
    const at = await waitForJournals(s.stateDir, run1, (v) => v.files === 1 && v.recorded[0] > 0);
    const t0 = Date.now();
    const exit1 = await kill(run1, 'SIGINT');
    const elapsed = Date.now() - t0;
    expect(exit1.code, exit1.stderr).toBe(130);
    expect(exit1.stderr).toMatch(/interrupted/);
    // ferry promises 2 s; the slack is for a loaded machine, not for ferry.
    expect(elapsed).toBeLessThan(3000);
    expect(existsSync(dst)).toBe(false);

    const run2 = await runFerry([...s.cp, ...operands], { env: s.env, timeoutMs: 60_000 });
    expect(run2.code, run2.stderr).toBe(0);
    const [file] = ofType(events(run2.stdout), 'file');
    expect(file.resumedFrom as number).toBeGreaterThanOrEqual(at.recorded[0]);
    expect(file.bytes).toBe(MID - (file.resumedFrom as number));
    expect(await sha256File(dst)).toBe(digests.get(midFile));
    expect(await findPartials(s.dir)).toEqual([]);
  });

  it('-r: several 16 MiB files cut by SIGKILL; the rerun completes all of them identically', async (ctx) => {
    const s = await scenario('recursive', ctx);
    // The target does not exist: a rerun must fill the same tree, not nest a copy inside it.
    const dst = path.join(s.dir, 'copy');
    const operands = ['-r', `127.0.0.1:${treeDir}`, dst];
    const run1 = s.start([...s.cp, '-l', kbps(9 * MiB), ...operands]);
    const at = await waitForJournals(s.stateDir, run1, (v) => v.files === TREE_FILES.length && v.recorded.every((n) => n > 0));
    const exit1 = await kill(run1, 'SIGKILL');
    expect(exit1.signal).toBe('SIGKILL');
    expect(await findPartials(dst)).toHaveLength(TREE_FILES.length);

    const run2 = await runFerry([...s.cp, ...operands], { env: s.env, timeoutMs: 60_000 });
    expect(run2.code, run2.stderr).toBe(0);
    expect(await listTree(dst)).toEqual(TREE_FILES);
    for (const n of TREE_FILES) expect(await sha256File(path.join(dst, n)), n).toBe(digests.get(path.join(treeDir, n)));
    const files = ofType(events(run2.stdout), 'file');
    expect(files.map((f) => path.basename(f.dst as string)).sort()).toEqual(TREE_FILES);
    const sent = files.reduce((n, f) => n + (f.bytes as number), 0);
    const total = TREE_FILES.length * TREE_FILE_SIZE;
    const journaled = at.recorded.reduce((a, b) => a + b, 0);
    expect(sent).toBeLessThanOrEqual(total - journaled);
    for (const f of files) expect(f.resumedFrom as number, f.dst as string).toBeGreaterThan(0);
    expect(await findPartials(dst)).toEqual([]);
    expect((await readJournals(s.stateDir)).files).toBe(0);
  });

  it('--no-resume starts over from byte 0 and leaves no journal or partial', async (ctx) => {
    const s = await scenario('no-resume', ctx);
    const dst = path.join(s.dir, 'copy.bin');
    const operands = [`127.0.0.1:${midFile}`, dst];
    const run1 = s.start([...s.cp, '-l', kbps(6 * MiB), ...operands]);
    await waitForJournals(s.stateDir, run1, (v) => v.files === 1 && v.recorded[0] > 0);
    await kill(run1, 'SIGKILL');
    expect(await findPartials(s.dir)).toHaveLength(1);

    const run2 = await runFerry([...s.cp, '--no-resume', ...operands], { env: s.env, timeoutMs: 60_000 });
    expect(run2.code, run2.stderr).toBe(0);
    const evs = events(run2.stdout);
    expect(ofType(evs, 'resume')).toEqual([]);
    expect(ofType(evs, 'file')[0]).toMatchObject({ resumedFrom: 0, bytes: MID });
    expect(await sha256File(dst)).toBe(digests.get(midFile));
    expect(await findPartials(s.dir)).toEqual([]);
    expect((await readJournals(s.stateDir)).files).toBe(0);
  });
});
