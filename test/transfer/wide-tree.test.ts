// An endless, wide tree on the source side (every directory holds 200 more):
// the walk must stop at the entry cap with one error, list and create nothing
// past it, and stay within bounded memory on the way (entries are walked depth
// first within a fixed number of places, not all started at once).
import { describe, expect, it } from 'vitest';
import { InterruptedError } from '../../src/errors.js';
import type { Endpoint, FileAttrs } from '../../src/transfer/endpoint.js';
import { Transfer } from '../../src/transfer/transfer.js';

const WIDTH = 200;
const CAP = 200_000;
const dirAttrs: FileAttrs = { kind: 'dir', size: 0, mode: 0o755, mtime: 1, atime: 1 };

function endlessWideTree() {
  const counts = { listings: 0, mkdirs: 0 };
  const src = {
    side: 'remote', label: 'wide', limits: { maxRead: 32768, maxWrite: 32768 },
    stat: async () => dirAttrs,
    lstat: async () => dirAttrs,
    realpath: async (p: string) => p,
    readdir: async () => {
      counts.listings++;
      await new Promise((r) => setImmediate(r)); // a round trip's worth of yielding
      return Array.from({ length: WIDTH }, (_, i) => ({ name: `d${i}`, attrs: dirAttrs }));
    },
    end: async () => undefined,
  } as unknown as Endpoint;
  const dst = {
    side: 'local', label: 'sink', limits: { maxRead: 32768, maxWrite: 32768 },
    stat: async () => {
      throw Object.assign(new Error('missing'), { code: 'ENOENT' });
    },
    mkdir: async () => void counts.mkdirs++,
    end: async () => undefined,
  } as unknown as Endpoint;
  return { src, dst, counts };
}

describe('an endless wide tree', () => {
  it('stops at the entry cap with one error, in bounded memory, creating nothing it did not list', async () => {
    const { src, dst, counts } = endlessWideTree();
    const t = new Transfer({ recursive: true, maxEntries: CAP });
    const base = process.memoryUsage().heapUsed;
    let peak = base;
    const sampler = setInterval(() => (peak = Math.max(peak, process.memoryUsage().heapUsed)), 5);
    await t.run([{ src, srcPath: '/top', dst, dstPath: '/out' }]);
    clearInterval(sampler);
    expect(t.errors.map((e) => e.message)).toEqual([expect.stringMatching(new RegExp(`more than ${CAP} entries in this run: not listing further$`))]);
    // The listing that crossed the cap, plus at most the few in flight with it.
    expect(counts.listings).toBeLessThanOrEqual(CAP / WIDTH + 1 + 8);
    expect(counts.mkdirs).toBeLessThanOrEqual(CAP / WIDTH + 1);
    // Every entry started at once cost about 2.5 KB each (500 MB here); the walk now holds about 20 MB.
    expect(peak - base).toBeLessThan(150e6);
  });

  it('an abort mid-walk settles everything it started: one InterruptedError, nothing unhandled, no listing after', async () => {
    const { src, dst, counts } = endlessWideTree();
    const controller = new AbortController();
    const t = new Transfer({ recursive: true, signal: controller.signal });
    const unhandled: unknown[] = [];
    const onUnhandled = (e: unknown) => unhandled.push(e);
    process.on('unhandledRejection', onUnhandled);
    try {
      const run = t.run([{ src, srcPath: '/top', dst, dstPath: '/out' }]);
      while (counts.listings < 50) await new Promise((r) => setImmediate(r));
      controller.abort();
      await expect(run).rejects.toBeInstanceOf(InterruptedError);
      const after = counts.listings;
      await new Promise((r) => setTimeout(r, 50));
      expect(counts.listings).toBe(after);
      expect(unhandled).toEqual([]);
    } finally {
      process.off('unhandledRejection', onUnhandled);
    }
  });
});
