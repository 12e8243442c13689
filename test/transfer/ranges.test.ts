import { describe, expect, it } from 'vitest';
import { RangeSet } from '../../src/transfer/ranges.js';

describe('RangeSet', () => {
  it('merges adjacent and overlapping ranges', () => {
    const r = new RangeSet();
    r.add(10, 20);
    r.add(0, 10);
    r.add(30, 40);
    r.add(15, 32);
    expect(r.toJSON()).toEqual([[0, 40]]);
    expect(r.size).toBe(40);
  });

  it('keeps gaps and reports them as missing', () => {
    const r = new RangeSet([[0, 5], [10, 15], [20, 25]]);
    expect(r.missing(30)).toEqual([[5, 10], [15, 20], [25, 30]]);
    expect(r.contiguous).toBe(5);
    expect(r.size).toBe(15);
  });

  it('reports everything missing when empty, nothing when full', () => {
    expect(new RangeSet().missing(7)).toEqual([[0, 7]]);
    expect(new RangeSet([[0, 7]]).missing(7)).toEqual([]);
    expect(new RangeSet().missing(0)).toEqual([]);
  });

  it('ignores empty ranges and out-of-order inserts', () => {
    const r = new RangeSet();
    r.add(5, 5);
    r.add(8, 9);
    r.add(1, 2);
    r.add(3, 4);
    expect(r.toJSON()).toEqual([[1, 2], [3, 4], [8, 9]]);
    expect(r.contiguous).toBe(0);
  });

  it('gapFrom: the gap at or after a position, up to the next covered range', () => {
    const r = new RangeSet([[0, 5], [10, 15], [15, 20], [30, 40]]);
    expect(r.gapFrom(0)).toEqual([5, 10]);
    expect(r.gapFrom(7)).toEqual([7, 10]);
    expect(r.gapFrom(12)).toEqual([20, 30]);
    expect(r.gapFrom(35)).toEqual([40, Infinity]);
    expect(new RangeSet().gapFrom(3)).toEqual([3, Infinity]);
  });
});
