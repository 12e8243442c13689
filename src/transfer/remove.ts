/**
 * Remove a file, or a directory and everything in it, over an endpoint
 * (`ferry rm`, for pruning old snapshots). It never follows a symlink: the
 * tree is listed with lstat attributes (SFTP READDIR, local lstat), a link is
 * removed as a link, and only entries listed as directories are entered.
 * Files go first, many at once, then directories deepest first. A directory
 * whose listing failed, or that still holds something, stays, with its parents.
 *
 * SFTP has no openat() or O_NOFOLLOW: a directory swapped for a symlink
 * between its listing and its removal is a race this cannot close; a symlink
 * that is there when ferry looks is never entered.
 */
import { FileError } from '../errors.js';
import type { Endpoint, FileKind } from './endpoint.js';
import { createLimit } from './limit.js';
import { baseName, joinPath } from './names.js';
import { parentOf, walkTree } from './tree.js';

export interface RemoveOptions {
  recursive: boolean;
  dryRun?: boolean;
  signal?: AbortSignal;
  /** Called for each entry removed (or, in a dry run, that would be), operand itself last. */
  onRemoved?: (path: string, kind: FileKind) => void;
}

/** Removals in flight at once: sftp-server answers one after another, a queue hides the round trip. */
const REMOVALS_AT_ONCE = 32;

/**
 * Why `real` (a resolved path) must never be removed: the root, the home
 * directory, or a directory holding it. Undefined when it may go.
 */
export function protectedReason(real: string, home: string): string | undefined {
  const norm = (p: string) => (p.length > 1 ? p.replace(/\/+$/, '') : p);
  const [r, h] = [norm(real), norm(home)];
  if (r === '/' || r === '') return 'refusing to remove the root directory';
  if (r === h) return 'refusing to remove the home directory';
  if (h.startsWith(`${r}/`)) return `refusing to remove a directory that holds the home directory (${h})`;
  return undefined;
}

/** "." and ".." as the last component are refused as rm refuses them: they name a directory by where one stands. */
export function isDotName(path: string): boolean {
  const last = baseName(path);
  return last === '.' || last === '..' || path === '' || /(^|\/)\.\.?\/*$/.test(path);
}

/** Removes `path`; returns the per-entry errors (the run goes on past them). */
export async function removePath(ep: Endpoint, path: string, o: RemoveOptions): Promise<FileError[]> {
  const attrs = await ep.lstat(path);
  const removed = (p: string, kind: FileKind) => o.onRemoved?.(p, kind);
  if (attrs.kind !== 'dir') {
    if (!o.dryRun) await ep.unlink(path);
    removed(path, attrs.kind);
    return [];
  }
  if (!o.recursive) throw new FileError('remove', ep.side, path, 'Is a directory', { hint: 'use -r to remove a directory and everything in it' });
  if (!ep.rmdir) throw new FileError('remove', ep.side, path, `${ep.label} cannot remove directories`);

  const tree = await walkTree(ep, path, { signal: o.signal, withPartials: true });
  const errors = [...tree.errors];
  // Directories that must stay: their listing failed, or something below them could not go.
  const stuck = new Set<string>();
  const hold = (rel: string) => {
    for (let p = rel; ; p = parentOf(p)) {
      stuck.add(p);
      if (p === '') break;
    }
  };
  for (const rel of [...tree.incomplete, ...tree.hidden]) hold(rel);
  const full = (rel: string) => (rel === '' ? path : joinPath(path, rel));
  const limit = createLimit(REMOVALS_AT_ONCE);
  const remove = (rel: string, kind: FileKind) => limit(async () => {
    try {
      if (!o.dryRun) await (kind === 'dir' ? ep.rmdir!(full(rel)) : ep.unlink(full(rel)));
      removed(full(rel), kind);
    } catch (err) {
      if (!(err instanceof FileError)) throw err;
      errors.push(err);
      hold(parentOf(rel));
    }
  });
  const entries = [...tree.entries];
  await Promise.all(entries.filter(([, a]) => a.kind !== 'dir').map(([rel, a]) => remove(rel, a.kind)));
  const dirs = entries.filter(([, a]) => a.kind === 'dir').map(([rel]) => rel);
  const depth = (rel: string) => rel.split('/').length;
  const byDepth = new Map<number, string[]>();
  for (const d of dirs) byDepth.set(depth(d), [...(byDepth.get(depth(d)) ?? []), d]);
  for (const n of [...byDepth.keys()].sort((a, b) => b - a)) {
    await Promise.all(byDepth.get(n)!.filter((d) => !stuck.has(d)).map((d) => remove(d, 'dir')));
  }
  if (!stuck.has('')) await remove('', 'dir');
  return errors;
}
