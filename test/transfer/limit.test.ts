// The gates of the walk: createLimit (FIFO, at most n running), Room (LIFO
// hand-over of a fixed number of places) and Handover (a bounded queue from
// sync's walk to the engine).
import { describe, expect, it } from 'vitest';
import { createLimit, Handover, Room } from '../../src/transfer/limit.js';

const tick = () => new Promise((r) => setImmediate(r));

describe('createLimit', () => {
  it('runs at most n at once, the rest in the order they came, and scales to many waiters', async () => {
    const limit = createLimit(2);
    let running = 0;
    let most = 0;
    const order: number[] = [];
    const tasks = Array.from({ length: 50_000 }, (_, i) => limit(async () => {
      running++;
      most = Math.max(most, running);
      order.push(i);
      await Promise.resolve();
      running--;
    }));
    await Promise.all(tasks);
    expect(most).toBe(2);
    expect(order).toEqual(Array.from({ length: 50_000 }, (_, i) => i));
  });
});

describe('Room', () => {
  it('hands a freed place to the newest waiter, and a place is given back once however often', async () => {
    const room = new Room(1);
    const leave = await room.enter();
    const got: string[] = [];
    const a = room.enter().then((l) => (got.push('a'), l));
    const b = room.enter().then((l) => (got.push('b'), l));
    await tick();
    expect(got).toEqual([]);
    leave();
    leave(); // twice: still one place
    await tick();
    expect(got).toEqual(['b']);
    (await b)();
    await tick();
    expect(got).toEqual(['b', 'a']);
    (await a)();
    // Free again: entering does not wait.
    const again = await Promise.race([room.enter().then(() => 'entered'), tick().then(() => 'waiting')]);
    expect(again).toBe('entered');
  });
});

describe('Handover', () => {
  it('holds at most its size: a push waits until the consumer takes one; all arrive in order', async () => {
    const q = new Handover<number>(3);
    let pushed = 0;
    const producer = (async () => {
      for (let i = 0; i < 10; i++) {
        await q.push(i);
        pushed++;
      }
      q.end();
    })();
    await tick();
    expect(pushed).toBe(3);
    expect(q.length).toBe(3);
    const got: number[] = [];
    for await (const n of q) {
      got.push(n);
      expect(q.length).toBeLessThanOrEqual(3);
      await tick();
    }
    await producer;
    expect(got).toEqual([0, 1, 2, 3, 4, 5, 6, 7, 8, 9]);
  });

  it('a consumer that stops early releases the producer: later pushes are dropped, none waits', async () => {
    const q = new Handover<number>(2);
    const producer = (async () => {
      for (let i = 0; i < 100; i++) await q.push(i);
      return 'done';
    })();
    for await (const n of q) if (n === 1) break;
    expect(await producer).toBe('done');
    expect(q.length).toBe(0);
  });
});
