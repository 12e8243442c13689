// Writes in offset order (write-order.ts) through the engine, against a
// destination that writes files as streams (the fault endpoint's
// streamWrites, modelled on rclone serve sftp): reads that finish out of
// order must still be written in order; lanes (several handles, each with
// gaps) make the server fail a write, and the run must switch the host to one
// in-order handle, copy the file again, finish identically and say so once.
import { createHash, randomBytes } from 'node:crypto';
import * as fs from 'node:fs/promises';
import * as os from 'node:os';
import * as path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { FileError } from '../../src/errors.js';
import { LocalEndpoint } from '../../src/transfer/local.js';
import { RangeSet } from '../../src/transfer/ranges.js';
import { RateLimiter } from '../../src/transfer/rate-limit.js';
import { Transfer, type TransferOptions, type WriteOrderEvent } from '../../src/transfer/transfer.js';
import { outOfOrderReason, WriteSequencer } from '../../src/transfer/write-order.js';
import { FaultEndpoint } from '../support/fault-endpoint.js';

const MiB = 1024 * 1024;
const C = 16 * 1024;
let work: string;
let src: string;
let digest: string;

const sha256 = async (file: string) => createHash('sha256').update(await fs.readFile(file)).digest('hex');

beforeAll(async () => {
  work = await fs.mkdtemp(path.join(os.tmpdir(), 'ferry-write-order-'));
  src = path.join(work, 'src.bin');
  await fs.writeFile(src, randomBytes(8 * MiB + 5));
  digest = await sha256(src);
});
afterAll(async () => {
  await fs.rm(work, { recursive: true, force: true });
});

async function copy(dst: FaultEndpoint, srcEp: LocalEndpoint | FaultEndpoint, name: string, opts: TransferOptions = {}) {
  const t = new Transfer({ chunkSize: C, initialWindow: 2 * MiB, ...opts });
  const switches: WriteOrderEvent[] = [];
  const errors: unknown[] = [];
  t.on('write-order', (e: WriteOrderEvent) => switches.push(e));
  t.on('file-error', (e: { error: unknown }) => errors.push(e.error));
  const dstPath = path.join(work, name);
  await t.run([{ src: srcEp, srcPath: src, dst, dstPath }]);
  return { switches, errors, dstPath, transfer: t };
}

describe('writes in offset order', () => {
  it('reads that finish out of order are still written in order: a stream server needs no switch', async () => {
    // The source answers after random delays, so reads complete in any order.
    const srcEp = new FaultEndpoint(new LocalEndpoint(), { delayMs: [0, 3], seed: 7 });
    const dst = new FaultEndpoint(new LocalEndpoint(), { streamWrites: true, limits: { maxRead: C, maxWrite: C } });
    const r = await copy(dst, srcEp, 'ordered.bin');
    expect(r.errors).toEqual([]);
    expect(srcEp.stats.reorderedCompletions, 'the reads did finish out of order').toBeGreaterThan(0);
    expect(dst.stats.writesOutOfOrder).toBe(0);
    expect(r.switches).toEqual([]);
    expect(await sha256(r.dstPath)).toBe(digest);
  });

  for (const [how, reopen, why] of [
    ['a lane\'s write lands past the end of its stream', true, /Illegal seek/],
    ['a lane is refused its own handle', false, /second handle/],
  ] as const) {
    it(`lanes give a file several handles and ${how}: one switch to in-order writes, the copy completes`, async () => {
      // A long link (the fault endpoint reports 250 ms) so lanes open on the destination.
      const dst = new FaultEndpoint(new LocalEndpoint(), {
        streamWrites: true, streamReopen: reopen, lanes: true, delayMs: [5, 15], limits: { maxRead: C, maxWrite: C },
      });
      // Held to 16 MB/s (half a second): the lanes open while the copy still has chunks to
      // spread over them. Unheld, a fast machine finished the 8 MiB before any lane wrote.
      const r = await copy(dst, new LocalEndpoint(), `switched-${reopen}.bin`, { maxLanes: 4, limiter: new RateLimiter(16 * MiB) });
      expect(r.errors).toEqual([]);
      expect(dst.stats.lanesOpened, 'lanes opened, so writes spread over handles').toBeGreaterThan(0);
      if (reopen) expect(dst.stats.writesOutOfOrder).toBeGreaterThan(0);
      expect(r.switches).toHaveLength(1);
      expect(r.switches[0]).toMatchObject({ mode: 'in-order', path: r.dstPath });
      expect(r.switches[0].reason).toMatch(why);
      expect(await sha256(r.dstPath)).toBe(digest);
      expect(r.transfer.stats).toMatchObject({ filesDone: 1, filesFailed: 0 });
    });
  }

  it('a failure at the contiguous end is a real error, not a reason to switch', () => {
    const err = new FileError('write', 'remote', 'f', 'Failure', { code: 4 });
    expect(outOfOrderReason(err, 100, 100)).toBeUndefined();
    expect(outOfOrderReason(err, 200, 100)).toMatch(/past the 100 bytes written in order/);
    expect(outOfOrderReason(new FileError('write', 'remote', 'f', 'No space left on device', { code: 4 }), 100, 100)).toBeUndefined();
    expect(outOfOrderReason(new FileError('write', 'remote', 'f', 'seek 65536 not supported with cursor 0', { code: 4 }), 65536, 0)).toMatch(/refused/);
    expect(outOfOrderReason(new FileError('write', 'local', 'f', 'Illegal seek', { code: 'ESPIPE' }), 1, 0)).toBeUndefined();
    // OpenSSH's sftp-server says "Failure" for a full disk: never taken as about order there.
    expect(outOfOrderReason(err, 200, 100, true)).toBeUndefined();
  });

  it('turns go in claim order, and a turn given up on lets the next one go', async () => {
    const seq = new WriteSequencer();
    const remote = new FaultEndpoint(new LocalEndpoint(), { streamWrites: true });
    const [a, b, c] = [seq.claim(remote), seq.claim(remote), seq.claim(remote)];
    const order: string[] = [];
    const waits = [c.ready().then(() => order.push('c')), b.ready().then(() => order.push('b'))];
    await a.ready();
    order.push('a');
    a.done();
    await new Promise((r) => setTimeout(r, 5));
    expect(order).toEqual(['a', 'b']);
    b.done();
    b.done(); // idempotent: must not skip c's successor
    await Promise.all(waits);
    expect(order).toEqual(['a', 'b', 'c']);
  });

  it('only the part without a gap survives a switch to in-order writes', () => {
    const done = new RangeSet([[0, 100], [200, 300]]);
    expect(done.keepContiguous()).toBe(100);
    expect(done.toJSON()).toEqual([[0, 100]]);
    const none = new RangeSet([[50, 100]]);
    expect(none.keepContiguous()).toBe(0);
    expect(none.size).toBe(0);
  });
});
