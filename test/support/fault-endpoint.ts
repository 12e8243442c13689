// An Endpoint that wraps another one (usually a LocalEndpoint) and misbehaves
// on a script: short reads, per-request delays (so completions arrive out of
// order), the k-th read or write failing with a FileError or a dropped link,
// a link cut after N bytes, an abort after N bytes, and a gate that holds
// requests after N bytes until the test releases it. Lanes (openLane) are
// further wrapped endpoints sharing the same script and counters, so the
// engine's multi-session paths run without SSH.
import { ConnectionError, FileError } from '../../src/errors.js';
import type { DirEntry, Endpoint, EndpointLimits, FileAttrs, FileHandle, LinkCosts, SetAttrs, WriteOpenOptions } from '../../src/transfer/endpoint.js';
import { LocalEndpoint } from '../../src/transfer/local.js';
import { mulberry32 } from './fault-proxy.js';

/**
 * 'file': a FileError for that request only. 'connection': the whole link drops
 * (root and lanes) until the root reconnects. 'session': only the session (root
 * or lane) that served the request dies, as when one of several SSH
 * connections drops.
 */
export type FaultKind = 'file' | 'connection' | 'session';

export interface FaultScript {
  /** Seed of the PRNG behind lengths and delays (timing still varies run to run). */
  seed?: number;
  /** Probability (0..1) that a read asks the inner endpoint for a random shorter length. */
  shortReads?: number;
  /** Each read/write waits a random time in [min, max] ms before running: completions reorder. */
  delayMs?: [min: number, max: number];
  /**
   * The k-th read request (1-based, counted over the root and all its lanes)
   * fails; with `onLane`, the k-th read served by a lane (not the root).
   */
  failRead?: Fault;
  /** The k-th write request fails. */
  failWrite?: Fault;
  /** Every fsync fails with a FileError (EIO), as a disk that lost the data would report. */
  failFsync?: boolean;
  /** Each fsync takes this long, and holds its session meanwhile, as sftp-server's does. */
  fsyncDelayMs?: number;
  /** Once this many bytes went through (read + written), the link drops, once. */
  cutAfterBytes?: number;
  /** Once this many bytes went through, abort this controller, once. */
  abortAfterBytes?: { bytes: number; controller: AbortController };
  /** Once this many bytes went through, hold every read/write until `gate.release()`. */
  holdAfterBytes?: number;
  /** Offer reconnect() and a generation, as the SFTP endpoint does. */
  reconnectable?: boolean;
  /** Offer openLane(); lanes wrap `makeLane()` (default: a new LocalEndpoint). */
  lanes?: boolean;
  makeLane?: () => Endpoint;
  /** Advertised limits (default: the inner endpoint's). */
  limits?: EndpointLimits;
  /** Label (default: the inner endpoint's). Journals key on it. */
  label?: string;
  /**
   * What costs() reports as measured. Default with lanes: a 250 ms round trip
   * and free sessions, a long link where lanes pay. (Nothing here caps a
   * lane at a channel window, so only the reported distance makes them pay.)
   */
  costs?: LinkCosts;
  /**
   * Files are written as streams, as rclone serve sftp (Go pkg/sftp over
   * rclone's VFS) writes them: a write must arrive at the end of what its
   * handle wrote ("Illegal seek", SSH_FX_FAILURE, otherwise), and a file
   * cannot be reopened without truncation. Also makes the endpoint
   * report itself as remote, as such servers are.
   */
  streamWrites?: boolean;
  /**
   * With streamWrites: a reopen without truncation is allowed (its stream
   * starts at 0), as rclone allows while the file it is writing still reads
   * as empty; the next write on it past 0 is then refused.
   */
  streamReopen?: boolean;
}

export interface Fault {
  at: number;
  kind: FaultKind;
  onLane?: boolean;
}

/** Counters shared by a root endpoint and its lanes. */
export interface FaultStats {
  readRequests: number;
  writeRequests: number;
  /** Of those, served by lanes. */
  laneReadRequests: number;
  laneWriteRequests: number;
  bytesRead: number;
  bytesWritten: number;
  /** Largest length asked of read()/write(): must stay within the advertised limits. */
  maxReadAsked: number;
  maxWriteAsked: number;
  shortReads: number;
  /** Largest number of requests outstanding at once. */
  maxConcurrent: number;
  /** Requests that completed before one issued earlier: proof of reordering. */
  reorderedCompletions: number;
  lanesOpened: number;
  reconnects: number;
  fsyncs: number;
  /** Of those, made on a session that never wrote (a session kept for flushing). */
  fsyncsOnIdleSessions: number;
  /** Writes that waited on their session behind an fsync. */
  writesBehindFsync: number;
  /** Handles opened and not closed yet (inner handles, whatever the link state). */
  openHandles: number;
  /** streamWrites: writes refused for arriving out of offset order. */
  writesOutOfOrder: number;
  injected: string[];
}

interface Gate {
  /** Resolves once `holdAfterBytes` went through: requests from then on are held. */
  reached: Promise<void>;
  /** Let the held requests go (and any later ones, until close()). */
  release(): void;
  /** Hold requests again from now on; ones already released keep going. */
  close(): void;
}

interface Family {
  script: FaultScript;
  stats: FaultStats;
  rand: () => number;
  /** The link is down: every request fails until the root reconnects. */
  down: boolean;
  cutDone: boolean;
  abortDone: boolean;
  concurrent: number;
  issued: number;
  lastCompleted: number;
  gate: Gate & { open: boolean; hit: boolean; resolveReached: () => void; waiters: (() => void)[] };
}

interface FaultHandle extends FileHandle {
  inner: FileHandle;
  gen: number;
  closed: boolean;
  /** streamWrites: where the next write must land. */
  streamAt?: number;
}

const sleep = (ms: number) => new Promise<void>((r) => setTimeout(r, ms));

function newFamily(script: FaultScript): Family {
  let resolveReached!: () => void;
  const reached = new Promise<void>((r) => (resolveReached = r));
  const gate: Family['gate'] = {
    reached,
    open: true,
    hit: false,
    resolveReached,
    waiters: [],
    release() {
      gate.open = true;
      for (const w of gate.waiters.splice(0)) w();
    },
    close() {
      gate.open = false;
    },
  };
  return {
    script,
    stats: {
      readRequests: 0, writeRequests: 0, laneReadRequests: 0, laneWriteRequests: 0, bytesRead: 0, bytesWritten: 0, maxReadAsked: 0, maxWriteAsked: 0,
      shortReads: 0, maxConcurrent: 0, reorderedCompletions: 0, lanesOpened: 0, reconnects: 0, fsyncs: 0, fsyncsOnIdleSessions: 0, writesBehindFsync: 0, openHandles: 0, writesOutOfOrder: 0, injected: [],
    },
    rand: mulberry32(script.seed ?? 1),
    down: false,
    cutDone: false,
    abortDone: false,
    concurrent: 0,
    issued: 0,
    lastCompleted: 0,
    gate,
  };
}

export class FaultEndpoint implements Endpoint {
  readonly side: Endpoint['side'];
  readonly label: string;
  readonly limits: EndpointLimits;
  generation = 0;
  reconnect?: (seenGeneration: number) => Promise<void>;
  openLane?: () => Promise<Endpoint>;
  private ended = false;
  private dead = false;
  private writes = 0;
  /** The fsync this session is busy with: like sftp-server, it answers nothing else meanwhile. */
  private syncing?: Promise<void>;
  private readonly family: Family;
  private readonly isRoot: boolean;

  constructor(readonly inner: Endpoint = new LocalEndpoint(), script: FaultScript = {}, family?: Family) {
    this.family = family ?? newFamily(script);
    this.isRoot = family === undefined;
    const s = this.family.script;
    this.side = this.family.script.streamWrites ? 'remote' : inner.side;
    this.label = s.label ?? inner.label;
    this.limits = s.limits ?? inner.limits;
    if (s.reconnectable) this.reconnect = (seen) => this.doReconnect(seen);
    if (s.lanes) this.openLane = () => this.doOpenLane();
  }

  get stats(): FaultStats {
    return this.family.stats;
  }

  costs(): LinkCosts {
    const s = this.family.script;
    return s.costs ?? (s.lanes ? { rttMs: 250, laneMs: 0 } : {});
  }

  /** Holds requests once `holdAfterBytes` went through; release() lets them go. */
  get gate(): Gate {
    return this.family.gate;
  }

  /** Is this a lane (opened by openLane), not the root session? */
  get isLane(): boolean {
    return !this.isRoot;
  }

  /** Drop the link now (as if the TCP connection died). */
  cut(reason = 'link cut by test'): void {
    this.family.down = true;
    this.family.stats.injected.push(reason);
  }

  private async doReconnect(seen: number): Promise<void> {
    if (seen !== this.generation) return;
    this.generation++;
    this.dead = false;
    this.family.stats.reconnects++;
    // Lanes of the old session are dead too; the engine drops them on reset.
    if (this.isRoot) this.family.down = false;
  }

  private async doOpenLane(): Promise<Endpoint> {
    if (this.family.down) throw new ConnectionError(`${this.label}: cannot open a lane, link is down`);
    this.family.stats.lanesOpened++;
    const make = this.family.script.makeLane ?? (() => new LocalEndpoint());
    return new FaultEndpoint(make(), this.family.script, this.family);
  }

  private linkError(verb: string, path: string): ConnectionError {
    return new ConnectionError(`${verb} "${path}" on ${this.label}: connection lost (injected)`);
  }

  private checkLink(verb: string, path: string): void {
    if (this.ended) throw this.linkError(verb, `${path}" (session ended`);
    if (this.family.down || this.dead) throw this.linkError(verb, path);
  }

  private live(h: FileHandle, verb: string): FaultHandle {
    const fh = h as FaultHandle;
    if (fh.closed) throw new Error(`test bug or engine bug: ${verb} on closed handle of "${h.path}"`);
    this.checkLink(verb, h.path);
    if (fh.gen !== this.generation) throw this.linkError(verb, `${h.path}" (stale handle`);
    return fh;
  }

  /** Metadata calls pass through, but not over a dead link. */
  private async meta<T>(verb: string, path: string, fn: () => Promise<T>): Promise<T> {
    this.checkLink(verb, path);
    return fn();
  }

  stat(path: string): Promise<FileAttrs> {
    return this.meta('stat', path, () => this.inner.stat(path));
  }
  lstat(path: string): Promise<FileAttrs> {
    return this.meta('stat', path, () => this.inner.lstat(path));
  }
  realpath(path: string): Promise<string> {
    return this.meta('resolve', path, () => this.inner.realpath(path));
  }
  readdir(path: string): Promise<DirEntry[]> {
    return this.meta('list', path, () => this.inner.readdir(path));
  }
  mkdir(path: string, mode?: number): Promise<void> {
    return this.meta('create directory', path, () => this.inner.mkdir(path, mode));
  }
  rename(from: string, to: string): Promise<void> {
    return this.meta('rename', from, () => this.inner.rename(from, to));
  }
  unlink(path: string): Promise<void> {
    return this.meta('remove', path, () => this.inner.unlink(path));
  }
  setstat(path: string, attrs: SetAttrs): Promise<void> {
    return this.meta('set attributes of', path, () => this.inner.setstat(path, attrs));
  }

  async openRead(path: string): Promise<FaultHandle> {
    this.checkLink('open', path);
    const inner = await this.inner.openRead(path);
    this.family.stats.openHandles++;
    return { path, inner, gen: this.generation, closed: false } satisfies FaultHandle;
  }
  async openWrite(path: string, opts: WriteOpenOptions): Promise<FaultHandle> {
    this.checkLink('open', path);
    if (this.family.script.streamWrites && !this.family.script.streamReopen && !opts.truncate) {
      throw new FileError('open', this.side, path, 'Permission denied', { code: 'EACCES' });
    }
    const inner = await this.inner.openWrite(path, opts);
    this.family.stats.openHandles++;
    return { path, inner, gen: this.generation, closed: false, streamAt: 0 } satisfies FaultHandle;
  }

  async close(h: FileHandle): Promise<void> {
    const fh = h as FaultHandle;
    if (fh.closed) throw new Error(`engine bug: "${h.path}" closed twice`);
    fh.closed = true;
    // The inner file is always closed (no fd leak in the test run), but over a
    // dead link or a stale session the close is reported as failed, as SFTP would.
    await this.inner.close(fh.inner);
    this.family.stats.openHandles--;
    this.checkLink('close', h.path);
    if (fh.gen !== this.generation) throw this.linkError('close', `${h.path}" (stale handle`);
  }

  /** On a live, open handle only: one used after its close is an engine bug. */
  async fstat(h: FileHandle): Promise<FileAttrs> {
    const fh = this.live(h, 'stat');
    if (!this.inner.fstat) throw new Error('test bug: the inner endpoint has no fstat');
    return this.inner.fstat(fh.inner);
  }
  async fsetstat(h: FileHandle, attrs: SetAttrs): Promise<void> {
    const fh = this.live(h, 'set attributes of');
    if (!this.inner.fsetstat) throw new Error('test bug: the inner endpoint has no fsetstat');
    return this.inner.fsetstat(fh.inner, attrs);
  }

  async fsync(h: FileHandle): Promise<void> {
    const fh = this.live(h, 'sync');
    this.family.stats.fsyncs++;
    if (this.writes === 0) this.family.stats.fsyncsOnIdleSessions++;
    const delay = this.family.script.fsyncDelayMs;
    if (delay) {
      this.syncing = new Promise((r) => setTimeout(r, delay));
      await this.syncing;
      this.syncing = undefined;
    }
    if (this.family.script.failFsync) {
      this.family.stats.injected.push('fsync');
      throw new FileError('sync', this.side, h.path, 'Input/output error (injected)', { code: 'EIO' });
    }
    await this.inner.fsync?.(fh.inner);
  }

  async end(): Promise<void> {
    this.ended = true;
  }

  async read(h: FileHandle, buf: Buffer, offset: number, length: number, position: number): Promise<number> {
    const f = this.family;
    const all = ++f.stats.readRequests;
    const k = !this.isRoot ? ++f.stats.laneReadRequests : 0;
    f.stats.maxReadAsked = Math.max(f.stats.maxReadAsked, length);
    return this.request('read', h, all, k, f.script.failRead, async (fh) => {
      let ask = length;
      if (length > 1 && f.script.shortReads && f.rand() < f.script.shortReads) {
        ask = 1 + Math.floor(f.rand() * (length - 1));
        f.stats.shortReads++;
      }
      const n = await this.inner.read(fh.inner, buf, offset, ask, position);
      f.stats.bytesRead += n;
      return n;
    });
  }

  async write(h: FileHandle, buf: Buffer, offset: number, length: number, position: number): Promise<void> {
    const f = this.family;
    const all = ++f.stats.writeRequests;
    const k = !this.isRoot ? ++f.stats.laneWriteRequests : 0;
    this.writes++;
    if (f.script.streamWrites) {
      // Judged as the request arrives, in the order it was sent, like a server reading its channel.
      const fh = h as FaultHandle;
      if (position !== fh.streamAt) {
        f.stats.writesOutOfOrder++;
        throw new FileError('write', this.side, h.path, 'Illegal seek', { code: 4 });
      }
      fh.streamAt = position + length;
    }
    if (this.syncing) {
      f.stats.writesBehindFsync++;
      await this.syncing;
    }
    f.stats.maxWriteAsked = Math.max(f.stats.maxWriteAsked, length);
    await this.request('write', h, all, k, f.script.failWrite, async (fh) => {
      await this.inner.write(fh.inner, buf, offset, length, position);
      f.stats.bytesWritten += length;
    });
  }

  /** The common life of a read or write: delay, gate, injected faults, byte triggers. */
  private async request<T>(
    verb: 'read' | 'write',
    h: FileHandle,
    nth: number,
    nthOnLane: number,
    fault: Fault | undefined,
    run: (fh: FaultHandle) => Promise<T>,
  ): Promise<T> {
    const f = this.family;
    const order = ++f.issued;
    f.concurrent++;
    f.stats.maxConcurrent = Math.max(f.stats.maxConcurrent, f.concurrent);
    try {
      const [lo, hi] = f.script.delayMs ?? [0, 0];
      if (hi > 0) await sleep(lo + f.rand() * (hi - lo));
      if (!f.gate.open) await new Promise<void>((r) => f.gate.waiters.push(r));
      const fh = this.live(h, verb);
      const k = fault?.onLane ? nthOnLane : nth;
      if (fault && fault.at === k) {
        f.stats.injected.push(`${verb} #${k}: ${fault.kind}${this.isRoot ? '' : ' (on a lane)'}`);
        if (fault.kind === 'connection') f.down = true;
        if (fault.kind === 'session') this.dead = true;
        if (fault.kind !== 'file') throw this.linkError(verb, h.path);
        throw new FileError(verb, this.side, h.path, `injected failure of ${verb} #${k}`, { code: 'EIO' });
      }
      const value = await run(fh);
      // A reply that arrives after the link died is lost with it.
      this.live(h, verb);
      this.afterBytes();
      if (order < f.lastCompleted) f.stats.reorderedCompletions++;
      f.lastCompleted = Math.max(f.lastCompleted, order);
      return value;
    } finally {
      f.concurrent--;
    }
  }

  private afterBytes(): void {
    const f = this.family;
    const moved = f.stats.bytesRead + f.stats.bytesWritten;
    const s = f.script;
    if (s.cutAfterBytes !== undefined && !f.cutDone && moved >= s.cutAfterBytes) {
      f.cutDone = true;
      this.cut(`cut after ${moved} bytes`);
    }
    if (s.abortAfterBytes && !f.abortDone && moved >= s.abortAfterBytes.bytes) {
      f.abortDone = true;
      s.abortAfterBytes.controller.abort();
    }
    if (s.holdAfterBytes !== undefined && !f.gate.hit && moved >= s.holdAfterBytes) {
      f.gate.hit = true;
      f.gate.open = false;
      f.gate.resolveReached();
    }
  }
}
