/**
 * Parallel sessions to one place. One SSH channel never has more than its
 * window (2 MiB in OpenSSH and ssh2) in flight, so past that the engine opens
 * more lanes (SFTP sessions on this or further connections, as the endpoint
 * decides) and spreads requests over them.
 */
import { ConnectionError } from '../errors.js';
import type { Endpoint } from './endpoint.js';
import { PAYBACK } from './lane-policy.js';
import type { WriteOrder } from './write-order.js';

export interface Lane {
  ep: Endpoint;
  inflight: number;
}

/** Of a channel window, what requests can usefully fill: the peer tops it up only once half is used. */
const WINDOW_USE = 0.75;
/** An SSH channel's window when the endpoint does not say (OpenSSH's and ssh2's default). */
const DEFAULT_WINDOW = 2 * 1024 * 1024;
/**
 * Floor for a window the peer reports as tiny, so capacity never reads as zero. Low: Dropbear
 * grants 24 KiB per channel (-W), and counting that as more than it is hid that its channels
 * are the limit (8 MiB up over a 40 ms link ran at 0.5 MB/s on one channel, no lane opened).
 */
const MIN_LANE_CAPACITY = 8 * 1024;

export class LanePool {
  readonly lanes: Lane[];
  /** What this run does through the pool: read from it (a source), write to it (a target), or both. */
  readonly roles = { read: false, write: false };
  /** 'in-order' once the server failed a write that arrived out of offset order (write-order.ts). */
  writeOrder: WriteOrder = 'any';
  private max: number;
  private spareLane?: Promise<Endpoint | undefined>;
  /** The session generation the lanes were last reset for. */
  private resetAt?: number;
  private spareEp?: Endpoint;
  /** Lanes being opened now. */
  private readonly pending = new Set<Promise<void>>();
  private closed = false;
  /** Bumped by every close: a lane opened before it arrives to find itself unwanted. */
  private epoch = 0;

  constructor(readonly root: Endpoint, maxLanes: number) {
    this.lanes = [{ ep: root, inflight: 0 }];
    this.max = root.openLane ? Math.max(1, maxLanes) : 1;
  }

  /** Bytes one lane can keep in flight for what this run does through it. */
  laneCapacity(): number {
    // One writer per file: more channels never carry more of one file, only more files.
    if (this.roles.write && (this.writeOrder === 'in-order' || this.root.sharedWrites === false)) return Infinity;
    const w = this.root.channelWindow ?? { read: DEFAULT_WINDOW, write: DEFAULT_WINDOW };
    const win = Math.min(this.roles.read ? w.read : Infinity, this.roles.write ? w.write : Infinity);
    return win === Infinity ? Infinity : Math.max(MIN_LANE_CAPACITY, Math.floor(win * WINDOW_USE));
  }

  /** Lanes needed to keep `bytes` in flight, within the limit. */
  lanesFor(bytes: number): number {
    const per = this.laneCapacity();
    return Math.min(this.max, Math.max(1, Math.ceil(bytes / per)));
  }

  /** Lanes open or being opened. */
  get count(): number {
    return this.lanes.length + this.pending.size;
  }

  /** Most lanes this pool may have (lowered when the server refuses sessions). */
  get limit(): number {
    return this.closed ? this.lanes.length : this.max;
  }

  /** Lanes are still being opened: the window is not yet what the channels will carry. */
  get opening(): boolean {
    return this.pending.size > 0;
  }

  /** Bytes all open lanes can keep in flight. */
  capacity(): number {
    return this.lanes.length * this.laneCapacity();
  }

  /** The lane with the fewest requests outstanding. */
  pick(): Lane {
    let best = this.lanes[0];
    for (const l of this.lanes) if (l.inflight < best.inflight) best = l;
    return best;
  }

  /**
   * Open lanes (in the background, all at once: on a long link each costs
   * round trips) until there are `n`, within the limit. Each lane is used as
   * soon as it is open: one that needs a new connection holds up no other.
   */
  grow(n: number, onOpened?: (count: number) => void): void {
    const target = Math.min(n, this.max);
    const epoch = this.epoch;
    for (let i = this.lanes.length + this.pending.size; !this.closed && i < target; i++) {
      const opening: Promise<void> = this.root.openLane!().then(
        async (ep) => {
          if (this.closed || this.epoch !== epoch) return void (await ep.end());
          this.lanes.push({ ep, inflight: 0 });
          onOpened?.(this.lanes.length);
        },
        (err) => {
          // A dropped link says nothing about the limit: lanes are tried again as the run asks.
          if (err instanceof ConnectionError || this.epoch !== epoch) return;
          // The server refuses more sessions, or another connection would need a
          // password: stay at what we have and what is still opening.
          this.max = Math.min(this.max, this.lanes.length + this.pending.size - 1);
        },
      ).finally(() => this.pending.delete(opening));
      this.pending.add(opening);
    }
  }

  /**
   * A session outside the rotation, for requests that would hold up a data
   * lane (a flush to disk), when `secsLeft` of work outlasts what a session
   * costs to start. Undefined when it would not pay or cannot be opened.
   */
  spare(secsLeft: number): Promise<Endpoint | undefined> {
    if (!this.root.openLane || this.closed) return Promise.resolve(undefined);
    const cost = this.root.costs?.().laneMs;
    if (!this.spareLane && cost !== undefined && secsLeft < (PAYBACK * cost) / 1000) return Promise.resolve(undefined);
    if (!this.spareLane) {
      const opening: Promise<Endpoint | undefined> = this.root.openLane().then(
        (ep) => (this.spareEp = ep),
        () => {
          // None this time; a later file may try again.
          if (this.spareLane === opening) this.spareLane = undefined;
          return undefined;
        },
      );
      this.spareLane = opening;
    }
    return this.spareLane;
  }

  /** The spare session if the run opened one (it may still be starting); never opens one. */
  openedSpare(): Promise<Endpoint | undefined> {
    return this.closed || !this.spareLane ? Promise.resolve(undefined) : this.spareLane;
  }

  /** The spare's session died: end it, so the next spare() opens a fresh one. */
  dropSpare(ep: Endpoint): void {
    if (this.spareEp === ep) {
      this.spareLane = undefined;
      this.spareEp = undefined;
    }
    void ep.end().catch(() => undefined);
  }

  /**
   * Drop the extra lanes after a dropped link seen at session generation
   * `seen`; they are reopened as the window grows again. Once per generation:
   * every file that saw the drop asks, and a late one must not close the lanes
   * the first one's retry is already using on the new session.
   */
  async reset(seen = this.root.generation ?? 0): Promise<void> {
    if (this.resetAt === seen || (this.root.generation ?? 0) !== seen) return;
    this.resetAt = seen;
    await this.close();
    this.closed = false;
  }

  /**
   * End every lane but the root. Lanes still opening are not waited for:
   * each is ended when it arrives (grow() checks `closed`), so a run that no
   * longer needs them never waits on a slow session start.
   */
  async close(): Promise<void> {
    this.closed = true;
    this.epoch++;
    this.pending.clear();
    const spare = this.spareLane;
    this.spareLane = undefined;
    this.spareEp = undefined;
    void spare?.then((ep) => ep?.end()).catch(() => undefined);
    const extra = this.lanes.splice(1);
    await Promise.allSettled(extra.map((l) => l.ep.end()));
  }
}
