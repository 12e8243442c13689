/** Run at most `n` async tasks at once; the rest wait in FIFO order. */
export function createLimit(n: number) {
  let active = 0;
  // A queue with a moving head: Array.shift() copies the whole array, which
  // made a walk of a million entries quadratic.
  let waiting: (() => void)[] = [];
  let head = 0;
  const next = () => {
    if (head >= waiting.length) return;
    const wake = waiting[head++];
    if (head > 1024 && head * 2 > waiting.length) {
      waiting = waiting.slice(head);
      head = 0;
    }
    wake();
  };
  return async function limit<T>(fn: () => Promise<T>): Promise<T> {
    if (active >= n) await new Promise<void>((r) => waiting.push(r));
    active++;
    try {
      return await fn();
    } finally {
      active--;
      next();
    }
  };
}

/**
 * Room for `size` items at once; whoever waits longest waits on, the newest
 * waiter goes first (LIFO). Walking a tree, the newest waiter is the deepest
 * directory, so the walk goes depth first and holds one listing per level,
 * not every entry of every directory listed so far.
 */
export class Room {
  private used = 0;
  private readonly waiters: (() => void)[] = [];

  constructor(private readonly size: number) {}

  /** Resolves with the function that gives the place back (once, whatever the calls). */
  async enter(): Promise<() => void> {
    if (this.used < this.size) this.used++;
    else await new Promise<void>((r) => this.waiters.push(r)); // the place is handed over as is
    let left = false;
    return () => {
      if (left) return;
      left = true;
      const next = this.waiters.pop();
      if (next) next();
      else this.used--;
    };
  }
}
