/**
 * How many bytes may be in flight, decided like TCP congestion control:
 * slow start doubles the window every round trip while measured throughput
 * keeps rising; once it stops rising the window grows by one chunk per round
 * (additive increase) and halves on a stall, an error or a throughput drop
 * (multiplicative decrease). Pure: time comes in as arguments.
 */

export type WindowPhase = 'slow-start' | 'avoidance';
export type WindowReason = 'grow' | 'plateau' | 'additive' | 'stall' | 'error' | 'drop';

export interface WindowDecision {
  reason: WindowReason;
  phase: WindowPhase;
  /** Bytes allowed in flight after the decision. */
  window: number;
  /** Throughput of the round that led to it, bytes/s (0 for stall/error). */
  throughput: number;
}

export interface WindowOptions {
  /** Request size; the window moves in whole chunks. */
  chunk: number;
  /** Starting window, bytes. */
  initial?: number;
  /** Never below this (at least one chunk). */
  min?: number;
  /** Memory bound: never above this. */
  max?: number;
  /** Additive increase per round in avoidance (default four chunks). */
  additiveStep?: number;
  /**
   * Shortest round that is measured. On a fast local link a window drains
   * in microseconds and single rounds are mostly timer and GC noise.
   */
  minRoundMs?: number;
}

/** A rise smaller than this is noise, not growth. */
const RISE = 1.1;
/** Rounds without a rise before slow start ends. */
const PLATEAU_ROUNDS = 3;
/** A round this far below the recent rate counts as a drop. */
const DROP = 0.5;
/** Consecutive low rounds that make a drop (one or two are usually scheduling noise). */
const DROP_ROUNDS = 3;
/** Gainless additive rounds before the window holds, and how often it then probes. */
const HOLD_AFTER = 3;
const PROBE_EVERY = 16;

export class WindowController {
  readonly chunk: number;
  readonly min: number;
  readonly max: number;
  readonly step: number;
  /** The window a run started with: the ceiling never goes below it. */
  readonly initial: number;
  window: number;
  /**
   * Bytes the open channels can carry at once (their SSH windows). While the
   * window is above it, flat rounds say nothing about the link: the lanes are
   * still opening, so slow start waits instead of ending.
   */
  capacity = Infinity;
  /**
   * What the link can hold, with room to spare (a few times its measured
   * bandwidth-delay product), set by the run. On loopback the link holds a few
   * hundred KiB and throughput rounds are mostly noise: past this the window
   * only queues data in the server's buffers, and costs memory and time.
   */
  private ceiling = Infinity;
  phase: WindowPhase = 'slow-start';
  // Times and rates start as doubles (-Infinity and -0 compare as -1 and 0 would): a field
  // that turns from integer to double at the first timed reply changes the object's shape,
  // and V8 threw away and recompiled every optimized caller (the copy loop) mid-run.
  private roundStart = -Infinity;
  private roundTarget = 0;
  private roundBytes = 0;
  private best = -0;
  private bestWindow = 0;
  private flatRounds = 0;
  /** Smoothed throughput in avoidance, to tell a drop from noise. */
  private smoothed = -0;
  private lowRounds = 0;
  /** Best throughput seen in avoidance, and rounds since the window last bought more. */
  private avoidBest = -0;
  private gainless = 0;
  private readonly minRoundMs: number;

  constructor(o: WindowOptions) {
    this.chunk = Math.max(1, o.chunk);
    this.min = Math.max(this.chunk, o.min ?? this.chunk);
    this.max = Math.max(this.min, o.max ?? 64 * 1024 * 1024);
    this.window = this.clamp(o.initial ?? 4 * this.chunk);
    this.initial = this.window;
    this.minRoundMs = o.minRoundMs ?? 0;
    this.step = Math.max(this.chunk, o.additiveStep ?? 4 * this.chunk);
  }

  private clamp(w: number): number {
    return Math.min(this.max, this.ceiling, Math.max(this.min, Math.round(w / this.chunk) * this.chunk));
  }

  /** The link's measured need, `bytes` (never below where the window started): the window stays within it. */
  limitTo(bytes: number): void {
    this.ceiling = Math.max(this.min, this.initial, bytes);
    if (this.window > this.ceiling) this.window = this.clamp(this.window);
  }

  /**
   * Bytes whose reply arrived at `now` (ms). A round ends when as many bytes
   * as the window held at its start have been answered: about one RTT when
   * the pipe is full. Returns a decision when the window changes.
   */
  onAck(bytes: number, now: number): WindowDecision | undefined {
    if (this.roundStart < 0) {
      // No clock yet (first reply, or after a back-off): this reply starts the round.
      this.startRound(now);
      return undefined;
    }
    this.roundBytes += bytes;
    if (this.roundBytes < this.roundTarget || now - this.roundStart < this.minRoundMs) return undefined;
    const secs = Math.max((now - this.roundStart) / 1000, 1e-6);
    const tp = this.roundBytes / secs;
    const decision = this.phase === 'slow-start' ? this.slowStart(tp) : this.avoid(tp);
    this.startRound(now);
    return decision;
  }

  /** The first requests went out at `now` (ms): the first round starts. */
  start(now: number): void {
    if (this.roundStart < 0) this.startRound(now);
  }

  private startRound(now: number) {
    this.roundStart = now;
    this.roundBytes = 0;
    this.roundTarget = this.window;
  }

  private slowStart(tp: number): WindowDecision | undefined {
    if (tp > this.best * RISE) {
      this.best = tp;
      this.bestWindow = this.window;
      this.flatRounds = 0;
      if (this.window >= this.max) return undefined;
      this.window = this.clamp(this.window * 2);
      return this.decide('grow', tp);
    }
    if (this.window > this.capacity) return undefined;
    if (++this.flatRounds < PLATEAU_ROUNDS) return undefined;
    // Doubling stopped paying: settle a little above the smallest window that reached the best rate.
    this.phase = 'avoidance';
    this.smoothed = tp;
    this.window = this.clamp(Math.min(this.window, this.bestWindow * 1.5));
    return this.decide('plateau', tp);
  }

  private avoid(tp: number): WindowDecision | undefined {
    const prior = this.smoothed;
    this.smoothed = prior === 0 ? tp : prior * 0.7 + tp * 0.3;
    // Several low rounds in a row, not one: a single slow round is usually a GC pause.
    this.lowRounds = prior > 0 && tp < prior * DROP ? this.lowRounds + 1 : 0;
    if (this.lowRounds >= DROP_ROUNDS) {
      this.lowRounds = 0;
      this.window = this.clamp(this.window / 2);
      this.smoothed = tp;
      this.avoidBest = tp;
      this.gainless = 0;
      return this.decide('drop', tp);
    }
    if (this.window >= this.max) return undefined;
    // Without loss signals, growth must pay for itself: after a few rounds with
    // no gain, hold the window and only probe now and then (bounded memory, no
    // needless lanes on a link that is already full).
    if (tp > this.avoidBest * 1.05) {
      this.avoidBest = tp;
      this.gainless = 0;
    } else if (++this.gainless > HOLD_AFTER && this.gainless % PROBE_EVERY !== 0) {
      return undefined;
    }
    this.window = this.clamp(this.window + this.step);
    return this.decide('additive', tp);
  }

  /** No reply for too long: the link is stalled. */
  onStall(): WindowDecision {
    return this.backOff('stall');
  }

  /** A request failed (or a connection dropped). */
  onError(): WindowDecision {
    return this.backOff('error');
  }

  private backOff(reason: 'stall' | 'error'): WindowDecision {
    this.phase = 'avoidance';
    this.window = this.clamp(this.window / 2);
    this.roundStart = -Infinity;
    this.smoothed = 0;
    this.avoidBest = 0;
    this.gainless = 0;
    return this.decide(reason, 0);
  }

  private decide(reason: WindowReason, throughput: number): WindowDecision {
    return { reason, phase: this.phase, window: this.window, throughput: Math.round(throughput) };
  }
}
