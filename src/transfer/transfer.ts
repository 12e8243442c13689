/**
 * One run of copies: walks sources, creates directories, queues files and
 * copies several at once. It reports through events and counters only; the
 * command layer decides what to draw. Per-file failures are recorded and the
 * run goes on (as scp); connection-level failures stop it.
 */
import { EventEmitter } from 'node:events';
import { FerryError, FileError, InterruptedError, isFatal, isRetryable } from '../errors.js';
import { BufferPool, InflightBudget } from './budget.js';
import { copyFile } from './copy-file.js';
import type { Endpoint, FileAttrs } from './endpoint.js';
import type { JournalStore } from './journal.js';
import { planLanes } from './lane-policy.js';
import { LanePool } from './lanes.js';
import { createLimit, Room } from './limit.js';
import { RangeSet } from './ranges.js';
import type { RunJournal } from './run-journal.js';
import { baseName, joinPath, suspectNameReason } from './names.js';
import type { RateLimiter } from './rate-limit.js';
import { OutOfOrderWrite } from './write-order.js';
import { preserveShortfall } from './preserve-check.js';

export interface CopyJob {
  src: Endpoint;
  srcPath: string;
  dst: Endpoint;
  /** The final path of this item on the destination (file or directory). */
  dstPath: string;
  /** The source's attributes when the caller listed it already (lstat: a symlink is still stat'ed). */
  attrs?: FileAttrs;
}

export interface TransferOptions {
  recursive?: boolean;
  /** Entries listed in one run before the tree is taken as endless (default MAX_ENTRIES). */
  maxEntries?: number;
  preserve?: boolean;
  /** Bytes per request; capped by both endpoints' limits. */
  chunkSize?: number;
  /** Window bounds in bytes (memory is bounded by the maximum). */
  initialWindow?: number;
  maxWindow?: number;
  /** Parallel sessions per remote side; 1 disables lanes. */
  maxLanes?: number;
  /** Files copied at once, so small files do not wait one round trip each. */
  fileConcurrency?: number;
  /** Files of at most SMALL_FILE bytes copied at once (besides the others). */
  smallFileConcurrency?: number;
  limiter?: RateLimiter;
  signal?: AbortSignal;
  /** Journals for resumable partial files; absent = every copy starts over. */
  journals?: JournalStore;
  /** false: ignore journals of interrupted runs and start every file over (--no-resume). */
  resume?: boolean;
  /** Files an interrupted run of the same command already completed. */
  runJournal?: RunJournal;
  /** Reconnect-and-continue attempts per file after a dropped connection. */
  retries?: number;
  /** First backoff before a reconnect, doubled each time. */
  retryDelayMs?: number;
}

/**
 * A file of at most this size is one chunk: open, write, finish, rename,
 * each a round trip that moves a few KB. Only many of them in flight keep a
 * far link busy: 5,000 files of 1-2 KB synced over a 50 ms round trip took
 * 49 s with 32 at once, 11.5 s with 256 (rsync: 2 s). Near, more only queue
 * in the server and cost memory, so the count follows the round trip: about
 * what the server finishes (one file per ~0.5 ms) while a file waits on its
 * four round trips, between 32 and 256. Each holds a handle open on the
 * server while it is written, and sftp-server's file limit is commonly
 * 1,024, so never more.
 */
const SMALL_FILE = 256 * 1024;
const SMALL_FILES_MIN = 32;
const SMALL_FILES_MAX = 256;
const SMALL_FILES_PER_RTT_MS = 8;
/** Files smaller than this get no journal: restarting them costs less than journaling. */
const JOURNAL_MIN_SIZE = 8 * 1024 * 1024;
/**
 * Lanes per remote side. An upload lane carries the server's channel window
 * (2 MiB in OpenSSH), so 12 keep 125 MB/s in flight over a 100 ms round trip.
 */
const MAX_LANES = 12;
/** The window may hold this many times the link's measured bandwidth-delay product. */
const LINK_HEADROOM = 4;
/** How often lanes are planned again between window decisions. */
const REPLAN_MS = 200;
/** Small files starting plan lanes again at most this often (each plan looks at every file in flight). */
const FILE_START_REPLAN_MS = 20;
/** The window a run starts with, in chunks: 2 MiB, what OpenSSH sftp keeps in flight (64 x 32 KiB). */
const INITIAL_CHUNKS = 8;
/**
 * ...and at least as many requests as sftp keeps (64), up to those 2 MiB: a server without
 * limits@openssh.com (Go's pkg/sftp, rclone serve sftp) gets 32 KiB chunks, and 8 of those
 * started a run at an eighth of what sftp keeps in flight.
 */
const INITIAL_REQUESTS = 64;
const INITIAL_BYTES = 2 * 1024 * 1024;
/** A lane decision: sessions open now, how many the run wants, and why. */
export interface LanesEvent {
  label: string;
  lanes: number;
  want: number;
  reason: string;
}

/** A host's writes switched to one in-order handle per file, and the write that showed it. */
export interface WriteOrderEvent {
  label: string;
  mode: 'in-order';
  path: string;
  reason: string;
}

/** Something the user asked for that a server did not do, though the copy stands (told once per host). */
export interface NoticeEvent {
  label: string;
  path: string;
  message: string;
}

export interface FileEvent {
  src: string;
  dst: string;
  /** What stat said: the plan (0 for /proc-like files, whose length only reading finds). file-done carries the length. */
  size: number;
}

export interface TransferStats {
  filesTotal: number;
  filesDone: number;
  filesFailed: number;
  /** Files an interrupted run had already completed, not sent again. */
  filesSkipped: number;
  bytesSkipped: number;
  bytesTotal: number;
  bytesDone: number;
  startedAt: number;
}

/** The real paths of the directories being walked, innermost first. */
interface Ancestry {
  real: string;
  up?: Ancestry;
}

/** Deeper than this is taken as a loop (symlinks) or a hostile endless tree. */
export const MAX_DEPTH = 64;
/** Entries listed in one run before a tree is taken as endless (a hostile server can branch forever). */
export const MAX_ENTRIES = 5_000_000;
/**
 * Entries of a tree started at once and not done with their own part (a
 * file's copy, a directory's listing): each costs a few KB while it waits, so
 * a tree of millions is walked within this, not all at once.
 */
const ITEMS_AT_ONCE = 1024;
/** Directory listings in flight at once: a wide tree is walked, not flooded. */
const LISTINGS_AT_ONCE = 8;

export class Transfer extends EventEmitter {
  readonly stats: TransferStats = { filesTotal: 0, filesDone: 0, filesFailed: 0, filesSkipped: 0, bytesSkipped: 0, bytesTotal: 0, bytesDone: 0, startedAt: Date.now() };
  readonly errors: FerryError[] = [];
  /** Files being copied now and their bytes so far, for progress displays to sample. */
  readonly active = new Map<FileEvent, { bytes: number }>();
  private readonly opts: TransferOptions;
  private readonly limitFiles: <T>(fn: () => Promise<T>) => Promise<T>;
  private readonly limitSmallFiles: <T>(fn: () => Promise<T>) => Promise<T>;
  private readonly limitListings = createLimit(LISTINGS_AT_ONCE);
  private readonly items = new Room(ITEMS_AT_ONCE);
  private entriesListed = 0;
  /** Set once the entry cap is hit: no directory is listed or created after that. */
  private treeCapped = false;
  private readonly abort = new AbortController();
  private readonly pools = new Map<Endpoint, LanePool>();
  private budget?: InflightBudget;
  private readonly maxWindow: number;
  private buffers?: BufferPool;
  private firstFileAt?: number;
  /** When lanes were last planned (performance.now()). */
  private plannedAt = -Infinity;
  private replan?: NodeJS.Timeout;
  /** Throughput of the window's last measured round, bytes/s. */
  private rate = 0;
  /** Hosts whose -p result was checked (the first file each). */
  private readonly preserveChecked = new Set<Endpoint>();
  /** The gist of the last lane decision told per pool, so -v says each once. */
  private readonly laneReasons = new Map<LanePool, string>();

  constructor(opts: TransferOptions = {}) {
    super();
    this.opts = opts;
    this.limitFiles = createLimit(opts.fileConcurrency ?? 32);
    this.limitSmallFiles = createLimit(opts.smallFileConcurrency ?? (() => this.smallFilesAtOnce()));
    this.maxWindow = opts.maxWindow ?? 24 * 1024 * 1024;
    opts.signal?.addEventListener('abort', () => this.abort.abort(), { once: true });
  }

  /** Small files in flight at once, from the longest round trip measured to a remote side. */
  private smallFilesAtOnce(): number {
    let rtt = 0;
    for (const p of this.pools.values()) rtt = Math.max(rtt, p.root.costs?.().rttMs ?? 0);
    return Math.min(SMALL_FILES_MAX, Math.max(SMALL_FILES_MIN, Math.ceil(rtt * SMALL_FILES_PER_RTT_MS)));
  }

  /**
   * Resolves when every job is done; rejects only on a fatal error. Jobs may
   * arrive while earlier ones are copied (an async iterable, such as sync's
   * walk): each is started as it comes, and the next is taken only while
   * fewer than ITEMS_AT_ONCE are under way, so a long stream is never all
   * started at once.
   */
  async run(jobs: Iterable<CopyJob> | AsyncIterable<CopyJob>): Promise<void> {
    this.checkAbort();
    try {
      const running = new Set<Promise<void>>();
      // A counter, not Promise.race over what runs: that attached a handler to every
      // running job for each new one, a thousand per file once the room was full.
      const room = new Room(ITEMS_AT_ONCE);
      let fatal: { err: unknown } | undefined;
      for await (const job of jobs) {
        const leave = await room.enter();
        if (fatal || this.abort.signal.aborted) {
          leave();
          break;
        }
        const p: Promise<void> = this.guard(job.srcPath, () => this.copyItem(job, 0, job.attrs))
          .catch((err: unknown) => {
            fatal ??= { err };
          })
          .finally(() => {
            running.delete(p);
            leave();
          });
        running.add(p);
      }
      await Promise.all(running);
      if (fatal) throw fatal.err;
      this.checkAbort();
      if (this.errors.length === 0) await this.opts.runJournal?.finish();
      else await this.opts.runJournal?.flush();
    } finally {
      this.budget?.dispose();
      clearInterval(this.replan);
      await Promise.allSettled([...this.pools.values()].map((p) => p.close()));
    }
  }

  private pool(ep: Endpoint): LanePool {
    let p = this.pools.get(ep);
    if (!p) {
      p = new LanePool(ep, this.opts.maxLanes ?? MAX_LANES);
      this.pools.set(ep, p);
    }
    return p;
  }

  /**
   * Open lanes where they pay (lane-policy.ts), and tell the window
   * controller what the channels will carry. Called as the window moves and
   * as files start, so a decision always sees the latest measurements.
   */
  private planLanes(): void {
    this.plannedAt = performance.now();
    // Rates count from the first file's start: connecting and the first session are no work done.
    this.firstFileAt ??= performance.now();
    const secs = Math.max((performance.now() - this.firstFileAt) / 1000, 1e-3);
    for (const p of this.pools.values()) {
      if (!p.root.openLane) continue;
      const costs = p.root.costs?.() ?? {};
      const d = planLanes({
        lanes: p.count,
        max: p.limit,
        laneCapacity: p.laneCapacity(),
        window: this.budget?.window ?? 0,
        rate: this.rate || this.stats.bytesDone / secs,
        rttMs: costs.rttMs,
        openCostMs: costs.laneMs,
        bytesLeft: Math.max(0, this.stats.bytesTotal - this.stats.bytesDone),
        filesActive: this.active.size,
        // Entries listed but not yet copied count too: a tree is walked as it is copied,
        // and its files started so far say little of what the listings already hold.
        filesLeft: Math.max(this.stats.filesTotal, this.entriesListed) - this.stats.filesDone - this.stats.filesFailed - this.stats.filesSkipped,
        fileRate: this.stats.filesDone / secs,
      });
      const said = this.laneReasons.get(p);
      const gist = `${d.want}:${d.reason.split(':')[0]}`;
      if (said !== gist) {
        this.laneReasons.set(p, gist);
        this.emit('lanes', { label: p.root.label, lanes: p.lanes.length, want: d.want, reason: d.reason } satisfies LanesEvent);
      }
      if (d.want > p.count) {
        p.grow(d.want, (lanes) => {
          this.updateCapacity();
          this.emit('lanes', { label: p.root.label, lanes, want: d.want, reason: 'session opened' } satisfies LanesEvent);
        });
      }
      this.prepareFlushSession(p, this.rate || this.stats.bytesDone / secs);
    }
    this.updateCapacity();
    this.fitWindowToLink(Math.max(this.rate, this.stats.bytesDone / secs));
  }

  /**
   * Keep the window within a few times what the link holds (rate x shortest
   * round trip, the largest over the remote sides): more only queues in the
   * server. A 512 MiB loopback download took twice as long with a 24 MiB
   * window as with 4 MiB. Far links are unaffected: at 100 ms the bound is
   * past the memory cap.
   */
  private fitWindowToLink(rate: number): void {
    if (!this.budget || rate <= 0) return;
    let rtt = 0;
    for (const p of this.pools.values()) rtt = Math.max(rtt, p.root.costs?.().rttMs ?? 0);
    if (rtt > 0) this.budget.controller.limitTo(LINK_HEADROOM * rate * (rtt / 1000));
  }

  /**
   * Journaled files flush on a session of their own (copy-file's checkpoints
   * ask for it at their first checkpoint). Opened here, as soon as the rate
   * says a journaled file has enough work left to pay for it, so that first
   * checkpoint finds it open rather than waiting a session start for it.
   */
  private prepareFlushSession(p: LanePool, measured: number): void {
    if (!this.opts.journals || !p.roles.write) return;
    // Before any rate is measured: the most one session carries over the measured round trip,
    // so a file that could end sooner than a session starts (loopback, a LAN) opens none.
    const rtt = p.root.costs?.().rttMs;
    const rate = measured > 0 ? measured : rtt ? (p.laneCapacity() * 1000) / rtt : 0;
    if (rate <= 0) return;
    let biggest = 0;
    for (const [ev, live] of this.active) if (ev.size >= JOURNAL_MIN_SIZE) biggest = Math.max(biggest, ev.size - live.bytes);
    if (biggest > 0) void p.spare(biggest / rate);
  }

  /**
   * What the open channels can carry, while more are being opened: until
   * then flat rounds say nothing about the link. With none coming, the
   * window's plateau is real.
   */
  private updateCapacity(): void {
    if (!this.budget) return;
    let capacity = Infinity;
    for (const p of this.pools.values()) if (p.root.openLane && p.opening) capacity = Math.min(capacity, p.capacity());
    this.budget.controller.capacity = capacity;
  }

  /** One window for the whole run, created with the first file's chunk size. */
  private ensureBudget(chunk: number): { budget: InflightBudget; buffers: BufferPool } {
    if (!this.budget || !this.buffers) {
      this.buffers = new BufferPool(chunk);
      this.budget = new InflightBudget({
        chunk,
        initial: this.opts.initialWindow ?? Math.max(INITIAL_CHUNKS * chunk, Math.min(INITIAL_BYTES, INITIAL_REQUESTS * chunk)),
        max: this.maxWindow,
        onDecision: (d) => {
          this.emit('window', d);
          if (d.throughput > 0) this.rate = d.throughput;
          this.planLanes();
        },
      });
      // Slow start decides only when the window moves: the lanes are also looked at on a
      // timer, so a flat round (or a loaded machine) never leaves them unplanned.
      this.replan = setInterval(() => this.planLanes(), REPLAN_MS);
      this.replan.unref();
    }
    this.updateCapacity();
    return { budget: this.budget, buffers: this.buffers };
  }

  private checkAbort() {
    if (this.abort.signal.aborted) throw this.opts.signal?.aborted ? new InterruptedError('interrupted') : new InterruptedError('stopped');
  }

  /** Records a per-file error and carries on; lets fatal ones through. */
  private async guard(path: string, fn: () => Promise<void>): Promise<void> {
    try {
      await fn();
    } catch (err) {
      if (isFatal(err)) {
        this.abort.abort();
        throw err;
      }
      const e = err instanceof FerryError ? err : new FerryError(`${path}: ${(err as Error).message}`, { cause: err });
      this.errors.push(e);
      this.stats.filesFailed++;
      this.emit('file-error', { path, error: e });
    }
  }

  /** `done` gives back the item's place in the walk once its own part is over (a directory: once listed). */
  private async copyItem(job: CopyJob, depth: number, known?: FileAttrs, parent?: Ancestry, done?: () => void): Promise<void> {
    // Follow symlinks, as scp does for what it copies.
    const viaLink = !known || known.kind === 'symlink';
    const attrs = viaLink ? await job.src.stat(job.srcPath) : known;
    if (attrs.kind === 'dir') {
      if (!this.opts.recursive) {
        throw new FileError('copy', job.src.side, job.srcPath, 'is a directory', { hint: 'use -r to copy directories' });
      }
      return this.copyDir(job, attrs, depth, await this.locate(job, viaLink, parent), done);
    }
    if (attrs.kind !== 'file') throw new FileError('copy', job.src.side, job.srcPath, 'not a regular file');
    return (attrs.size <= SMALL_FILE ? this.limitSmallFiles : this.limitFiles)(() => this.copyOne(job, attrs));
  }

  /**
   * Where a directory about to be walked really is, refusing one reached
   * through a symlink that leads back to a directory being walked (or above
   * it): following it would copy the same tree into itself until MAX_DEPTH,
   * once per loop at every level. Only the top and symlinks need asking.
   */
  private async locate(job: CopyJob, viaLink: boolean, parent?: Ancestry): Promise<Ancestry | undefined> {
    if (!viaLink) return parent && { real: joinPath(parent.real, baseName(job.srcPath)), up: parent };
    const real = await job.src.realpath(job.srcPath).catch(() => undefined);
    // Without a real path (a server without REALPATH) only MAX_DEPTH guards this subtree.
    if (real === undefined) return undefined;
    for (let a = parent; a; a = a.up) {
      if (a.real === real || a.real.startsWith(real.endsWith('/') ? real : `${real}/`)) {
        throw new FileError('copy', job.src.side, job.srcPath, `symlink loop: it leads back to "${real}", which is being copied`, {
          hint: 'the link was not followed; the rest of the tree is copied',
        });
      }
    }
    return { real, up: parent };
  }

  private async copyDir(job: CopyJob, attrs: FileAttrs, depth: number, self?: Ancestry, done?: () => void): Promise<void> {
    if (depth >= MAX_DEPTH) {
      throw new FileError('copy', job.src.side, job.srcPath, `directory tree deeper than ${MAX_DEPTH} levels`, {
        hint: 'a symlink loop or an endless tree on the server',
      });
    }
    // Listed before it is created: a directory that cannot be read leaves no
    // empty copy behind, nor does one the entry cap stopped.
    const cap = this.opts.maxEntries ?? MAX_ENTRIES;
    let crossed = false;
    const entries = await this.limitListings(async () => {
      if (this.treeCapped) return undefined;
      const list = await job.src.readdir(job.srcPath);
      if (this.treeCapped) return undefined;
      this.entriesListed += list.length;
      if (this.entriesListed > cap) this.treeCapped = crossed = true;
      return list;
    });
    // One error for the run, not one per directory still waiting to be listed.
    if (crossed) {
      throw new FileError('list', job.src.side, job.srcPath, `more than ${cap} entries in this run: not listing further`, {
        hint: 'an endless tree on the server, or copy it in parts',
      });
    }
    if (!entries) return;
    await this.ensureDir(job.dst, job.dstPath, attrs);
    // Its own part is over: waiting for its entries must not hold a place they need.
    done?.();
    const tasks: Promise<void>[] = [];
    for (const entry of entries) {
      // Stopped (Ctrl-C, a fatal error elsewhere): start nothing more, but let what
      // started settle below, so no rejection goes unheard and no copy outlives the run.
      if (this.abort.signal.aborted) break;
      const leave = await this.items.enter();
      if (this.abort.signal.aborted) {
        leave();
        break;
      }
      const srcPath = joinPath(job.srcPath, entry.name);
      const reason = suspectNameReason(entry.name);
      if (reason) {
        leave();
        tasks.push(this.guard(srcPath, async () => {
          throw new FileError('list', job.src.side, job.srcPath, `suspect name ${JSON.stringify(entry.name)} refused: ${reason}`);
        }));
        continue;
      }
      const child: CopyJob = { src: job.src, srcPath, dst: job.dst, dstPath: joinPath(job.dstPath, entry.name) };
      tasks.push(this.guard(srcPath, () => this.copyItem(child, depth + 1, entry.attrs, self, leave)).finally(leave));
    }
    const results = await Promise.allSettled(tasks);
    for (const r of results) if (r.status === 'rejected') throw r.reason;
    this.checkAbort();
    if (this.opts.preserve) {
      await job.dst.setstat(job.dstPath, { mode: attrs.mode & 0o777, atime: attrs.atime, mtime: attrs.mtime });
    }
  }

  private async ensureDir(dst: Endpoint, path: string, srcAttrs: FileAttrs): Promise<void> {
    let existing: FileAttrs | undefined;
    try {
      existing = await dst.stat(path);
    } catch (err) {
      if ((err as FileError).code !== 'ENOENT') throw err;
    }
    if (existing && existing.kind !== 'dir') {
      throw new FileError('create directory', dst.side, path, 'exists and is not a directory');
    }
    // We must be able to write into what we create, whatever the source mode says.
    if (!existing) await dst.mkdir(path, (srcAttrs.mode & 0o777) | 0o700);
  }

  /**
   * Run one file's copy; when the link drops, back off, reconnect both sides
   * and continue with the ranges already copied (kept in `progress`).
   */
  private async withRetries<T>(job: CopyJob, attempt: (progress: RangeSet) => Promise<T>): Promise<T> {
    const progress = new RangeSet();
    const retries = this.opts.retries ?? 3;
    for (let n = 0; ; n++) {
      const gens = [job.src.generation ?? 0, job.dst.generation ?? 0];
      try {
        return await attempt(progress);
      } catch (err) {
        const canReconnect = job.src.reconnect || job.dst.reconnect;
        if (!isRetryable(err) || n >= retries || !canReconnect || this.abort.signal.aborted) throw err;
        this.budget?.error();
        const delay = (this.opts.retryDelayMs ?? 1000) * 2 ** n;
        this.emit('retry', { path: job.srcPath, attempt: n + 1, delayMs: delay, reason: (err as Error).message });
        await new Promise((r) => setTimeout(r, delay));
        this.checkAbort();
        await this.pools.get(job.src)?.reset(gens[0]);
        await this.pools.get(job.dst)?.reset(gens[1]);
        // Only the sessions that died are replaced; others keep their generation.
        try {
          await job.src.reconnect?.(gens[0]);
          await job.dst.reconnect?.(gens[1]);
        } catch (e) {
          if (n + 1 >= retries) throw e;
        }
      }
    }
  }

  /**
   * From now on every file to this host goes through one handle, written
   * strictly in offset order; the lanes it has stay for reading. Said once.
   */
  private writeInOrder(pool: LanePool, path: string, reason: string): void {
    if (pool.writeOrder === 'in-order') return;
    pool.writeOrder = 'in-order';
    this.emit('write-order', { label: pool.root.label, mode: 'in-order', path, reason } satisfies WriteOrderEvent);
  }

  /**
   * With -p, the first file copied to each host is looked at again: a server
   * may accept the SETSTAT and apply nothing. Said once per host, as a notice:
   * the data is right, only what -p promised is not.
   */
  private async checkPreserved(job: CopyJob, attrs: FileAttrs): Promise<void> {
    if (this.preserveChecked.has(job.dst)) return;
    this.preserveChecked.add(job.dst);
    const got = await job.dst.stat(job.dstPath).catch(() => undefined);
    const lost = got && preserveShortfall(attrs, got);
    if (!lost) return;
    this.emit('notice', {
      label: job.dst.label,
      path: job.dstPath,
      message: `-p: ${job.dst.label} did not keep the mode and times it was sent for "${job.dstPath}" (${lost}); it ignores such changes, so its copies keep its own`,
    } satisfies NoticeEvent);
  }

  /** Completed by the interrupted run, and still there at its full size? */
  private async alreadyDone(job: CopyJob, attrs: FileAttrs): Promise<boolean> {
    const source = { label: job.src.label, path: job.srcPath, size: attrs.size, mtime: attrs.mtime };
    if (!this.opts.runJournal?.wasCompleted(job.dstPath, source)) return false;
    const there = await job.dst.stat(job.dstPath).catch(() => undefined);
    return there?.kind === 'file' && there.size === attrs.size;
  }

  private async copyOne(job: CopyJob, attrs: FileAttrs): Promise<void> {
    this.checkAbort();
    if (this.opts.runJournal && (await this.alreadyDone(job, attrs))) {
      this.stats.filesSkipped++;
      this.stats.bytesSkipped += attrs.size;
      this.emit('file-skip', { src: job.srcPath, dst: job.dstPath, size: attrs.size, reason: 'completed by the interrupted run' });
      return;
    }
    const started = Date.now();
    const ev: FileEvent = { src: job.srcPath, dst: job.dstPath, size: attrs.size };
    this.stats.filesTotal++;
    this.stats.bytesTotal += attrs.size;
    const live = { bytes: 0 };
    this.active.set(ev, live);
    // What this file adds to bytesTotal: its stat size, more if it reads longer than that.
    let planned = attrs.size;
    const outgrown = () => {
      if (live.bytes <= planned) return;
      this.stats.bytesTotal += live.bytes - planned;
      planned = live.bytes;
    };
    const [srcPool, dstPool] = [this.pool(job.src), this.pool(job.dst)];
    srcPool.roles.read = true;
    dstPool.roles.write = true;
    this.emit('file-start', ev);
    let sent = 0;
    let resumedFrom = 0;
    const chunk = Math.min(this.opts.chunkSize ?? 256 * 1024, job.src.limits.maxRead, job.dst.limits.maxWrite);
    const { budget, buffers } = this.ensureBudget(chunk);
    // A file that is more than a few chunks may want a lane now; thousands of small ones
    // starting one after another need not each plan again (the timer and the window do).
    if (attrs.size > SMALL_FILE || performance.now() - this.plannedAt >= FILE_START_REPLAN_MS) this.planLanes();
    // A server that fails a write out of offset order gets the file again, in order on one handle.
    const onResume = (info: { resumedFrom: number } | { restarted: string }) => {
      if ('resumedFrom' in info) {
        resumedFrom = info.resumedFrom;
        live.bytes = resumedFrom;
        this.stats.bytesTotal -= resumedFrom;
        outgrown();
      } else if (resumedFrom > 0) {
        // Resumed, then started over after all.
        this.stats.bytesTotal += resumedFrom;
        resumedFrom = 0;
        live.bytes = sent;
      }
      this.emit('file-resume', { ...ev, ...info });
    };
    const copy = (progress: RangeSet, resume = this.opts.resume ?? true) => copyFile({
      src: srcPool,
      srcPath: job.srcPath,
      size: attrs.size,
      srcMtime: attrs.mtime,
      dst: dstPool,
      dstPath: job.dstPath,
      createMode: attrs.mode,
      preserve: this.opts.preserve ? { mode: attrs.mode & 0o777, atime: attrs.atime, mtime: attrs.mtime } : undefined,
      chunk: Math.min(chunk, buffers.size),
      budget,
      buffers,
      limiter: this.opts.limiter,
      signal: this.abort.signal,
      journals: attrs.size >= JOURNAL_MIN_SIZE ? this.opts.journals : undefined,
      resume,
      onBytes: (n) => {
        sent += n;
        live.bytes = resumedFrom + sent;
        this.stats.bytesDone += n;
        outgrown();
      },
      onResume,
      progress,
    });
    let length: number;
    try {
      length = await this.withRetries(job, async (progress) => {
        try {
          return await copy(progress);
        } catch (err) {
          if (!(err instanceof OutOfOrderWrite)) throw err;
          this.writeInOrder(dstPool, job.dstPath, err.reason);
          // Started over, not resumed: what several handles wrote, or what a stream
          // server kept of a handle it then closed, is not known to be true any more.
          progress.clear();
          onResume({ restarted: 'the server takes writes only in offset order; the file is written again from the start' });
          return await copy(progress, false);
        }
      });
    } catch (err) {
      this.active.delete(ev);
      // Keep the overall bar honest: what this file will not deliver is not pending.
      this.stats.bytesTotal -= planned - resumedFrom - sent;
      throw err;
    }
    this.active.delete(ev);
    if (this.opts.preserve) await this.checkPreserved(job, attrs);
    this.stats.filesDone++;
    this.opts.runJournal?.markCompleted(job.dstPath, { label: job.src.label, path: job.srcPath, size: attrs.size, mtime: attrs.mtime });
    this.emit('file-done', { ...ev, size: length, bytes: sent, resumedFrom, ms: Date.now() - started });
  }
}
