// When a lane pays: the channels must be what limits the copy, and the work
// left must outlast what a session costs to start.
import { describe, expect, it } from 'vitest';
import { planLanes, type LaneSituation } from '../../src/transfer/lane-policy.js';

const MiB = 1024 * 1024;
/** One upload lane on OpenSSH: 2 MiB channel window, three quarters usable. */
const base: LaneSituation = {
  lanes: 1, max: 12, laneCapacity: 1.5 * MiB, window: 4 * MiB, rate: 0, rttMs: undefined, openCostMs: undefined,
  bytesLeft: 256 * MiB, filesActive: 1, filesLeft: 1, fileRate: 0,
};

describe('planLanes', () => {
  it('opens nothing before the link and a session were measured', () => {
    expect(planLanes(base)).toMatchObject({ want: 1, reason: 'link not measured yet' });
    expect(planLanes({ ...base, rate: 30e6, rttMs: 50 }).want).toBe(1);
    expect(planLanes({ ...base, rttMs: 50, openCostMs: 10 }).want).toBe(1);
  });

  it('opens none on loopback or a LAN: one channel carries far more than the link holds', () => {
    // 400 MB/s at 0.3 ms: 120 KB in flight, a tenth of one channel.
    const d = planLanes({ ...base, rate: 400e6, rttMs: 0.3, openCostMs: 5, window: 24 * MiB });
    expect(d.want).toBe(1);
    expect(d.reason).toMatch(/channels are not the limit/);
  });

  it('opens lanes ahead of the window on a long link whose channels are full', () => {
    // One channel at 50 ms: 1.5 MiB per round trip, about 31 MB/s.
    const d = planLanes({ ...base, rate: 31e6, rttMs: 50, openCostMs: 20 });
    expect(d.want).toBe(Math.ceil((2 * base.window) / base.laneCapacity));
    expect(d.reason).toMatch(/channels are the limit/);
  });

  it('opens none when the copy would be over before a session could start', () => {
    const d = planLanes({ ...base, rate: 31e6, rttMs: 50, openCostMs: 1000, bytesLeft: 40 * MiB });
    expect(d.want).toBe(1);
    expect(d.reason).toMatch(/not worth a session/);
  });

  it('opens only as many as the work left pays for when sessions are dear', () => {
    // About 8.7 s left at 31 MB/s; a 1 s session pays back within PAYBACK twice over at most 4 times.
    const d = planLanes({ ...base, rate: 31e6, rttMs: 50, openCostMs: 1000, window: 24 * MiB });
    expect(d.want).toBe(4);
    const free = planLanes({ ...base, rate: 31e6, rttMs: 50, openCostMs: 1, window: 24 * MiB });
    expect(free.want).toBe(12);
  });

  it('spreads many files in flight over more sessions, when they pay', () => {
    const many = { ...base, rate: 50e6, rttMs: 0.3, openCostMs: 10, bytesLeft: 20 * MiB, filesActive: 32, filesLeft: 2000, fileRate: 400 };
    expect(planLanes(many).want).toBe(4);
    // 200 small files at 400 files/s: half a second of work, a 1 s session does not pay.
    expect(planLanes({ ...many, filesLeft: 200, openCostMs: 1000 }).want).toBe(1);
  });

  it('never asks past the limit', () => {
    expect(planLanes({ ...base, lanes: 12, rate: 31e6, rttMs: 50, openCostMs: 1 })).toMatchObject({ want: 12, reason: 'at the limit of 12 sessions' });
    expect(planLanes({ ...base, max: 3, rate: 31e6, rttMs: 50, openCostMs: 1, window: 24 * MiB }).want).toBe(3);
  });
});
