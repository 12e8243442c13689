/** `ferry cp`: scp's arguments, every byte over SFTP. */
import { ExitCode, UsageError } from '../errors.js';
import type { SshCliOptions } from '../ssh/config.js';
import { homedir } from 'node:os';
import { createHash } from 'node:crypto';
import { DirJournalStore } from '../transfer/journal.js';
import { FileRunJournal } from '../transfer/run-journal.js';
import { RateLimiter } from '../transfer/rate-limit.js';
import { Transfer } from '../transfer/transfer.js';
import { planCopy } from './cp-plan.js';
import { Endpoints } from './endpoints.js';
import { parseLocation } from './location.js';
import { attachDebug, attachErrorPrinter, attachJson, attachTtyProgress, type Reporter } from './reporters.js';
import { createTtyPrompter } from './tty-prompter.js';

export interface CpOptions {
  recursive: boolean;
  preserve: boolean;
  quiet: boolean;
  port?: number;
  identity: string[];
  sshOptions: string[];
  configFile?: string;
  /** Kbit/s, as scp's -l. */
  limitKbps?: number;
  compression: boolean;
  cipher?: string;
  jump?: string;
  verbose: number;
  batch: boolean;
  json: boolean;
  /** SSH connections per host; undefined = auto. */
  connections?: number;
  resume: boolean;
  retries?: number;
  signal: AbortSignal;
}

/** Local state (journals of partial files): $FERRY_STATE_DIR, else XDG's state dir. */
export function stateDir(): string {
  if (process.env.FERRY_STATE_DIR) return process.env.FERRY_STATE_DIR;
  const base = process.env.XDG_STATE_HOME || `${homedir()}/.local/state`;
  return `${base}/ferry`;
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

  // First value wins in ssh_config: -B must come before any -o to mean what it says.
  const sshOptions = o.batch ? ['BatchMode=yes', ...o.sshOptions] : o.sshOptions;
  const cli: SshCliOptions = {
    configFile: o.configFile, options: sshOptions, port: o.port, identityFiles: o.identity,
    compression: o.compression, cipher: o.cipher, jump: o.jump,
  };
  const batch = o.batch || sshOptions.some((s) => /^\s*batchmode\s*[= ]\s*(yes|true)\s*$/i.test(s));
  const prompter = createTtyPrompter({ verbose: o.verbose, batch });
  const endpoints = new Endpoints({ cli, prompter, trace: o.verbose >= 3, connections: o.connections });
  const runJournal = o.resume ? await FileRunJournal.open(`${stateDir()}/runs/${runKey(operands, o)}.ndjson`, `${stateDir()}/runs`) : undefined;
  const transfer = new Transfer({
    recursive: o.recursive,
    preserve: o.preserve,
    signal: o.signal,
    maxLanes: o.connections !== undefined ? Math.max(8, o.connections) : undefined,
    journals: new DirJournalStore(`${stateDir()}/partials`),
    runJournal,
    resume: o.resume,
    retries: o.retries,
    limiter: o.limitKbps ? new RateLimiter((o.limitKbps * 1024) / 8) : undefined,
  });

  const reporters: Reporter[] = [];
  if (o.verbose > 0) reporters.push(attachDebug(transfer));
  if (o.json) reporters.push(attachJson(transfer, 'cp'));
  else if (!o.quiet && process.stderr.isTTY) reporters.push(attachTtyProgress(transfer));
  else reporters.push(attachErrorPrinter(transfer));

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
