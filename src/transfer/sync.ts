/**
 * One sync run: list both trees, plan (sync-plan.ts), then create
 * directories, send files through the engine (resume, lanes, atomic rename,
 * times and modes preserved), verify, delete, and set directory times last.
 * Reports through events and counters only; the command layer draws.
 *
 * Deletion is the dangerous part, so it happens only after everything else
 * succeeded, never when the source listing had errors, and never beyond
 * --max-delete. A source file that vanished during the run is counted apart
 * (rsync's exit 24) and does not stop deletions.
 *
 * --link-dest DIR (a path on the target's side): a file that would be sent
 * but is unchanged since DIR's copy is hard-linked from there instead, so a
 * dated snapshot costs the space of what changed. The target endpoint must be
 * able to link (hardlink@openssh.com), which is checked before anything is
 * written. A link that fails (another filesystem, the file gone) is sent.
 */
import { EventEmitter } from 'node:events';
import { FerryError, FileError, UsageError } from '../errors.js';
import type { Endpoint } from './endpoint.js';
import { isNotFound } from './endpoint.js';
import type { Filter } from './filters.js';
import { flipByteForTest, hashFile } from './hash.js';
import { createLimit } from './limit.js';
import { joinPath, linkTempName } from './names.js';
import { checksumCandidates, planSync, type Fixup, type LinkView, type PlanItem, type SyncAction, type SyncPlan, type SyncPlanOptions } from './sync-plan.js';
import { Transfer, type CopyJob, type FileEvent, type TransferOptions } from './transfer.js';
import { parentOf, walkTree, type Tree } from './tree.js';

export interface SyncOptions extends SyncPlanOptions {
  src: Endpoint;
  srcRoot: string;
  dst: Endpoint;
  dstRoot: string;
  filter?: Filter;
  /** More deletions than this: none is done, and it is an error. */
  maxDelete?: number;
  dryRun?: boolean;
  /** Hash both sides of every sent (and linked) file; a mismatch is sent once more, then fails. */
  verify?: boolean;
  /** --link-dest: the older snapshot on the target's side, as a path the target endpoint understands. */
  linkDest?: string;
  /** Engine options (journals, lanes, limiter, retries, resume). */
  transfer?: Omit<TransferOptions, 'recursive' | 'preserve' | 'signal' | 'runJournal'>;
  signal?: AbortSignal;
  /** TEST ONLY: relative path of a sent file to corrupt on the target before --verify checks it. */
  corruptAfterCopy?: string;
}

export interface SyncItem {
  path: string;
  kind: 'file' | 'dir' | 'symlink' | 'other';
  action: SyncAction;
  /** Bytes sent by this run (0 for skipped, deleted, directories, and in a dry run). */
  bytes: number;
  size: number;
  reason: string;
  resumedFrom?: number;
  /** Seconds. */
  duration?: number;
  verified?: boolean;
  /** Sent a second time because the first copy did not verify. */
  resent?: boolean;
}

export interface SyncStats {
  /** Regular files in the source (after filters). */
  files: number;
  new: number;
  changed: number;
  skipped: number;
  /** Hard-linked from --link-dest instead of sent. */
  linked: number;
  deleted: number;
  failed: number;
  vanished: number;
  verified: number;
  attrsUpdated: number;
  bytesSent: number;
  bytesSkipped: number;
  /** Size of the linked files: what --link-dest saved sending. */
  bytesLinked: number;
  /** Dry run: what a real run would send. */
  bytesToSend: number;
  startedAt: number;
}

interface Sent {
  bytes: number;
  resumedFrom: number;
  ms: number;
}

/** Metadata operations (mkdir, setstat, unlink) in flight at once. */
const META_CONCURRENCY = 16;
/**
 * Hard links in flight at once: a snapshot links nearly every file, and
 * sftp-server answers one request after another, so only a deep queue keeps
 * the link busy over a round trip of latency.
 */
const LINKS_AT_ONCE = 64;
/** Link failures warned about one by one; past that, one line counts the rest. */
const MAX_LINK_WARNINGS = 5;

export class Sync extends EventEmitter {
  readonly stats: SyncStats = {
    files: 0, new: 0, changed: 0, skipped: 0, linked: 0, deleted: 0, failed: 0, vanished: 0, verified: 0, attrsUpdated: 0,
    bytesSent: 0, bytesSkipped: 0, bytesLinked: 0, bytesToSend: 0, startedAt: Date.now(),
  };
  readonly errors: FerryError[] = [];
  /** Why --delete removed nothing, when it did not. */
  deleteRefused?: string;
  private readonly meta = createLimit(META_CONCURRENCY);
  /** Directories that could not be created: nothing below them is attempted. */
  private readonly brokenDirs = new Set<string>();

  constructor(private readonly o: SyncOptions) {
    super();
  }

  private srcPath = (rel: string) => (rel === '' ? this.o.srcRoot : joinPath(this.o.srcRoot, rel));
  private dstPath = (rel: string) => (rel === '' ? this.o.dstRoot : joinPath(this.o.dstRoot, rel));

  private fail(path: string, error: FerryError, duringTransfer = false) {
    this.errors.push(error);
    this.stats.failed++;
    this.emit('file-error', { path, error, duringTransfer });
  }

  private item(i: SyncItem) {
    if (i.action === 'new' || i.action === 'changed') {
      if (i.kind === 'file') this.stats[i.action]++;
    } else if (i.action === 'skipped') {
      this.stats.skipped++;
      this.stats.bytesSkipped += i.size;
    } else if (i.action === 'linked') {
      this.stats.linked++;
      this.stats.bytesLinked += i.size;
    } else {
      this.stats.deleted++;
    }
    this.emit('item', i);
  }

  async run(): Promise<void> {
    const { src, dst } = this.o;
    const srcRoot = await src.stat(this.o.srcRoot);
    if (srcRoot.kind !== 'dir') throw new UsageError(`source ${src.side} "${this.o.srcRoot}": not a directory`, { hint: 'ferry sync mirrors a directory; use ferry cp for single files' });
    const dstRoot = await dst.stat(this.o.dstRoot).catch((err: unknown) => {
      if (isNotFound(err)) return undefined;
      throw err;
    });
    if (dstRoot && dstRoot.kind !== 'dir') throw new UsageError(`target ${dst.side} "${this.o.dstRoot}": not a directory`);
    if (this.o.linkDest !== undefined && !dst.hardlink) {
      throw new FileError('link', dst.side, this.o.linkDest, `${dst.label} cannot make hard links (no hardlink@openssh.com)`, {
        hint: 'OpenSSH\'s sftp-server offers it; without it, sync into the snapshot without --link-dest',
      });
    }

    this.emit('phase', { phase: 'list' });
    const walk = { filter: this.o.filter, signal: this.o.signal };
    const empty: Tree = { entries: new Map(), errors: [], vanished: [], incomplete: new Set(), hidden: new Set() };
    const [srcTree, dstTree, linkTree] = await Promise.all([
      walkTree(src, this.o.srcRoot, walk),
      dstRoot ? walkTree(dst, this.o.dstRoot, walk) : empty,
      this.walkLinkDest(walk),
    ]);
    for (const e of [...srcTree.errors, ...dstTree.errors]) this.fail(e.path, e);
    for (const v of srcTree.vanished) this.vanished(v);
    for (const a of srcTree.entries.values()) if (a.kind === 'file') this.stats.files++;

    const same = this.o.checksum ? await this.compareContents(srcTree, dstTree, this.dstPath) : undefined;
    const link: LinkView | undefined = linkTree && {
      entries: linkTree.entries,
      same: this.o.checksum ? await this.compareContents(srcTree, linkTree, (p) => joinPath(this.o.linkDest!, p)) : undefined,
    };
    const plan = planSync({ root: srcRoot, ...srcTree }, { root: dstRoot, ...dstTree }, this.o, same, link);
    this.emit('phase', { phase: 'plan', plan });
    this.report(plan, srcTree);

    if (this.o.dryRun) return this.dryRun(plan);
    if (!dstRoot) await dst.mkdir(this.o.dstRoot, srcRoot.mode & 0o777 | 0o700);
    await this.makeDirs(plan.mkdirs);
    // Links (metadata on this session) and sends (data on the engine's lanes) overlap: neither waits for the other.
    const linking = this.linkAll(plan.links);
    await Promise.all([linking, this.sendAll(plan.files, linking)]);
    await this.setAttrs(plan.fixups.filter((f) => f.kind === 'file'));
    this.checkErrorsBeforeDelete(plan);
    if (this.deleteRefused === undefined) await this.deleteAll(plan.deletions);
    await this.setAttrs(plan.fixups.filter((f) => f.kind === 'dir'));
  }

  /** Any error so far (a vanished file is none) holds deletions back. */
  private checkErrorsBeforeDelete(plan: SyncPlan) {
    if (plan.deletions.length > 0 && this.deleteRefused === undefined && this.stats.failed > 0) {
      this.refuseDelete(`${this.stats.failed} error${this.stats.failed === 1 ? '' : 's'} in this run`, false);
    }
  }

  private vanished(rel: string) {
    this.stats.vanished++;
    this.emit('warning', { path: rel, message: `file has vanished: ${this.o.src.side} "${this.srcPath(rel)}"` });
  }

  private refuseDelete(why: string, isError: boolean) {
    this.deleteRefused = why;
    const message = `not deleting anything: ${why}`;
    if (isError) this.fail('', new FerryError(message, { hint: 'check what would go with --dry-run --itemize, then raise --max-delete' }));
    else this.emit('warning', { path: '', message });
  }

  /** What the plan says before anything is done: conflicts, skipped files, the delete brakes. */
  private report(plan: SyncPlan, srcTree: Tree) {
    for (const n of plan.nonRegular) this.emit('warning', { path: n.path, message: `skipping non-regular file ${this.o.src.side} "${this.srcPath(n.path)}" (${n.kind})` });
    for (const c of plan.conflicts) this.fail(c.path, new FileError('sync', this.o.dst.side, this.dstPath(c.path), c.reason));
    for (const s of plan.skipped) this.item({ ...s, kind: 'file', bytes: 0 });
    if (!this.o.delete || plan.deletions.length === 0) return;
    if (srcTree.errors.length > 0) this.refuseDelete('the source listing had errors', false);
    else if (this.o.maxDelete !== undefined && plan.deletions.length > this.o.maxDelete) {
      this.refuseDelete(`${plan.deletions.length} deletions would exceed --max-delete ${this.o.maxDelete}`, true);
    }
  }

  /**
   * The link-dest tree, or undefined without --link-dest. Missing, it is a
   * warning (the first snapshot has nothing to link to) and every file is sent;
   * a part that cannot be listed only means its files are sent.
   */
  private async walkLinkDest(walk: { filter?: Filter; signal?: AbortSignal }): Promise<Tree | undefined> {
    const dir = this.o.linkDest;
    if (dir === undefined) return undefined;
    const { dst } = this.o;
    const root = await dst.stat(dir).catch((err: unknown) => {
      if (isNotFound(err)) return undefined;
      throw err;
    });
    if (root?.kind !== 'dir') {
      this.emit('warning', { path: '', message: `--link-dest ${dst.side} "${dir}": ${root ? 'not a directory' : 'No such file or directory'}; sending every file` });
      return undefined;
    }
    const tree = await walkTree(dst, dir, walk);
    for (const e of tree.errors) this.emit('warning', { path: e.path, message: `${e.message}; its files are sent, not linked` });
    return tree;
  }

  /** Hard-links what the plan says; what could not be linked comes back to be sent. */
  private async linkAll(links: PlanItem[]): Promise<{ linked: PlanItem[]; unlinked: PlanItem[] }> {
    const linked: PlanItem[] = [];
    const unlinked: PlanItem[] = [];
    if (links.length === 0) return { linked, unlinked };
    this.emit('phase', { phase: 'link', files: links.length });
    const limit = createLimit(LINKS_AT_ONCE);
    let failures = 0;
    await Promise.all(links.map((f) => limit(async () => {
      if (this.isBroken(f.path)) {
        this.stats.failed++; // Its directory's error was reported.
        return;
      }
      try {
        await this.linkOne(f);
        linked.push(f);
        // With --verify it is reported once its content was checked.
        if (!this.o.verify) this.item({ ...f, kind: 'file', bytes: 0 });
      } catch (err) {
        if (!(err instanceof FileError)) throw err;
        // rsync does the same: a snapshot that costs space beats one that lacks the file.
        // A server refusing every link would otherwise print one warning per file.
        if (++failures <= MAX_LINK_WARNINGS) this.emit('warning', { path: f.path, message: `${err.message}; sending it instead` });
        unlinked.push({ ...f, action: f.replaces ? 'changed' : 'new', reason: 'could not be linked' });
      }
    })));
    if (failures > MAX_LINK_WARNINGS) {
      this.emit('warning', { path: '', message: `${failures - MAX_LINK_WARNINGS} more files could not be linked from --link-dest; they were sent instead` });
    }
    return { linked, unlinked };
  }

  private async linkOne(f: PlanItem): Promise<void> {
    const { dst } = this.o;
    const from = joinPath(this.o.linkDest!, f.path);
    const to = this.dstPath(f.path);
    if (!f.replaces) return dst.hardlink!(from, to);
    // Another version is in place: link beside it, then rename over it, so the name always holds a whole file.
    const tmp = linkTempName(to);
    await dst.unlink(tmp).catch(() => undefined);
    await dst.hardlink!(from, tmp);
    await dst.rename(tmp, to);
  }

  private dryRun(plan: SyncPlan) {
    for (const d of plan.mkdirs) this.item({ ...d, kind: 'dir', bytes: 0 });
    for (const l of plan.links) this.item({ ...l, kind: 'file', bytes: 0 });
    for (const f of plan.files) {
      this.stats.bytesToSend += f.size;
      this.item({ ...f, kind: 'file', bytes: 0 });
    }
    this.checkErrorsBeforeDelete(plan);
    if (this.deleteRefused === undefined) for (const d of plan.deletions) this.item({ ...d, bytes: 0 });
  }

  private isBroken(rel: string): boolean {
    for (let p = parentOf(rel); ; p = parentOf(p)) {
      if (this.brokenDirs.has(p)) return true;
      if (p === '') return false;
    }
  }

  /** Parents before children: one depth level at a time, each level in parallel. */
  private async makeDirs(dirs: PlanItem[]) {
    const levels = new Map<number, PlanItem[]>();
    for (const d of dirs) {
      const n = d.path.split('/').length;
      const level = levels.get(n) ?? [];
      level.push(d);
      levels.set(n, level);
    }
    for (const n of [...levels.keys()].sort((a, b) => a - b)) {
      await Promise.all(levels.get(n)!.map((d) => this.meta(async () => {
        if (this.isBroken(d.path)) return this.brokenDirs.add(d.path);
        try {
          // We must be able to write into it; its own mode is set after its contents.
          await this.o.dst.mkdir(this.dstPath(d.path), 0o700);
          this.item({ ...d, kind: 'dir', bytes: 0 });
        } catch (err) {
          this.brokenDirs.add(d.path);
          this.guard(d.path, err);
        }
      })));
    }
  }

  /** A per-path failure is recorded; connection-level ones end the run. */
  private guard(path: string, err: unknown) {
    if (!(err instanceof FileError)) throw err;
    this.fail(path, err);
  }

  /**
   * Sends `files`, then what `linking` could not link; with --verify, checks
   * them and the linked ones, and sends what does not match once more (a
   * linked file whose older copy differs in content despite the quick check
   * gets a fresh copy).
   */
  private async sendAll(files: PlanItem[], linking: Promise<{ linked: PlanItem[]; unlinked: PlanItem[] }>) {
    const todo = files.filter((f) => {
      if (!this.isBroken(f.path)) return true;
      this.stats.failed++; // Its directory's error was reported.
      return false;
    });
    // Without --verify a file is done once it is in place: report it right away, not at the end.
    const onSent = this.o.verify ? undefined : (f: PlanItem, s: Sent) => this.item(this.sentItem(f, s));
    const sent = todo.length > 0 ? await this.send(todo, onSent) : new Map<string, Sent>();
    const { linked, unlinked } = await linking;
    if (unlinked.length > 0) {
      for (const [p, s] of await this.send(unlinked, onSent)) sent.set(p, s);
      todo.push(...unlinked);
    }
    if (!this.o.verify || todo.length + linked.length === 0) return;
    this.emit('phase', { phase: 'verify' });
    const bad = new Set(await this.verify([...todo.filter((f) => sent.has(f.path)), ...linked], true));
    const relink = linked.filter((l) => bad.has(l.path)).map((l): PlanItem => ({ ...l, action: l.replaces ? 'changed' : 'new', reason: 'the --link-dest copy differs in content' }));
    for (const l of linked) if (!bad.has(l.path)) this.item({ ...l, kind: 'file', bytes: 0, verified: true });
    const again = bad.size > 0 ? await this.send([...todo.filter((f) => bad.has(f.path)), ...relink]) : new Map<string, Sent>();
    const stillBad = new Set(again.size > 0 ? await this.verify([...todo, ...relink].filter((f) => again.has(f.path)), false) : []);
    for (const r of relink) {
      const s = again.get(r.path);
      if (!s) continue; // Its send failed and was reported.
      if (stillBad.has(r.path)) this.fail(r.path, new FileError('verify', this.o.dst.side, this.dstPath(r.path), 'content differs from the source after sending it'));
      else this.item({ ...this.sentItem(r, s), verified: true });
    }
    for (const f of todo) {
      const first = sent.get(f.path);
      if (!first) continue;
      if (!bad.has(f.path)) {
        this.item({ ...this.sentItem(f, first), verified: true });
        continue;
      }
      const second = again.get(f.path);
      if (!second) continue; // Its second send failed and was reported.
      if (stillBad.has(f.path)) {
        this.fail(f.path, new FileError('verify', this.o.dst.side, this.dstPath(f.path), 'content differs from the source after sending it twice'));
        continue;
      }
      const i = this.sentItem(f, second);
      this.item({ ...i, bytes: first.bytes + second.bytes, verified: true, resent: true });
    }
  }

  private sentItem(f: PlanItem, s: Sent): SyncItem {
    return { ...f, kind: 'file', bytes: s.bytes, resumedFrom: s.resumedFrom, duration: s.ms / 1000 };
  }

  /** One engine run over these files; returns what arrived, keyed by relative path. */
  private async send(files: PlanItem[], onSent?: (f: PlanItem, s: Sent) => void): Promise<Map<string, Sent>> {
    this.emit('phase', { phase: 'transfer', files: files.length });
    const t = new Transfer({ ...this.o.transfer, recursive: false, preserve: true, signal: this.o.signal });
    const bySrc = new Map<string, PlanItem>();
    const byDst = new Map<string, PlanItem>();
    const jobs: CopyJob[] = files.map((f) => {
      const job = { src: this.o.src, srcPath: this.srcPath(f.path), dst: this.o.dst, dstPath: this.dstPath(f.path) };
      bySrc.set(job.srcPath, f);
      byDst.set(job.dstPath, f);
      return job;
    });
    const sent = new Map<string, Sent>();
    t.on('file-done', (ev: FileEvent & Sent) => {
      const f = byDst.get(ev.dst);
      if (!f) return;
      const s = { bytes: ev.bytes, resumedFrom: ev.resumedFrom, ms: ev.ms };
      sent.set(f.path, s);
      onSent?.(f, s);
    });
    t.on('file-error', ({ path, error }: { path: string; error: FerryError }) => {
      const f = bySrc.get(path);
      // Gone from the source since it was listed: rsync's "vanished", not a failure.
      if (f && isNotFound(error) && error instanceof FileError && error.path === path) this.vanished(f.path);
      else this.fail(f?.path ?? path, error, true);
    });
    this.emit('transfer', t);
    try {
      await t.run(jobs);
    } finally {
      this.stats.bytesSent += t.stats.bytesDone;
      this.emit('transfer-end', t);
    }
    return sent;
  }

  /** Paths whose two sides differ; a file that cannot be hashed is an error, not a mismatch. */
  private async verify(files: PlanItem[], first: boolean): Promise<string[]> {
    const { src, dst } = this.o;
    if (first && this.o.corruptAfterCopy !== undefined && files.some((f) => f.path === this.o.corruptAfterCopy)) {
      await flipByteForTest(dst, this.dstPath(this.o.corruptAfterCopy));
    }
    const limit = createLimit(4);
    const bad: string[] = [];
    await Promise.all(files.map((f) => limit(async () => {
      try {
        const [a, b] = await Promise.all([hashFile(src, this.srcPath(f.path), this.o.signal), hashFile(dst, this.dstPath(f.path), this.o.signal)]);
        if (a.sha256 === b.sha256 && a.size === b.size) {
          this.stats.verified++;
          return;
        }
        bad.push(f.path);
        if (first) this.emit('warning', { path: f.path, message: `verify ${dst.side} "${this.dstPath(f.path)}": content differs from the source; sending it again` });
      } catch (err) {
        this.guard(f.path, err);
      }
    })));
    return bad;
  }

  /** --checksum: which same-size files have the same content (sha256 of both sides); `other` names a file of `dstTree` on the target's side. */
  private async compareContents(srcTree: Tree, dstTree: Tree, other: (rel: string) => string): Promise<Map<string, boolean>> {
    this.emit('phase', { phase: 'checksum' });
    const same = new Map<string, boolean>();
    const limit = createLimit(4);
    await Promise.all(checksumCandidates(srcTree, dstTree).map((p) => limit(async () => {
      try {
        const [a, b] = await Promise.all([hashFile(this.o.src, this.srcPath(p), this.o.signal), hashFile(this.o.dst, other(p), this.o.signal)]);
        same.set(p, a.sha256 === b.sha256 && a.size === b.size);
      } catch (err) {
        if (!(err instanceof FileError)) throw err;
        // Unreadable on one side: it is sent, and the copy reports the error if there is one.
      }
    })));
    return same;
  }

  private async setAttrs(fixups: Fixup[]) {
    await Promise.all(fixups.map((f) => this.meta(async () => {
      if ((f.path !== '' && this.brokenDirs.has(f.path)) || this.isBroken(f.path)) return;
      try {
        await this.o.dst.setstat(this.dstPath(f.path), f.attrs);
        this.stats.attrsUpdated++;
      } catch (err) {
        this.guard(f.path, err);
      }
    })));
  }

  /** Files first (in parallel), then directories deepest first; a directory whose contents failed stays. */
  private async deleteAll(deletions: PlanItem[]) {
    if (deletions.length === 0) return;
    this.emit('phase', { phase: 'delete', count: deletions.length });
    const { dst } = this.o;
    if (!dst.rmdir && deletions.some((d) => d.kind === 'dir')) {
      this.fail('', new FerryError(`cannot remove directories on ${dst.label}`));
    }
    const stuck = new Set<string>();
    const remove = async (d: PlanItem) => {
      if (stuck.has(d.path) || (d.kind === 'dir' && !dst.rmdir)) return;
      try {
        if (d.kind === 'dir') await dst.rmdir!(this.dstPath(d.path));
        else await dst.unlink(this.dstPath(d.path));
        this.item({ ...d, bytes: 0 });
      } catch (err) {
        // Its parents are not empty now: do not pile an error per ancestor on this one.
        for (let p = parentOf(d.path); p !== ''; p = parentOf(p)) stuck.add(p);
        this.guard(d.path, err);
      }
    };
    await Promise.all(deletions.filter((d) => d.kind !== 'dir').map((d) => this.meta(() => remove(d))));
    const dirs = deletions.filter((d) => d.kind === 'dir');
    for (let i = 0; i < dirs.length;) {
      const depth = dirs[i].path.split('/').length;
      const level: PlanItem[] = [];
      while (i < dirs.length && dirs[i].path.split('/').length === depth) level.push(dirs[i++]);
      await Promise.all(level.map((d) => this.meta(() => remove(d))));
    }
  }
}
