/**
 * Parallel sessions to one place. One SSH channel never has more than its
 * window (2 MiB in OpenSSH and ssh2) in flight, so past that the engine opens
 * more lanes (SFTP sessions on this or further connections, as the endpoint
 * decides) and spreads requests over them.
 */
import type { Endpoint } from './endpoint.js';

export interface Lane {
  ep: Endpoint;
  inflight: number;
}

export class LanePool {
  readonly lanes: Lane[];
  private max: number;
  private growing?: Promise<void>;
  private closed = false;

  constructor(readonly root: Endpoint, maxLanes: number) {
    this.lanes = [{ ep: root, inflight: 0 }];
    this.max = root.openLane ? Math.max(1, maxLanes) : 1;
  }

  /** The lane with the fewest requests outstanding. */
  pick(): Lane {
    let best = this.lanes[0];
    for (const l of this.lanes) if (l.inflight < best.inflight) best = l;
    return best;
  }

  /**
   * Open lanes (in the background, all at once: on a long link each costs
   * round trips) until there are `n`, within the limit.
   */
  grow(n: number, onOpened?: (count: number) => void): void {
    const target = Math.min(n, this.max);
    if (this.closed || this.growing || this.lanes.length >= target) return;
    this.growing = (async () => {
      const results = await Promise.allSettled(Array.from({ length: target - this.lanes.length }, () => this.root.openLane!()));
      for (const r of results) {
        if (r.status === 'rejected') {
          // The server refused another session (MaxSessions): stay at what we have.
          this.max = Math.min(this.max, this.lanes.length + results.filter((x) => x.status === 'fulfilled').length);
          continue;
        }
        if (this.closed) {
          await r.value.end();
          continue;
        }
        this.lanes.push({ ep: r.value, inflight: 0 });
        onOpened?.(this.lanes.length);
      }
    })().finally(() => (this.growing = undefined));
  }

  /** Drop the extra lanes (after a dropped link); they are reopened as the window grows again. */
  async reset(): Promise<void> {
    await this.close();
    this.closed = false;
  }

  async close(): Promise<void> {
    this.closed = true;
    await this.growing;
    await Promise.allSettled(this.lanes.slice(1).map((l) => l.ep.end()));
    this.lanes.splice(1);
  }
}
