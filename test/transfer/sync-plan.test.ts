// The sync decisions, pure: rsync's quick check, --checksum, --update,
// --ignore-existing, deletions and their brakes, conflicts, and when
// directory attributes are set.
import { describe, expect, it } from 'vitest';
import type { FileAttrs } from '../../src/transfer/endpoint.js';
import { checksumCandidates, planSync, type SyncPlan, type TreeView } from '../../src/transfer/sync-plan.js';

const T = 1_700_000_000;
const file = (size: number, mtime = T, mode = 0o644): FileAttrs => ({ kind: 'file', size, mode, mtime, atime: mtime });
const dir = (mtime = T, mode = 0o755): FileAttrs => ({ kind: 'dir', size: 4096, mode, mtime, atime: mtime });
const link = (): FileAttrs => ({ kind: 'symlink', size: 5, mode: 0o777, mtime: T, atime: T });

function tree(entries: Record<string, FileAttrs>, extra: Partial<TreeView> = {}): TreeView {
  return { root: dir(), entries: new Map(Object.entries(entries)), ...extra };
}

const paths = (items: { path: string }[]) => items.map((i) => i.path);
const summary = (p: SyncPlan) => ({
  mkdirs: paths(p.mkdirs),
  files: p.files.map((f) => `${f.action} ${f.path}`),
  skipped: paths(p.skipped),
  deletions: paths(p.deletions),
});

describe('quick check', () => {
  const src = tree({ d: dir(), 'd/same': file(10), 'd/touched': file(10, T + 60), 'd/grown': file(11), 'd/new': file(3), fresh: dir(), 'fresh/a': file(1) });
  const dst = tree({ d: dir(), 'd/same': file(10), 'd/touched': file(10), 'd/grown': file(10), 'd/gone': file(7), old: dir(), 'old/x': file(1) });

  it('sends new and changed files (size or whole-second mtime), skips the rest', () => {
    expect(summary(planSync(src, dst))).toMatchObject({ mkdirs: ['fresh'], skipped: ['d/same'], deletions: [] });
    const p = planSync(src, dst);
    expect(p.files.map((f) => `${f.action} ${f.path}`)).toEqual(['changed d/grown', 'new d/new', 'changed d/touched', 'new fresh/a']);
    expect(p.files.find((f) => f.path === 'd/touched')!.reason).toBe('time differs');
    expect(p.files.find((f) => f.path === 'd/grown')!.reason).toBe('size differs');
  });

  it('ignores sub-second mtime differences', () => {
    const p = planSync(tree({ f: file(1, T + 0.9) }), tree({ f: file(1, T) }));
    expect(paths(p.skipped)).toEqual(['f']);
  });

  it('--delete removes what the source lacks, deepest first', () => {
    const p = planSync(src, dst, { delete: true });
    expect(paths(p.deletions)).toEqual(['d/gone', 'old/x', 'old']);
    expect(p.deletions.map((d) => d.kind)).toEqual(['file', 'file', 'dir']);
  });

  it('without --delete nothing is deleted', () => {
    expect(planSync(src, dst).deletions).toEqual([]);
  });
});

describe('a source whose stat says 0 (/proc, FUSE: the length is found by reading)', () => {
  const src = tree({ proc: file(0), empty: file(0), stale: file(0, T + 60) });
  const dst = tree({ proc: file(2466), empty: file(0), stale: file(0) });

  it('is sent when the target holds data, skipped when both are empty with the same time', () => {
    const p = planSync(src, dst);
    expect(p.files.map((f) => `${f.action} ${f.path}: ${f.reason}`)).toEqual(['changed proc: size unknown at the source (stat says 0)', 'changed stale: time differs']);
    expect(paths(p.skipped)).toEqual(['empty']);
  });

  it('--checksum hashes it whatever the target size, and skips it when the contents match', () => {
    expect(checksumCandidates(src, dst)).toEqual(['empty', 'proc', 'stale']);
    const same = new Map([['proc', true], ['empty', true], ['stale', true]]);
    const p = planSync(src, dst, { checksum: true }, same);
    expect(paths(p.skipped).sort()).toEqual(['empty', 'proc', 'stale']);
    const differs = planSync(src, dst, { checksum: true }, new Map([['proc', false], ['empty', true], ['stale', true]]));
    expect(differs.files.map((f) => `${f.action} ${f.path}: ${f.reason}`)).toEqual(['changed proc: checksum differs']);
  });
});

describe('--checksum', () => {
  const src = tree({ same: file(4, T + 60), differs: file(4), size: file(5) });
  const dst = tree({ same: file(4), differs: file(4), size: file(4) });

  it('hashes only same-size pairs', () => {
    expect(checksumCandidates(src, dst)).toEqual(['differs', 'same']);
  });

  it('skips equal content whatever the mtime, and fixes its mtime', () => {
    const p = planSync(src, dst, { checksum: true }, new Map([['same', true], ['differs', false]]));
    expect(p.files.map((f) => `${f.action} ${f.path} (${f.reason})`)).toEqual(['changed differs (checksum differs)', 'changed size (size differs)']);
    expect(paths(p.skipped)).toEqual(['same']);
    expect(p.fixups.find((f) => f.path === 'same')).toMatchObject({ kind: 'file', attrs: { mtime: T + 60, mode: 0o644 } });
  });

  it('a pair that could not be hashed is sent', () => {
    const p = planSync(src, dst, { checksum: true }, new Map([['same', true]]));
    expect(paths(p.files)).toContain('differs');
  });
});

describe('--update and --ignore-existing', () => {
  const src = tree({ older: file(1, T), newer: file(2, T + 10), equal: file(3, T), missing: file(4) });
  const dst = tree({ older: file(9, T + 10), newer: file(1, T), equal: file(2, T) });

  it('--update skips files newer on the target, and sends equal-time ones that differ', () => {
    const p = planSync(src, dst, { update: true });
    expect(paths(p.skipped)).toEqual(['older']);
    expect(p.skipped[0].reason).toBe('newer on the target');
    expect(paths(p.files).sort()).toEqual(['equal', 'missing', 'newer']);
    expect(p.fixups.some((f) => f.path === 'older'), 'a newer target file is left as it is').toBe(false);
  });

  it('--ignore-existing sends only what the target lacks', () => {
    const p = planSync(src, dst, { ignoreExisting: true });
    expect(paths(p.files)).toEqual(['missing']);
    expect(paths(p.skipped)).toEqual(['equal', 'newer', 'older']);
  });
});

describe('deletions are held back', () => {
  it('below a source directory whose listing failed', () => {
    const src = tree({ a: dir(), b: dir() }, { incomplete: new Set(['a']) });
    const dst = tree({ a: dir(), 'a/x': file(1), b: dir(), 'b/y': file(1) });
    expect(paths(planSync(src, dst, { delete: true }).deletions)).toEqual(['b/y']);
  });

  it('for a target directory holding filtered or partial entries (its other contents still go)', () => {
    const src = tree({});
    const dst = tree({ logs: dir(), 'logs/a.txt': file(1), other: dir() }, { hidden: new Set(['logs']) });
    expect(paths(planSync(src, dst, { delete: true }).deletions)).toEqual(['logs/a.txt', 'other']);
  });

  it('for a target directory whose own listing failed', () => {
    const dst = tree({ locked: dir() }, { incomplete: new Set(['locked']) });
    expect(planSync(tree({}), dst, { delete: true }).deletions).toEqual([]);
  });
});

describe('kinds', () => {
  it('source symlinks and special files are reported, not synced, and protect their target path', () => {
    const p = planSync(tree({ l: link() }), tree({ l: file(3) }), { delete: true });
    expect(p.nonRegular).toEqual([{ path: 'l', kind: 'symlink' }]);
    expect(p.files).toEqual([]);
    expect(p.deletions).toEqual([]);
  });

  it('a target symlink where the source has a file is replaced', () => {
    const p = planSync(tree({ f: file(3) }), tree({ f: link() }));
    expect(p.files.map((f) => `${f.action} ${f.path}`)).toEqual(['changed f']);
  });

  it('file vs directory is a conflict; nothing below it is written or deleted', () => {
    const src = tree({ a: file(1), b: dir(), 'b/x': file(1) });
    const dst = tree({ a: dir(), 'a/inner': file(1), b: file(1) });
    const p = planSync(src, dst, { delete: true });
    expect(p.conflicts.map((c) => c.path)).toEqual(['a', 'b']);
    expect(p.files).toEqual([]);
    expect(p.mkdirs).toEqual([]);
    expect(p.deletions).toEqual([]);
  });
});

describe('directory attributes', () => {
  it('are set deepest first for new directories, touched ones and ones that differ, and for the root', () => {
    const src = tree({ a: dir(), 'a/b': dir(), 'a/b/f': file(1), same: dir(), 'same/f': file(1), mode: dir(T, 0o700) });
    const dst = tree({ a: dir(), same: dir(), 'same/f': file(1), mode: dir() }, { root: dir(T - 5) });
    const p = planSync(src, dst);
    expect(p.fixups.map((f) => f.path)).toEqual(['a/b', 'a', 'mode', '']);
    expect(p.fixups.find((f) => f.path === 'mode')!.attrs.mode).toBe(0o700);
  });

  it('a file whose mode alone differs is skipped and its mode fixed', () => {
    const p = planSync(tree({ f: file(1, T, 0o600) }), tree({ f: file(1) }));
    expect(paths(p.skipped)).toEqual(['f']);
    expect(p.fixups).toEqual([{ path: 'f', kind: 'file', attrs: { mode: 0o600, atime: T, mtime: T } }]);
  });

  it('nothing to do on an identical tree', () => {
    const entries = { a: dir(), 'a/f': file(1) };
    const p = planSync(tree(entries), tree(entries), { delete: true });
    expect({ ...summary(p), fixups: p.fixups }).toEqual({ mkdirs: [], files: [], skipped: ['a/f'], deletions: [], fixups: [] });
  });
});

describe('--link-dest', () => {
  const src = tree({ same: file(10), touched: file(10, T + 60), grown: file(11), mode: file(10, T, 0o600), fresh: file(3), kept: file(5) });
  const prev = { entries: new Map(Object.entries({ same: file(10), touched: file(10), grown: file(10), mode: file(10), kept: file(5) })) };

  it('links what the link-dest copy passes the quick check for, mode included; sends the rest', () => {
    const p = planSync(src, tree({ kept: file(5) }), {}, undefined, prev);
    expect(p.links.map((l) => `${l.action} ${l.path}`)).toEqual(['linked same']);
    expect(p.files.map((f) => `${f.action} ${f.path}`)).toEqual(['new fresh', 'new grown', 'new mode', 'new touched']);
    // The target's own up-to-date copy wins: nothing to link or send.
    expect(paths(p.skipped)).toEqual(['kept']);
  });

  it('a link replacing another version on the target says so; the root directory gets its times again', () => {
    const p = planSync(tree({ same: file(10) }), tree({ same: file(99) }), {}, undefined, prev);
    expect(p.links).toMatchObject([{ path: 'same', replaces: true }]);
    expect(p.fixups.map((f) => f.path)).toContain('');
  });

  it('with --checksum, only a link-dest copy of the same content is linked', () => {
    const s = tree({ same: file(10), other: file(10) });
    const l = { entries: new Map(Object.entries({ same: file(10), other: file(10) })), same: new Map([['same', true], ['other', false]]) };
    const p = planSync(s, tree({}), { checksum: true }, undefined, l);
    expect(paths(p.links)).toEqual(['same']);
    expect(paths(p.files)).toEqual(['other']);
  });

  it('--ignore-existing and --update still skip before anything is linked', () => {
    const p = planSync(tree({ same: file(10) }), tree({ same: file(99, T + 999) }), { update: true }, undefined, prev);
    expect(paths(p.skipped)).toEqual(['same']);
    expect(p.links).toEqual([]);
  });
});

describe('--link-dest and attributes', () => {
  it('a target file whose mode alone differs is not re-attributed (it may be a link into the older snapshot)', () => {
    const prev = { entries: new Map(Object.entries({ f: file(10, T, 0o600) })) };
    const p = planSync(tree({ f: file(10, T, 0o600), g: file(10, T, 0o600) }), tree({ f: file(10, T, 0o644), g: file(10, T, 0o644) }), {}, undefined, prev);
    expect(p.fixups.filter((x) => x.kind === 'file')).toEqual([]);
    expect(p.links).toMatchObject([{ path: 'f', replaces: true }]);
    expect(p.files).toMatchObject([{ path: 'g', action: 'changed', reason: 'attributes differ, and the file may be a hard link' }]);
  });
});
