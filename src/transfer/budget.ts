/**
 * The run-wide allowance of bytes in flight, sized by the window controller.
 * Every chunk request of every file acquires its bytes here first, so the
 * window bounds both the pipe and the memory, whatever the file sizes.
 */
import { WindowController, type WindowDecision } from './window.js';

export interface BudgetOptions {
  chunk: number;
  initial?: number;
  max?: number;
  /** No reply for this long with requests outstanding counts as a stall. */
  stallMs?: number;
  onDecision?: (d: WindowDecision) => void;
}

export class InflightBudget {
  readonly controller: WindowController;
  inflight = 0;
  private waiters: { bytes: number; resolve: () => void }[] = [];
  private lastAck = performance.now();
  private readonly timer: NodeJS.Timeout;
  private readonly onDecision?: (d: WindowDecision) => void;

  constructor(o: BudgetOptions) {
    this.controller = new WindowController({ chunk: o.chunk, initial: o.initial, max: o.max, minRoundMs: 40 });
    this.onDecision = o.onDecision;
    const stallMs = o.stallMs ?? 5000;
    this.timer = setInterval(() => {
      const now = performance.now();
      if (this.inflight > 0 && now - this.lastAck > stallMs) {
        this.lastAck = now;
        this.decided(this.controller.onStall());
      }
    }, Math.min(1000, stallMs / 2));
    this.timer.unref();
  }

  get window(): number {
    return this.controller.window;
  }

  /** Wait until `bytes` fit in the window (always admitted when nothing is in flight). */
  acquire(bytes: number): Promise<void> {
    if (this.tryAcquire(bytes)) return Promise.resolve();
    return new Promise((resolve) => this.waiters.push({ bytes, resolve }));
  }

  /** Admit `bytes` now if they fit, without a promise to wait on; false: they must wait (acquire). */
  tryAcquire(bytes: number): boolean {
    if (this.inflight !== 0 && this.inflight + bytes > this.window) return false;
    this.admit(bytes);
    return true;
  }

  private admit(bytes: number) {
    if (this.inflight === 0) this.controller.start(performance.now());
    this.inflight += bytes;
  }

  /**
   * A request finished; `acked` is false when it failed (no throughput credit).
   * `moved` is what it really carried when less than it reserved (a read that met the end).
   */
  release(bytes: number, acked: boolean, moved = bytes): void {
    this.inflight -= bytes;
    if (acked) {
      const now = performance.now();
      this.lastAck = now;
      const d = this.controller.onAck(moved, now);
      if (d) this.decided(d);
    }
    this.wake();
  }

  /** A request failed or a connection dropped. */
  error(): void {
    this.decided(this.controller.onError());
  }

  private decided(d: WindowDecision) {
    this.onDecision?.(d);
    this.wake();
  }

  private wake() {
    while (this.waiters.length > 0) {
      const w = this.waiters[0];
      if (this.inflight !== 0 && this.inflight + w.bytes > this.window) break;
      this.waiters.shift();
      this.admit(w.bytes);
      w.resolve();
    }
  }

  dispose(): void {
    clearInterval(this.timer);
  }
}

/** Reuses chunk buffers so the hot path allocates nothing per request. */
export class BufferPool {
  private free: Buffer[] = [];
  /**
   * Buffers of SMALL_BUFFER bytes, for requests that small (EOF probes, small
   * files): a chunk-sized one each would hold memory the window does not
   * count, and a fresh one each was most of what a many-file run allocated.
   */
  private freeSmall: Buffer[] = [];
  constructor(readonly size: number) {}
  /** A buffer of at least `len` bytes (default: a chunk). */
  get(len = this.size): Buffer {
    if (len <= SMALL_BUFFER && len < this.size) return this.freeSmall.pop() ?? Buffer.allocUnsafeSlow(SMALL_BUFFER);
    return this.free.pop() ?? Buffer.allocUnsafeSlow(this.size);
  }
  put(b: Buffer): void {
    if (b.length === this.size && this.free.length < 256) this.free.push(b);
    else if (b.length === SMALL_BUFFER && this.freeSmall.length < 256) this.freeSmall.push(b);
  }
}

/** The small buffers' size: copy-file's EOF probe. */
export const SMALL_BUFFER = 16 * 1024;
