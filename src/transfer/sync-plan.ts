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

/** Paths and their ancestors, "" (the root) included. */
function ancestors(p: string): string[] {
  const out: string[] = [];
  for (let i = p.lastIndexOf('/'); i >= 0; i = p.lastIndexOf('/', i - 1)) out.push(p.slice(0, i));
  out.push('');
  return out;
}

function isUnder(p: string, dirs: ReadonlySet<string>): boolean {
  return dirs.has(p) || ancestors(p).some((a) => dirs.has(a));
}

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

export function planSync(src: TreeView, dst: TreeView, o: SyncPlanOptions = {}, same?: ReadonlyMap<string, boolean>, link?: LinkView): SyncPlan {
  const plan: SyncPlan = { mkdirs: [], files: [], skipped: [], links: [], deletions: [], fixups: [], conflicts: [], nonRegular: [] };
  /** Paths nothing may be written to or deleted below. */
  const blocked = new Set<string>();
  /** Directories whose contents this run changes: their mtime must be set again. */
  const touched = new Set<string>();
  const touch = (p: string) => touched.add(p.includes('/') ? p.slice(0, p.lastIndexOf('/')) : '');
  const dirsToFix: { path: string; s: FileAttrs; d?: FileAttrs }[] = [];
  if (src.root) dirsToFix.push({ path: '', s: src.root, d: dst.root });

  for (const path of [...src.entries.keys()].sort()) {
    if (isUnder(path, blocked)) continue;
    const s = src.entries.get(path)!;
    const d = dst.entries.get(path);
    if (s.kind === 'symlink' || s.kind === 'other') {
      plan.nonRegular.push({ path, kind: s.kind });
      continue;
    }
    if (s.kind === 'dir') {
      if (d && d.kind !== 'dir') {
        plan.conflicts.push({ path, reason: `a directory in the source, a ${d.kind === 'file' ? 'file' : d.kind} on the target` });
        blocked.add(path);
        continue;
      }
      if (!d) {
        plan.mkdirs.push({ path, kind: 'dir', action: 'new', size: 0, reason: 'missing on the target' });
        touch(path);
      }
      dirsToFix.push({ path, s, d });
      continue;
    }
    if (d && (d.kind === 'dir' || d.kind === 'other') && !o.ignoreExisting) {
      plan.conflicts.push({ path, reason: `a file in the source, ${d.kind === 'dir' ? 'a directory' : 'a special file'} on the target` });
      blocked.add(path);
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
      if (d?.kind === 'file' && !o.ignoreExisting && reason !== 'newer on the target' && attrsDiffer(s, d)) plan.fixups.push(fixupOf(path, 'file', s));
    } else if (link && isLinkable(s, link.entries.get(path), o, link.same?.get(path))) {
      plan.links.push({ ...item, action: 'linked', reason: 'unchanged since the --link-dest copy', replaces: action === 'changed' });
      touch(path);
    } else {
      plan.files.push(item);
      touch(path);
    }
  }

  if (o.delete) planDeletions(src, dst, blocked, plan, touch);

  for (const { path, s, d } of dirsToFix.sort((a, b) => depth(b.path) - depth(a.path) || (a.path < b.path ? -1 : 1))) {
    if (!d || touched.has(path) || attrsDiffer(s, d)) plan.fixups.push(fixupOf(path, 'dir', s));
  }
  return plan;
}

function planDeletions(src: TreeView, dst: TreeView, blocked: Set<string>, plan: SyncPlan, touch: (p: string) => void): void {
  const srcIncomplete = src.incomplete ?? new Set<string>();
  // A directory holding something we did not list (or could not) cannot be removed, nor can its parents.
  const keep = new Set<string>();
  for (const d of [...(dst.hidden ?? []), ...(dst.incomplete ?? [])]) {
    keep.add(d);
    for (const a of ancestors(d)) keep.add(a);
  }
  const gone: PlanItem[] = [];
  for (const [path, d] of dst.entries) {
    if (src.entries.has(path) || isUnder(path, blocked)) continue;
    if (ancestors(path).some((a) => srcIncomplete.has(a))) continue;
    if (d.kind === 'dir' && keep.has(path)) continue;
    gone.push({ path, kind: d.kind, action: 'deleted', size: d.kind === 'file' ? d.size : 0, reason: 'missing in the source' });
  }
  gone.sort((a, b) => depth(b.path) - depth(a.path) || (a.path < b.path ? -1 : 1));
  for (const g of gone) touch(g.path);
  plan.deletions = gone;
}
