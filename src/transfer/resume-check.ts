/**
 * Before a rerun continues a partial file, it checks the partial against the
 * source through the read path of both endpoints: the last synced chunk the
 * journal records, and what the note says was written since the last sync
 * (acknowledged, not known to be on disk). A note is worth trusting only
 * when the partial holds it; a server that crashed since lost what it had
 * not flushed, from the newest writes back, so the newest chunk of every
 * written run and a sample of the rest are compared.
 */
import { createHash } from 'node:crypto';
import type { Endpoint } from './endpoint.js';
import { isNotFound } from './endpoint.js';
import type { PartialJournal } from './journal.js';
import { RangeSet, type Range } from './ranges.js';

export interface PartialSides {
  src: Endpoint;
  srcPath: string;
  dst: Endpoint;
  partial: string;
}

/** Written runs whose newest chunk is compared (the highest ones: written last). */
const TAILS = 8;
/** Chunks compared at random among the rest of what the note lists. */
const SAMPLES = 4;

/** Why the synced part of a partial cannot be trusted, or null if it can. */
export async function checkPartial(s: PartialSides, j: PartialJournal, hinted: Range[]): Promise<string | null> {
  if (j.done.length === 0 && hinted.length === 0) return 'nothing was recorded as copied';
  let size: number;
  try {
    size = (await s.dst.stat(s.partial)).size;
  } catch (err) {
    if (isNotFound(err)) return 'the partial file is gone';
    throw err;
  }
  if (j.done.length === 0) return null;
  const end = j.done[j.done.length - 1][1];
  if (size < end) return `the partial file is shorter (${size}) than recorded (${end})`;
  const start = Math.max(j.done[j.done.length - 1][0], end - j.chunk);
  return (await sameBytes(s, [start, end])) ? null : 'the partial file does not match the source';
}

/** What the note lists as written beyond the synced ranges. */
export function unsyncedWrites(j: PartialJournal): Range[] {
  if (!j.written?.length) return [];
  const done = new RangeSet(j.done);
  const out: Range[] = [];
  for (const [s, e] of new RangeSet(j.written).toJSON()) {
    for (const [gs, ge] of done.missing(e)) if (ge > s) out.push([Math.max(gs, s), ge]);
  }
  return out;
}

/** Does the partial hold what the note says was written? Its size, the newest chunks and a sample. */
export async function holdsWrites(s: PartialSides, hinted: Range[], chunk: number): Promise<boolean> {
  if (hinted.length === 0) return true;
  const size = (await s.dst.stat(s.partial)).size;
  if (size < hinted[hinted.length - 1][1]) return false;
  const tails = hinted.slice(-TAILS).map(([a, b]): Range => [Math.max(a, b - chunk), b]);
  const rest: Range[] = [];
  for (const [a, b] of hinted) for (let p = a; p < b; p += chunk) rest.push([p, Math.min(b, p + chunk)]);
  const picks = new Set<Range>();
  for (let i = 0; i < Math.min(SAMPLES, rest.length); i++) picks.add(rest[Math.floor(Math.random() * rest.length)]);
  const checks = await Promise.all([...tails, ...picks].map((r) => sameBytes(s, r)));
  return checks.every(Boolean);
}

async function sameBytes(s: PartialSides, [start, end]: Range): Promise<boolean> {
  const [a, b] = await Promise.all([hashRange(s.src, s.srcPath, start, end), hashRange(s.dst, s.partial, start, end)]);
  return a === b;
}

async function hashRange(ep: Endpoint, path: string, start: number, end: number): Promise<string> {
  const h = await ep.openRead(path);
  try {
    const buf = Buffer.allocUnsafe(end - start);
    let got = 0;
    while (got < buf.length) {
      const n = await ep.read(h, buf, got, Math.min(buf.length - got, ep.limits.maxRead), start + got);
      if (n === 0) break;
      got += n;
    }
    return createHash('sha256').update(buf.subarray(0, got)).digest('hex') + `:${got}`;
  } finally {
    await ep.close(h).catch(() => undefined);
  }
}
