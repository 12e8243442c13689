/**
 * What `ferry sync` shows: progress bars on a terminal (the engine's, per
 * transfer), itemized changes and a summary on stdout, errors and warnings on
 * stderr, or NDJSON events with --json; and, for cron, a log file with one
 * timestamped line per action.
 */
import { closeSync, openSync, writeSync } from 'node:fs';
import type { FerryError } from '../errors.js';
import type { Sync, SyncItem, SyncStats } from '../transfer/sync.js';
import type { Transfer } from '../transfer/transfer.js';
import { escapeForTerminal, toJsonLine } from '../util/escape.js';
import { listen } from '../util/listen.js';
import { attachDebug, attachTtyProgress, formatBytes, type Reporter, type TtyReporter } from './reporters.js';

export interface SyncOutputOptions {
  operands: string[];
  json: boolean;
  itemize: boolean;
  dryRun: boolean;
  quiet: boolean;
  verbose: number;
  verify: boolean;
  logFile?: string;
  /** --link-dest was given: the summary counts linked files. */
  linkDest?: boolean;
}

export interface SyncOutput {
  watch(sync: Sync): void;
  /** The run ended with an error that stops it (connection, interrupt, usage). */
  fatal(err: unknown): void;
  finish(): void;
}

// "h" as rsync's itemize marks a hard link.
const MARK: Record<SyncItem['action'], string> = { new: '+', changed: '~', deleted: '-', skipped: '=', linked: 'h' };
const VERIFY_METHOD = 'sha256 of both sides, each read in full';

function itemLine(i: SyncItem): string {
  return `${MARK[i.action]} ${i.path}${i.kind === 'dir' ? '/' : ''}`;
}

function summaryLine(s: SyncStats, elapsed: number, o: SyncOutputOptions): string {
  const sent = s.new + s.changed;
  const would = o.dryRun ? 'would be ' : '';
  const parts = [
    `${sent} ${would}transferred${sent > 0 ? ` (${s.new} new, ${s.changed} changed)` : ''}`,
    ...(o.linkDest ? [`${s.linked} ${would}linked`] : []),
    `${s.skipped} skipped`,
    `${s.deleted} ${would}deleted`,
  ];
  if (s.failed > 0) parts.push(`${s.failed} failed`);
  if (s.vanished > 0) parts.push(`${s.vanished} vanished`);
  if (o.verify && !o.dryRun) parts.push(`${s.verified} verified (${VERIFY_METHOD})`);
  const head = `${o.dryRun ? 'dry run: ' : ''}${s.files} file${s.files === 1 ? '' : 's'}: ${parts.join(', ')}`;
  if (o.dryRun) return `${head}; would send ${formatBytes(s.bytesToSend)}`;
  return `${head}; sent ${formatBytes(s.bytesSent)} in ${elapsed.toFixed(1)} s (${formatBytes(s.bytesSent / Math.max(elapsed, 0.001))}/s)`;
}

/** Appends lines to a log file, each with an ISO timestamp; written as they happen so a killed run leaves its trail. */
function openLog(file: string): { line(s: string): void; close(): void } {
  const fd = openSync(file, 'a', 0o644);
  return {
    line: (s) => writeSync(fd, `${new Date().toISOString()} ${s.replace(/[\r\n]/g, ' ')}\n`),
    close: () => closeSync(fd),
  };
}

export function attachSyncOutput(o: SyncOutputOptions): SyncOutput {
  const out = process.stdout;
  const err = process.stderr;
  const log = o.logFile ? openLog(o.logFile) : undefined;
  const started = Date.now();
  const json = (obj: Record<string, unknown>) => out.write(toJsonLine({ time: new Date().toISOString(), ...obj }) + '\n');
  const showItems = !o.json && (o.itemize || (o.dryRun && !o.quiet));
  // Itemized lines on the same terminal would tear the bars: one or the other, as rsync -i.
  const bars = !o.json && !o.quiet && Boolean(err.isTTY) && !(showItems && out.isTTY);
  let sync: Sync | undefined;
  /** The run ended with a thrown error: cli.ts reports it; a summary line would only mislead. */
  let stopped = false;
  const transferReporters = new Map<Transfer, Reporter[]>();
  const displays = new Set<TtyReporter>();
  const printLine = (line: string) => {
    const [display] = displays;
    if (display) display.print(line);
    else err.write(`${line}\n`);
  };

  // cli.ts may end the process after Ctrl-C before the run unwinds: the log still says so.
  const onExit = () => log?.line('! stopped before the end of the run (interrupted)');
  process.once('exit', onExit);

  if (o.json) json({ event: 'start', command: 'sync', source: o.operands[0], target: o.operands[1], dryRun: o.dryRun });
  log?.line(`sync ${o.dryRun ? '(dry run) ' : ''}start ${o.operands[0]} -> ${o.operands[1]}`);

  const onItem = (i: SyncItem) => {
    if (o.json) {
      json({
        event: 'file', path: i.path, kind: i.kind, action: i.action, bytes: i.bytes, size: i.size, reason: i.reason,
        resumedFrom: i.resumedFrom ?? 0, duration: i.duration ?? 0,
        ...(i.verified !== undefined ? { verified: i.verified } : {}), ...(i.resent ? { resent: true } : {}), ...(o.dryRun ? { dryRun: true } : {}),
      });
    }
    if (i.action === 'skipped') return;
    if (showItems) out.write(`${escapeForTerminal(itemLine(i))}\n`);
    log?.line(`${o.dryRun ? '(dry run) ' : ''}${itemLine(i)}${i.bytes > 0 ? ` ${i.bytes} bytes` : ''}${i.resent ? ' (sent twice: the first copy did not verify)' : ''}`);
  };
  const onError = ({ path, error, duringTransfer }: { path: string; error: FerryError; duringTransfer: boolean }) => {
    if (o.json) json({ event: 'error', path, message: error.message, hint: error.hint });
    // On a terminal the progress display already printed the engine's errors between its bars.
    else if (!(bars && duringTransfer)) printLine(`ferry: ${escapeForTerminal(error.message)}${error.hint ? ` (${escapeForTerminal(error.hint)})` : ''}`);
    log?.line(`! ${error.message}`);
  };
  const onWarning = ({ path, message }: { path: string; message: string }) => {
    if (o.json) json({ event: 'warning', path, message });
    // While a progress display owns the terminal's last rows (links overlap sends), it prints the line.
    else if (!o.quiet) printLine(`ferry: ${escapeForTerminal(message)}`);
    log?.line(`? ${message}`);
  };
  const onTransfer = (t: Transfer) => {
    const rs: Reporter[] = [];
    const tty = bars ? attachTtyProgress(t) : undefined;
    if (tty) displays.add(tty);
    if (o.verbose > 0) rs.push(attachDebug(t, tty?.print));
    if (tty) rs.push(tty);
    if (o.json) {
      const onRetry = (r: Record<string, unknown>) => json({ event: 'retry', ...r });
      t.on('retry', onRetry);
      rs.push({ finish: () => t.off('retry', onRetry) });
    }
    transferReporters.set(t, rs);
  };
  const onTransferEnd = (t: Transfer) => {
    for (const r of transferReporters.get(t) ?? []) {
      r.finish();
      displays.delete(r as TtyReporter);
    }
    transferReporters.delete(t);
  };
  const onPhase = (p: { phase: string; files?: number; count?: number }) => {
    if (o.verbose > 0) err.write(`debug1: sync: ${p.phase}${p.files !== undefined ? ` ${p.files} files` : ''}${p.count !== undefined ? ` ${p.count} entries` : ''}\n`);
  };

  let detach = () => {};
  return {
    watch(s: Sync) {
      sync = s;
      detach = listen(s, { item: onItem, 'file-error': onError, warning: onWarning, transfer: onTransfer, 'transfer-end': onTransferEnd, phase: onPhase });
    },
    fatal(e: unknown) {
      stopped = true;
      const message = e instanceof Error ? e.message : String(e);
      if (o.json) json({ event: 'error', path: '', message, hint: (e as FerryError)?.hint, fatal: true });
      log?.line(`! ${message}`);
    },
    finish() {
      for (const t of [...transferReporters.keys()]) onTransferEnd(t);
      const elapsed = (Date.now() - started) / 1000;
      if (sync) {
        const s = sync.stats;
        if (o.json) {
          json({
            event: 'summary', dryRun: o.dryRun, files: s.files, transferred: s.new + s.changed, new: s.new, changed: s.changed,
            skipped: s.skipped, linked: s.linked, bytesLinked: s.bytesLinked, deleted: s.deleted, failed: s.failed, vanished: s.vanished,
            ...(o.verify ? { verified: s.verified, verifyMethod: VERIFY_METHOD } : {}),
            ...(sync.deleteRefused !== undefined ? { deleteRefused: sync.deleteRefused } : {}),
            bytes: s.bytesSent, bytesSkipped: s.bytesSkipped, ...(o.dryRun ? { bytesToSend: s.bytesToSend } : {}),
            elapsed, rate: elapsed > 0 ? Math.round(s.bytesSent / elapsed) : 0,
          });
        } else if (!o.quiet && !stopped) {
          out.write(`${summaryLine(s, elapsed, o)}\n`);
        }
        log?.line(`sync done: ${summaryLine(s, elapsed, o)}`);
        detach();
      }
      process.off('exit', onExit);
      log?.close();
    },
  };
}
