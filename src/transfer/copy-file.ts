/**
 * Copy one regular file between two endpoints. Chunks are requested as the
 * run's window allows, spread over the lanes of each side; data goes to a
 * hidden partial name that is renamed into place only when every byte is
 * there, so nothing incomplete ever appears under the final name. The file
 * ends where a read of the source meets EOF: the size stat gave is the plan,
 * not the length (/proc files stat as 0, a server's stat is only its word).
 * With a journal, progress is checkpointed (checkpoints.ts) so an
 * interrupted copy resumes where it stopped.
 */
import { FileError, InterruptedError, renameFileError } from '../errors.js';
import { SMALL_BUFFER, type BufferPool, type InflightBudget } from './budget.js';
import { Checkpoints } from './checkpoints.js';
import type { Endpoint, FileAttrs, FileHandle } from './endpoint.js';
import { isNotFound } from './endpoint.js';
import { journalKey, staleReason, type JournalStore, type PartialJournal, type SourceIdentity } from './journal.js';
import type { Lane, LanePool } from './lanes.js';
import { partialName } from './names.js';
import { RangeSet, type Range } from './ranges.js';
import { checkPartial, holdsWrites, unsyncedWrites } from './resume-check.js';
import { OutOfOrderWrite, outOfOrderReason, WriteSequencer } from './write-order.js';
import type { RateLimiter } from './rate-limit.js';

export interface CopyFileOptions {
  src: LanePool;
  srcPath: string;
  /**
   * The size stat reported when the file was chosen: the plan. The copy reads
   * on past it until EOF, and a source that ends before it is an error.
   */
  size: number;
  srcMtime: number;
  dst: LanePool;
  dstPath: string;
  /** Mode the new file is created with (the receiver's umask still applies). */
  createMode: number;
  /** With -p: exact mode and times to set before the rename. */
  preserve?: { mode: number; atime: number; mtime: number };
  chunk: number;
  budget: InflightBudget;
  buffers: BufferPool;
  limiter?: RateLimiter;
  signal?: AbortSignal;
  /** Where partial-file journals live; absent = no resume for this run. */
  journals?: JournalStore;
  /** false: drop any journal from an earlier run and start over. */
  resume?: boolean;
  /** Ranges already copied earlier in this run (kept across reconnects). */
  progress?: RangeSet;
  onBytes?: (n: number) => void;
  /** Resumed from a partial (bytes already there) or restarted, and why. */
  onResume?: (info: { resumedFrom: number } | { restarted: string }) => void;
}

/**
 * What the first read past the planned size asks for. Most files end where
 * stat said, and this read only has to meet EOF: kept small, it holds little
 * of the window; a small /proc file still fits in it whole.
 */
const PROBE_BYTES = SMALL_BUFFER;

/** What one chunk request did: bytes copied, and the read requests it took (more than one: answered in pieces). */
interface ChunkResult {
  got: number;
  reads: number;
}
const FAILED: ChunkResult = { got: -1, reads: 0 };

/** Copies the file; resolves to its length (where the source said EOF). */
export async function copyFile(o: CopyFileOptions): Promise<number> {
  const tmp = partialName(o.dstPath);
  try {
    return await new FileCopy(o, tmp).run();
  } catch (err) {
    // The user named the final path; errors about our partial file should too.
    throw renameFileError(err, tmp, o.dstPath);
  }
}

class FileCopy {
  private readonly done: RangeSet;
  private readonly srcHandles = new Map<Endpoint, Promise<FileHandle>>();
  private readonly dstHandles = new Map<Endpoint, Promise<FileHandle>>();
  private readonly key: string;
  private readonly source: SourceIdentity;
  private failure: unknown;
  /** Absent when the copy keeps no journal (small files, no state directory). */
  private readonly checkpoints?: Checkpoints;
  /**
   * Small files stay on one lane pair: one open per side, not one per lane;
   * its handles are kept open here, so no chunk waits on their promises.
   */
  private pinned?: { src: Lane; dst: Lane; input: FileHandle; output: FileHandle };
  /** Lowest offset a read found the end of the source at, if any did. */
  private eofAt?: number;
  /** Highest offset a read found data up to: past eofAt, the source changed under us. */
  private dataEnd = 0;
  /** Writes leave each handle in offset order (write-order.ts). */
  private readonly writes = new WriteSequencer();
  /** The lane every write goes through once the host takes writes only in order. */
  private dstFirst?: Lane;
  /** The partial could not be reopened to resume, so it was started over. */
  private startedOver = false;
  /** Where this attempt's writes start (0 unless resuming). */
  private resumedAt = 0;
  private get startedAt0(): boolean {
    return this.resumedAt === 0 || this.startedOver;
  }

  constructor(private readonly o: CopyFileOptions, private readonly tmp: string) {
    this.done = o.progress ?? new RangeSet();
    // Only journaled (large) files need the key; thousands of small ones skip the hash.
    this.key = o.journals ? journalKey(o.dst.root.label, o.dstPath) : '';
    this.source = { label: o.src.root.label, path: o.srcPath, size: o.size, mtime: o.srcMtime };
    if (o.journals) {
      this.checkpoints = new Checkpoints({
        journals: o.journals, key: this.key, journal: (done, written) => this.journal(done, written), done: this.done,
        dst: o.dst, partial: tmp, createMode: o.createMode, dstHandles: this.dstHandles,
        // A second handle on a file the server writes as a stream starts a second stream.
        oneWriter: () => this.oneWriter,
      });
    }
  }

  /** The host takes writes only in offset order: one handle, no gaps. */
  private get inOrder(): boolean {
    return this.o.dst.writeOrder === 'in-order';
  }

  /** One handle writes the file: in order, or a server that keeps a file per handle. */
  private get oneWriter(): boolean {
    return this.inOrder || this.o.dst.root.sharedWrites === false;
  }

  async run(): Promise<number> {
    // Only a journal, or an earlier attempt in this run, has anything to resume.
    let resuming = this.o.journals || this.done.size > 0 ? await this.resumePoint() : false;
    // In order, only the part without a gap can be continued; the rest is written again.
    if (resuming && this.inOrder) resuming = this.done.keepContiguous() > 0;
    const truncate = !resuming;
    this.resumedAt = this.done.contiguous;
    let length: number;
    let output: FileHandle;
    // Open the first pair up front (on the least busy lanes, so many small files
    // spread over the sessions) and a missing source or unwritable target fails fast.
    const first = { src: this.o.src.pick(), dst: this.o.dst.pick() };
    const dst0 = first.dst.ep;
    this.dstFirst = first.dst;
    this.dstHandles.set(dst0, this.openPartial(dst0, truncate));
    const src0 = first.src.ep;
    this.srcHandles.set(src0, src0.openRead(this.o.srcPath));
    try {
      let input: FileHandle;
      [output, input] = await Promise.all([this.dstHandles.get(dst0)!, this.srcHandles.get(src0)!]);
      this.checkpoints?.takeFlushSession();
      if (this.o.size <= 4 * this.o.chunk) this.pinned = { ...first, input, output };
      length = await this.pump();
    } catch (err) {
      await this.checkpoints?.afterFailure();
      await this.closeAll(false);
      // A partial we just created and wrote nothing into has no journal and nothing to resume.
      if ((truncate || this.startedOver) && this.done.size === 0) {
        await dst0.unlink(this.tmp).catch(() => undefined);
      }
      throw err;
    }
    // A checkpoint still flushing is not waited for: the journal is about to go anyway.
    if (this.checkpoints) this.checkpoints.finished = true;
    await this.finish(dst0, output, length);
    await dst0.rename(this.tmp, this.o.dstPath);
    if (this.checkpoints) await this.checkpoints.remove();
    return length;
  }

  /**
   * Decide whether the partial from an interrupted run can be trusted: same
   * source, journal consistent with the file, and the last recorded chunk
   * equal on both sides. What the note says was written since the last sync
   * is used only once the partial shows it holds it. Returns true when resuming.
   */
  private async resumePoint(): Promise<boolean> {
    if (this.done.size > 0) return true; // Retrying within this run.
    const j = await this.o.journals?.load(this.key);
    if (!j) return false;
    if (this.o.resume === false) {
      await this.o.journals!.remove(this.key);
      return false;
    }
    const sides = { src: this.o.src.root, srcPath: this.o.srcPath, dst: this.o.dst.root, partial: this.tmp };
    const hinted = unsyncedWrites(j);
    let why = staleReason(j, this.source) ?? (j.dest.partial !== this.tmp ? 'partial file name changed' : null) ?? untrustedReopen(this.o.dst.root) ?? (await checkPartial(sides, j, hinted));
    if (!why) {
      for (const [s, e] of j.done) this.done.add(s, e);
      this.checkpoints!.recorded = j.done;
      // Not synced yet: the journal records them only after this run's next flush.
      if (await holdsWrites(sides, hinted, j.chunk)) for (const [s, e] of hinted) this.done.add(s, e);
      if (this.done.size === 0) why = 'the partial file does not match the source';
    }
    if (why) {
      this.o.onResume?.({ restarted: why });
      await this.o.journals!.remove(this.key);
      return false;
    }
    this.o.onResume?.({ resumedFrom: this.done.size });
    return true;
  }

  private handle(map: Map<Endpoint, Promise<FileHandle>>, lane: Lane, open: () => Promise<FileHandle>): Promise<FileHandle> {
    let h = map.get(lane.ep);
    if (!h) {
      h = open();
      map.set(lane.ep, h);
    }
    return h;
  }

  /** Copies every chunk still missing, then reads on until EOF; resolves to the length. */
  private async pump(): Promise<number> {
    const inflight = new Set<Promise<ChunkResult>>();
    const { chunk } = this.o;
    plan: for (const [start, end] of this.done.missing(this.o.size)) {
      for (let pos = start; pos < end; pos += chunk) {
        if (!(await this.issue(inflight, pos, Math.min(chunk, end - pos), false))) break plan;
      }
    }
    await this.readToEof(inflight);
    await Promise.all(inflight);
    // Reads race: name the first offset the source ended at, not whichever read failed first.
    if (this.eofAt !== undefined && this.eofAt < this.o.size) throw this.eofError(this.eofAt);
    if (this.failure !== undefined) throw this.failure;
    const length = this.eofAt!;
    if (this.dataEnd > length) {
      // One read met the end, a later one found data past it: the file grew while it was read.
      throw new FileError('read', this.o.src.root.side, this.o.srcPath, `changed while being copied (it ended at ${length}, then had data up to ${this.dataEnd})`, {
        hint: 'nothing was put in place; run again to copy it as it is now',
      });
    }
    return length;
  }

  /**
   * Past the planned size, read until the source says EOF, as OpenSSH's sftp
   * does. The first read goes out right behind the last planned chunks, so a
   * file that ends where stat said costs no extra round trip. Each read
   * answered whole at once lets one more go ahead (slow start), so a long file
   * of unknown length is pipelined, not read one round trip per chunk. A
   * source that answers in pieces is read strictly in order instead: /proc
   * files answer a page at a time, and every read not at the offset where the
   * last one stopped makes the kernel regenerate the file up to it.
   */
  private async readToEof(inflight: Set<Promise<ChunkResult>>): Promise<void> {
    const { chunk } = this.o;
    const ahead = new Set<Promise<ChunkResult>>();
    let allowed = 1;
    let len = Math.min(PROBE_BYTES, chunk);
    let next = this.o.size;
    while (this.eofAt === undefined) {
      if (ahead.size >= allowed) {
        await Promise.race(ahead);
        continue;
      }
      // What is already here (resumed, or copied before a reconnect) is not read again.
      const [gap, gapEnd] = this.done.gapFrom(next);
      next = gap;
      // Longer than a small file after all: spread it over the lanes.
      if (next > 4 * chunk) this.pinned = undefined;
      const want = Math.min(len, gapEnd - gap);
      const p = (await this.issue(inflight, next, want, true))?.copied;
      if (!p) return;
      ahead.add(p);
      void p.then((r) => {
        ahead.delete(p);
        if (r.got === want && r.reads === 1) allowed++;
      });
      next += want;
      len = chunk;
    }
  }

  /**
   * Starts one chunk's copy once the window has room. Resolves to the
   * request (wrapped, as a promise resolved with a promise would wait for
   * it), or undefined once the copy is failing or stopped and nothing more
   * should start.
   */
  private async issue(inflight: Set<Promise<ChunkResult>>, pos: number, len: number, past: boolean): Promise<{ copied: Promise<ChunkResult> } | undefined> {
    const { budget } = this.o;
    if (this.failure !== undefined) return undefined;
    if (this.o.signal?.aborted) {
      this.failure = new InterruptedError('interrupted');
      return undefined;
    }
    if (!budget.tryAcquire(len)) await budget.acquire(len);
    if (this.failure !== undefined) {
      budget.release(len, false);
      return undefined;
    }
    const p: Promise<ChunkResult> = this.copyChunk(pos, len, past).then(
      (r) => {
        inflight.delete(p);
        budget.release(len, true, r.got);
        return r;
      },
      (err) => {
        inflight.delete(p);
        this.failure ??= err;
        budget.release(len, false);
        return FAILED;
      },
    );
    inflight.add(p);
    return { copied: p };
  }

  private eofError(at: number): FileError {
    return new FileError('read', this.o.src.root.side, this.o.srcPath, `unexpected end of file at ${at} of ${this.o.size}`, {
      hint: 'the file shrank while it was being copied; run again to copy it as it is now',
    });
  }

  /**
   * Copies [pos, pos+len). Past the planned size (`past`) the source may end
   * inside it: then what was there is copied.
   */
  private async copyChunk(pos: number, len: number, past: boolean): Promise<ChunkResult> {
    const pinned = this.pinned;
    const srcLane = pinned?.src ?? this.o.src.pick();
    const dstLane = pinned?.dst ?? (this.oneWriter ? this.dstFirst! : this.o.dst.pick());
    // Claimed now, in the pump's offset order: the write waits for its turn on the handle.
    const turn = this.writes.claim(dstLane.ep);
    srcLane.inflight++;
    dstLane.inflight++;
    // A probe or a small file takes a small buffer, so it holds no chunk-sized one.
    let buf: Buffer | undefined = this.o.buffers.get(len);
    let got = 0;
    let reads = 0;
    try {
      const input = pinned ? pinned.input : await this.handle(this.srcHandles, srcLane, () => srcLane.ep.openRead(this.o.srcPath));
      // A server may answer with fewer bytes than asked: ask again for the rest, until EOF.
      while (got < len) {
        const n = await srcLane.ep.read(input, buf!, got, len - got, pos + got);
        reads++;
        if (n === 0) {
          this.eofAt = Math.min(this.eofAt ?? Infinity, pos + got);
          if (!past) throw this.eofError(pos + got);
          break;
        }
        got += n;
      }
      if (got === 0) return { got, reads };
      this.dataEnd = Math.max(this.dataEnd, pos + got);
      if (this.o.limiter && !(await this.o.limiter.take(got, this.o.signal))) throw new InterruptedError('interrupted');
      // Never truncate from a second lane: the first open already decided that.
      const output = pinned ? pinned.output : await this.handle(this.dstHandles, dstLane, () =>
        dstLane.ep.openWrite(this.tmp, { mode: this.o.createMode & 0o777, truncate: false }).catch((err) => {
          throw this.secondHandleFailed(err);
        }));
      await turn.ready();
      // Awaited below, with nothing asynchronous in between: no unhandled rejection meanwhile.
      const written = dstLane.ep.write(output, buf!, 0, got, pos);
      turn.done();
      if (dstLane.ep.copiesWrites && got <= dstLane.ep.limits.maxWrite) {
        // The data is already copied into the outgoing packet: the buffer can serve
        // the next request now, so memory is one window, not two.
        this.o.buffers.put(buf!);
        buf = undefined;
      }
      try {
        await written;
      } catch (err) {
        throw this.writeFailed(err, pos);
      }
    } finally {
      turn.done();
      if (buf) this.o.buffers.put(buf);
      srcLane.inflight--;
      dstLane.inflight--;
    }
    this.done.add(pos, pos + got);
    this.o.onBytes?.(got);
    this.checkpoints?.wrote(got);
    return { got, reads };
  }

  /** A failed write that says the server takes writes only in order becomes an OutOfOrderWrite. */
  private writeFailed(err: unknown, pos: number): unknown {
    // In order, the one write that can still be refused as out of order is the first one
    // past a resumed part: a stream server cannot continue a file; it must start over.
    if (this.inOrder && (this.startedAt0 || pos !== this.resumedAt)) return err;
    const why = outOfOrderReason(err, pos, this.done.contiguous, this.o.dst.root.sharedWrites === true);
    return why ? new OutOfOrderWrite(why, err) : err;
  }

  /** A server that refuses a lane its own handle on the file takes one writer at a time: in order. */
  private secondHandleFailed(err: unknown): unknown {
    if (this.inOrder || !(err instanceof FileError) || err.side !== 'remote' || isNotFound(err)) return err;
    return new OutOfOrderWrite(`the server refused a second handle on the file ("${err.reason}")`, err);
  }

  /**
   * Open the partial; one to resume into that the server will not reopen for
   * writing (servers that write files as streams refuse a reopen without
   * truncation) is started over, and the run says why.
   */
  private async openPartial(ep: Endpoint, truncate: boolean): Promise<FileHandle> {
    const mode = this.o.createMode & 0o777;
    try {
      return await ep.openWrite(this.tmp, { mode, truncate });
    } catch (err) {
      if (truncate || !(err instanceof FileError) || isNotFound(err)) throw err;
      this.o.onResume?.({ restarted: `the server refused to reopen the partial file for writing (${err.reason})` });
      this.done.clear();
      this.startedOver = true;
      await this.o.journals?.remove(this.key).catch(() => undefined);
      return ep.openWrite(this.tmp, { mode, truncate: true });
    }
  }

  private journal(done: Range[], written?: Range[]): PartialJournal {
    return {
      version: 1,
      source: this.source,
      dest: { label: this.o.dst.root.label, path: this.o.dstPath, partial: this.tmp },
      chunk: this.o.chunk,
      done,
      written,
    };
  }

  private async closeAll(strict: boolean): Promise<void> {
    // On failure the journal must hold all that is safe, so the last checkpoint is waited for.
    if (!strict) await this.checkpoints?.settled();
    this.checkpoints?.closeSyncer();
    const closes: Promise<void>[] = [];
    for (const [ep, h] of this.srcHandles) closes.push(h.then((x) => ep.close(x), () => undefined));
    // A remote server may report a failed write only at close: on success it must count.
    for (const [ep, h] of this.dstHandles) closes.push(h.then((x) => ep.close(x), () => undefined));
    const results = await Promise.allSettled(closes);
    if (strict) for (const r of results) if (r.status === 'rejected') throw r.reason;
  }

  /**
   * A source written to while it was read would leave a mix of old and new
   * bytes under the final name: refuse it (the rerun copies it as it is then).
   * Its stat now is compared with its stat then, never with the length read:
   * a stat that understates the length, unchanged, is the source holding
   * still. One that vanished after it was opened was read whole through the
   * open handle, so that copy stands.
   */
  private async verifySourceUnchanged(): Promise<void> {
    const src = this.o.src.root;
    let now;
    try {
      now = await src.stat(this.o.srcPath);
    } catch (err) {
      if (isNotFound(err)) return;
      throw err;
    }
    // Compare only what both stats carry (some servers list no times).
    const moved = Number.isFinite(now.mtime) && Number.isFinite(this.o.srcMtime) && now.mtime !== this.o.srcMtime;
    // A size of 0 said "read and see" (/proc, FUSE): a size there now is no change of content.
    const resized = this.o.size !== 0 && now.size !== this.o.size;
    if (resized || moved) {
      const what = resized ? `its size went from ${this.o.size} to ${now.size}` : 'it was modified';
      throw new FileError('read', src.side, this.o.srcPath, `changed while being copied (${what})`, {
        hint: 'nothing was put in place; run again to copy it as it is now',
      });
    }
  }

  /**
   * Every write is acknowledged, so the file is final: set its attributes
   * (-p) and ask its size on the first handle, and close every handle, all
   * sent back to back, with whether the source stayed put asked alongside:
   * one round trip. A server answers the requests on one handle in order
   * (OpenSSH's sftp also sets attributes before the close). The first handle
   * sees every write: all are acknowledged, and where the host takes one
   * writer per file (write-order.ts) it is the only one. This is where a copy
   * counts as complete: any failure here fails it, and nothing is renamed.
   */
  private async finish(dst: Endpoint, h: FileHandle, length: number): Promise<void> {
    const want = this.o.preserve;
    const [set, size, closed, source] = await Promise.allSettled([
      want && dst.fsetstat ? dst.fsetstat(h, want) : undefined,
      dst.fstat ? dst.fstat(h) : dst.stat(this.tmp),
      this.closeAll(true),
      this.verifySourceUnchanged(),
    ]);
    // A close can report a failed write, and a changed source makes the rest moot: those first.
    for (const r of [closed, source]) if (r.status === 'rejected') throw r.reason;
    await this.verifySize(size.status === 'fulfilled' ? size.value : await byPathIfUnsupported(size.reason, () => dst.stat(this.tmp)), length);
    if (set.status === 'rejected') await byPathIfUnsupported(set.reason, () => dst.setstat(this.tmp, want!));
    else if (want && !dst.fsetstat) await dst.setstat(this.tmp, want);
  }

  private async verifySize(st: FileAttrs, length: number): Promise<void> {
    if (st.size !== length) {
      // The partial holds bytes past the end (an earlier run saw the source longer): resuming it would fail again.
      await this.checkpoints?.remove();
      throw new FileError('write', this.o.dst.root.side, this.o.dstPath, `size is ${st.size} after the copy, expected ${length}`, {
        hint: 'run again to copy it over from the start',
      });
    }
  }
}

/**
 * A request on a handle that the server does not offer (SSH_FX_OP_UNSUPPORTED)
 * is made by path, once the file is closed; any other failure stands.
 */
function byPathIfUnsupported<T>(err: unknown, byPath: () => Promise<T>): Promise<T> {
  if (err instanceof FileError && err.code === SSH_FX_OP_UNSUPPORTED) return byPath();
  throw err;
}
const SSH_FX_OP_UNSUPPORTED = 8;

/**
 * Why a partial on this server is not continued, if it is not. Only OpenSSH's
 * sftp-server is known to reopen a file as it is: rclone serve sftp with a
 * write cache reopened a partial as zeros up to where the rerun continued, and
 * the last-chunk check (a read) could not see it.
 */
function untrustedReopen(ep: Endpoint): string | null {
  return ep.sharedWrites === false ? "the server is not OpenSSH's sftp-server, so a reopened partial is not trusted" : null;
}
