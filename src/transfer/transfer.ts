/**
 * One run of copies: walks sources, creates directories, queues files and
 * copies several at once. It reports through events and counters only; the
 * command layer decides what to draw. Per-file failures are recorded and the
 * run goes on (as scp); connection-level failures stop it.
 */
import { EventEmitter } from 'node:events';
import { FerryError, FileError, InterruptedError, isFatal } from '../errors.js';
import { copyFile } from './copy-file.js';
import type { Endpoint, FileAttrs } from './endpoint.js';
import { createLimit } from './limit.js';
import { joinPath, suspectNameReason } from './names.js';
import type { RateLimiter } from './rate-limit.js';

export interface CopyJob {
  src: Endpoint;
  srcPath: string;
  dst: Endpoint;
  /** The final path of this item on the destination (file or directory). */
  dstPath: string;
}

export interface TransferOptions {
  recursive?: boolean;
  preserve?: boolean;
  /** Bytes per request; capped by both endpoints' limits. */
  chunkSize?: number;
  /** Requests in flight per file. */
  maxInflight?: number;
  /** Files copied at once, so small files do not wait one round trip each. */
  fileConcurrency?: number;
  limiter?: RateLimiter;
  signal?: AbortSignal;
}

export interface FileEvent {
  src: string;
  dst: string;
  size: number;
}

export interface TransferStats {
  filesTotal: number;
  filesDone: number;
  filesFailed: number;
  bytesTotal: number;
  bytesDone: number;
  startedAt: number;
}

/** Deeper than this is taken as a loop (symlinks) or a hostile endless tree. */
export const MAX_DEPTH = 64;

export class Transfer extends EventEmitter {
  readonly stats: TransferStats = { filesTotal: 0, filesDone: 0, filesFailed: 0, bytesTotal: 0, bytesDone: 0, startedAt: Date.now() };
  readonly errors: FerryError[] = [];
  /** Files being copied now and their bytes so far, for progress displays to sample. */
  readonly active = new Map<FileEvent, { bytes: number }>();
  private readonly opts: TransferOptions;
  private readonly limitFiles: <T>(fn: () => Promise<T>) => Promise<T>;
  private readonly abort = new AbortController();

  constructor(opts: TransferOptions = {}) {
    super();
    this.opts = opts;
    this.limitFiles = createLimit(opts.fileConcurrency ?? 4);
    opts.signal?.addEventListener('abort', () => this.abort.abort(), { once: true });
  }

  /** Resolves when every job is done; rejects only on a fatal error. */
  async run(jobs: CopyJob[]): Promise<void> {
    this.checkAbort();
    const results = await Promise.allSettled(jobs.map((job) => this.guard(job.srcPath, () => this.copyItem(job, 0))));
    for (const r of results) if (r.status === 'rejected') throw r.reason;
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

  private async copyItem(job: CopyJob, depth: number, known?: FileAttrs): Promise<void> {
    // Follow symlinks, as scp does for what it copies.
    const attrs = known && known.kind !== 'symlink' ? known : await job.src.stat(job.srcPath);
    if (attrs.kind === 'dir') {
      if (!this.opts.recursive) {
        throw new FileError('copy', job.src.side, job.srcPath, 'is a directory', { hint: 'use -r to copy directories' });
      }
      return this.copyDir(job, attrs, depth);
    }
    if (attrs.kind !== 'file') throw new FileError('copy', job.src.side, job.srcPath, 'not a regular file');
    return this.limitFiles(() => this.copyOne(job, attrs));
  }

  private async copyDir(job: CopyJob, attrs: FileAttrs, depth: number): Promise<void> {
    if (depth >= MAX_DEPTH) {
      throw new FileError('copy', job.src.side, job.srcPath, `directory tree deeper than ${MAX_DEPTH} levels`, {
        hint: 'a symlink loop or an endless tree on the server',
      });
    }
    await this.ensureDir(job.dst, job.dstPath, attrs);
    const entries = await job.src.readdir(job.srcPath);
    const tasks: Promise<void>[] = [];
    for (const entry of entries) {
      this.checkAbort();
      const srcPath = joinPath(job.srcPath, entry.name);
      const reason = suspectNameReason(entry.name);
      if (reason) {
        tasks.push(this.guard(srcPath, async () => {
          throw new FileError('list', job.src.side, job.srcPath, `suspect name ${JSON.stringify(entry.name)} refused: ${reason}`);
        }));
        continue;
      }
      const child: CopyJob = { src: job.src, srcPath, dst: job.dst, dstPath: joinPath(job.dstPath, entry.name) };
      tasks.push(this.guard(srcPath, () => this.copyItem(child, depth + 1, entry.attrs)));
    }
    const results = await Promise.allSettled(tasks);
    for (const r of results) if (r.status === 'rejected') throw r.reason;
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

  private async copyOne(job: CopyJob, attrs: FileAttrs): Promise<void> {
    this.checkAbort();
    const started = Date.now();
    const ev: FileEvent = { src: job.srcPath, dst: job.dstPath, size: attrs.size };
    this.stats.filesTotal++;
    this.stats.bytesTotal += attrs.size;
    const live = { bytes: 0 };
    this.active.set(ev, live);
    this.emit('file-start', ev);
    let sent = 0;
    try {
      await copyFile({
        src: job.src,
        srcPath: job.srcPath,
        size: attrs.size,
        dst: job.dst,
        dstPath: job.dstPath,
        createMode: attrs.mode,
        preserve: this.opts.preserve ? { mode: attrs.mode & 0o777, atime: attrs.atime, mtime: attrs.mtime } : undefined,
        chunkSize: Math.min(this.opts.chunkSize ?? 256 * 1024, job.src.limits.maxRead, job.dst.limits.maxWrite),
        maxInflight: this.opts.maxInflight ?? 64,
        limiter: this.opts.limiter,
        signal: this.abort.signal,
        onBytes: (n) => {
          sent += n;
          live.bytes = sent;
          this.stats.bytesDone += n;
        },
      });
    } catch (err) {
      this.active.delete(ev);
      // Keep the overall bar honest: what this file will not deliver is not pending.
      this.stats.bytesTotal -= attrs.size - sent;
      throw err;
    }
    this.active.delete(ev);
    this.stats.filesDone++;
    this.emit('file-done', { ...ev, bytes: sent, ms: Date.now() - started });
  }
}
