// The region redrawn at the bottom of a terminal, replayed through a terminal
// emulator: whatever the frames did, the screen ends with the lasting lines
// and nothing else, on terminals big and small.
import { Writable } from 'node:stream';
import { describe, expect, it } from 'vitest';
import { LiveRegion } from '../../src/commands/live-region.js';
import { replay } from '../support/screen.js';

function fakeTty(columns: number, rows: number): { out: NodeJS.WriteStream; raw: () => string } {
  let raw = '';
  const w = new Writable({
    write(chunk: Buffer, _enc, cb) {
      raw += chunk.toString('utf8');
      cb();
    },
  });
  // The pty turns "\n" into "\r\n"; the emulator should see what a terminal sees.
  return { out: Object.assign(w, { isTTY: true, columns, rows }) as unknown as NodeJS.WriteStream, raw: () => raw.replace(/\n/g, '\r\n') };
}

/** a, b and a tiny c start; c finishes first, then b, then a, with frames between. */
function runScenario(region: LiveRegion): void {
  const bar = (name: string, pct: number) => `${name.padEnd(10)} ${String(pct).padStart(3)}% [${'='.repeat(pct / 10)}${' '.repeat(10 - pct / 10)}] ETA 00:${String(49 - pct / 2).padStart(2, '0')}`;
  region.draw(['prompt$ ferry cp -r src host:'], [bar('a.bin', 0), bar('b.bin', 0), bar('c.txt', 0), bar('total', 0)]);
  region.draw([], [bar('a.bin', 10), bar('b.bin', 20), bar('c.txt', 50), bar('total', 10)]);
  region.draw(['c.txt      100% 3B'], [bar('a.bin', 20), bar('b.bin', 40), bar('total', 30)]);
  region.draw([], [bar('a.bin', 30), bar('b.bin', 80), bar('total', 50)]);
  region.draw(['b.bin      100% 50MB'], [bar('a.bin', 60), bar('total', 70)]);
  region.draw([], [bar('a.bin', 90), bar('total', 90)]);
  region.close(['a.bin      100% 100MB']);
}

describe('LiveRegion', () => {
  for (const [cols, rows] of [[80, 24], [80, 3], [80, 2], [40, 5]] as const) {
    it(`leaves only the lasting lines on a ${cols}x${rows} terminal`, async () => {
      const tty = fakeTty(cols, rows);
      runScenario(new LiveRegion(tty.out));
      const screen = await replay(tty.raw(), cols, rows);
      // Scrollback included: a row left behind above the screen is as stale as one on it.
      expect(screen.all).toEqual(['prompt$ ferry cp -r src host:', 'c.txt      100% 3B', 'b.bin      100% 50MB', 'a.bin      100% 100MB']);
      expect(screen.cursorVisible).toBe(true);
    });
  }

  it('keeps a line exactly as wide as the terminal from wrapping into the next row', async () => {
    const tty = fakeTty(20, 10);
    const region = new LiveRegion(tty.out);
    region.draw([], ['x'.repeat(30), 'y'.repeat(20)]);
    region.draw([], ['x'.repeat(30), 'y'.repeat(20)]);
    const mid = await replay(tty.raw(), 20, 10);
    expect(mid.all).toHaveLength(2);
    region.close(['done']);
    expect((await replay(tty.raw(), 20, 10)).all).toEqual(['done']);
  });
});
