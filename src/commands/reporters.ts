/**
 * What a run shows: progress lines on a TTY (sampled from the engine's
 * counters, never drawn by it), NDJSON events for scripts, or nothing.
 */
import type { FerryError } from '../errors.js';
import type { FileEvent, LanesEvent, NoticeEvent, Transfer, WriteOrderEvent } from '../transfer/transfer.js';
import type { WindowDecision } from '../transfer/window.js';
import { baseName } from '../transfer/names.js';
import { formatTimeline, type SetupPhase } from '../ssh/timeline.js';
import { escapeForTerminal, toJsonLine } from '../util/escape.js';
import { listen } from '../util/listen.js';
import { LiveRegion } from './live-region.js';
import { RateMeter, doneLine, formatBytes, liveLine } from './progress-lines.js';

export { formatBytes };

export interface Reporter {
  /** Called once the run is over, successful or not. */
  finish(): void;
}

export interface TtyReporter extends Reporter {
  /** A line for the terminal that must not tear the progress display (-v decisions). */
  print(line: string): void;
}

const FRAME_MS = 200;

/**
 * A line per file in flight and, with several files, one for the whole run;
 * each finished file collapses into one lasting line, as scp leaves it, even
 * one that came and went between two frames.
 */
export function attachTtyProgress(t: Transfer, stream: NodeJS.WriteStream = process.stderr): TtyReporter {
  const region = new LiveRegion(stream);
  const meters = new Map<FileEvent, RateMeter>();
  const overall = new RateMeter();
  const lasting: string[] = [];

  const liveRows = (now: number): string[] => {
    const width = region.width;
    const files: string[] = [];
    for (const [ev, live] of t.active) {
      let m = meters.get(ev);
      if (!m) meters.set(ev, (m = new RateMeter()));
      files.push(liveLine({ name: escapeForTerminal(baseName(ev.dst)), bytes: live.bytes, total: ev.size, rate: m.rate(now, live.bytes) }, width));
    }
    for (const ev of meters.keys()) if (!t.active.has(ev)) meters.delete(ev);
    const total = t.stats.filesTotal > 1
      ? [liveLine({
          name: `total ${t.stats.filesDone}/${t.stats.filesTotal} files`,
          bytes: t.stats.bytesDone, total: t.stats.bytesTotal, rate: overall.rate(now, t.stats.bytesDone),
        }, width)]
      : [];
    // More files in flight than rows: the first ones, a count of the rest, and the total.
    const room = region.maxRows - total.length;
    if (files.length > room) {
      const shown = Math.max(room - 1, 0);
      const more = `… and ${files.length - shown} more in flight`;
      return [...files.slice(0, shown), ...(room > 0 ? [more] : []), ...total];
    }
    return [...files, ...total];
  };
  const frame = () => region.draw(lasting.splice(0), liveRows(Date.now()));

  const onDone = (ev: FileEvent & { bytes: number; ms: number }) => {
    lasting.push(doneLine(escapeForTerminal(baseName(ev.dst)), ev.size, ev.bytes, ev.ms / 1000, region.width));
  };
  const onError = ({ error }: { error: FerryError }) => lasting.push(errorLine(error));
  const onRetry = (r: RetryEvent) => lasting.push(retryLine(r).trimEnd());
  const onNotice = (n: NoticeEvent) => lasting.push(noticeLine(n).trimEnd());
  const detach = listen(t, { 'file-done': onDone, 'file-error': onError, retry: onRetry, notice: onNotice });
  const timer = setInterval(frame, FRAME_MS);
  // A display must never keep the process alive.
  timer.unref();
  return {
    print(line: string) {
      lasting.push(line);
    },
    finish() {
      clearInterval(timer);
      detach();
      // Nothing is in flight any more: only the lasting lines remain.
      region.close(lasting.splice(0));
    },
  };
}

interface SetupEvent {
  host: string;
  phases: SetupPhase[];
}

function errorLine(error: FerryError): string {
  return `ferry: ${escapeForTerminal(error.message)}${error.hint ? ` (${escapeForTerminal(error.hint)})` : ''}`;
}

interface RetryEvent {
  path: string;
  attempt: number;
  delayMs: number;
  reason: string;
}

function retryLine(r: RetryEvent): string {
  return `ferry: ${escapeForTerminal(r.reason)}; reconnecting in ${(r.delayMs / 1000).toFixed(0)} s (attempt ${r.attempt})\n`;
}

function noticeLine(n: NoticeEvent): string {
  return `ferry: note: ${escapeForTerminal(n.message)}\n`;
}

/** Errors (and reconnects) as they happen, on stderr, when there are no bars to interleave with. */
export function attachErrorPrinter(t: Transfer): Reporter {
  const onError = ({ error }: { error: FerryError }) => process.stderr.write(`${errorLine(error)}\n`);
  const onRetry = (r: RetryEvent) => process.stderr.write(retryLine(r));
  const onNotice = (n: NoticeEvent) => process.stderr.write(noticeLine(n));
  return { finish: listen(t, { 'file-error': onError, retry: onRetry, notice: onNotice }) };
}

function formatRate(bytesPerSec: number): string {
  return `${formatBytes(bytesPerSec)}/s`;
}

/** -v: the engine's decisions (window, lanes, resume) on stderr, or through the progress display when there is one. */
export function attachDebug(t: Transfer, print: (line: string) => void = (l) => process.stderr.write(`${l}\n`)): Reporter {
  const w = (s: string) => print(`debug1: ${s}`);
  const onWindow = (d: WindowDecision) =>
    w(`window ${d.reason}: ${formatBytes(d.window)} in flight (${d.phase}, last round ${formatRate(d.throughput)})`);
  const onLanes = (l: LanesEvent) =>
    w(`lanes: ${l.lanes} SFTP session(s) to ${escapeForTerminal(l.label)}, want ${l.want}: ${l.reason}`);
  const onResume = (r: FileEvent & { resumedFrom?: number; restarted?: string }) =>
    w(r.restarted !== undefined
      ? `starting "${escapeForTerminal(r.dst)}" over: ${escapeForTerminal(r.restarted)}`
      : `resuming "${escapeForTerminal(r.dst)}" at ${r.resumedFrom} of ${r.size} bytes`);
  const onSetup = (e: SetupEvent) => w(`setup of ${escapeForTerminal(e.host)} in ms (round trips): ${formatTimeline(e.phases)}`);
  const onWriteOrder = (o: WriteOrderEvent) =>
    w(`writes to ${escapeForTerminal(o.label)} now go in offset order, one handle per file: ${escapeForTerminal(o.reason)}; copying "${escapeForTerminal(o.path)}" again`);
  return { finish: listen(t, { window: onWindow, lanes: onLanes, 'file-resume': onResume, setup: onSetup, 'write-order': onWriteOrder }) };
}

/** One JSON object per line on stdout: start, file, error, summary. */
export function attachJson(t: Transfer, command: string, out: NodeJS.WritableStream = process.stdout): Reporter {
  const emit = (obj: Record<string, unknown>) => out.write(toJsonLine({ time: new Date().toISOString(), ...obj }) + '\n');
  emit({ event: 'start', command });
  const onDone = (ev: FileEvent & { bytes: number; ms: number; resumedFrom: number }) =>
    emit({ event: 'file', action: 'copied', src: ev.src, dst: ev.dst, bytes: ev.bytes, resumedFrom: ev.resumedFrom, duration: ev.ms / 1000 });
  const onError = ({ path, error }: { path: string; error: FerryError }) => emit({ event: 'error', path, message: error.message, hint: error.hint });
  const onWindow = (d: WindowDecision) => emit({ event: 'window', ...d });
  const onLanes = (l: LanesEvent) => emit({ event: 'lanes', host: l.label, lanes: l.lanes, want: l.want, reason: l.reason });
  const onRetry = (r: RetryEvent) => emit({ event: 'retry', ...r });
  const onSetup = (e: SetupEvent) => emit({
    event: 'setup', host: e.host,
    ms: Math.round(e.phases.reduce((s, p) => s + p.ms, 0)), roundTrips: e.phases.reduce((s, p) => s + p.roundTrips, 0),
    phases: e.phases.map((p) => ({ name: p.name, ms: Math.round(p.ms * 10) / 10, roundTrips: p.roundTrips })),
  });
  const onWriteOrder = (o: WriteOrderEvent) => emit({ event: 'write-order', host: o.label, mode: o.mode, path: o.path, reason: o.reason });
  const onNotice = (n: NoticeEvent) => emit({ event: 'notice', host: n.label, path: n.path, message: n.message });
  const onSkip = (ev: FileEvent & { reason: string }) =>
    emit({ event: 'file', action: 'skipped', src: ev.src, dst: ev.dst, bytes: 0, size: ev.size, reason: ev.reason });
  const onResume = (r: FileEvent & { resumedFrom?: number; restarted?: string }) =>
    emit(r.restarted !== undefined ? { event: 'restart', dst: r.dst, reason: r.restarted } : { event: 'resume', dst: r.dst, resumedFrom: r.resumedFrom, size: r.size });
  const detach = listen(t, {
    'file-done': onDone, 'file-error': onError, window: onWindow, lanes: onLanes, setup: onSetup,
    'file-resume': onResume, retry: onRetry, 'file-skip': onSkip, 'write-order': onWriteOrder, notice: onNotice,
  });
  return {
    finish() {
      detach();
      const elapsed = (Date.now() - t.stats.startedAt) / 1000;
      emit({
        event: 'summary', files: t.stats.filesDone, failed: t.stats.filesFailed, skipped: t.stats.filesSkipped,
        bytes: t.stats.bytesDone, bytesSkipped: t.stats.bytesSkipped,
        elapsed, rate: elapsed > 0 ? Math.round(t.stats.bytesDone / elapsed) : 0,
      });
    },
  };
}
