/**
 * Copy one regular file between two endpoints. Chunks are requested as the
 * run's window allows, spread over the lanes of each side; data goes to a
 * hidden partial name that is renamed into place only when every byte is
 * there, so nothing incomplete ever appears under the final name. With a
 * journal, progress is checkpointed (partial synced first) so an interrupted
 * copy resumes where it stopped.
 */
import { createHash } from 'node:crypto';
import { ConnectionError, FileError, InterruptedError, renameFileError } from '../errors.js';
import type { BufferPool, InflightBudget } from './budget.js';
import type { Endpoint, FileHandle } from './endpoint.js';
import { isNotFound } from './endpoint.js';
import { journalKey, staleReason, type JournalStore, type PartialJournal, type SourceIdentity } from './journal.js';
import type { Lane, LanePool } from './lanes.js';
import { partialName } from './names.js';
import { RangeSet } from './ranges.js';
import type { RateLimiter } from './rate-limit.js';
import { OutOfOrderWrite, outOfOrderReason, WriteSequencer } from './write-order.js';

export interface CopyFileOptions {
  src: LanePool;
  srcPath: string;
  /** Bytes to copy: the size stat reported when the file was chosen. */
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

/** Checkpoint the journal after this many bytes or milliseconds, whichever first. */
const CHECKPOINT_BYTES = 16 * 1024 * 1024;
const CHECKPOINT_MS = 1000;

export async function copyFile(o: CopyFileOptions): Promise<void> {
  const tmp = partialName(o.dstPath);
  try {
    await new FileCopy(o, tmp).run();
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
  private sinceCheckpoint = 0;
  private lastCheckpoint = performance.now();
  private checkpointing?: Promise<void>;
  /** Small files stay on one lane pair: one open per side, not one per lane. */
  private pinned?: { src: Lane; dst: Lane };
  /** Lowest offset a read found the end of the source at, if any did. */
  private eofAt?: number;
  /**
   * Where checkpoints flush the partial: a handle on a session of its own.
   * A server-side fsync of a big file can take a second, and the session
   * doing it answers nothing else meanwhile: no data lane should wait.
   */
  private syncer?: { ep: Endpoint; h: FileHandle };
  private handlesClosed = false;
  /** Set once every byte is written: a checkpoint still flushing then records nothing. */
  private finished = false;
  private saving?: Promise<void>;
  private readonly startedAt = performance.now();
  private syncerAsked = false;
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
  }

  /** The host takes writes only in offset order: one handle, no gaps. */
  private get inOrder(): boolean {
    return this.o.dst.writeOrder === 'in-order';
  }

  /** One handle writes the file: in order, or a server that keeps a file per handle. */
  private get oneWriter(): boolean {
    return this.inOrder || this.o.dst.root.sharedWrites === false;
  }

  async run(): Promise<void> {
    let resuming = await this.resumePoint();
    // In order, only the part without a gap can be continued; the rest is written again.
    if (resuming && this.inOrder) resuming = this.done.keepContiguous() > 0;
    const truncate = !resuming;
    this.resumedAt = this.done.contiguous;
    // Open the first pair up front (on the least busy lanes, so many small files
    // spread over the sessions) and a missing source or unwritable target fails fast.
    const first = { src: this.o.src.pick(), dst: this.o.dst.pick() };
    const dst0 = first.dst.ep;
    this.dstFirst = first.dst;
    this.dstHandles.set(dst0, this.openPartial(dst0, truncate));
    const src0 = first.src.ep;
    this.srcHandles.set(src0, src0.openRead(this.o.srcPath));
    try {
      await Promise.all([this.dstHandles.get(dst0), this.srcHandles.get(src0)]);
      if (this.o.size <= 4 * this.o.chunk) this.pinned = first;
      await this.pump();
    } catch (err) {
      await this.checkpoint().catch(() => undefined);
      await this.closeAll(false);
      // A partial we just created and wrote nothing into has no journal and nothing to resume.
      if ((truncate || this.startedOver) && this.done.size === 0) {
        await dst0.unlink(this.tmp).catch(() => undefined);
      }
      throw err;
    }
    // All writes are acknowledged, so the size is final: ask for it, and whether the source
    // stayed put, alongside the closes (one round trip). This is where a copy counts as complete.
    // A checkpoint still flushing is not waited for: the journal is about to go anyway.
    this.finished = true;
    await Promise.all([this.closeAll(true), this.verifySize(dst0), this.verifySourceUnchanged()]);
    const dst = dst0;
    if (this.o.preserve) {
      await dst.setstat(this.tmp, { mode: this.o.preserve.mode, atime: this.o.preserve.atime, mtime: this.o.preserve.mtime });
    }
    await dst.rename(this.tmp, this.o.dstPath);
    await this.saving?.catch(() => undefined);
    await this.o.journals?.remove(this.key).catch(() => undefined);
  }

  /**
   * Decide whether the partial from an interrupted run can be trusted: same
   * source, journal consistent with the file, and the last recorded chunk
   * equal on both sides. Returns true when resuming.
   */
  private async resumePoint(): Promise<boolean> {
    if (this.done.size > 0) return true; // Retrying within this run.
    const j = await this.o.journals?.load(this.key);
    if (!j) return false;
    if (this.o.resume === false) {
      await this.o.journals!.remove(this.key);
      return false;
    }
    const why = staleReason(j, this.source) ?? (j.dest.partial !== this.tmp ? 'partial file name changed' : null) ?? untrustedReopen(this.o.dst.root) ?? (await this.checkPartial(j));
    if (why) {
      this.o.onResume?.({ restarted: why });
      await this.o.journals!.remove(this.key);
      return false;
    }
    for (const [s, e] of j.done) this.done.add(s, e);
    this.o.onResume?.({ resumedFrom: this.done.size });
    return this.done.size > 0;
  }

  private async checkPartial(j: PartialJournal): Promise<string | null> {
    if (j.done.length === 0) return 'nothing was recorded as copied';
    const dst = this.o.dst.root;
    const src = this.o.src.root;
    let size: number;
    try {
      size = (await dst.stat(this.tmp)).size;
    } catch (err) {
      if (isNotFound(err)) return 'the partial file is gone';
      throw err;
    }
    const end = j.done[j.done.length - 1][1];
    if (size < end) return `the partial file is shorter (${size}) than recorded (${end})`;
    const start = Math.max(j.done[j.done.length - 1][0], end - j.chunk);
    const [a, b] = await Promise.all([hashRange(src, this.o.srcPath, start, end), hashRange(dst, this.tmp, start, end)]);
    return a === b ? null : 'the partial file does not match the source';
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

  private handle(map: Map<Endpoint, Promise<FileHandle>>, lane: Lane, open: () => Promise<FileHandle>): Promise<FileHandle> {
    let h = map.get(lane.ep);
    if (!h) {
      h = open();
      map.set(lane.ep, h);
    }
    return h;
  }

  private async pump(): Promise<void> {
    const inflight = new Set<Promise<void>>();
    const { chunk, budget } = this.o;
    outer: for (const [start, end] of this.done.missing(this.o.size)) {
      for (let pos = start; pos < end; pos += chunk) {
        if (this.failure !== undefined) break outer;
        if (this.o.signal?.aborted) {
          this.failure = new InterruptedError('interrupted');
          break outer;
        }
        const len = Math.min(chunk, end - pos);
        await budget.acquire(len);
        if (this.failure !== undefined) {
          budget.release(len, false);
          break outer;
        }
        const p: Promise<void> = this.copyChunk(pos, len).then(
          () => budget.release(len, true),
          (err) => {
            this.failure ??= err;
            budget.release(len, false);
          },
        ).finally(() => inflight.delete(p));
        inflight.add(p);
      }
    }
    await Promise.all(inflight);
    // Reads race: name the first offset the source ended at, not whichever read failed first.
    if (this.eofAt !== undefined) throw this.eofError(this.eofAt);
    if (this.failure !== undefined) throw this.failure;
  }

  private eofError(at: number): FileError {
    return new FileError('read', this.o.src.root.side, this.o.srcPath, `unexpected end of file at ${at} of ${this.o.size}`, {
      hint: 'the file shrank while it was being copied; run again to copy it as it is now',
    });
  }

  private async copyChunk(pos: number, len: number): Promise<void> {
    const srcLane = this.pinned?.src ?? this.o.src.pick();
    const dstLane = this.pinned?.dst ?? (this.oneWriter ? this.dstFirst! : this.o.dst.pick());
    // Claimed now, in the pump's offset order: the write waits for its turn on the handle.
    const turn = this.writes.claim(dstLane.ep);
    srcLane.inflight++;
    dstLane.inflight++;
    let buf: Buffer | undefined = this.o.buffers.get();
    try {
      const input = await this.handle(this.srcHandles, srcLane, () => srcLane.ep.openRead(this.o.srcPath));
      let got = 0;
      // A server may answer with fewer bytes than asked: ask again for the rest.
      while (got < len) {
        const n = await srcLane.ep.read(input, buf!, got, len - got, pos + got);
        if (n === 0) {
          this.eofAt = Math.min(this.eofAt ?? Infinity, pos + got);
          throw this.eofError(pos + got);
        }
        got += n;
      }
      if (this.o.limiter && !(await this.o.limiter.take(len, this.o.signal))) throw new InterruptedError('interrupted');
      // Never truncate from a second lane: the first open already decided that.
      const output = await this.handle(this.dstHandles, dstLane, () =>
        dstLane.ep.openWrite(this.tmp, { mode: this.o.createMode & 0o777, truncate: false }).catch((err) => {
          throw this.secondHandleFailed(err);
        }));
      await turn.ready();
      const written = dstLane.ep.write(output, buf, 0, len, pos).catch((err) => {
        throw this.writeFailed(err, pos);
      });
      turn.done();
      if (dstLane.ep.copiesWrites && len <= dstLane.ep.limits.maxWrite) {
        // The data is already copied into the outgoing packet: the buffer can serve
        // the next request now, so memory is one window, not two.
        this.o.buffers.put(buf);
        buf = undefined;
      }
      await written;
    } finally {
      turn.done();
      if (buf) this.o.buffers.put(buf);
      srcLane.inflight--;
      dstLane.inflight--;
    }
    this.done.add(pos, pos + len);
    this.o.onBytes?.(len);
    this.sinceCheckpoint += len;
    if (this.sinceCheckpoint >= CHECKPOINT_BYTES || performance.now() - this.lastCheckpoint >= CHECKPOINT_MS) {
      this.checkpointing ??= this.checkpoint().catch(() => undefined).finally(() => (this.checkpointing = undefined));
    }
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

  /** Sync what is written, then record it: the journal never runs ahead of the disk. */
  private async checkpoint(): Promise<void> {
    const journals = this.o.journals;
    if (!journals || this.done.size === 0) return;
    await this.checkpointing;
    this.sinceCheckpoint = 0;
    this.lastCheckpoint = performance.now();
    const snapshot = this.done.toJSON();
    // Asked at the first checkpoint, once the rate says how long the file has left to go;
    // data goes on meanwhile, only this first record waits for the session.
    if (!this.syncerAsked) {
      this.syncerAsked = true;
      await this.openSyncer(this.secsLeft());
    }
    await this.flush();
    if (this.finished) return;
    this.saving = journals.save(this.key, {
      version: 1,
      source: this.source,
      dest: { label: this.o.dst.root.label, path: this.o.dstPath, partial: this.tmp },
      chunk: this.o.chunk,
      done: snapshot,
    });
    await this.saving;
  }

  /**
   * Flush the partial to stable storage. fsync acts on the file, not the
   * handle, so one handle flushes what every lane wrote. A server without
   * fsync@openssh.com makes it a no-op; one that fails it (EIO, a dropped
   * link) must not have its data marked as safe, so failures propagate.
   */
  private async flush(): Promise<void> {
    // Until its session is open (or if it never opens), a data handle does it.
    const own = this.syncer;
    if (own) {
      try {
        return await own.ep.fsync!(own.h);
      } catch (err) {
        // A disk error is the answer; only a dead session means: flush another way.
        if (!(err instanceof ConnectionError)) throw err;
        this.syncer = undefined;
        this.o.dst.dropSpare(own.ep);
      }
    }
    for (const [ep, h] of this.dstHandles) {
      const handle = await h.catch(() => undefined);
      if (handle && ep.fsync) return ep.fsync(handle);
    }
  }

  /** Seconds this copy has left at its rate so far. */
  private secsLeft(): number {
    const secs = (performance.now() - this.startedAt) / 1000;
    const rate = this.done.size / Math.max(secs, 1e-3);
    return rate > 0 ? Math.max(0, this.o.size - this.done.size) / rate : Infinity;
  }

  private async openSyncer(secsLeft: number): Promise<void> {
    try {
      // Nothing to flush with (no fsync@openssh.com), or a host that takes writes only in
      // order: a second handle on a file the server writes as a stream starts a second stream.
      if (this.oneWriter || !this.o.dst.root.fsync) return;
      const ep = await this.o.dst.spare(secsLeft);
      if (!ep?.fsync) return;
      // Never created here: this open may reach the server after the partial is renamed or removed.
      const h = await ep.openWrite(this.tmp, { mode: this.o.createMode & 0o777, truncate: false, create: false });
      if (this.handlesClosed) await ep.close(h);
      else this.syncer = { ep, h };
    } catch {
      // No session of its own: checkpoints flush through a data handle.
    }
  }

  private async closeAll(strict: boolean): Promise<void> {
    // On failure the journal must hold all that is safe, so the last checkpoint is waited for.
    if (!strict) await this.checkpointing?.catch(() => undefined);
    // The flush handle wrote nothing, so its close reports nothing: never wait behind its flush.
    this.handlesClosed = true;
    if (this.syncer) void this.syncer.ep.close(this.syncer.h).catch(() => undefined);
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
   * One that vanished after it was opened was read whole through the open
   * handle, so that copy stands.
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
    if (now.size !== this.o.size || moved) {
      const what = now.size !== this.o.size ? `its size went from ${this.o.size} to ${now.size}` : 'it was modified';
      throw new FileError('read', src.side, this.o.srcPath, `changed while being copied (${what})`, {
        hint: 'nothing was put in place; run again to copy it as it is now',
      });
    }
  }

  private async verifySize(dst: Endpoint): Promise<void> {
    const st = await dst.stat(this.tmp);
    if (st.size !== this.o.size) {
      throw new FileError('write', this.o.dst.root.side, this.o.dstPath, `size is ${st.size} after the copy, expected ${this.o.size}`);
    }
  }
}

/**
 * Why a partial on this server is not continued, if it is not. Only OpenSSH's
 * sftp-server is known to reopen a file as it is: rclone serve sftp with a
 * write cache reopened a partial as zeros up to where the rerun continued, and
 * the last-chunk check (a read) could not see it.
 */
function untrustedReopen(ep: Endpoint): string | null {
  return ep.sharedWrites === false ? "the server is not OpenSSH's sftp-server, so a reopened partial is not trusted" : null;
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
