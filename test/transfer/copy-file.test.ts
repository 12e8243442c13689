// The data path of one file through the engine (Transfer over local and
// fault-injecting endpoints, no SSH): chunk boundaries for 1, 2 and 4 lanes
// with the misbehaving endpoint on either side, short reads and reordered
// completions, and what a failed read or write leaves behind. Every result is
// compared by sha256, never by size alone.
import { createHash, randomBytes } from 'node:crypto';
import * as fs from 'node:fs/promises';
import * as os from 'node:os';
import * as path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ConnectionError, ExitCode, FileError, exitCodeFor } from '../../src/errors.js';
import type { Endpoint } from '../../src/transfer/endpoint.js';
import { LocalEndpoint } from '../../src/transfer/local.js';
import { partialName } from '../../src/transfer/names.js';
import { Transfer, type CopyJob, type TransferOptions } from '../../src/transfer/transfer.js';
import { FaultEndpoint, type FaultScript } from '../support/fault-endpoint.js';

/** The chunk size: the fault endpoint advertises it as its limit, below the requested chunkSize. */
const C = 4096;
const MiB = 1024 * 1024;
const SIZES = [0, 1, C - 1, C, C + 1, 2 * C + 1, 4 * C + 1, MiB + 3];
/** Big enough for the window to pass one lane's capacity, so lanes open. */
const LANE_OPENER = 8 * MiB + 3;

let work: string;
let srcDir: string;
const digests = new Map<string, string>();

async function sha256(file: string): Promise<string> {
  return createHash('sha256').update(await fs.readFile(file)).digest('hex');
}

async function exists(p: string): Promise<boolean> {
  return fs.lstat(p).then(() => true, () => false);
}

async function makeSource(name: string, size: number): Promise<string> {
  const file = path.join(srcDir, name);
  await fs.writeFile(file, randomBytes(size));
  digests.set(name, await sha256(file));
  return file;
}

interface RunResult {
  transfer: Transfer;
  events: { name: string; data: Record<string, unknown> }[];
  rejected?: unknown;
}

async function runTransfer(jobs: CopyJob[], opts: TransferOptions): Promise<RunResult> {
  const transfer = new Transfer(opts);
  const events: RunResult['events'] = [];
  for (const name of ['file-start', 'file-done', 'file-error', 'file-resume', 'window', 'lanes', 'retry']) {
    transfer.on(name, (data: Record<string, unknown>) => events.push({ name, data }));
  }
  let rejected: unknown;
  await transfer.run(jobs).catch((err: unknown) => (rejected = err));
  return { transfer, events, rejected };
}

beforeAll(async () => {
  work = await fs.mkdtemp(path.join(os.tmpdir(), 'ferry-copy-file-'));
  srcDir = path.join(work, 'src');
  await fs.mkdir(srcDir);
  await Promise.all([...SIZES, LANE_OPENER].map((size) => makeSource(`s${size}.bin`, size)));
});
afterAll(async () => {
  await fs.rm(work, { recursive: true, force: true });
});

type Direction = 'fault-src' | 'fault-dst' | 'fault-both';

describe.concurrent('chunk boundaries', () => {
  const directions: Direction[] = ['fault-src', 'fault-dst', 'fault-both'];
  for (const direction of directions) {
    for (const maxLanes of [1, 2, 4]) {
      it(`${direction}, maxLanes ${maxLanes}: sizes 0, 1, C-1, C, C+1, 2C+1, 4C+1, 1 MiB+3 arrive intact`, async () => {
        const dstDir = await fs.mkdtemp(path.join(work, `${direction}-${maxLanes}-`));
        const script = (seed: number): FaultScript => ({
          seed,
          shortReads: 0.3,
          // Slow enough per request that the first round ends long before the
          // big file does: the window grows past one lane and lanes open.
          delayMs: [10, 40],
          lanes: true,
          limits: { maxRead: C, maxWrite: C },
        });
        const fsrc = direction !== 'fault-dst' ? new FaultEndpoint(new LocalEndpoint(), script(maxLanes * 7 + 1)) : undefined;
        const fdst = direction !== 'fault-src' ? new FaultEndpoint(new LocalEndpoint(), script(maxLanes * 7 + 2)) : undefined;
        const src: Endpoint = fsrc ?? new LocalEndpoint();
        const dst: Endpoint = fdst ?? new LocalEndpoint();
        // The lane opener goes first (one file at a time), so the small files after it spread over lanes.
        const names = [`s${LANE_OPENER}.bin`, ...SIZES.map((s) => `s${s}.bin`)];
        const jobs = names.map((n) => ({ src, srcPath: path.join(srcDir, n), dst, dstPath: path.join(dstDir, n) }));
        const r = await runTransfer(jobs, { chunkSize: 64 * 1024, initialWindow: 2 * MiB, maxLanes, fileConcurrency: 1 });

        expect(r.rejected).toBeUndefined();
        expect(r.transfer.errors.map((e) => e.message)).toEqual([]);
        for (const n of names) expect(await sha256(path.join(dstDir, n)), n).toBe(digests.get(n));
        expect((await fs.readdir(dstDir)).sort(), 'no partial files left').toEqual([...names].sort());
        expect(r.transfer.stats.filesDone).toBe(names.length);

        for (const f of [fsrc, fdst]) {
          if (!f) continue;
          // Requests never exceed what the endpoint advertised.
          expect(f.stats.maxReadAsked).toBeLessThanOrEqual(C);
          expect(f.stats.maxWriteAsked).toBeLessThanOrEqual(C);
          expect(f.stats.openHandles, 'every handle closed').toBe(0);
          expect(f.stats.lanesOpened).toBeLessThanOrEqual(maxLanes - 1);
          if (maxLanes > 1) expect(f.stats.lanesOpened, 'the window outgrew one lane').toBeGreaterThan(0);
          else expect(f.stats.lanesOpened).toBe(0);
        }
        if (fsrc) expect(fsrc.stats.shortReads).toBeGreaterThan(0);
      });
    }
  }
});

describe.concurrent('misbehaving endpoints', () => {
  it('short reads and reordered completions give identical bytes (both sides at once)', async () => {
    const dstDir = await fs.mkdtemp(path.join(work, 'reorder-'));
    const fsrc = new FaultEndpoint(new LocalEndpoint(), { seed: 42, shortReads: 0.7, delayMs: [0, 8] });
    const fdst = new FaultEndpoint(new LocalEndpoint(), { seed: 43, delayMs: [0, 8] });
    const name = `s${MiB + 3}.bin`;
    const r = await runTransfer(
      [{ src: fsrc, srcPath: path.join(srcDir, name), dst: fdst, dstPath: path.join(dstDir, name) }],
      { chunkSize: C },
    );
    expect(r.rejected).toBeUndefined();
    expect(r.transfer.errors).toEqual([]);
    expect(await sha256(path.join(dstDir, name))).toBe(digests.get(name));
    // The faults really happened: otherwise this test proves nothing.
    expect(fsrc.stats.shortReads).toBeGreaterThan(50);
    expect(fsrc.stats.readRequests).toBeGreaterThan(Math.ceil((MiB + 3) / C));
    expect(fdst.stats.reorderedCompletions).toBeGreaterThan(10);
    expect(fdst.stats.maxConcurrent).toBeGreaterThan(1);
    expect(fsrc.stats.bytesRead).toBe(MiB + 3);
    expect(fdst.stats.bytesWritten).toBe(MiB + 3);
  });

  it('a failed write on the k-th request fails that file only: no final name, the partial stays', async () => {
    const dstDir = await fs.mkdtemp(path.join(work, 'failwrite-'));
    const fdst = new FaultEndpoint(new LocalEndpoint(), { seed: 5, delayMs: [0, 3], failWrite: { at: 40, kind: 'file' } });
    const local = new LocalEndpoint();
    const bad = path.join(dstDir, 'bad.bin');
    const good = path.join(dstDir, 'good.bin');
    const r = await runTransfer([
      { src: local, srcPath: path.join(srcDir, `s${MiB + 3}.bin`), dst: fdst, dstPath: bad },
      { src: local, srcPath: path.join(srcDir, `s${4 * C + 1}.bin`), dst: local, dstPath: good },
    ], { chunkSize: C });

    expect(r.rejected, 'a file error does not stop the run').toBeUndefined();
    expect(fdst.stats.injected).toEqual(['write #40: file']);
    expect(r.transfer.errors).toHaveLength(1);
    const err = r.transfer.errors[0];
    expect(err).toBeInstanceOf(FileError);
    // Named by the path the user asked for, not our hidden partial name.
    expect((err as FileError).path).toBe(bad);
    expect(err.message).toContain('injected failure of write #40');
    expect(exitCodeFor(err)).toBe(ExitCode.partial);
    expect(r.transfer.stats).toMatchObject({ filesDone: 1, filesFailed: 1 });
    expect(r.events.filter((e) => e.name === 'file-error')).toHaveLength(1);
    expect(await exists(bad), 'nothing incomplete under the final name').toBe(false);
    expect(await exists(partialName(bad)), 'the partial stays').toBe(true);
    expect(await sha256(good)).toBe(digests.get(`s${4 * C + 1}.bin`));
    expect(fdst.stats.openHandles).toBe(0);
  });

  it('a failed read on the k-th request fails the file the same way', async () => {
    const dstDir = await fs.mkdtemp(path.join(work, 'failread-'));
    const fsrc = new FaultEndpoint(new LocalEndpoint(), { seed: 6, delayMs: [0, 3], failRead: { at: 25, kind: 'file' } });
    const dst = path.join(dstDir, 'x.bin');
    const r = await runTransfer([{ src: fsrc, srcPath: path.join(srcDir, `s${MiB + 3}.bin`), dst: new LocalEndpoint(), dstPath: dst }], { chunkSize: C });
    expect(r.rejected).toBeUndefined();
    expect(r.transfer.errors).toHaveLength(1);
    expect(r.transfer.errors[0]).toBeInstanceOf(FileError);
    expect((r.transfer.errors[0] as FileError).side).toBe('local');
    expect(r.transfer.stats.filesFailed).toBe(1);
    expect(await exists(dst)).toBe(false);
    expect(await exists(partialName(dst))).toBe(true);
    expect(fsrc.stats.openHandles).toBe(0);
  });

  it('a dropped link with no way to reconnect stops the run with a connection error', async () => {
    const dstDir = await fs.mkdtemp(path.join(work, 'drop-'));
    const fsrc = new FaultEndpoint(new LocalEndpoint(), { seed: 7, delayMs: [0, 3], failRead: { at: 30, kind: 'connection' } });
    const dst = path.join(dstDir, 'x.bin');
    const r = await runTransfer([{ src: fsrc, srcPath: path.join(srcDir, `s${MiB + 3}.bin`), dst: new LocalEndpoint(), dstPath: dst }], { chunkSize: C, retryDelayMs: 1 });
    expect(r.rejected).toBeInstanceOf(ConnectionError);
    expect(exitCodeFor(r.rejected)).toBe(ExitCode.connection);
    expect(r.events.some((e) => e.name === 'retry')).toBe(false);
    expect(await exists(dst)).toBe(false);
    expect(fsrc.stats.openHandles).toBe(0);
  });

  it('a source that shrinks while being copied fails the file with a clear reason', async () => {
    const dstDir = await fs.mkdtemp(path.join(work, 'shrink-'));
    const file = path.join(dstDir, 'shrinking.bin');
    await fs.writeFile(file, randomBytes(MiB));
    const src = new FaultEndpoint(new LocalEndpoint(), { holdAfterBytes: 64 * 1024, delayMs: [0, 2] });
    const dst = path.join(dstDir, 'copy.bin');
    const run = runTransfer([{ src, srcPath: file, dst: new LocalEndpoint(), dstPath: dst }], { chunkSize: C });
    await src.gate.reached;
    await fs.truncate(file, 256 * 1024);
    src.gate.release();
    const r = await run;
    expect(r.rejected).toBeUndefined();
    expect(r.transfer.errors).toHaveLength(1);
    expect(r.transfer.errors[0].message).toMatch(/unexpected end of file/);
    expect(await exists(dst)).toBe(false);
  });
});
