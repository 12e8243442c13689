// A file ends where its source says EOF, not where its stat says (engine,
// local and fault-injecting endpoints, no SSH): a stat of 0 is read until
// EOF, pipelined when the source answers whole and strictly in order when it
// answers in pieces; a stat that understates is read past; the EOF read at
// the planned size goes out with the last chunks; a source that ends and then
// has data again is refused. Compared by sha256, never by size alone.
import { createHash, randomBytes } from 'node:crypto';
import * as fs from 'node:fs/promises';
import * as os from 'node:os';
import * as path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { FileAttrs, FileHandle } from '../../src/transfer/endpoint.js';
import { LocalEndpoint } from '../../src/transfer/local.js';
import { partialName } from '../../src/transfer/names.js';
import { Transfer, type CopyJob, type TransferOptions } from '../../src/transfer/transfer.js';
import { FaultEndpoint } from '../support/fault-endpoint.js';

const C = 4096;
const MiB = 1024 * 1024;

/** A local disk whose stat reports another size, as /proc (0), FUSE or a lying server do. */
class StatSays extends LocalEndpoint {
  constructor(private readonly size: (real: number) => number) {
    super();
  }
  override async stat(p: string): Promise<FileAttrs> {
    const a = await super.stat(p);
    return { ...a, size: this.size(a.size) };
  }
}

let work: string;
beforeAll(async () => {
  work = await fs.mkdtemp(path.join(os.tmpdir(), 'ferry-copy-length-'));
});
afterAll(async () => {
  await fs.rm(work, { recursive: true, force: true });
});

const sha256 = (b: Buffer) => createHash('sha256').update(b).digest('hex');

async function source(size: number): Promise<{ file: string; data: Buffer; dst: string }> {
  const dir = await fs.mkdtemp(path.join(work, 'case-'));
  const data = randomBytes(size);
  const file = path.join(dir, 'src.bin');
  await fs.writeFile(file, data);
  return { file, data, dst: path.join(dir, 'dst.bin') };
}

async function run(job: CopyJob, opts: TransferOptions = {}) {
  const t = new Transfer({ chunkSize: C, ...opts });
  const done: Record<string, unknown>[] = [];
  t.on('file-done', (e: Record<string, unknown>) => done.push(e));
  await t.run([job]);
  return { t, done };
}

describe.concurrent('length from EOF', () => {
  it('stat says 0, the file holds 2 MiB+3: read until EOF, pipelined, identical; file-done and the totals carry the length', async () => {
    const s = await source(2 * MiB + 3);
    const src = new FaultEndpoint(new StatSays(() => 0), { seed: 1, delayMs: [1, 4] });
    const { t, done } = await run({ src, srcPath: s.file, dst: new LocalEndpoint(), dstPath: s.dst });
    expect(t.errors.map((e) => e.message)).toEqual([]);
    expect(sha256(await fs.readFile(s.dst))).toBe(sha256(s.data));
    expect(done[0]).toMatchObject({ size: s.data.length, bytes: s.data.length });
    expect(t.stats.bytesDone).toBe(s.data.length);
    expect(t.stats.bytesTotal).toBe(s.data.length);
    // Pipelined: many reads in flight at once, not one round trip per chunk.
    expect(src.stats.maxConcurrent).toBeGreaterThan(4);
    expect(src.stats.bytesRead).toBe(s.data.length);
  });

  it('stat says 0 and every read is answered in pieces: read strictly in order, one request at a time, identical', async () => {
    const s = await source(256 * 1024 + 5);
    const src = new FaultEndpoint(new StatSays(() => 0), { seed: 2, shortReads: 1, delayMs: [0, 2] });
    const { t } = await run({ src, srcPath: s.file, dst: new LocalEndpoint(), dstPath: s.dst });
    expect(t.errors.map((e) => e.message)).toEqual([]);
    expect(sha256(await fs.readFile(s.dst))).toBe(sha256(s.data));
    expect(src.stats.shortReads).toBeGreaterThan(10);
    expect(src.stats.maxConcurrent).toBe(1);
  });

  it('stat understates (half the file): the rest is read past the plan and copied', async () => {
    const s = await source(MiB + 777);
    const src = new StatSays((real) => Math.floor(real / 2));
    const { t, done } = await run({ src, srcPath: s.file, dst: new LocalEndpoint(), dstPath: s.dst });
    expect(t.errors.map((e) => e.message)).toEqual([]);
    expect(sha256(await fs.readFile(s.dst))).toBe(sha256(s.data));
    expect(done[0]).toMatchObject({ size: s.data.length, bytes: s.data.length });
    expect(t.stats.bytesTotal).toBe(s.data.length);
  });

  it('stat is right: one read at the planned size meets EOF, sent with the last chunks', async () => {
    const s = await source(3 * C + 1);
    // Every read takes 20 ms: requests that go out together overlap.
    const src = new FaultEndpoint(new LocalEndpoint(), { delayMs: [20, 20] });
    const { t } = await run({ src, srcPath: s.file, dst: new LocalEndpoint(), dstPath: s.dst }, { initialWindow: 64 * C });
    expect(t.errors.map((e) => e.message)).toEqual([]);
    expect(sha256(await fs.readFile(s.dst))).toBe(sha256(s.data));
    expect(src.stats.readRequests, 'four chunks and the EOF read').toBe(5);
    expect(src.stats.maxConcurrent, 'all in flight at once: no extra round trip').toBe(5);
  });

  it('an empty file: the EOF read only, an empty copy', async () => {
    const s = await source(0);
    const src = new FaultEndpoint(new LocalEndpoint(), {});
    const { t, done } = await run({ src, srcPath: s.file, dst: new LocalEndpoint(), dstPath: s.dst });
    expect(t.errors).toEqual([]);
    expect((await fs.stat(s.dst)).size).toBe(0);
    expect(src.stats.readRequests).toBe(1);
    expect(done[0]).toMatchObject({ size: 0, bytes: 0 });
  });

  it('a source that says EOF and then has data past it changed under the copy: refused, nothing at the final name', async () => {
    const s = await source(MiB);
    const at = 32 * C;
    // The read at `at` answers EOF, late: the reads past it went out meanwhile and find data.
    class EndsThenGrows extends StatSays {
      override async read(h: FileHandle, buf: Buffer, offset: number, length: number, position: number): Promise<number> {
        if (position === at) return new Promise((r) => setTimeout(() => r(0), 50));
        return super.read(h, buf, offset, length, position);
      }
    }
    const { t } = await run({ src: new EndsThenGrows(() => 0), srcPath: s.file, dst: new LocalEndpoint(), dstPath: s.dst });
    expect(t.errors).toHaveLength(1);
    expect(t.errors[0].message).toMatch(new RegExp(`read local ".*src\\.bin": changed while being copied \\(it ended at ${at}, then had data up to \\d+\\)`));
    await expect(fs.stat(s.dst)).rejects.toThrow();
    await fs.rm(partialName(s.dst), { force: true });
  });
});
