/**
 * Turn cp's operands into copy jobs with scp's meaning: several sources go
 * into an existing directory; one source may name its target; remote globs
 * are expanded over SFTP. Fails before anything is written when the operands
 * cannot work together.
 */
import { FileError, UsageError } from '../errors.js';
import type { Endpoint } from '../transfer/endpoint.js';
import { isNotFound } from '../transfer/endpoint.js';
import { expandGlob, hasGlobMagic } from '../transfer/glob.js';
import { baseName, joinPath, suspectNameReason } from '../transfer/names.js';
import type { CopyJob } from '../transfer/transfer.js';
import type { Endpoints } from './endpoints.js';
import type { Location } from './location.js';

export interface Plan {
  jobs: CopyJob[];
  targetIsDir: boolean;
  /** Sources that failed before copying (e.g. a missing one); the rest still run. */
  errors: FileError[];
}

async function statOrUndefined(ep: Endpoint, path: string) {
  try {
    return await ep.stat(path);
  } catch (err) {
    if (isNotFound(err)) return undefined;
    throw err;
  }
}

/** The name a source gets inside a target directory. */
async function sourceBaseName(ep: Endpoint, path: string): Promise<string> {
  let name = baseName(path);
  if (name === '.' || name === '..' || name === '') name = baseName(await ep.realpath(path));
  const reason = suspectNameReason(name);
  if (reason) throw new FileError('copy', ep.side, path, `cannot copy into a directory under this name (${reason})`);
  return name;
}

async function expandSource(ep: Endpoint, loc: Location): Promise<string[]> {
  // Local globs were the shell's job; remote ones are ours, never a remote shell's.
  // A backslash escape makes a pattern too: OpenSSH's glob turns `st\*r` into the file "st*r".
  if (loc.kind === 'local' || !(hasGlobMagic(loc.path) || loc.path.includes('\\'))) return [loc.path];
  const matches = await expandGlob(ep, loc.path);
  // As OpenSSH: no match means the pattern is a literal name (copy.glob[123]).
  return matches.length > 0 ? matches : [loc.path];
}

/**
 * `recorded`: whether the target was a directory when an interrupted run of
 * this command began. Its first run may have created the target, and scp's
 * meaning must not flip to "copy inside it" on the rerun.
 */
export async function planCopy(endpoints: Endpoints, sources: Location[], target: Location, recorded?: { targetIsDir: boolean }): Promise<Plan> {
  const dst = await endpoints.get(target);
  const targetAttrs = await statOrUndefined(dst, target.path);
  const targetIsDir = recorded?.targetIsDir ?? targetAttrs?.kind === 'dir';

  const expanded: { ep: Endpoint; path: string }[] = [];
  for (const loc of sources) {
    const ep = await endpoints.get(loc);
    for (const path of await expandSource(ep, loc)) expanded.push({ ep, path });
  }

  if (!targetIsDir) {
    if (expanded.length > 1) {
      throw new UsageError(`target ${target.kind} "${target.path}": not a directory`, {
        hint: 'several sources need an existing directory as the target',
      });
    }
    if (target.path.endsWith('/')) {
      throw new UsageError(`target ${target.kind} "${target.path}": ${targetAttrs ? 'not a directory' : 'no such directory'}`);
    }
  }

  const jobs: CopyJob[] = [];
  const errors: FileError[] = [];
  for (const s of expanded) {
    try {
      const dstPath = targetIsDir ? joinPath(target.path, await sourceBaseName(s.ep, s.path)) : target.path;
      jobs.push({ src: s.ep, srcPath: s.path, dst, dstPath });
    } catch (err) {
      if (!(err instanceof FileError)) throw err;
      errors.push(err);
    }
  }
  return { jobs, errors, targetIsDir };
}
