import { describe, expect, it } from 'vitest';
import { WindowController } from '../../src/transfer/window.js';

const C = 64 * 1024;

/**
 * Drive the controller against a model link: each round trip takes `rttMs`
 * and delivers min(window, bandwidth x rtt) bytes.
 */
function simulate(w: WindowController, opts: { rttMs: number; bytesPerMs: number; rounds: number }) {
  let now = 0;
  w.start(0);
  const trace = [];
  for (let r = 0; r < opts.rounds; r++) {
    const capacity = opts.bytesPerMs * opts.rttMs;
    const delivered = Math.min(w.window, capacity);
    const duration = opts.rttMs * Math.max(1, w.window / capacity);
    now += duration;
    const d = w.onAck(Math.max(delivered, w.window), now);
    trace.push({ window: w.window, d });
  }
  return trace;
}

describe('WindowController', () => {
  it('starts small and doubles each round while throughput rises', () => {
    const w = new WindowController({ chunk: C, initial: 2 * C, max: 1024 * C });
    w.start(0);
    expect(w.window).toBe(2 * C);
    let now = 0;
    // Pipe far from full: each round delivers the whole window in one RTT of 100 ms.
    const seen = [w.window];
    for (let i = 0; i < 4; i++) {
      now += 100;
      const d = w.onAck(w.window, now);
      expect(d?.reason).toBe('grow');
      seen.push(w.window);
    }
    expect(seen).toEqual([2 * C, 4 * C, 8 * C, 16 * C, 32 * C]);
    expect(w.phase).toBe('slow-start');
  });

  it('leaves slow start when throughput stops rising and settles near the bandwidth-delay product', () => {
    const w = new WindowController({ chunk: C, initial: C, max: 4096 * C });
    // 100 ms RTT, 12.5 MB/s: BDP = 1.25 MB ~ 19 chunks.
    const trace = simulate(w, { rttMs: 100, bytesPerMs: 12_500, rounds: 30 });
    const plateau = trace.find((t) => t.d?.reason === 'plateau');
    expect(plateau).toBeDefined();
    expect(w.phase).toBe('avoidance');
    const bdp = 1_250_000;
    // Not starved, not wildly above what the link can hold.
    expect(w.window).toBeGreaterThanOrEqual(bdp * 0.9);
    expect(w.window).toBeLessThanOrEqual(bdp * 4);
  });

  it('grows by a constant step per round in avoidance', () => {
    const w = new WindowController({ chunk: C, initial: 16 * C, max: 1024 * C, additiveStep: C });
    w.phase = 'avoidance';
    let now = 0;
    w.start(0);
    now += 100;
    w.onAck(w.window, now);
    const before = w.window;
    now += 100;
    const d = w.onAck(w.window, now);
    expect(d?.reason).toBe('additive');
    expect(w.window).toBe(before + C);
  });

  it('halves on a stall and on an error, never below one chunk', () => {
    const w = new WindowController({ chunk: C, initial: 32 * C });
    expect(w.onStall()).toMatchObject({ reason: 'stall', window: 16 * C, phase: 'avoidance' });
    expect(w.onError()).toMatchObject({ reason: 'error', window: 8 * C });
    for (let i = 0; i < 10; i++) w.onError();
    expect(w.window).toBe(C);
  });

  it('halves when throughput drops sharply in avoidance', () => {
    const w = new WindowController({ chunk: C, initial: 32 * C });
    w.phase = 'avoidance';
    let now = 0;
    w.start(0);
    for (let i = 0; i < 3; i++) {
      now += 100;
      w.onAck(w.window, now);
    }
    now += 1000; // Same bytes, ten times slower: once or twice is noise...
    expect(w.onAck(w.window, now)?.reason).toBe('additive');
    now += 1000;
    expect(w.onAck(w.window, now)?.reason).toBe('additive');
    const before = w.window;
    now += 1000; // ...three times is a drop.
    const d = w.onAck(w.window, now);
    expect(d?.reason).toBe('drop');
    expect(w.window).toBe(Math.round(before / 2 / C) * C);
  });

  it('stops growing in avoidance when growth buys no throughput, then probes', () => {
    const w = new WindowController({ chunk: C, initial: 16 * C, max: 1024 * C, additiveStep: C });
    w.phase = 'avoidance';
    let now = 0;
    w.start(0);
    // A full link: every round delivers the same rate whatever the window.
    const windows: number[] = [];
    for (let i = 0; i < 40; i++) {
      now += (w.window / (16 * C)) * 100;
      w.onAck(w.window, now);
      windows.push(w.window);
    }
    // A few gainless increases, then a hold with rare probes: far below 16 + 40 chunks.
    expect(windows[windows.length - 1]).toBeLessThanOrEqual(24 * C);
    expect(new Set(windows.slice(10)).size).toBeLessThanOrEqual(4);
  });

  it('does not end slow start while the window is above what the open lanes can carry', () => {
    const w = new WindowController({ chunk: C, initial: 8 * C, max: 1024 * C });
    w.capacity = 4 * C;
    let now = 0;
    w.start(0);
    // Flat throughput, as when the lanes are the limit: no plateau while capacity < window.
    for (let i = 0; i < 6; i++) {
      now += 100;
      w.onAck(w.window, now);
    }
    expect(w.phase).toBe('slow-start');
    w.capacity = Infinity;
    for (let i = 0; i < 6; i++) {
      now += 100 * (w.window / (16 * C));
      w.onAck(w.window, now);
    }
    expect(w.phase).toBe('avoidance');
  });

  it('stays within what the link holds: a ceiling from the run, never below the starting window', () => {
    const w = new WindowController({ chunk: C, initial: 8 * C, max: 1024 * C });
    w.window = 64 * C;
    w.limitTo(20 * C);
    expect(w.window).toBe(20 * C);
    // Rounds that keep rising would double it; the ceiling holds.
    let now = 0;
    w.start(now);
    for (let i = 0; i < 6; i++) {
      now += 10;
      w.onAck(w.window, now);
    }
    expect(w.window).toBeLessThanOrEqual(20 * C);
    // A ceiling below the start is taken as the start.
    w.limitTo(C);
    expect(w.window).toBe(8 * C);
  });

  it('never exceeds its maximum', () => {
    const w = new WindowController({ chunk: C, initial: C, max: 8 * C });
    let now = 0;
    w.start(0);
    for (let i = 0; i < 20; i++) {
      now += 10;
      w.onAck(w.window, now);
    }
    expect(w.window).toBeLessThanOrEqual(8 * C);
  });

  it('does not end a round shorter than minRoundMs', () => {
    const w = new WindowController({ chunk: C, initial: 2 * C, minRoundMs: 50 });
    w.start(0);
    expect(w.onAck(2 * C, 10)).toBeUndefined();
    expect(w.onAck(C, 60)?.reason).toBe('grow');
  });

  it('does not end a round before the window has been answered', () => {
    const w = new WindowController({ chunk: C, initial: 4 * C });
    w.start(0);
    expect(w.onAck(C, 10)).toBeUndefined();
    expect(w.onAck(C, 20)).toBeUndefined();
    expect(w.onAck(2 * C, 30)?.reason).toBe('grow');
  });
});
