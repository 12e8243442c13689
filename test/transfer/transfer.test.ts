// Run-level behaviour of the engine over local and fault-injecting endpoints
// (no SSH): reconnect-and-continue after a dropped link without re-copying
// what is done, the window's decisions as events, and resume across runs from
// a journaled partial file: continue, restart when the source changed or the
// partial is corrupt, and --no-resume.
import { createHash, randomBytes } from 'node:crypto';
import * as fs from 'node:fs/promises';
import * as os from 'node:os';
import * as path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ConnectionError, InterruptedError } from '../../src/errors.js';
import { DirJournalStore, type JournalStore, type PartialJournal } from '../../src/transfer/journal.js';
import { LocalEndpoint } from '../../src/transfer/local.js';
import { partialName } from '../../src/transfer/names.js';
import { Transfer, type CopyJob, type TransferOptions } from '../../src/transfer/transfer.js';
import type { WindowDecision } from '../../src/transfer/window.js';
import { FaultEndpoint, type FaultScript } from '../support/fault-endpoint.js';

const KiB = 1024;
const MiB = 1024 * KiB;
/**
 * Journaled (>= 8 MiB), so it can resume; and well past what can be issued
 * when a test aborts at 6 MiB (those bytes plus a window grown to 8 MiB), so
 * an abort always leaves chunks unissued.
 */
const BIG = 24 * MiB;

let work: string;

async function sha256(file: string): Promise<string> {
  return createHash('sha256').update(await fs.readFile(file)).digest('hex');
}

async function exists(p: string): Promise<boolean> {
  return fs.lstat(p).then(() => true, () => false);
}

const sleep = (ms: number) => new Promise<void>((r) => setTimeout(r, ms));

interface Events {
  window: WindowDecision[];
  resume: { resumedFrom?: number; restarted?: string }[];
  done: { bytes: number; resumedFrom: number }[];
  retry: { attempt: number; reason: string }[];
  lanes: { lanes: number }[];
  errors: unknown[];
}

async function runTransfer(jobs: CopyJob[], opts: TransferOptions): Promise<{ transfer: Transfer; ev: Events; rejected?: unknown }> {
  const transfer = new Transfer(opts);
  const ev: Events = { window: [], resume: [], done: [], retry: [], lanes: [], errors: [] };
  transfer.on('window', (d: WindowDecision) => ev.window.push(d));
  transfer.on('file-resume', (d: Events['resume'][number]) => ev.resume.push(d));
  transfer.on('file-done', (d: Events['done'][number]) => ev.done.push(d));
  transfer.on('retry', (d: Events['retry'][number]) => ev.retry.push(d));
  transfer.on('lanes', (d: Events['lanes'][number]) => ev.lanes.push(d));
  transfer.on('file-error', (d: { error: unknown }) => ev.errors.push(d.error));
  let rejected: unknown;
  await transfer.run(jobs).catch((err: unknown) => (rejected = err));
  return { transfer, ev, rejected };
}

/** A fresh directory with a random source file of `size` bytes. */
async function scenario(name: string, size: number) {
  const dir = await fs.mkdtemp(path.join(work, `${name}-`));
  const src = path.join(dir, 'source.bin');
  await fs.writeFile(src, randomBytes(size));
  return { dir, src, dst: path.join(dir, 'copy.bin'), journalDir: path.join(dir, 'journals'), digest: await sha256(src) };
}

beforeAll(async () => {
  work = await fs.mkdtemp(path.join(os.tmpdir(), 'ferry-transfer-'));
});
afterAll(async () => {
  await fs.rm(work, { recursive: true, force: true });
});

describe.concurrent('a dropped link within one run', () => {
  const size = MiB + 3;
  const C = 4 * KiB;
  /** A small window bounds what can be lost in flight when the link drops. */
  const maxWindow = 16 * C;

  for (const side of ['src', 'dst'] as const) {
    it(`ConnectionError on the k-th ${side === 'src' ? 'read' : 'write'}: reconnects, completes, re-copies only what was in flight`, async () => {
      const s = await scenario(`reconnect-${side}`, size);
      const fault: FaultScript = {
        seed: 11,
        delayMs: [0, 2],
        reconnectable: true,
        ...(side === 'src' ? { failRead: { at: 150, kind: 'connection' } } : { failWrite: { at: 150, kind: 'connection' } }),
      } as const;
      const faulty = new FaultEndpoint(new LocalEndpoint(), fault);
      // The source is always counted: what the retry reads again is what it re-copies.
      const src = side === 'src' ? faulty : new FaultEndpoint(new LocalEndpoint());
      const dst = side === 'dst' ? faulty : new LocalEndpoint();
      const r = await runTransfer([{ src, srcPath: s.src, dst, dstPath: s.dst }], { chunkSize: C, maxWindow, retryDelayMs: 5 });

      expect(r.rejected).toBeUndefined();
      expect(r.transfer.errors).toEqual([]);
      expect(faulty.stats.injected).toHaveLength(1);
      expect(faulty.stats.reconnects).toBe(1);
      expect(r.ev.retry).toHaveLength(1);
      expect(r.ev.window.some((d) => d.reason === 'error'), 'the window backs off').toBe(true);
      expect(await sha256(s.dst)).toBe(s.digest);
      expect(await exists(partialName(s.dst))).toBe(false);
      // ~150 chunks were done before the drop; starting over would read them twice.
      expect(src.stats.bytesRead).toBeGreaterThanOrEqual(size);
      expect(src.stats.bytesRead).toBeLessThanOrEqual(size + maxWindow + C);
      expect(r.ev.done).toEqual([expect.objectContaining({ bytes: size, resumedFrom: 0 })]);
      expect(src.stats.openHandles).toBe(0);
      expect(faulty.stats.openHandles).toBe(0);
    });
  }

  it('a cut after N bytes with lanes open: reconnects, reopens lanes, completes identically', async () => {
    const s = await scenario('cut-lanes', 8 * MiB + 5);
    const src = new FaultEndpoint(new LocalEndpoint(), {
      seed: 3, delayMs: [10, 30], reconnectable: true, lanes: true, cutAfterBytes: 5 * MiB,
    });
    const r = await runTransfer([{ src, srcPath: s.src, dst: new LocalEndpoint(), dstPath: s.dst }], {
      chunkSize: 64 * KiB, initialWindow: 2 * MiB, maxLanes: 4, retryDelayMs: 5,
    });
    expect(r.rejected).toBeUndefined();
    expect(r.transfer.errors).toEqual([]);
    expect(src.stats.injected).toEqual([expect.stringMatching(/^cut after/)]);
    expect(src.stats.lanesOpened, 'lanes were used').toBeGreaterThan(0);
    expect(r.ev.retry).toHaveLength(1);
    expect(await sha256(s.dst)).toBe(s.digest);
    expect(src.stats.bytesRead).toBeLessThan(8 * MiB + 5 + 4 * MiB + 64 * KiB);
    expect(src.stats.openHandles).toBe(0);
  });

  it('several files over one link cut at once: one reconnect, all complete identically', async () => {
    const dir = await fs.mkdtemp(path.join(work, 'multi-cut-'));
    const names = ['a', 'b', 'c', 'd'];
    const digests: string[] = [];
    for (const n of names) {
      await fs.writeFile(path.join(dir, n), randomBytes(2 * MiB + names.indexOf(n)));
      digests.push(await sha256(path.join(dir, n)));
    }
    await fs.mkdir(path.join(dir, 'out'));
    const src = new FaultEndpoint(new LocalEndpoint(), { seed: 8, delayMs: [2, 10], reconnectable: true, lanes: true, cutAfterBytes: 3 * MiB });
    const dst = new LocalEndpoint();
    const r = await runTransfer(
      names.map((n) => ({ src, srcPath: path.join(dir, n), dst, dstPath: path.join(dir, 'out', n) })),
      { chunkSize: 32 * KiB, initialWindow: 2 * MiB, maxLanes: 3, retryDelayMs: 5 },
    );
    expect(r.rejected).toBeUndefined();
    expect(r.transfer.errors).toEqual([]);
    expect(src.stats.injected).toHaveLength(1);
    // Every file saw the drop, but the session is replaced once, not once per file.
    expect(src.stats.reconnects).toBe(1);
    for (const [i, n] of names.entries()) expect(await sha256(path.join(dir, 'out', n)), n).toBe(digests[i]);
    expect((await fs.readdir(path.join(dir, 'out'))).sort()).toEqual(names);
    expect(src.stats.openHandles).toBe(0);
  });

  it('one lane\'s session dies (the others are fine): the files go on and complete identically', async () => {
    const dir = await fs.mkdtemp(path.join(work, 'lane-drop-'));
    const names = ['a', 'b', 'c'];
    const digests: string[] = [];
    for (const n of names) {
      await fs.writeFile(path.join(dir, n), randomBytes(6 * MiB + names.indexOf(n)));
      digests.push(await sha256(path.join(dir, n)));
    }
    const src = new FaultEndpoint(new LocalEndpoint(), {
      seed: 12, delayMs: [5, 40], reconnectable: true, lanes: true, failRead: { at: 20, kind: 'session', onLane: true },
    });
    const dst = new LocalEndpoint();
    const r = await runTransfer(
      names.map((n) => ({ src, srcPath: path.join(dir, n), dst, dstPath: path.join(dir, `${n}.out`) })),
      { chunkSize: 64 * KiB, initialWindow: 2 * MiB, maxLanes: 4, retryDelayMs: 5 },
    );
    expect(src.stats.injected).toEqual(['read #20: session (on a lane)']);
    expect(r.rejected).toBeUndefined();
    expect(r.transfer.errors).toEqual([]);
    expect(r.ev.retry.length).toBeGreaterThanOrEqual(1);
    for (const [i, n] of names.entries()) expect(await sha256(path.join(dir, `${n}.out`)), n).toBe(digests[i]);
    expect(src.stats.openHandles).toBe(0);
  });

  it('gives up after --retries reconnects and stops the run', async () => {
    const s = await scenario('give-up', MiB);
    const src = new FaultEndpoint(new LocalEndpoint(), { reconnectable: true, failRead: { at: 20, kind: 'connection' } });
    const r = await runTransfer([{ src, srcPath: s.src, dst: new LocalEndpoint(), dstPath: s.dst }], { chunkSize: 4 * KiB, retries: 0, retryDelayMs: 1 });
    expect(r.rejected).toBeInstanceOf(ConnectionError);
    expect(r.ev.retry).toEqual([]);
    expect(await exists(s.dst)).toBe(false);
  });
});

describe.concurrent('window', () => {
  it('emits its decisions: the window grows (slow start) on a multi-MiB file and stays within bounds', async () => {
    // The first window is 64 requests (1 MiB of 16 KiB chunks): room to double twice below the bound.
    const s = await scenario('window', 12 * MiB);
    const C = 16 * KiB;
    const maxWindow = 4 * MiB;
    const src = new FaultEndpoint(new LocalEndpoint(), { seed: 9, delayMs: [1, 4] });
    const r = await runTransfer([{ src, srcPath: s.src, dst: new LocalEndpoint(), dstPath: s.dst }], { chunkSize: C, maxWindow });
    expect(r.transfer.errors).toEqual([]);
    expect(await sha256(s.dst)).toBe(s.digest);
    expect(r.ev.window.filter((d) => d.reason === 'grow').length).toBeGreaterThanOrEqual(1);
    for (const d of r.ev.window) {
      expect(d.window).toBeGreaterThanOrEqual(C);
      expect(d.window).toBeLessThanOrEqual(maxWindow);
      expect(d.window % C).toBe(0);
    }
    // The window is the memory bound: never more than it in flight on the endpoint.
    expect(src.stats.maxConcurrent * C).toBeLessThanOrEqual(maxWindow);
  });
});

/** Inverts the byte at `at` in `file`, as a bad disk or a meddling server would. */
async function flipByte(file: string, at: number): Promise<void> {
  const fh = await fs.open(file, 'r+');
  try {
    const b = Buffer.alloc(1);
    await fh.read(b, 0, 1, at);
    b[0] ^= 0xff;
    await fh.write(b, 0, 1, at);
  } finally {
    await fh.close();
  }
}

/** Wraps a store to see every save (the checkpoints) as it happens. */
function spyStore(inner: JournalStore) {
  const saved: PartialJournal[] = [];
  /** performance.now() when each save completed. */
  const savedAt: number[] = [];
  const spy = {
    saved,
    savedAt,
    onSave: undefined as undefined | (() => void),
    async load(key: string) {
      return inner.load(key);
    },
    async save(key: string, j: PartialJournal) {
      await inner.save(key, j);
      saved.push(JSON.parse(JSON.stringify(j)) as PartialJournal);
      savedAt.push(performance.now());
      spy.onSave?.();
    },
    async remove(key: string) {
      return inner.remove(key);
    },
  };
  return spy;
}

const recorded = (j: PartialJournal) => j.done.reduce((n, [a, b]) => n + b - a, 0);

async function journalFiles(dir: string): Promise<string[]> {
  return (await fs.readdir(dir).catch(() => [] as string[])).filter((f) => f.endsWith('.json'));
}

/** The note beside the journal (what was acknowledged after the last sync), if any. */
async function readNote(dir: string): Promise<PartialJournal | undefined> {
  const notes = (await fs.readdir(dir).catch(() => [] as string[])).filter((f) => f.endsWith('.note'));
  expect(notes.length).toBeLessThanOrEqual(1);
  return notes.length ? (JSON.parse(await fs.readFile(path.join(dir, notes[0]), 'utf8')) as PartialJournal) : undefined;
}

/** Bytes the synced journal records (0 when there is none). */
async function recordedOnDisk(dir: string): Promise<number> {
  return (await journalFiles(dir)).length === 0 ? 0 : recorded(await readJournal(dir));
}

/**
 * Copy BIG bytes until the link drops at the 40th write, with flushes too slow
 * to finish first: the last flush fails with the link, so only the note says
 * what the destination acknowledged.
 */
async function droppedLinkCopy(name: string) {
  const s = await scenario(name, BIG);
  const dst = new FaultEndpoint(new LocalEndpoint(), { fsyncDelayMs: 3000, failWrite: { at: 40, kind: 'connection' } });
  const r = await runTransfer([{ src: new LocalEndpoint(), srcPath: s.src, dst, dstPath: s.dst }], { journals: new DirJournalStore(s.journalDir) });
  expect(r.rejected).toBeInstanceOf(ConnectionError);
  const note = await readNote(s.journalDir);
  expect(note?.written?.length, 'a note lists what was acknowledged').toBeGreaterThan(0);
  return { ...s, note: note!, synced: await recordedOnDisk(s.journalDir) };
}

async function readJournal(dir: string): Promise<PartialJournal> {
  const files = await journalFiles(dir);
  expect(files).toHaveLength(1);
  return JSON.parse(await fs.readFile(path.join(dir, files[0]), 'utf8')) as PartialJournal;
}

/** Copy BIG bytes and abort once `at` bytes were read: leaves a partial and its journal. */
async function interruptedCopy(name: string, at = 6 * MiB) {
  const s = await scenario(name, BIG);
  const controller = new AbortController();
  const src = new FaultEndpoint(new LocalEndpoint(), { seed: 21, delayMs: [0, 2], abortAfterBytes: { bytes: at, controller } });
  const r = await runTransfer([{ src, srcPath: s.src, dst: new LocalEndpoint(), dstPath: s.dst }], {
    journals: new DirJournalStore(s.journalDir), signal: controller.signal,
  });
  expect(r.rejected).toBeInstanceOf(InterruptedError);
  expect(await exists(s.dst)).toBe(false);
  expect(await exists(partialName(s.dst))).toBe(true);
  const journal = await readJournal(s.journalDir);
  expect(recorded(journal)).toBeGreaterThanOrEqual(at / 2);
  expect(recorded(journal)).toBeLessThan(BIG);
  return { ...s, journal };
}

/** Rerun the same copy with a counting source. */
async function rerun(s: { src: string; dst: string; journalDir: string }, opts: TransferOptions = {}) {
  const src = new FaultEndpoint(new LocalEndpoint(), { delayMs: [0, 1] });
  const r = await runTransfer([{ src, srcPath: s.src, dst: new LocalEndpoint(), dstPath: s.dst }], { journals: new DirJournalStore(s.journalDir), ...opts });
  expect(r.rejected).toBeUndefined();
  expect(r.transfer.errors).toEqual([]);
  expect(await exists(partialName(s.dst)), 'no partial after success').toBe(false);
  expect(await journalFiles(s.journalDir), 'journal removed after success').toEqual([]);
  return { ...r, bytesRead: src.stats.bytesRead };
}

describe.concurrent('many small files', () => {
  it('far away, keep far more than 32 in flight (each is a few round trips that move little), fed from a stream of jobs', async () => {
    const dir = await fs.mkdtemp(path.join(work, 'small-'));
    const N = 600;
    await fs.mkdir(path.join(dir, 'src'));
    await fs.mkdir(path.join(dir, 'dst'));
    for (let i = 0; i < N; i++) await fs.writeFile(path.join(dir, 'src', `f${i}`), `small file ${i}\n`);
    // Every request to the target takes 20-30 ms: a far server, whose round trip the engine knows.
    const dst = new FaultEndpoint(new LocalEndpoint(), { seed: 4, delayMs: [20, 30], costs: { rttMs: 20 } });
    const src = new LocalEndpoint();
    async function* jobs(): AsyncIterable<CopyJob> {
      for (let i = 0; i < N; i++) yield { src, srcPath: path.join(dir, 'src', `f${i}`), dst, dstPath: path.join(dir, 'dst', `f${i}`) };
    }
    const t = new Transfer({});
    await t.run(jobs());
    expect(t.errors).toEqual([]);
    expect(t.stats.filesDone).toBe(N);
    expect(await fs.readFile(path.join(dir, 'dst', `f${N - 1}`), 'utf8')).toBe(`small file ${N - 1}\n`);
    // One write per file: writes in flight at once are files in flight at once.
    expect(dst.stats.maxConcurrent).toBeGreaterThan(128);
    expect(dst.stats.maxConcurrent).toBeLessThanOrEqual(256);

    // Near (a round trip of 1 ms), more would only queue in the server: 32.
    const near = new FaultEndpoint(new LocalEndpoint(), { seed: 5, delayMs: [1, 2], costs: { rttMs: 1 } });
    await fs.rm(path.join(dir, 'dst'), { recursive: true });
    await fs.mkdir(path.join(dir, 'dst'));
    const t2 = new Transfer({});
    await t2.run((async function* () {
      for (let i = 0; i < 200; i++) yield { src, srcPath: path.join(dir, 'src', `f${i}`), dst: near, dstPath: path.join(dir, 'dst', `f${i}`) };
    })());
    expect(t2.errors).toEqual([]);
    expect(near.stats.maxConcurrent).toBeLessThanOrEqual(32);
    expect(near.stats.maxConcurrent).toBeGreaterThan(8);
  });
});

describe.concurrent('resume across runs', () => {
  it('checkpoints during the copy; after an abort the rerun sends only what is missing', async () => {
    // Bigger than the largest window past the hold, so some chunks are still
    // unissued when the abort comes, whatever the window grew to meanwhile.
    const SIZE = 48 * MiB;
    const s = await scenario('resume-checkpoint', SIZE);
    const held = 4 * MiB;
    const src = new FaultEndpoint(new LocalEndpoint(), { seed: 1, delayMs: [0, 2], holdAfterBytes: held });
    const store = spyStore(new DirJournalStore(s.journalDir));
    const controller = new AbortController();
    const started = performance.now();
    const first = runTransfer([{ src, srcPath: s.src, dst: new LocalEndpoint(), dstPath: s.dst }], { journals: store, signal: controller.signal });
    // Hold the copy past the 2 s checkpoint interval (counted from the start
    // and from any checkpoint a slow machine already took), then let only the
    // held requests land: one of them checkpoints, and nothing else moves until
    // that checkpoint is saved and the copy aborted.
    await src.gate.reached;
    for (;;) {
      const wait = Math.max(started, store.savedAt.at(-1) ?? 0) + 2100 - performance.now();
      if (wait <= 0) break;
      await sleep(wait);
    }
    let atAbort = -1;
    store.onSave = () => {
      if (atAbort >= 0) return;
      atAbort = store.saved.length;
      controller.abort();
      src.gate.release();
    };
    // Never hang the suite if no checkpoint comes: release, and the assertions below say why.
    const safety = setTimeout(() => src.gate.release(), 15_000);
    src.gate.release();
    src.gate.close();
    const r1 = await first;
    clearTimeout(safety);
    expect(atAbort, 'a checkpoint was saved while copying, before any abort').toBeGreaterThanOrEqual(1);
    expect(r1.rejected).toBeInstanceOf(InterruptedError);
    const periodic = store.saved[atAbort - 1];
    expect(periodic.chunk).toBeGreaterThan(0);
    expect(recorded(periodic)).toBeGreaterThan(0);
    expect(periodic.source).toMatchObject({ path: s.src, size: SIZE });
    expect(periodic.dest.partial).toBe(partialName(s.dst));
    // The journal never claims more than the partial file holds.
    const journal = await readJournal(s.journalDir);
    expect((await fs.stat(partialName(s.dst))).size).toBeGreaterThanOrEqual(journal.done.at(-1)![1]);

    const r2 = await rerun(s);
    expect(r2.ev.resume).toHaveLength(1);
    const resumedFrom = r2.ev.resume[0].resumedFrom!;
    expect(resumedFrom).toBe(recorded(journal));
    expect(resumedFrom).toBeGreaterThanOrEqual(recorded(periodic));
    expect(r2.ev.done).toEqual([expect.objectContaining({ resumedFrom, bytes: SIZE - resumedFrom })]);
    // What is missing, plus one chunk read to check the partial against the source.
    expect(r2.bytesRead).toBeLessThanOrEqual(SIZE - resumedFrom + journal.chunk);
    expect(r2.bytesRead).toBeLessThan(SIZE);
    expect(await sha256(s.dst)).toBe(s.digest);
  });

  it('an interrupted resume resumes again from the later checkpoint', async () => {
    const s = await interruptedCopy('resume-twice', 3 * MiB);
    // Resume, interrupt again, resume again: journals of journals.
    const controller = new AbortController();
    const src = new FaultEndpoint(new LocalEndpoint(), { seed: 4, delayMs: [0, 6], abortAfterBytes: { bytes: 4 * MiB, controller } });
    const mid = await runTransfer([{ src, srcPath: s.src, dst: new LocalEndpoint(), dstPath: s.dst }], {
      journals: new DirJournalStore(s.journalDir), signal: controller.signal,
    });
    expect(mid.rejected).toBeInstanceOf(InterruptedError);
    expect(mid.ev.resume[0].resumedFrom).toBe(recorded(s.journal));
    const journal = await readJournal(s.journalDir);
    expect(recorded(journal)).toBeGreaterThan(recorded(s.journal));

    const r = await rerun(s);
    expect(r.ev.resume[0].resumedFrom).toBe(recorded(journal));
    expect(r.bytesRead).toBeLessThanOrEqual(BIG - recorded(journal) + journal.chunk);
    expect(await sha256(s.dst)).toBe(s.digest);
  });

  it('a source with a new mtime restarts, says why, and copies the new content', async () => {
    const s = await interruptedCopy('changed-mtime');
    // Same size, different bytes, later mtime.
    await fs.writeFile(s.src, randomBytes(BIG));
    const later = Date.now() / 1000 + 100;
    await fs.utimes(s.src, later, later);
    const r = await rerun(s);
    expect(r.ev.resume).toEqual([expect.objectContaining({ restarted: expect.stringMatching(/modified/) })]);
    expect(r.ev.done).toEqual([expect.objectContaining({ resumedFrom: 0, bytes: BIG })]);
    expect(r.bytesRead).toBeGreaterThanOrEqual(BIG);
    expect(await sha256(s.dst)).toBe(await sha256(s.src));
  });

  it('a source with a new size restarts', async () => {
    const s = await interruptedCopy('changed-size');
    const before = await fs.stat(s.src);
    await fs.appendFile(s.src, 'more');
    await fs.utimes(s.src, before.atime, before.mtime);
    const r = await rerun(s);
    expect(r.ev.resume).toEqual([expect.objectContaining({ restarted: expect.stringMatching(/size changed/) })]);
    expect(r.ev.done[0].resumedFrom).toBe(0);
    expect(await sha256(s.dst)).toBe(await sha256(s.src));
  });

  it('a corrupted partial (a byte flipped in the last recorded chunk) restarts', async () => {
    const s = await interruptedCopy('corrupt');
    const end = s.journal.done.at(-1)![1];
    await flipByte(partialName(s.dst), end - 1);
    const r = await rerun(s);
    expect(r.ev.resume).toEqual([expect.objectContaining({ restarted: expect.stringMatching(/does not match/) })]);
    expect(r.ev.done[0].resumedFrom).toBe(0);
    expect(r.bytesRead).toBeGreaterThanOrEqual(BIG);
    expect(await sha256(s.dst)).toBe(s.digest);
  });

  it('a partial that vanished restarts', async () => {
    const s = await interruptedCopy('vanished');
    await fs.rm(partialName(s.dst));
    const r = await rerun(s);
    expect(r.ev.resume).toEqual([expect.objectContaining({ restarted: expect.stringMatching(/gone/) })]);
    expect(await sha256(s.dst)).toBe(s.digest);
  });

  it('resume: false starts over and drops the journal', async () => {
    const s = await interruptedCopy('no-resume');
    const r = await rerun(s, { resume: false });
    expect(r.ev.resume).toEqual([]);
    expect(r.ev.done).toEqual([expect.objectContaining({ resumedFrom: 0, bytes: BIG })]);
    expect(r.bytesRead).toBeGreaterThanOrEqual(BIG);
    expect(await sha256(s.dst)).toBe(s.digest);
  });

  it('checkpoints flush on a session of their own: no write waits behind a flush, and the copy does not wait for the last one', async () => {
    const s = await scenario('flush-session', 40 * MiB);
    // A flush that holds its session for 4 s, as sftp-server's fsync of a big file can.
    const dst = new FaultEndpoint(new LocalEndpoint(), { lanes: true, fsyncDelayMs: 4000 });
    const started = performance.now();
    const r = await runTransfer([{ src: new LocalEndpoint(), srcPath: s.src, dst, dstPath: s.dst }], { journals: new DirJournalStore(s.journalDir) });
    const ms = performance.now() - started;
    expect(r.rejected).toBeUndefined();
    expect(r.transfer.errors).toEqual([]);
    expect(dst.stats.fsyncs).toBeGreaterThan(0);
    expect(dst.stats.fsyncsOnIdleSessions).toBe(dst.stats.fsyncs);
    expect(dst.stats.writesBehindFsync).toBe(0);
    // The copy ends while the flush still runs: waiting for it would take 4 s at least.
    expect(ms).toBeLessThan(3500);
    expect(await sha256(s.dst)).toBe(s.digest);
    expect(await exists(partialName(s.dst))).toBe(false);
    expect(await fs.readdir(s.journalDir).catch(() => [])).toEqual([]);
  });

  it('a journal that cannot be saved does not stop the copy (resume is best effort)', async () => {
    const s = await scenario('journal-fails', 24 * MiB);
    // Held past the 16 MiB checkpoint, so the save is tried while the copy is still running
    // (a checkpoint that finishes after the last byte records nothing: the journal is moot then).
    const src = new FaultEndpoint(new LocalEndpoint(), { delayMs: [0, 1], holdAfterBytes: 20 * MiB });
    let saves = 0;
    const store: JournalStore = {
      load: async () => undefined,
      save: async () => {
        saves++;
        throw new Error('No space left on device (injected)');
      },
      remove: async () => undefined,
    };
    // The disk's own fsync is not what this is about, and on a machine busy writing
    // gigabytes it can take longer than the wait below: it does nothing here.
    const dst = Object.assign(new LocalEndpoint(), { fsync: async () => undefined });
    const run = runTransfer([{ src, srcPath: s.src, dst, dstPath: s.dst }], { journals: store });
    await src.gate.reached;
    // The save follows an fsync of up to 20 MiB, which a loaded machine can take seconds over.
    for (let i = 0; i < 1600 && saves === 0; i++) await sleep(25);
    src.gate.release();
    const r = await run;
    expect(saves).toBeGreaterThanOrEqual(1);
    expect(r.rejected).toBeUndefined();
    expect(r.transfer.errors).toEqual([]);
    expect(await sha256(s.dst)).toBe(s.digest);
  });

  // BUG (reported): checkpoint() ignores a failed fsync and records the ranges anyway,
  // so the journal can claim bytes the disk lost. Flip to it() once fixed.
  it('a checkpoint whose fsync failed records nothing: the rerun does not trust unsynced bytes', async () => {
    const s = await scenario('fsync-fails', BIG);
    const controller = new AbortController();
    const src = new FaultEndpoint(new LocalEndpoint(), { abortAfterBytes: { bytes: 6 * MiB, controller } });
    const dst = new FaultEndpoint(new LocalEndpoint(), { failFsync: true });
    const r = await runTransfer([{ src, srcPath: s.src, dst, dstPath: s.dst }], {
      journals: new DirJournalStore(s.journalDir), signal: controller.signal,
    });
    expect(r.rejected).toBeInstanceOf(InterruptedError);
    expect(dst.stats.fsyncs).toBeGreaterThan(0);
    // No journal at all, or one that records nothing, is fine; one claiming bytes is not.
    const files = await journalFiles(s.journalDir);
    const claimed = files.length === 0 ? 0 : recorded(await readJournal(s.journalDir));
    expect(claimed).toBe(0);
    // Nor a note: after a failed flush, data can read back fine and be lost on disk.
    expect((await readNote(s.journalDir))?.written ?? []).toEqual([]);
  });

  it('a dropped link fails the last flush: the note tells the rerun what arrived after it, checked before it is used', async () => {
    const s = await droppedLinkCopy('note');
    const acknowledged = recorded({ ...s.note, done: s.note.written! });
    expect(acknowledged, 'the note says more than the synced journal').toBeGreaterThan(s.synced);
    const r = await rerun(s);
    const resumedFrom = r.ev.resume[0].resumedFrom!;
    expect(resumedFrom).toBe(acknowledged);
    expect(r.ev.done).toEqual([expect.objectContaining({ resumedFrom, bytes: BIG - resumedFrom })]);
    // What is missing, plus the few chunks read to compare the partial with the source.
    expect(r.bytesRead).toBeLessThanOrEqual(BIG - resumedFrom + 16 * s.note.chunk);
    expect(await sha256(s.dst)).toBe(s.digest);
  });

  it('a note the partial does not hold (a byte flipped in its newest chunk) is not trusted', async () => {
    const s = await droppedLinkCopy('note-lies');
    const end = s.note.written!.at(-1)![1];
    await flipByte(partialName(s.dst), end - 1);
    const r = await rerun(s);
    if (s.synced > 0) expect(r.ev.resume).toEqual([{ ...r.ev.resume[0], resumedFrom: s.synced }]);
    else expect(r.ev.resume).toEqual([expect.objectContaining({ restarted: expect.stringMatching(/does not match/) })]);
    expect(await sha256(s.dst)).toBe(s.digest);
  });

  it('files under 8 MiB get no journal and start over', async () => {
    const s = await scenario('small', 4 * MiB);
    const controller = new AbortController();
    const src = new FaultEndpoint(new LocalEndpoint(), { abortAfterBytes: { bytes: MiB, controller } });
    const r1 = await runTransfer([{ src, srcPath: s.src, dst: new LocalEndpoint(), dstPath: s.dst }], {
      journals: new DirJournalStore(s.journalDir), signal: controller.signal,
    });
    expect(r1.rejected).toBeInstanceOf(InterruptedError);
    expect(await journalFiles(s.journalDir)).toEqual([]);
    const r2 = await rerun(s);
    expect(r2.ev.resume).toEqual([]);
    expect(r2.bytesRead).toBe(4 * MiB);
    expect(await sha256(s.dst)).toBe(s.digest);
  });
});
