/** `ferry cp`: scp's arguments, every byte over SFTP. */
import { ExitCode, UsageError } from '../errors.js';
import { createHash } from 'node:crypto';
import { FileRunJournal } from '../transfer/run-journal.js';
import { Transfer } from '../transfer/transfer.js';
import type { SetupPhase } from '../ssh/timeline.js';
import { planCopy } from './cp-plan.js';
import { parseLocation } from './location.js';
import { engineOptions, openEndpoints, stateDir, type RemoteOptions } from './remote-options.js';
import { attachDebug, attachErrorPrinter, attachJson, attachTtyProgress, type Reporter } from './reporters.js';

export interface CpOptions extends RemoteOptions {
  recursive: boolean;
  preserve: boolean;
  quiet: boolean;
  json: boolean;
}

/** The same command (operands, flags, directory) finds the same run journal. */
function runKey(operands: string[], o: CpOptions): string {
  const id = JSON.stringify({ cwd: process.cwd(), operands, r: o.recursive, p: o.preserve, port: o.port ?? null });
  return createHash('sha256').update(id).digest('hex').slice(0, 32);
}

export async function runCp(operands: string[], o: CpOptions): Promise<number> {
  if (operands.length < 2) throw new UsageError('cp needs a source and a target', { hint: 'ferry cp [options] SOURCE... TARGET' });
  const locations = operands.map(parseLocation);
  const target = locations.pop()!;

  // The setup timeline costs ssh2 debug messages during the handshake: only when someone reads it.
  const onSetup = o.verbose > 0 || o.json ? (host: string, phases: SetupPhase[]) => transfer.emit('setup', { host, phases }) : undefined;
  const endpoints = openEndpoints(o, onSetup);
  const runJournal = o.resume ? await FileRunJournal.open(`${stateDir()}/runs/${runKey(operands, o)}.ndjson`, `${stateDir()}/runs`) : undefined;
  const transfer = new Transfer({
    recursive: o.recursive,
    preserve: o.preserve,
    signal: o.signal,
    runJournal,
    ...engineOptions(o),
  });

  const reporters: Reporter[] = [];
  const tty = !o.json && !o.quiet && process.stderr.isTTY ? attachTtyProgress(transfer) : undefined;
  // -v lines go through the progress display, which owns the terminal's last rows while it runs.
  if (o.verbose > 0) reporters.push(attachDebug(transfer, tty?.print));
  if (o.json) reporters.push(attachJson(transfer, 'cp'));
  else reporters.push(tty ?? attachErrorPrinter(transfer));

  try {
    const plan = await planCopy(endpoints, locations, target, runJournal?.meta);
    await runJournal?.begin({ targetIsDir: plan.targetIsDir });
    for (const err of plan.errors) {
      transfer.errors.push(err);
      transfer.stats.filesFailed++;
      transfer.emit('file-error', { path: err.path, error: err });
    }
    await transfer.run(plan.jobs);
  } finally {
    // Interrupted or failed: what did complete must be on disk for the rerun.
    await runJournal?.flush().catch(() => undefined);
    for (const r of reporters) r.finish();
    await endpoints.closeAll();
  }
  if (o.verbose > 0) {
    const secs = (Date.now() - transfer.stats.startedAt) / 1000;
    process.stderr.write(`debug1: ${transfer.stats.filesDone} files, ${transfer.stats.bytesDone} bytes in ${secs.toFixed(2)} s\n`);
  }
  return transfer.errors.length > 0 ? ExitCode.partial : ExitCode.ok;
}
