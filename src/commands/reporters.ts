/**
 * What a run shows: progress bars on a TTY (sampled from the engine's
 * counters, never drawn by it), NDJSON events for scripts, or nothing.
 */
import cliProgress from 'cli-progress';
import type { FerryError } from '../errors.js';
import type { FileEvent, LanesEvent, NoticeEvent, Transfer, WriteOrderEvent } from '../transfer/transfer.js';
import type { WindowDecision } from '../transfer/window.js';
import { baseName } from '../transfer/names.js';
import { escapeForTerminal, toJsonLine } from '../util/escape.js';
import { listen } from '../util/listen.js';

export interface Reporter {
  /** Called once the run is over, successful or not. */
  finish(): void;
}

export function formatBytes(n: number): string {
  const units = ['B', 'KiB', 'MiB', 'GiB', 'TiB'];
  let i = 0;
  while (n >= 1024 && i < units.length - 1) {
    n /= 1024;
    i++;
  }
  return `${n.toFixed(i === 0 ? 0 : 1)}${units[i]}`;
}

function formatEta(sec: number): string {
  if (!Number.isFinite(sec) || sec < 0) return '--:--';
  const s = Math.round(sec);
  return `${String(Math.floor(s / 60)).padStart(2, '0')}:${String(s % 60).padStart(2, '0')}`;
}

function shortName(path: string, width: number): string {
  const name = escapeForTerminal(path);
  return name.length <= width ? name.padEnd(width) : '…' + name.slice(name.length - width + 1);
}

/** Bars for the files in flight plus, with several files, one for the whole run. */
export function attachTtyProgress(t: Transfer, stream: NodeJS.WriteStream = process.stderr): Reporter {
  const multi = new cliProgress.MultiBar(
    {
      stream,
      format: '{name} {percentage}% {bar} {done} {rate}/s ETA {remaining}',
      barsize: 20,
      hideCursor: true,
      clearOnComplete: false,
      autopadding: true,
      fps: 5,
    },
    cliProgress.Presets.shades_classic,
  );
  const bars = new Map<string, { bar: cliProgress.SingleBar; started: number }>();
  let overall: cliProgress.SingleBar | undefined;
  const started = Date.now();

  const sample = () => {
    const now = Date.now();
    for (const [ev, live] of t.active) {
      let b = bars.get(ev.dst);
      if (!b) {
        b = { bar: multi.create(Math.max(ev.size, 1), 0), started: now };
        bars.set(ev.dst, b);
      }
      const rate = live.bytes / Math.max((now - b.started) / 1000, 0.001);
      b.bar.update(ev.size === 0 ? 1 : live.bytes, {
        name: shortName(baseName(ev.dst), 28), done: formatBytes(live.bytes), rate: formatBytes(rate), remaining: formatEta((ev.size - live.bytes) / rate),
      });
    }
    if (t.stats.filesTotal > 1) {
      overall ??= multi.create(1, 0);
      const rate = t.stats.bytesDone / Math.max((now - started) / 1000, 0.001);
      overall.setTotal(Math.max(t.stats.bytesTotal, 1));
      overall.update(t.stats.bytesDone, {
        name: shortName(`total ${t.stats.filesDone}/${t.stats.filesTotal} files`, 28),
        done: formatBytes(t.stats.bytesDone), rate: formatBytes(rate), remaining: formatEta((t.stats.bytesTotal - t.stats.bytesDone) / rate),
      });
    }
  };
  const onDone = (ev: FileEvent & { bytes: number }) => {
    const b = bars.get(ev.dst);
    if (!b) return;
    const secs = Math.max((Date.now() - b.started) / 1000, 0.001);
    // Like scp: a finished file leaves one line behind, its bar goes.
    multi.remove(b.bar);
    bars.delete(ev.dst);
    multi.log(`${shortName(baseName(ev.dst), 28)} 100% ${formatBytes(ev.size).padStart(9)} ${formatBytes(ev.bytes / secs).padStart(9)}/s ${formatEta(secs)}\n`);
  };
  const onError = ({ error }: { error: FerryError }) => {
    multi.log(`ferry: ${escapeForTerminal(error.message)}\n`);
  };
  const onRetry = (r: RetryEvent) => multi.log(retryLine(r));
  const onNotice = (n: NoticeEvent) => multi.log(noticeLine(n));
  const detach = listen(t, { 'file-done': onDone, 'file-error': onError, retry: onRetry, notice: onNotice });
  const timer = setInterval(sample, 200);
  return {
    finish() {
      clearInterval(timer);
      sample();
      // Flush lines logged since the last frame before the final one.
      multi.update();
      multi.stop();
      detach();
    },
  };
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
  const onError = ({ error }: { error: FerryError }) => {
    process.stderr.write(`ferry: ${escapeForTerminal(error.message)}${error.hint ? ` (${escapeForTerminal(error.hint)})` : ''}\n`);
  };
  const onRetry = (r: RetryEvent) => process.stderr.write(retryLine(r));
  const onNotice = (n: NoticeEvent) => process.stderr.write(noticeLine(n));
  return { finish: listen(t, { 'file-error': onError, retry: onRetry, notice: onNotice }) };
}

function formatRate(bytesPerSec: number): string {
  return `${formatBytes(bytesPerSec)}/s`;
}

/** -v: the engine's decisions (window, lanes, resume) on stderr. */
export function attachDebug(t: Transfer): Reporter {
  const w = (s: string) => process.stderr.write(`debug1: ${s}\n`);
  const onWindow = (d: WindowDecision) =>
    w(`window ${d.reason}: ${formatBytes(d.window)} in flight (${d.phase}, last round ${formatRate(d.throughput)})`);
  const onLanes = (l: LanesEvent) =>
    w(`lanes: ${l.lanes} SFTP session(s) to ${escapeForTerminal(l.label)}, want ${l.want}: ${l.reason}`);
  const onResume = (r: FileEvent & { resumedFrom?: number; restarted?: string }) =>
    w(r.restarted !== undefined
      ? `starting "${escapeForTerminal(r.dst)}" over: ${escapeForTerminal(r.restarted)}`
      : `resuming "${escapeForTerminal(r.dst)}" at ${r.resumedFrom} of ${r.size} bytes`);
  const onWriteOrder = (o: WriteOrderEvent) =>
    w(`writes to ${escapeForTerminal(o.label)} now go in offset order, one handle per file: ${escapeForTerminal(o.reason)}; copying "${escapeForTerminal(o.path)}" again`);
  return { finish: listen(t, { window: onWindow, lanes: onLanes, 'file-resume': onResume, 'write-order': onWriteOrder }) };
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
  const onWriteOrder = (o: WriteOrderEvent) => emit({ event: 'write-order', host: o.label, mode: o.mode, path: o.path, reason: o.reason });
  const onNotice = (n: NoticeEvent) => emit({ event: 'notice', host: n.label, path: n.path, message: n.message });
  const onSkip = (ev: FileEvent & { reason: string }) =>
    emit({ event: 'file', action: 'skipped', src: ev.src, dst: ev.dst, bytes: 0, size: ev.size, reason: ev.reason });
  const onResume = (r: FileEvent & { resumedFrom?: number; restarted?: string }) =>
    emit(r.restarted !== undefined ? { event: 'restart', dst: r.dst, reason: r.restarted } : { event: 'resume', dst: r.dst, resumedFrom: r.resumedFrom, size: r.size });
  const detach = listen(t, {
    'file-done': onDone, 'file-error': onError, window: onWindow, lanes: onLanes,
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
