/** `ferry sync`: mirror a directory over SFTP, sending only what changed. */
import { promises as fsp } from 'node:fs';
import * as path from 'node:path';
import { ExitCode, UsageError } from '../errors.js';
import { compileFilter, parseRuleFile, type Filter, type FilterRule } from '../transfer/filters.js';
import { Sync } from '../transfer/sync.js';
import { parseLocation } from './location.js';
import { engineOptions, openEndpoints, type RemoteOptions } from './remote-options.js';
import { attachSyncOutput } from './sync-report.js';

export type RuleSpec = FilterRule | { type: 'exclude-from'; file: string };

export interface SyncCliOptions extends RemoteOptions {
  dryRun: boolean;
  delete: boolean;
  maxDelete?: number;
  checksum: boolean;
  update: boolean;
  ignoreExisting: boolean;
  /** --link-dest DIR as given: relative to TARGET, on TARGET's side. */
  linkDest?: string;
  /** In command-line order. */
  rules: RuleSpec[];
  itemize: boolean;
  verify: boolean;
  json: boolean;
  logFile?: string;
  quiet: boolean;
}

/**
 * TEST ONLY: FERRY_TEST_CORRUPT_AFTER_COPY=relpath flips a byte of that
 * file's target copy after it is sent and before --verify checks it, so the
 * tests can show that verification catches corruption and re-sends.
 */
const CORRUPT_HOOK = 'FERRY_TEST_CORRUPT_AFTER_COPY';

async function loadFilter(specs: RuleSpec[]): Promise<Filter | undefined> {
  if (specs.length === 0) return undefined;
  const rules: FilterRule[] = [];
  for (const s of specs) {
    if (s.type !== 'exclude-from') {
      rules.push(s);
      continue;
    }
    let text: string;
    try {
      text = await fsp.readFile(s.file, 'utf8');
    } catch (err) {
      throw new UsageError(`read local "${s.file}": ${(err as NodeJS.ErrnoException).code === 'ENOENT' ? 'No such file or directory' : (err as Error).message}`, { hint: 'the --exclude-from file must be readable' });
    }
    rules.push(...parseRuleFile(text));
  }
  try {
    return compileFilter(rules);
  } catch (err) {
    throw new UsageError((err as Error).message);
  }
}

/**
 * --link-dest DIR on the target's side: a relative DIR is taken from the target
 * directory, as rsync does, and resolved here by name ("backups/new/../old" is
 * "backups/old"), since the target may not exist yet for the server to resolve it.
 */
export function resolveLinkDest(targetPath: string, dir: string): string {
  if (dir === '') throw new UsageError('--link-dest needs a directory');
  const joined = path.posix.normalize(dir.startsWith('/') ? dir : path.posix.join(targetPath === '' ? '.' : targetPath, dir));
  const target = path.posix.normalize(targetPath === '' ? '.' : targetPath);
  if (joined.replace(/\/+$/, '') === target.replace(/\/+$/, '')) {
    throw new UsageError(`--link-dest "${dir}" is the target itself`, { hint: 'name the previous snapshot, e.g. --link-dest ../2026-11-30' });
  }
  return joined;
}

export async function runSync(operands: string[], o: SyncCliOptions): Promise<number> {
  if (operands.length !== 2) throw new UsageError('sync needs a source and a target directory', { hint: 'ferry sync [options] SOURCE TARGET' });
  if (o.maxDelete !== undefined && !o.delete) throw new UsageError('--max-delete needs --delete');
  const [source, target] = operands.map(parseLocation);
  const linkDest = o.linkDest === undefined ? undefined : resolveLinkDest(target.path, o.linkDest);
  const filter = await loadFilter(o.rules);

  const endpoints = openEndpoints(o);

  let output: ReturnType<typeof attachSyncOutput>;
  try {
    output = attachSyncOutput({ operands, json: o.json, itemize: o.itemize, dryRun: o.dryRun, quiet: o.quiet, verbose: o.verbose, logFile: o.logFile, verify: o.verify, linkDest: linkDest !== undefined });
  } catch (err) {
    throw new UsageError(`open local "${o.logFile}": ${(err as Error).message}`, { hint: 'the --log-file directory must exist and be writable' });
  }
  try {
    const sync = new Sync({
      src: await endpoints.get(source), srcRoot: source.path,
      dst: await endpoints.get(target), dstRoot: target.path,
      filter, checksum: o.checksum, update: o.update, ignoreExisting: o.ignoreExisting,
      delete: o.delete, maxDelete: o.maxDelete, dryRun: o.dryRun, verify: o.verify, linkDest,
      transfer: engineOptions(o),
      signal: o.signal,
      corruptAfterCopy: process.env[CORRUPT_HOOK] || undefined,
    });
    output.watch(sync);
    await sync.run();
    if (sync.errors.length > 0 || sync.stats.failed > 0) return ExitCode.partial;
    return sync.stats.vanished > 0 ? ExitCode.vanished : ExitCode.ok;
  } catch (err) {
    output.fatal(err);
    throw err;
  } finally {
    output.finish();
    await endpoints.closeAll();
  }
}
