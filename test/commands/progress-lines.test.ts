// The progress display's lines: every layout fits its width, the name keeps
// its end, the bar goes before anything a person reads.
import { describe, expect, it } from 'vitest';
import { RateMeter, displayWidth, doneLine, fitName, formatClock, liveLine } from '../../src/commands/progress-lines.js';

const MiB = 1024 * 1024;
const file = { name: 'a.bin', bytes: 43 * MiB, total: 100 * MiB, rate: 4.8 * MiB };

describe('liveLine', () => {
  it('shows name, percentage, bar, bytes, rate and ETA on a wide terminal', () => {
    const line = liveLine(file, 99);
    expect(line).toMatch(/^a\.bin {24} 43% \[=+> +\]\s+43\.0MiB\s+4\.8MiB\/s ETA 00:12$/);
    expect(displayWidth(line)).toBeLessThanOrEqual(99);
  });

  it('drops the bar before it shortens the name, and never exceeds the width', () => {
    for (let width = 10; width <= 120; width++) {
      const line = liveLine({ ...file, name: 'a-rather-long-file-name-for-a-progress-line.tar.gz' }, width);
      expect(displayWidth(line), `width ${width}: ${line}`).toBeLessThanOrEqual(width);
    }
    const narrow = liveLine(file, 59);
    expect(narrow).not.toContain('[');
    expect(narrow).toContain('ETA 00:12');
  });

  it('counts wide characters as two columns', () => {
    const line = liveLine({ ...file, name: '日本語のファイル名がとても長い場合.txt' }, 70);
    expect(displayWidth(line)).toBeLessThanOrEqual(70);
    expect(line).toContain('…');
  });

  it('says --:-- while the rate is unknown', () => {
    expect(liveLine({ ...file, rate: NaN }, 99)).toMatch(/--\/s ETA --:--$/);
  });
});

describe('doneLine', () => {
  it('collapses a file to size, average rate and elapsed time', () => {
    expect(doneLine('b.bin', 50 * MiB, 50 * MiB, 10, 99)).toMatch(/^b\.bin {23} 100% +50\.0MiB +5\.0MiB\/s 00:10$/);
  });
});

describe('helpers', () => {
  it('fitName keeps the end of a long name', () => {
    expect(fitName('abcdefghij', 6)).toBe('…fghij');
    expect(fitName('abc', 6)).toBe('abc   ');
  });

  it('formatClock shows hours past an hour', () => {
    expect(formatClock(59)).toBe('00:59');
    expect(formatClock(3661)).toBe('1:01:01');
    expect(formatClock(Infinity)).toBe('--:--');
  });

  it('RateMeter waits half a second, then follows the last seconds', () => {
    const m = new RateMeter(5000);
    expect(m.rate(0, 0)).toBeNaN();
    expect(m.rate(100, 10 * MiB)).toBeNaN();
    expect(m.rate(1000, 10 * MiB)).toBe(10 * MiB);
    // A stall long enough drags the rate down instead of keeping the early burst.
    for (let t = 2000; t <= 10_000; t += 1000) m.rate(t, 10 * MiB);
    expect(m.rate(11_000, 10 * MiB)).toBe(0);
  });
});
