/**
 * Compare a source tree with a target tree and decide, per path, what a
 * mirror needs: like `rsync -a SRC/ DST/`. Pure: no I/O, so every rule below
 * is unit-tested. Content hashes (--checksum) are computed by the caller for
 * the paths `checksumCandidates` names and passed in.
 *
 * - A regular file missing on the target is new; one whose size or mtime
 *   (whole seconds) differs is changed; otherwise it is skipped (rsync's quick
 *   check). With --checksum, same-size files are compared by content instead
 *   of mtime. A source whose stat says 0 bytes (/proc, FUSE) has no size to
 *   compare: it is sent unless the target is empty too, or, with --checksum,
 *   unless the contents match. --update skips files whose target copy is newer; --ignore-existing
 *   skips every file the target already has.
 * - Directories are created parents first; their mode and mtime are set after
 *   their contents (the caller runs `fixups` last), as are the mode and times
 *   of files whose content is already right.
 * - With --delete, target entries absent from the source are removed, deepest
 *   first, except under a source directory whose listing failed, and never a
 *   directory that holds entries the walk left out (filtered, partial files).
 * - With --link-dest, a file that would be sent but whose copy in the link-dest
 *   tree passes the same quick check (size and mtime, and the permission bits,
 *   which a hard link shares; with --checksum, content too) is linked instead.
 * - Symlinks and special files in the source are reported and left alone.
 *   A file where the target has a directory (or the reverse) is a conflict,
 *   reported as an error; nothing is written or deleted below it.
 */
import type { FileAttrs, FileKind, SetAttrs } from './endpoint.js';

export type SyncAction = 'new' | 'changed' | 'skipped' | 'deleted' | 'linked';

export interface PlanItem {
  /** Relative to the synced directories, "/"-separated. */
  path: string;
  kind: FileKind;
  action: SyncAction;
  /** Source size (target size for deletions). */
  size: number;
  /** Why it was skipped or is sent. */
  reason: string;
  /** Linked: the target has another version of the file, which the link replaces. */
  replaces?: boolean;
}

export interface Fixup {
  path: string;
  kind: 'file' | 'dir';
  attrs: SetAttrs;
}

export interface TreeView {
  /** The synced directory itself; undefined when the target does not exist yet. */
  root?: FileAttrs;
  entries: ReadonlyMap<string, FileAttrs>;
  incomplete?: ReadonlySet<string>;
  hidden?: ReadonlySet<string>;
}

/** The older snapshot files may be hard-linked from (--link-dest). */
export interface LinkView {
  entries: ReadonlyMap<string, FileAttrs>;
  /** --checksum: whether a same-size link-dest file has the source's content. */
  same?: ReadonlyMap<string, boolean>;
}

export interface SyncPlanOptions {
  checksum?: boolean;
  update?: boolean;
  ignoreExisting?: boolean;
  delete?: boolean;
}

export interface SyncPlan {
  /** New directories, parents first. */
  mkdirs: PlanItem[];
  /** Files to send: new and changed. */
  files: PlanItem[];
  /** Files to hard-link from the link-dest tree instead of sending. */
  links: PlanItem[];
  skipped: PlanItem[];
  /** Target entries to remove, deepest first (only with delete). */
  deletions: PlanItem[];
  /** Mode and times to set once everything else is done; directories deepest first. */
  fixups: Fixup[];
  conflicts: { path: string; reason: string }[];
  /** Source symlinks and special files: not synced. */
  nonRegular: { path: string; kind: FileKind }[];
}

const sec = (t: number) => Math.floor(t);
const perm = (a: FileAttrs) => a.mode & 0o777;
const depth = (p: string) => (p === '' ? 0 : p.split('/').length);

/** Files present on both sides with the same size (or a source size of 0, which says nothing): the ones --checksum must hash. */
export function checksumCandidates(src: TreeView, dst: TreeView): string[] {
  const out: string[] = [];
  for (const [path, s] of src.entries) {
    const d = dst.entries.get(path);
    if (s.kind === 'file' && d?.kind === 'file' && (d.size === s.size || s.size === 0)) out.push(path);
  }
  return out.sort();
}

function fileDecision(s: FileAttrs, d: FileAttrs | undefined, o: SyncPlanOptions, same: boolean | undefined): { action: SyncAction; reason: string } {
  if (!d) return { action: 'new', reason: 'missing on the target' };
  if (o.ignoreExisting) return { action: 'skipped', reason: 'exists on the target' };
  if (d.kind === 'symlink') return { action: 'changed', reason: 'a symlink on the target' };
  if (o.update && sec(d.mtime) > sec(s.mtime)) return { action: 'skipped', reason: 'newer on the target' };
  // A stat of 0 is "read and see" (/proc, FUSE): only the content can tell such a file is the same.
  const unknown = s.size === 0 && d.size !== 0;
  if (unknown && !o.checksum) return { action: 'changed', reason: 'size unknown at the source (stat says 0)' };
  if (!unknown && d.size !== s.size) return { action: 'changed', reason: 'size differs' };
  if (o.checksum) return same === true ? { action: 'skipped', reason: 'same checksum' } : { action: 'changed', reason: 'checksum differs' };
  return sec(d.mtime) === sec(s.mtime) ? { action: 'skipped', reason: 'same size and time' } : { action: 'changed', reason: 'time differs' };
}

function attrsDiffer(s: FileAttrs, d: FileAttrs): boolean {
  return perm(s) !== perm(d) || sec(s.mtime) !== sec(d.mtime);
}

const fixupOf = (path: string, kind: 'file' | 'dir', s: FileAttrs): Fixup => ({ path, kind, attrs: { mode: perm(s), atime: s.atime, mtime: s.mtime } });

/** Would a hard link to `l` give the target exactly what sending `s` would? */
export function isLinkable(s: FileAttrs, l: FileAttrs | undefined, o: SyncPlanOptions, same: boolean | undefined): boolean {
  // Mode and times are shared with the older snapshot: fixing them after linking would change it too.
  if (l?.kind !== 'file' || l.size !== s.size || perm(l) !== perm(s) || sec(l.mtime) !== sec(s.mtime)) return false;
  return !o.checksum || same === true;
}

/** One directory of each tree: entry name -> attributes. */
export interface DirListing {
  entries: ReadonlyMap<string, FileAttrs>;
  /** Its listing failed: what it holds is not known. */
  incomplete?: boolean;
  /** It holds entries the walk left out (filtered, partial files). */
  hidden?: boolean;
}

/** What one directory needs; paths are relative to the synced directories. */
export interface DirPlan {
  mkdirs: PlanItem[];
  files: PlanItem[];
  links: PlanItem[];
  skipped: PlanItem[];
  /** Mode and times of files whose content is already right. */
  fileFixups: Fixup[];
  /** Direct children the source lacks (with delete); a directory's contents are walked and go first. */
  deletions: PlanItem[];
  conflicts: { path: string; reason: string }[];
  nonRegular: { path: string; kind: FileKind }[];
  /** Source subdirectories to plan next, with the target's copy when it has one. */
  subdirs: { path: string; src: FileAttrs; dst?: FileAttrs }[];
  /** Something in it is created, replaced or deleted: its mtime must be set again. */
  touched: boolean;
}

const childPath = (dir: string, name: string) => (dir === '' ? name : `${dir}/${name}`);

/**
 * Decide one directory: `src` and `dst` are its listings on each side (`dst`
 * undefined when the target has no such directory yet), `link` the
 * --link-dest tree's. The caller walks the trees a directory at a time, so
 * neither is ever held whole: a source listing that failed is not planned
 * at all (nothing below it is written or deleted), and a subdirectory in
 * conflict is not descended into.
 */
export function planDir(dir: string, src: DirListing, dst: DirListing | undefined, o: SyncPlanOptions = {}, same?: ReadonlyMap<string, boolean>, link?: LinkView): DirPlan {
  const plan: DirPlan = { mkdirs: [], files: [], links: [], skipped: [], fileFixups: [], deletions: [], conflicts: [], nonRegular: [], subdirs: [], touched: false };
  const there = dst?.entries ?? new Map<string, FileAttrs>();
  for (const name of [...src.entries.keys()].sort()) {
    const path = childPath(dir, name);
    const s = src.entries.get(name)!;
    const d = there.get(name);
    if (s.kind === 'symlink' || s.kind === 'other') {
      plan.nonRegular.push({ path, kind: s.kind });
      continue;
    }
    if (s.kind === 'dir') {
      if (d && d.kind !== 'dir') {
        plan.conflicts.push({ path, reason: `a directory in the source, a ${d.kind === 'file' ? 'file' : d.kind} on the target` });
        continue;
      }
      if (!d) {
        plan.mkdirs.push({ path, kind: 'dir', action: 'new', size: 0, reason: 'missing on the target' });
        plan.touched = true;
      }
      plan.subdirs.push({ path, src: s, dst: d });
      continue;
    }
    if (d && (d.kind === 'dir' || d.kind === 'other') && !o.ignoreExisting) {
      plan.conflicts.push({ path, reason: `a file in the source, ${d.kind === 'dir' ? 'a directory' : 'a special file'} on the target` });
      continue;
    }
    let { action, reason } = fileDecision(s, d, o, same?.get(path));
    // With --link-dest the target's copy may be a link into an older snapshot: fixing its mode
    // would change that snapshot too, so it gets a file of its own (linked or sent) instead.
    if (link && action === 'skipped' && d?.kind === 'file' && !o.ignoreExisting && reason !== 'newer on the target' && attrsDiffer(s, d)) {
      [action, reason] = ['changed', 'attributes differ, and the file may be a hard link'];
    }
    const item: PlanItem = { path, kind: 'file', action, size: s.size, reason };
    if (action === 'skipped') {
      plan.skipped.push(item);
      if (d?.kind === 'file' && !o.ignoreExisting && reason !== 'newer on the target' && attrsDiffer(s, d)) plan.fileFixups.push(fixupOf(path, 'file', s));
      continue;
    }
    plan.touched = true;
    if (link && isLinkable(s, link.entries.get(path), o, link.same?.get(path))) {
      plan.links.push({ ...item, action: 'linked', reason: 'unchanged since the --link-dest copy', replaces: action === 'changed' });
    } else {
      plan.files.push(item);
    }
  }
  if (o.delete && dst && !dst.incomplete) {
    for (const [name, d] of there) {
      if (src.entries.has(name)) continue;
      plan.deletions.push({ path: childPath(dir, name), kind: d.kind, action: 'deleted', size: d.kind === 'file' ? d.size : 0, reason: 'missing in the source' });
      plan.touched = true;
    }
  }
  return plan;
}

/** Whether a directory gets its mode and times set once its contents are done. */
export function dirFixup(path: string, s: FileAttrs, d: FileAttrs | undefined, touched: boolean): Fixup | undefined {
  return !d || touched || attrsDiffer(s, d) ? fixupOf(path, 'dir', s) : undefined;
}

/** Deletions deepest first, so a directory goes after its contents; then by path. */
export function deletionOrder(a: { path: string }, b: { path: string }): number {
  return depth(b.path) - depth(a.path) || (a.path < b.path ? -1 : a.path > b.path ? 1 : 0);
}

/**
 * The whole-tree plan: planDir over trees held in memory, in the order a
 * walk would go. The sync run streams instead (sync.ts); this states the
 * same rules over whole trees, for tests and small callers.
 */
export function planSync(src: TreeView, dst: TreeView, o: SyncPlanOptions = {}, same?: ReadonlyMap<string, boolean>, link?: LinkView): SyncPlan {
  const plan: SyncPlan = { mkdirs: [], files: [], skipped: [], links: [], deletions: [], fixups: [], conflicts: [], nonRegular: [] };
  const [srcDirs, dstDirs] = [byDirectory(src.entries), byDirectory(dst.entries)];
  const listing = (t: TreeView, dirs: Map<string, Map<string, FileAttrs>>, dir: string): DirListing => ({
    entries: dirs.get(dir) ?? new Map(), incomplete: t.incomplete?.has(dir), hidden: t.hidden?.has(dir),
  });
  const dirFixups: Fixup[] = [];
  /** A target-only directory: its contents go first; it stays if it holds anything not listed. */
  const remove = (dir: string): boolean => {
    let whole = !(dst.hidden?.has(dir) || dst.incomplete?.has(dir));
    for (const [name, d] of dstDirs.get(dir) ?? []) {
      const path = childPath(dir, name);
      if (d.kind === 'dir' && !remove(path)) whole = false;
      else plan.deletions.push({ path, kind: d.kind, action: 'deleted', size: d.kind === 'file' ? d.size : 0, reason: 'missing in the source' });
    }
    return whole;
  };
  const visit = (dir: string, s: FileAttrs | undefined, d: FileAttrs | undefined) => {
    if (src.incomplete?.has(dir)) return;
    const p = planDir(dir, listing(src, srcDirs, dir), d || dir === '' ? listing(dst, dstDirs, dir) : undefined, o, same, link);
    plan.mkdirs.push(...p.mkdirs);
    plan.files.push(...p.files);
    plan.links.push(...p.links);
    plan.skipped.push(...p.skipped);
    plan.fixups.push(...p.fileFixups);
    plan.conflicts.push(...p.conflicts);
    plan.nonRegular.push(...p.nonRegular);
    for (const del of p.deletions) if (del.kind !== 'dir' || remove(del.path)) plan.deletions.push(del);
    for (const sub of p.subdirs) visit(sub.path, sub.src, sub.dst);
    const fix = s && dirFixup(dir, s, d, p.touched);
    if (fix) dirFixups.push(fix);
  };
  visit('', src.root, dst.root);
  const byPath = (a: { path: string }, b: { path: string }) => (a.path < b.path ? -1 : a.path > b.path ? 1 : 0);
  for (const list of [plan.mkdirs, plan.files, plan.links, plan.skipped, plan.conflicts, plan.nonRegular]) (list as { path: string }[]).sort(byPath);
  plan.fixups.sort(byPath).push(...dirFixups.sort(deletionOrder));
  plan.deletions.sort(deletionOrder);
  return plan;
}

function byDirectory(entries: ReadonlyMap<string, FileAttrs>): Map<string, Map<string, FileAttrs>> {
  const dirs = new Map<string, Map<string, FileAttrs>>();
  for (const [path, a] of entries) {
    const i = path.lastIndexOf('/');
    const [dir, name] = i < 0 ? ['', path] : [path.slice(0, i), path.slice(i + 1)];
    let m = dirs.get(dir);
    if (!m) dirs.set(dir, (m = new Map()));
    m.set(name, a);
  }
  return dirs;
}
