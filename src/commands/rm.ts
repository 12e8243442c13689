/** `ferry rm`: remove files and directory trees on a host over SFTP (pruning old snapshots). */
import { homedir } from 'node:os';
import { ExitCode, FileError, UsageError } from '../errors.js';
import type { Endpoint } from '../transfer/endpoint.js';
import { isNotFound } from '../transfer/endpoint.js';
import { isDotName, protectedReason, removePath } from '../transfer/remove.js';
import { escapeForTerminal } from '../util/escape.js';
import { parseLocation, type Location } from './location.js';
import { openEndpoints, type RemoteOptions } from './remote-options.js';

export interface RmOptions extends RemoteOptions {
  recursive: boolean;
  force: boolean;
  dryRun: boolean;
  quiet: boolean;
}

interface Target {
  loc: Location;
  ep: Endpoint;
  exists: boolean;
}

/** Every operand is checked before anything is removed: one refused operand and nothing goes. */
async function checkOperand(loc: Location, ep: Endpoint): Promise<Target> {
  const side = loc.kind === 'local' ? 'local' : 'remote';
  // SFTP expands no "~"; to ferry it is a name, but a person typing it means the home directory.
  if (loc.path === '~' || loc.path === '~/') throw new UsageError(`remove ${side} "${loc.path}": refusing to remove the home directory`);
  if (isDotName(loc.path)) throw new UsageError(`remove ${side} "${loc.path || '~'}": refusing to remove "." or ".." or the login directory`, { hint: 'name the directory itself, e.g. host:backups/2026-11-01' });
  const attrs = await ep.lstat(loc.path).catch((err: unknown) => {
    if (isNotFound(err)) return undefined;
    throw err;
  });
  if (!attrs) return { loc, ep, exists: false };
  // A symlink is removed as a link: where it points is never at risk.
  if (attrs.kind === 'dir') {
    const [real, home] = await Promise.all([ep.realpath(loc.path), ep.realpath(loc.kind === 'local' ? homedir() : '.')]);
    const why = protectedReason(real, home);
    if (why) throw new UsageError(`remove ${side} "${loc.path}": ${why}`);
  }
  return { loc, ep, exists: true };
}

export async function runRm(operands: string[], o: RmOptions): Promise<number> {
  if (operands.length === 0) throw new UsageError('rm needs a path', { hint: 'ferry rm -r host:backups/2026-11-01' });
  const locations = operands.map(parseLocation);
  const endpoints = openEndpoints(o);
  let failed = 0;
  try {
    const targets: Target[] = [];
    for (const loc of locations) targets.push(await checkOperand(loc, await endpoints.get(loc)));
    const print = (p: string) => process.stdout.write(`${o.dryRun ? 'would remove' : 'removed'} ${escapeForTerminal(p)}\n`);
    for (const t of targets) {
      if (!t.exists) {
        if (o.force) continue;
        failed++;
        process.stderr.write(`ferry: remove ${t.loc.kind === 'local' ? 'local' : 'remote'} "${escapeForTerminal(t.loc.path)}": No such file or directory\n`);
        continue;
      }
      try {
        const errors = await removePath(t.ep, t.loc.path, { recursive: o.recursive, dryRun: o.dryRun, signal: o.signal, onRemoved: o.dryRun || o.verbose > 0 ? print : undefined });
        for (const e of errors) process.stderr.write(`ferry: ${escapeForTerminal(e.message)}\n`);
        if (errors.length > 0) failed++;
      } catch (err) {
        if (!(err instanceof FileError)) throw err;
        failed++;
        process.stderr.write(`ferry: ${escapeForTerminal(err.message)}${err.hint ? `\nferry: hint: ${escapeForTerminal(err.hint)}` : ''}\n`);
      }
    }
  } finally {
    await endpoints.closeAll();
  }
  return failed > 0 ? ExitCode.partial : ExitCode.ok;
}
