// A userspace TCP proxy that puts a bad link between a client and a real
// server: one-way delay, a bandwidth cap, a cut, a stall or a flipped byte.
// The kernel here has no netem, so fault tests and `npm run bench` put this in
// front of sshd instead. Listens on 127.0.0.1, port 0.
import * as net from 'node:net';
import { performance } from 'node:perf_hooks';

export type Direction = 'up' | 'down';

export interface ProxyOptions {
  target: { host: string; port: number };
  /** One-way delay per direction (up = client -> server), in ms. */
  delayMs?: { up?: number; down?: number };
  /** Bandwidth cap per direction, shared by all connections through the proxy. */
  rateBytesPerSec?: number;
  /**
   * End the connection once N bytes went through in that direction: the
   * receiving side gets exactly N bytes then EOF, the sending side a reset.
   * Applies to the `connection`-th accepted connection (1-based, default 1).
   */
  cutAfterBytes?: { up?: number; down?: number; connection?: number };
  /** Stop forwarding (and reading) after N bytes in that direction; sockets stay open. */
  stallAfterBytes?: { up?: number; down?: number; connection?: number };
  /** XOR 0x01 into the byte at this stream offset. */
  flipByteAt?: { up?: number; down?: number; connection?: number };
  /** A cut at a point drawn from [min, max] by a PRNG seeded with `seed` (default 1). */
  randomCut?: { min: number; max: number; direction?: Direction; connection?: number };
  seed?: number;
}

export interface FaultProxy {
  host: string;
  port: number;
  /** Bytes forwarded so far, over all connections. */
  bytes: { up: number; down: number };
  /** Connections accepted so far. */
  connections: number;
  /** The cut point `randomCut` drew, for test messages. */
  randomCutAt?: number;
  close(): Promise<void>;
}

/** A tiny seeded PRNG (mulberry32): same seed, same sequence, in [0, 1). */
export function mulberry32(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

const MiB = 1024 * 1024;
/** Assumed top speed of an uncapped link, to size the delay queue. */
const UNCAPPED_RATE = 250e6;

/**
 * One direction of the link, shared by every connection: a bandwidth
 * bottleneck (a token bucket in virtual-time form: `freeAt` is when the bucket
 * next holds enough tokens) followed by a fixed propagation delay. Delivery
 * times never go backwards, so chunks keep their order however they queue.
 */
class Link {
  private freeAt = 0;
  /** How long a chunk may wait for the bottleneck before readers are paused (like a router queue). */
  readonly queueMs: number;
  /**
   * Bucket depth: an idle link may catch up this much, so a proxy descheduled
   * for a few ms on a busy machine doesn't lose that bandwidth for good.
   */
  private readonly burstMs: number;
  /** Most bytes a connection may hold in flight in this direction. */
  readonly maxBuffered: number;

  constructor(readonly delayMs: number, readonly rate: number | undefined) {
    this.queueMs = rate ? Math.max(10, (2 * 65536 * 1000) / rate) : Infinity;
    this.burstMs = rate ? 20 : 0;
    const bdp = ((rate ?? UNCAPPED_RATE) * delayMs) / 1000;
    this.maxBuffered = Math.min(64 * MiB, MiB + 2 * bdp);
  }

  /** When a chunk of n bytes read at `now` has fully arrived at the far end. */
  schedule(n: number, now: number): number {
    if (!this.rate) return now + this.delayMs;
    this.freeAt = Math.max(now - this.burstMs, this.freeAt) + (n * 1000) / this.rate;
    return Math.max(now, this.freeAt) + this.delayMs;
  }

  backlogMs(now: number): number {
    return Math.max(0, this.freeAt - now);
  }
}

interface Faults { cutAt?: number; stallAt?: number; flipAt?: number }
interface Item { buf: Buffer; at: number; cut: boolean }

/** Forwards src -> dst through a Link, with backpressure and faults. */
class Pipe {
  private queue: (Item | undefined)[] = [];
  private head = 0;
  private queued = 0;
  private readOffset = 0;
  private timer?: NodeJS.Timeout;
  private flowTimer?: NodeJS.Timeout;
  private waitingDrain = false;
  private readPaused = false;
  private srcEnded = false;
  private stopped = false;

  constructor(
    private readonly src: net.Socket,
    private readonly dst: net.Socket,
    private readonly link: Link,
    private readonly faults: Faults,
    private readonly onDelivered: (n: number) => void,
    private readonly onCut: () => void,
  ) {
    src.on('data', (c: Buffer) => this.onData(c));
    src.on('end', () => {
      this.srcEnded = true;
      this.pump();
    });
    dst.on('drain', () => {
      this.waitingDrain = false;
      this.pump();
    });
  }

  /** Drops everything queued and forwards nothing more; reading stays paused. */
  stop(): void {
    this.stopped = true;
    clearTimeout(this.timer);
    clearTimeout(this.flowTimer);
    this.queue = [];
    this.head = 0;
    this.queued = 0;
    this.src.pause();
  }

  private onData(chunk: Buffer): void {
    if (this.stopped) return;
    const start = this.readOffset;
    this.readOffset += chunk.length;
    const { cutAt, stallAt, flipAt } = this.faults;
    if (flipAt !== undefined && flipAt >= start && flipAt < this.readOffset) chunk[flipAt - start] ^= 0x01;
    const limit = Math.min(cutAt ?? Infinity, stallAt ?? Infinity);
    let cut = false;
    if (this.readOffset >= limit) {
      chunk = chunk.subarray(0, limit - start);
      cut = limit === cutAt;
      // The pipe forwards nothing past the limit; a stall keeps the sockets open.
      this.stopped = true;
      this.src.pause();
    }
    const now = performance.now();
    this.queue.push({ buf: chunk, at: this.link.schedule(chunk.length, now), cut });
    this.queued += chunk.length;
    this.pump();
  }

  private pump(): void {
    if (this.stopped && this.head === this.queue.length) return;
    const now = performance.now();
    while (this.head < this.queue.length && !this.waitingDrain) {
      const item = this.queue[this.head]!;
      if (item.at > now) break;
      this.queue[this.head++] = undefined;
      this.queued -= item.buf.length;
      this.onDelivered(item.buf.length);
      if (item.buf.length > 0 && !this.dst.write(item.buf)) this.waitingDrain = true;
      if (item.cut) return this.onCut();
    }
    if (this.head > 1024 && this.head * 2 > this.queue.length) {
      this.queue = this.queue.slice(this.head);
      this.head = 0;
    }
    if (this.head < this.queue.length) {
      if (!this.waitingDrain && !this.timer) {
        const wait = Math.max(1, Math.ceil(this.queue[this.head]!.at - now));
        this.timer = setTimeout(() => {
          this.timer = undefined;
          this.pump();
        }, wait);
      }
    } else if (this.srcEnded && !this.stopped) {
      this.dst.end();
    }
    this.updateFlow(now);
  }

  /** Pauses reading while this connection holds too much or the shared link is backlogged. */
  private updateFlow(now: number): void {
    if (this.stopped) return;
    const backlog = this.link.backlogMs(now) - this.link.queueMs;
    const full = this.queued + this.dst.writableLength > this.link.maxBuffered || backlog > 0;
    if (full && !this.readPaused) {
      this.readPaused = true;
      this.src.pause();
    } else if (!full && this.readPaused) {
      this.readPaused = false;
      this.src.resume();
    }
    // Nothing else may wake us when only other connections fill the link.
    if (this.readPaused && backlog > 0 && !this.flowTimer) {
      this.flowTimer = setTimeout(() => {
        this.flowTimer = undefined;
        this.updateFlow(performance.now());
      }, Math.max(1, Math.ceil(backlog)));
    }
  }
}

function resolveFaults(o: ProxyOptions, dir: Direction, conn: number): Faults {
  const on = (f?: { connection?: number }) => f !== undefined && (f.connection ?? 1) === conn;
  const rc = o.randomCut;
  return {
    cutAt: on(o.cutAfterBytes) ? o.cutAfterBytes![dir] : undefined,
    stallAt: on(o.stallAfterBytes) ? o.stallAfterBytes![dir] : undefined,
    flipAt: on(o.flipByteAt) ? o.flipByteAt![dir] : undefined,
    ...(rc && on(rc) && (rc.direction ?? 'down') === dir ? { cutAt: drawCut(o) } : {}),
  };
}

function drawCut(o: ProxyOptions): number {
  const { min, max } = o.randomCut!;
  return min + Math.floor(mulberry32(o.seed ?? 1)() * (max - min + 1));
}

function validate(o: ProxyOptions): void {
  const rc = o.randomCut;
  if (rc && (rc.min < 0 || rc.max < rc.min)) throw new Error(`fault-proxy: bad randomCut range ${rc.min}..${rc.max}`);
  if (rc && o.cutAfterBytes?.[rc.direction ?? 'down'] !== undefined) {
    throw new Error('fault-proxy: randomCut and cutAfterBytes set the same direction');
  }
  if (o.rateBytesPerSec !== undefined && !(o.rateBytesPerSec > 0)) throw new Error('fault-proxy: rateBytesPerSec must be > 0');
}

export async function startFaultProxy(o: ProxyOptions): Promise<FaultProxy> {
  validate(o);
  const links = {
    up: new Link(o.delayMs?.up ?? 0, o.rateBytesPerSec),
    down: new Link(o.delayMs?.down ?? 0, o.rateBytesPerSec),
  };
  const open = new Set<net.Socket>();
  const server = net.createServer({ allowHalfOpen: true });

  const proxy: FaultProxy = {
    host: '127.0.0.1',
    port: 0,
    bytes: { up: 0, down: 0 },
    connections: 0,
    randomCutAt: o.randomCut ? drawCut(o) : undefined,
    close: async () => {
      for (const s of open) s.destroy();
      await new Promise<void>((resolve) => server.close(() => resolve()));
    },
  };

  server.on('connection', (client) => {
    const n = ++proxy.connections;
    const upstream = net.connect({ host: o.target.host, port: o.target.port, allowHalfOpen: true });
    for (const s of [client, upstream]) {
      s.setNoDelay(true);
      open.add(s);
      s.on('error', () => teardown());
      s.once('close', () => {
        open.delete(s);
        // Nothing can reach a closed socket; the other pipe may still drain its delayed bytes.
        (s === client ? down : up).stop();
      });
    }
    const teardown = () => {
      up.stop();
      down.stop();
      client.destroy();
      upstream.destroy();
    };
    // The receiver gets its bytes and an EOF, then the socket goes once the
    // peer hangs up (or after a grace period); the sender's socket goes at once.
    const cut = (receiver: net.Socket, sender: net.Socket) => () => {
      up.stop();
      down.stop();
      sender.destroy();
      receiver.end();
      receiver.resume(); // drain what the peer still sends, so closing doesn't reset unread data
      const grace = setTimeout(() => receiver.destroy(), 2000).unref();
      receiver.once('end', () => receiver.destroy());
      receiver.once('close', () => clearTimeout(grace));
    };
    const up: Pipe = new Pipe(client, upstream, links.up, resolveFaults(o, 'up', n), (k) => (proxy.bytes.up += k), cut(upstream, client));
    const down: Pipe = new Pipe(upstream, client, links.down, resolveFaults(o, 'down', n), (k) => (proxy.bytes.down += k), cut(client, upstream));
  });

  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(0, '127.0.0.1', () => resolve());
  });
  proxy.port = (server.address() as net.AddressInfo).port;
  return proxy;
}
