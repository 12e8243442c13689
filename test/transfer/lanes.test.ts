// The lane pool: how many lanes a window needs for what the run does through
// them, and lanes opened in the background, each usable as soon as it is open.
import { describe, expect, it } from 'vitest';
import type { Endpoint } from '../../src/transfer/endpoint.js';
import { LanePool } from '../../src/transfer/lanes.js';

const MiB = 1024 * 1024;

interface Opening { resolve: () => void; reject: (e: Error) => void }

/** An endpoint whose lanes open only when the test says so. */
function fakeRoot(channelWindow?: { read: number; write: number }) {
  const openings: Opening[] = [];
  const ended: Endpoint[] = [];
  const make = (): Endpoint => {
    const ep = { label: 'fake', channelWindow, end: async () => void ended.push(ep) } as unknown as Endpoint;
    return ep;
  };
  const root = make() as Endpoint & { openLane: () => Promise<Endpoint> };
  root.openLane = () =>
    new Promise<Endpoint>((resolve, reject) => openings.push({ resolve: () => resolve(make()), reject }));
  return { root, openings, ended };
}

const tick = () => new Promise((r) => setTimeout(r, 0));

describe('LanePool', () => {
  it('sizes lanes by the channel window of what the run does: replies for a source, the server\'s window for a target', () => {
    const { root } = fakeRoot({ read: 16 * MiB, write: 2 * MiB });
    const p = new LanePool(root, 12);
    p.roles.read = true;
    expect(p.laneCapacity()).toBe(12 * MiB);
    expect(p.lanesFor(24 * MiB)).toBe(2);
    p.roles.write = true; // remote to remote on one host: the smaller window rules
    expect(p.laneCapacity()).toBe(1.5 * MiB);
    expect(p.lanesFor(24 * MiB)).toBe(12);
    expect(p.lanesFor(240 * MiB)).toBe(12);
    expect(p.lanesFor(1)).toBe(1);
  });

  it('assumes an SSH channel\'s 2 MiB when the endpoint does not say', () => {
    const { root } = fakeRoot();
    const p = new LanePool(root, 8);
    p.roles.write = true;
    expect(p.laneCapacity()).toBe(1.5 * MiB);
    expect(p.capacity()).toBe(1.5 * MiB);
  });

  it('uses each lane as soon as it opens: a slow one holds up none of the others', async () => {
    const { root, openings } = fakeRoot();
    const p = new LanePool(root, 8);
    const seen: number[] = [];
    p.grow(4, (n) => seen.push(n));
    expect(openings).toHaveLength(3);
    openings[1].resolve();
    openings[2].resolve();
    await tick();
    expect(p.lanes).toHaveLength(3);
    expect(seen).toEqual([2, 3]);
    // Asking again while one is still opening does not open it twice.
    p.grow(4);
    expect(openings).toHaveLength(3);
    openings[0].resolve();
    await tick();
    expect(p.lanes).toHaveLength(4);
  });

  it('a refused lane lowers the limit to what is open or still opening', async () => {
    const { root, openings } = fakeRoot();
    const p = new LanePool(root, 8);
    p.grow(4);
    openings[0].reject(new Error('administratively prohibited'));
    openings[1].resolve();
    await tick();
    p.grow(8);
    expect(openings).toHaveLength(3); // 1 + 1 open + 1 opening = 3: no new tries
    openings[2].resolve();
    await tick();
    expect(p.lanes).toHaveLength(3);
  });

  it('close waits for no lane still opening: it ends the open ones now and each late one as it arrives', async () => {
    const { root, openings, ended } = fakeRoot();
    const p = new LanePool(root, 8);
    p.grow(3);
    openings[0].resolve();
    await tick();
    // openings[1] and [2] never answer before close() returns.
    await p.close();
    expect(p.lanes).toEqual([{ ep: root, inflight: 0 }]);
    expect(ended).toHaveLength(1);
    openings[1].resolve();
    await tick();
    expect(ended, 'a lane arriving after close is ended, not used').toHaveLength(2);
    expect(p.lanes).toHaveLength(1);
    expect(ended).not.toContain(root);
  });

  it('a lane opened before a reset is not used after it', async () => {
    const { root, openings, ended } = fakeRoot();
    const p = new LanePool(root, 8);
    p.grow(2);
    await p.reset(0);
    openings[0].resolve();
    await tick();
    expect(p.lanes).toHaveLength(1);
    expect(ended).toHaveLength(1);
    p.grow(2);
    expect(openings).toHaveLength(2);
  });

  it('a flush session is opened only when the work left outlasts what a session costs', async () => {
    const { root, openings } = fakeRoot() as ReturnType<typeof fakeRoot> & { root: { costs?: () => unknown } };
    (root as unknown as { costs: () => unknown }).costs = () => ({ rttMs: 1, laneMs: 1000 });
    const p = new LanePool(root, 8);
    expect(await p.spare(1.5)).toBeUndefined();
    expect(openings).toHaveLength(0);
    const spare = p.spare(30);
    expect(openings).toHaveLength(1);
    openings[0].resolve();
    expect(await spare).toBeDefined();
  });
});
