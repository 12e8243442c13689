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

/** One directory's listing, validated (see listDir). */
export interface DirRead {
  /** Name -> attributes of what the walk keeps. */
  entries: Map<string, FileAttrs>;
  errors: FileError[];
  /** The listing failed: its contents are not (fully) known. */
  incomplete: boolean;
  /** It disappeared between being found and being listed. */
  vanished: boolean;
  /** It holds entries left out (filtered, partial files, refused names). */
  hidden: boolean;
}

/** Counts entries across the listings of one walk, against the endless-tree cap. */
export interface EntryCount {
  n: number;
}

/**
 * List one directory of a walk (`rel` under `root`, at `depth`): every name
 * is validated before it is joined to a path, ferry's partial files and
 * filtered entries are left out (and the directory marked as holding
 * them), and entries count against the walk's cap. A failed listing is
 * recorded in the result, not thrown, unless it ends the run (isFatal).
 */
export async function listDir(ep: Endpoint, root: string, rel: string, o: WalkOptions, count: EntryCount): Promise<DirRead> {
  if (o.signal?.aborted) throw new InterruptedError('interrupted');
  const out: DirRead = { entries: new Map(), errors: [], incomplete: false, vanished: false, hidden: false };
  const dirPath = rel === '' ? root : joinPath(root, rel);
  let list;
  try {
    list = await ep.readdir(dirPath);
  } catch (err) {
    if (isFatal(err)) throw err;
    out.incomplete = true;
    if (isNotFound(err) && rel !== '') out.vanished = true;
    else out.errors.push(err instanceof FileError ? err : new FileError('list', ep.side, dirPath, (err as Error).message, { cause: err }));
    return out;
  }
  const maxEntries = o.maxEntries ?? DEFAULT_MAX_ENTRIES;
  for (const e of list) {
    const reason = suspectNameReason(e.name);
    if (reason) {
      out.errors.push(new FileError('list', ep.side, dirPath, `suspect name ${JSON.stringify(e.name)} refused: ${reason}`));
      out.hidden = true;
      continue;
    }
    const isDir = e.attrs.kind === 'dir';
    if ((isPartialName(e.name) && !o.withPartials) || (o.filter && !o.filter.includes(rel === '' ? e.name : `${rel}/${e.name}`, isDir))) {
      out.hidden = true;
      continue;
    }
    if (++count.n > maxEntries) {
      throw new FileError('list', ep.side, root, `more than ${maxEntries} entries`, { hint: 'an endless tree on the server, or exclude part of it' });
    }
    out.entries.set(e.name, e.attrs);
  }
  return out;
}

/** A directory too deep to be listed: the walk stops there, and says why. */
export function tooDeep(ep: Endpoint, root: string, rel: string, maxDepth = MAX_DEPTH): FileError {
  return new FileError('list', ep.side, joinPath(root, rel), `directory tree deeper than ${maxDepth} levels`, {
    hint: 'a symlink loop or an endless tree on the server',
  });
}

export async function walkTree(ep: Endpoint, root: string, o: WalkOptions = {}): Promise<Tree> {
  const tree: Tree = { entries: new Map(), errors: [], vanished: [], incomplete: new Set(), hidden: new Set() };
  const limit = createLimit(o.concurrency ?? 8);
  const maxDepth = o.maxDepth ?? MAX_DEPTH;
  const count: EntryCount = { n: 0 };

  const visit = async (rel: string, depth: number): Promise<void> => {
    const r = await limit(() => listDir(ep, root, rel, o, count));
    tree.errors.push(...r.errors);
    if (r.incomplete) tree.incomplete.add(rel);
    if (r.vanished) tree.vanished.push(rel);
    if (r.hidden) tree.hidden.add(rel);
    const subdirs: string[] = [];
    for (const [name, attrs] of r.entries) {
      const child = rel === '' ? name : `${rel}/${name}`;
      tree.entries.set(child, attrs);
      if (attrs.kind !== 'dir') continue;
      if (depth + 1 >= maxDepth) {
        tree.incomplete.add(child);
        tree.errors.push(tooDeep(ep, root, child, maxDepth));
      } else {
        subdirs.push(child);
      }
    }
    await Promise.all(subdirs.map((d) => visit(d, depth + 1)));
  };

  await visit('', 0);
  return tree;
}
