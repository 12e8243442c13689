/**
 * The rows at the bottom of a terminal that a progress display redraws, with
 * finished lines printed above them to stay. Each frame goes back to the
 * region's first row, erases every row it drew and writes everything anew in
 * one write(), so no row can keep what an earlier frame drew there.
 *
 * Rows are counted, never guessed, and three things keep the count true:
 * - a live line is cut to one column less than the terminal, and autowrap is
 *   off while live lines are written, so none of them wraps;
 * - the region is never taller than the terminal less one row: cursor-up stops
 *   at the top of the screen, and a region taller than a small tmux pane left
 *   its first rows behind on every frame (issue 11);
 * - after a frame the cursor sits at the start of the row below the region, so
 *   the final frame leaves the shell prompt on a clean line.
 */
export class LiveRegion {
  /** Live rows drawn by the last frame, just above the cursor. */
  private height = 0;
  private cursorHidden = false;
  private readonly restore = () => this.showCursor();

  constructor(private readonly out: NodeJS.WriteStream) {}

  /** Columns a line may take: one less than the terminal's, so the cursor never waits at the margin to wrap. */
  get width(): number {
    return Math.max((this.out.columns || 80) - 1, 10);
  }

  /** Live rows the terminal can hold with the cursor's row below them. */
  get maxRows(): number {
    return Math.max((this.out.rows || 24) - 1, 1);
  }

  /**
   * `lasting` lines go above the region and stay (they may wrap, they are never
   * revisited); `live` replaces the region, cut to maxRows by the caller's choice
   * of what matters (see fitRows) or else from the top.
   */
  draw(lasting: string[], live: string[]): void {
    const rows = live.length > this.maxRows ? live.slice(live.length - this.maxRows) : live;
    if (lasting.length === 0 && rows.length === 0 && this.height === 0) return;
    let s = '';
    if (!this.cursorHidden && rows.length > 0) {
      s += '\x1b[?25l';
      this.cursorHidden = true;
      // A second Ctrl-C exits without unwinding: the cursor must come back anyway.
      process.once('exit', this.restore);
    }
    // Erase the old rows and the cursor's row one by one (EL), going down with
    // CUD, which never scrolls, then back up. Not "erase below" (ED): from the
    // top-left corner, as in a small pane, tmux takes ED for a clear screen and
    // scrolls the screen into its history (scroll-on-clear), one copy per frame.
    if (this.height > 0) s += `\x1b[${this.height}A`;
    s += '\r\x1b[2K';
    for (let i = 0; i < this.height; i++) s += '\x1b[B\x1b[2K';
    if (this.height > 0) s += `\x1b[${this.height}A`;
    // Lasting lines may wrap (a long error); the rows they wrap into were erased above
    // or are the fresh rows below, and they are never revisited.
    for (const line of lasting) s += `${line}\x1b[K\n`;
    if (rows.length > 0) {
      s += '\x1b[?7l';
      for (const line of rows) s += `${line}\x1b[K\n`;
      s += '\x1b[?7h';
    }
    this.height = rows.length;
    this.out.write(s);
  }

  /** Erases the region, prints the last lasting lines, shows the cursor. */
  close(lasting: string[] = []): void {
    this.draw(lasting, []);
    this.showCursor();
  }

  private showCursor(): void {
    if (!this.cursorHidden) return;
    this.cursorHidden = false;
    process.off('exit', this.restore);
    this.out.write('\x1b[?25h');
  }
}
