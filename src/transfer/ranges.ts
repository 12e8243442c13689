/** A set of byte ranges [start, end), kept sorted and merged: what is already copied. */
export type Range = [start: number, end: number];

export class RangeSet {
  private ranges: Range[] = [];

  constructor(initial: Range[] = []) {
    for (const [s, e] of initial) this.add(s, e);
  }

  add(start: number, end: number): void {
    if (end <= start) return;
    const out: Range[] = [];
    let placed = false;
    for (const [s, e] of this.ranges) {
      if (e < start) out.push([s, e]);
      else if (s > end) {
        if (!placed) out.push([start, end]), (placed = true);
        out.push([s, e]);
      } else {
        start = Math.min(start, s);
        end = Math.max(end, e);
      }
    }
    if (!placed) out.push([start, end]);
    this.ranges = out;
  }

  /** Total bytes covered. */
  get size(): number {
    return this.ranges.reduce((n, [s, e]) => n + e - s, 0);
  }

  /** Bytes from 0 that are covered without a gap: a safe point to truncate to. */
  get contiguous(): number {
    return this.ranges.length > 0 && this.ranges[0][0] === 0 ? this.ranges[0][1] : 0;
  }

  /** The gap at or after `pos`: from where the covered run holding `pos` ends to where the next one starts (Infinity: none). */
  gapFrom(pos: number): Range {
    let at = pos;
    for (const [s, e] of this.ranges) {
      if (e <= at) continue;
      if (s > at) return [at, s];
      at = e;
    }
    return [at, Infinity];
  }

  /** The gaps in [0, total). */
  missing(total: number): Range[] {
    const gaps: Range[] = [];
    let at = 0;
    for (const [s, e] of this.ranges) {
      if (s >= total) break;
      if (s > at) gaps.push([at, s]);
      at = Math.max(at, e);
    }
    if (at < total) gaps.push([at, total]);
    return gaps;
  }

  /** Forget everything (the partial was started over). */
  clear(): void {
    this.ranges = [];
  }

  /**
   * Keep only the part from 0 without a gap; returns its end. A target written
   * strictly in order can continue only from there: a range past a gap would
   * need a write out of order to reach.
   */
  keepContiguous(): number {
    const end = this.contiguous;
    this.ranges = end > 0 ? [[0, end]] : [];
    return end;
  }

  toJSON(): Range[] {
    return this.ranges.map(([s, e]) => [s, e]);
  }
}
