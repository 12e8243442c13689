/**
 * Run at most `n` async tasks at once; the rest wait in FIFO order. `n` may
 * be a function, asked each time a place frees up, so the limit can follow
 * what the run measures.
 */
export function createLimit(n: number | (() => number)) {
  const most = typeof n === 'number' ? () => n : n;
  /** Running, or woken and about to run: a woken waiter's place is taken for it. */
  let active = 0;
  // A queue with a moving head: Array.shift() copies the whole array, which
  // made a walk of a million entries quadratic.
  let waiting: (() => void)[] = [];
  let head = 0;
  const pump = () => {
    while (head < waiting.length && active < most()) {
      active++;
      const wake = waiting[head++];
      if (head > 1024 && head * 2 > waiting.length) {
        waiting = waiting.slice(head);
        head = 0;
      }
      wake();
    }
  };
  return async function limit<T>(fn: () => Promise<T>): Promise<T> {
    if (head >= waiting.length && active < most()) active++;
    else await new Promise<void>((r) => waiting.push(r));
    try {
      return await fn();
    } finally {
      active--;
      pump();
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

/**
 * A bounded hand-over from a producer to one consumer that iterates it:
 * `push` waits while `size` items are queued, so a walk that finds files
 * faster than they are sent holds a few of them, not the whole tree. Once
 * the consumer stops iterating (a fatal error, Ctrl-C), pushes are dropped
 * and never wait: the producer must not hang on a run that is over.
 */
export class Handover<T> implements AsyncIterable<T> {
  private readonly items: T[] = [];
  private head = 0;
  private ended = false;
  private closed = false;
  private wakeConsumer?: () => void;
  private readonly producers: (() => void)[] = [];

  constructor(private readonly size: number) {}

  get length(): number {
    return this.items.length - this.head;
  }

  async push(item: T): Promise<void> {
    if (this.closed) return;
    while (this.length >= this.size && !this.closed) await new Promise<void>((r) => this.producers.push(r));
    if (this.closed) return;
    this.items.push(item);
    this.wake();
  }

  /** No more items: the consumer ends once it has taken the queued ones. */
  end(): void {
    this.ended = true;
    this.wake();
  }

  private wake(): void {
    const w = this.wakeConsumer;
    this.wakeConsumer = undefined;
    w?.();
  }

  private take(): T | undefined {
    const item = this.items[this.head++];
    if (this.head > 1024 && this.head * 2 > this.items.length) {
      this.items.splice(0, this.head);
      this.head = 0;
    }
    this.producers.shift()?.();
    return item;
  }

  private close(): void {
    this.closed = true;
    this.items.length = this.head = 0;
    for (const p of this.producers.splice(0)) p();
  }

  async *[Symbol.asyncIterator](): AsyncIterator<T> {
    try {
      for (;;) {
        if (this.length > 0) {
          yield this.take()!;
          continue;
        }
        if (this.ended) return;
        await new Promise<void>((r) => (this.wakeConsumer = r));
      }
    } finally {
      this.close();
    }
  }
}
