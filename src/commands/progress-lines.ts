/**
 * The text of the progress display, one line at a time, fitted to a width.
 * Pure (no terminal, no clock), so every layout is unit-tested; live-region.ts
 * puts the lines on the screen.
 */

export function formatBytes(n: number): string {
  const units = ['B', 'KiB', 'MiB', 'GiB', 'TiB'];
  let i = 0;
  while (n >= 1024 && i < units.length - 1) {
    n /= 1024;
    i++;
  }
  return `${n.toFixed(i === 0 ? 0 : 1)}${units[i]}`;
}

/** mm:ss, or h:mm:ss past an hour; `--:--` when unknown. */
export function formatClock(sec: number): string {
  if (!Number.isFinite(sec) || sec < 0) return '--:--';
  const s = Math.round(sec);
  const mm = String(Math.floor(s / 60) % 60).padStart(2, '0');
  const ss = String(s % 60).padStart(2, '0');
  return s >= 3600 ? `${Math.floor(s / 3600)}:${mm}:${ss}` : `${mm}:${ss}`;
}

function formatRate(bytesPerSec: number): string {
  return Number.isFinite(bytesPerSec) ? `${formatBytes(bytesPerSec)}/s` : '--/s';
}

// East Asian wide and fullwidth ranges (and emoji): two columns each. A line
// measured short would wrap on the terminal and push every later row down.
const WIDE: Array<[number, number]> = [
  [0x1100, 0x115f], [0x2e80, 0x303e], [0x3041, 0x33ff], [0x3400, 0x4dbf], [0x4e00, 0x9fff], [0xa000, 0xa4cf],
  [0xac00, 0xd7a3], [0xf900, 0xfaff], [0xfe30, 0xfe4f], [0xff00, 0xff60], [0xffe0, 0xffe6],
  [0x1f300, 0x1f64f], [0x1f900, 0x1f9ff], [0x20000, 0x3fffd],
];

function charWidth(c: number): number {
  if ((c >= 0x300 && c <= 0x36f) || c === 0x200b || (c >= 0xfe00 && c <= 0xfe0f)) return 0;
  return WIDE.some(([lo, hi]) => c >= lo && c <= hi) ? 2 : 1;
}

/** Columns the text takes on a terminal (control characters are escaped before they get here). */
export function displayWidth(text: string): number {
  let w = 0;
  for (const ch of text) w += charWidth(ch.codePointAt(0)!);
  return w;
}

/** The text cut or padded to exactly `width` columns; a cut name keeps its end, marked with "…". */
export function fitName(text: string, width: number): string {
  const w = displayWidth(text);
  if (w <= width) return text + ' '.repeat(width - w);
  const chars = [...text];
  let kept = '';
  let used = 1; // the "…"
  for (let i = chars.length - 1; i >= 0; i--) {
    const cw = charWidth(chars[i].codePointAt(0)!);
    if (used + cw > width) break;
    kept = chars[i] + kept;
    used += cw;
  }
  return '…' + kept + ' '.repeat(width - used);
}

/** The text cut to at most `width` columns (the last resort for a terminal too narrow for any layout). */
export function clip(text: string, width: number): string {
  let out = '';
  let used = 0;
  for (const ch of text) {
    const cw = charWidth(ch.codePointAt(0)!);
    if (used + cw > width) break;
    out += ch;
    used += cw;
  }
  return out;
}

const NAME_WIDTH = 28;
const MIN_NAME_WIDTH = 8;
const BAR_WIDTH = 20;
const MIN_BAR_WIDTH = 6;

function bar(fraction: number, width: number): string {
  const full = Math.max(0, Math.min(width, Math.floor(fraction * width)));
  return `[${'='.repeat(full)}${full < width ? '>' : ''}${' '.repeat(Math.max(width - full - 1, 0))}]`;
}

/** A line's parts: the name column, then `lead`, a bar when there is room, then `cells`. */
interface Layout {
  name: string;
  lead: string[];
  cells: string[];
  /** Where the bar stands, 0..1; no bar when undefined. */
  fraction?: number;
}

/**
 * Room goes first to the cells, then to the name (up to NAME_WIDTH, so lines
 * align), then to the bar: a narrow terminal loses the bar first, then name
 * width, and only then the end of the line.
 */
function compose(l: Layout, width: number): string {
  const fixed = displayWidth([...l.lead, ...l.cells].join(' '));
  const spare = width - fixed - 1 - NAME_WIDTH - 1;
  const barText = l.fraction !== undefined && spare >= MIN_BAR_WIDTH + 2 ? bar(l.fraction, Math.min(BAR_WIDTH, spare - 2)) : '';
  const rest = [...l.lead, ...(barText ? [barText] : []), ...l.cells].join(' ');
  const nameWidth = Math.max(MIN_NAME_WIDTH, Math.min(NAME_WIDTH, width - displayWidth(rest) - 1));
  return clip(`${fitName(l.name, nameWidth)} ${rest}`, width);
}

/** What the display knows about one file, or the whole run, at a moment. */
export interface Progress {
  name: string;
  /** Bytes of the file present at the target, resumed ones included. */
  bytes: number;
  /** The size planned from the source's stat. */
  total: number;
  /** Bytes per second, NaN while too little time has passed to tell. */
  rate: number;
}

function percent(p: Progress): number {
  return p.total > 0 ? Math.min(100, Math.floor((p.bytes / p.total) * 100)) : 100;
}

/** A file in flight: `name  45% [=====>   ] 43.0MiB 4.8MiB/s ETA 00:12`. */
export function liveLine(p: Progress, width: number): string {
  const eta = p.rate > 0 ? (p.total - p.bytes) / p.rate : NaN;
  return compose({
    name: p.name,
    lead: [`${percent(p)}%`.padStart(4)],
    cells: [formatBytes(p.bytes).padStart(9), formatRate(p.rate).padStart(11), `ETA ${formatClock(eta)}`],
    fraction: p.total > 0 ? Math.min(p.bytes / p.total, 1) : 1,
  }, width);
}

/** A file that arrived: `name 100%  95.4MiB  6.4MiB/s 00:15` (elapsed, not ETA), as scp leaves it. */
export function doneLine(name: string, size: number, bytesSent: number, seconds: number, width: number): string {
  const rate = seconds > 0 ? bytesSent / seconds : NaN;
  return compose({ name, lead: ['100%'], cells: [formatBytes(size).padStart(9), formatRate(rate).padStart(11), formatClock(seconds)] }, width);
}

/**
 * Bytes per second over the last few seconds, so an ETA follows a link that
 * slows down or speeds up; NaN until half a second of samples exists (the
 * first sample's rate would be one chunk over a few milliseconds).
 */
export class RateMeter {
  private readonly samples: Array<{ at: number; bytes: number }> = [];
  constructor(private readonly spanMs = 5000) {}

  rate(at: number, bytes: number): number {
    this.samples.push({ at, bytes });
    while (this.samples.length > 2 && at - this.samples[1].at >= this.spanMs) this.samples.shift();
    const first = this.samples[0];
    const dt = (at - first.at) / 1000;
    return dt >= 0.5 ? (bytes - first.bytes) / dt : NaN;
  }
}
