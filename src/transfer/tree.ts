/**
 * Walk a directory tree over an endpoint into relative path -> attributes
 * (lstat: symlinks are listed as symlinks, never followed). Listings run a few
 * at a time, depth and entry count are capped against loops and hostile
 * servers, and every listed name is validated before it is joined to a path.
 * A failed listing is recorded and the walk goes on: the caller decides what
 * an incomplete tree may still be used for (sync never deletes on one).
 */
import { FileError, InterruptedError, isFatal } from '../errors.js';
import type { Endpoint, FileAttrs } from './endpoint.js';
import { isNotFound } from './endpoint.js';
import type { Filter } from './filters.js';
import { createLimit } from './limit.js';
import { joinPath, suspectNameReason } from './names.js';
import { MAX_DEPTH } from './transfer.js';

export interface Tree {
  /** Relative path ("a/b.txt") -> attributes; the root itself is not in it. */
  entries: Map<string, FileAttrs>;
  /** Listings that failed (permission, suspect names, too deep, ...). */
  errors: FileError[];
  /** Directories that disappeared between being listed and being read. */
  vanished: string[];
  /** Directories ("" = the root) whose contents are not (fully) known. */
  incomplete: Set<string>;
  /** Directories ("" = the root) holding entries the walk left out (filtered, partial files). */
  hidden: Set<string>;
}

export interface WalkOptions {
  filter?: Filter;
  maxDepth?: number;
  /** More entries than this is taken as an endless tree; the walk fails. */
  maxEntries?: number;
  /** Directory listings in flight at once. */
  concurrency?: number;
  signal?: AbortSignal;
  /** List ferry's own partial files too (ferry rm removes them with the rest). */
  withPartials?: boolean;
}

const DEFAULT_MAX_ENTRIES = 5_000_000;

/** ferry's own `.NAME.ferry-part` files (and `.NAME.ferry-link`, see linkTempName): neither synced nor deleted. */
export function isPartialName(name: string): boolean {
  return name.length > '..ferry-part'.length && name.startsWith('.') && (name.endsWith('.ferry-part') || name.endsWith('.ferry-link'));
}

export function parentOf(rel: string): string {
  const i = rel.lastIndexOf('/');
  return i < 0 ? '' : rel.slice(0, i);
}

export async function walkTree(ep: Endpoint, root: string, o: WalkOptions = {}): Promise<Tree> {
  const tree: Tree = { entries: new Map(), errors: [], vanished: [], incomplete: new Set(), hidden: new Set() };
  const limit = createLimit(o.concurrency ?? 8);
  const maxDepth = o.maxDepth ?? MAX_DEPTH;
  const maxEntries = o.maxEntries ?? DEFAULT_MAX_ENTRIES;

  const visit = async (rel: string, depth: number): Promise<void> => {
    if (o.signal?.aborted) throw new InterruptedError('interrupted');
    const dirPath = rel === '' ? root : joinPath(root, rel);
    let list;
    try {
      list = await limit(() => ep.readdir(dirPath));
    } catch (err) {
      if (isFatal(err)) throw err;
      tree.incomplete.add(rel);
      if (isNotFound(err) && rel !== '') tree.vanished.push(rel);
      else tree.errors.push(err instanceof FileError ? err : new FileError('list', ep.side, dirPath, (err as Error).message, { cause: err }));
      return;
    }
    const subdirs: string[] = [];
    for (const e of list) {
      const reason = suspectNameReason(e.name);
      if (reason) {
        tree.errors.push(new FileError('list', ep.side, dirPath, `suspect name ${JSON.stringify(e.name)} refused: ${reason}`));
        tree.hidden.add(rel);
        continue;
      }
      const child = rel === '' ? e.name : `${rel}/${e.name}`;
      const isDir = e.attrs.kind === 'dir';
      if ((isPartialName(e.name) && !o.withPartials) || (o.filter && !o.filter.includes(child, isDir))) {
        tree.hidden.add(rel);
        continue;
      }
      if (tree.entries.size >= maxEntries) {
        throw new FileError('list', ep.side, root, `more than ${maxEntries} entries`, { hint: 'an endless tree on the server, or exclude part of it' });
      }
      tree.entries.set(child, e.attrs);
      if (!isDir) continue;
      if (depth + 1 >= maxDepth) {
        tree.incomplete.add(child);
        tree.errors.push(new FileError('list', ep.side, joinPath(root, child), `directory tree deeper than ${maxDepth} levels`, {
          hint: 'a symlink loop or an endless tree on the server',
        }));
      } else {
        subdirs.push(child);
      }
    }
    await Promise.all(subdirs.map((d) => visit(d, depth + 1)));
  };

  await visit('', 0);
  return tree;
}
