// A terminal emulator (xterm.js, headless) that replays what a program wrote,
// so a test can compare the screen a person would be left with, not the bytes.
import xterm from '@xterm/headless';

export interface Screen {
  /** The visible rows, right-trimmed, trailing blank rows dropped. */
  rows: string[];
  /** Scrollback and visible rows together, as the user could scroll back through them. */
  all: string[];
  cursorVisible: boolean;
}

export function replay(raw: string, cols: number, rows: number): Promise<Screen> {
  const term = new xterm.Terminal({ cols, rows, scrollback: 10_000, allowProposedApi: true });
  return new Promise((resolve) => {
    term.write(raw, () => {
      const buf = term.buffer.active;
      const lines: string[] = [];
      for (let i = 0; i < buf.length; i++) lines.push(buf.getLine(i)?.translateToString(true) ?? '');
      const trim = (ls: string[]) => {
        const out = [...ls];
        while (out.length > 0 && out[out.length - 1] === '') out.pop();
        return out;
      };
      const screen: Screen = {
        rows: trim(lines.slice(buf.viewportY, buf.viewportY + rows)),
        all: trim(lines),
        // DECTCEM: whichever of hide (?25l) and show (?25h) came last.
        cursorVisible: raw.lastIndexOf('\x1b[?25l') <= raw.lastIndexOf('\x1b[?25h'),
      };
      term.dispose();
      resolve(screen);
    });
  });
}
