// The sync run over local endpoints, with listings doctored to show what a
// real server rarely does on cue: a file that vanishes between listing and
// copy (counted apart, rsync's 24, and no obstacle to --delete), and a source
// listing that fails (nothing is deleted).
import * as fs from 'node:fs/promises';
import * as os from 'node:os';
import * as path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ConnectionError, FileError } from '../../src/errors.js';
import type { DirEntry, FileAttrs } from '../../src/transfer/endpoint.js';
import { LocalEndpoint } from '../../src/transfer/local.js';
import { Sync, type SyncItem } from '../../src/transfer/sync.js';

let work: string;
beforeAll(async () => {
  work = await fs.mkdtemp(path.join(os.tmpdir(), 'ferry-sync-unit-'));
});
afterAll(async () => {
  await fs.rm(work, { recursive: true, force: true });
});

/** Local disk whose listings can be doctored per directory. */
class DoctoredEndpoint extends LocalEndpoint {
  constructor(private readonly doctor: (dir: string, entries: DirEntry[]) => DirEntry[]) {
    super();
  }
  override async readdir(dir: string): Promise<DirEntry[]> {
    return this.doctor(dir, await super.readdir(dir));
  }
}

/** Local disk whose stat and listings say 0 bytes for files named proc*, as /proc and some FUSE filesystems do. */
class ProcLikeEndpoint extends LocalEndpoint {
  private zero = (p: string, a: FileAttrs): FileAttrs => (path.basename(p).startsWith('proc') ? { ...a, size: 0 } : a);
  override async stat(p: string): Promise<FileAttrs> {
    return this.zero(p, await super.stat(p));
  }
  override async readdir(dir: string): Promise<DirEntry[]> {
    return (await super.readdir(dir)).map((e) => ({ ...e, attrs: this.zero(e.name, e.attrs) }));
  }
}

async function setup(name: string) {
  const dir = await fs.mkdtemp(path.join(work, `${name}-`));
  const src = path.join(dir, 'src');
  const dst = path.join(dir, 'dst');
  for (const d of [src, dst]) await fs.mkdir(path.join(d, 'sub'), { recursive: true });
  await fs.writeFile(path.join(src, 'a.txt'), 'a');
  await fs.writeFile(path.join(src, 'sub/b.txt'), 'b');
  await fs.writeFile(path.join(dst, 'stale.txt'), 'old');
  return { src, dst };
}

async function run(sync: Sync): Promise<{ items: SyncItem[]; warnings: string[] }> {
  const items: SyncItem[] = [];
  const warnings: string[] = [];
  sync.on('item', (i: SyncItem) => items.push(i));
  sync.on('warning', (w: { message: string }) => warnings.push(w.message));
  await sync.run();
  return { items, warnings };
}

describe('Sync', () => {
  it('a file that vanished after the listing is counted as vanished, not failed, and --delete still runs', async () => {
    const { src, dst } = await setup('vanished');
    const ghost: DirEntry = { name: 'ghost.txt', attrs: { kind: 'file', size: 5, mode: 0o644, mtime: 1, atime: 1 } };
    const ep = new DoctoredEndpoint((dir, entries) => (dir === src ? [...entries, ghost] : entries));
    const sync = new Sync({ src: ep, srcRoot: src, dst: new LocalEndpoint(), dstRoot: dst, delete: true });
    const { items, warnings } = await run(sync);
    expect(sync.stats).toMatchObject({ vanished: 1, failed: 0, new: 2, deleted: 1 });
    expect(sync.errors).toEqual([]);
    expect(warnings).toEqual([`file has vanished: local "${src}/ghost.txt"`]);
    expect(items.filter((i) => i.action === 'deleted').map((i) => i.path)).toEqual(['stale.txt']);
  });

  it('a source listing error is reported and nothing is deleted', async () => {
    const { src, dst } = await setup('list-error');
    const ep = new DoctoredEndpoint((dir, entries) => {
      if (dir === path.join(src, 'sub')) throw new FileError('list', 'local', dir, 'Permission denied', { code: 'EACCES' });
      return entries;
    });
    const sync = new Sync({ src: ep, srcRoot: src, dst: new LocalEndpoint(), dstRoot: dst, delete: true });
    const { warnings } = await run(sync);
    expect(sync.errors.map((e) => e.message)).toEqual([`list local "${src}/sub": Permission denied`]);
    expect(sync.deleteRefused).toBe('the source listing had errors');
    expect(warnings).toContain('not deleting anything: the source listing had errors');
    expect(await fs.readFile(path.join(dst, 'stale.txt'), 'utf8')).toBe('old');
    expect(await fs.readFile(path.join(dst, 'a.txt'), 'utf8')).toBe('a');
  });

  it('suspect names in a listing are refused, never joined into a path', async () => {
    const { src, dst } = await setup('suspect');
    const evil: DirEntry = { name: '../escape.txt', attrs: { kind: 'file', size: 1, mode: 0o644, mtime: 1, atime: 1 } };
    const ep = new DoctoredEndpoint((dir, entries) => (dir === src ? [...entries, evil] : entries));
    const sync = new Sync({ src: ep, srcRoot: src, dst: new LocalEndpoint(), dstRoot: dst });
    await run(sync);
    expect(sync.errors.map((e) => e.message)).toEqual([expect.stringMatching(/suspect name "\.\.\/escape\.txt" refused/)]);
    await expect(fs.stat(path.join(dst, '../escape.txt'))).rejects.toThrow();
  });

  it('partial files (.NAME.ferry-part) on the target are neither listed nor deleted', async () => {
    const { src, dst } = await setup('partials');
    await fs.writeFile(path.join(dst, 'sub/.x.ferry-part'), 'partial');
    const sync = new Sync({ src: new LocalEndpoint(), srcRoot: src, dst: new LocalEndpoint(), dstRoot: dst, delete: true });
    const { items } = await run(sync);
    expect(items.filter((i) => i.action === 'deleted').map((i) => i.path)).toEqual(['stale.txt']);
    expect(await fs.readFile(path.join(dst, 'sub/.x.ferry-part'), 'utf8')).toBe('partial');
  });

  it('a source file whose stat says 0 arrives whole and verifies; the next run sends it again, --checksum skips it', async () => {
    const { src, dst } = await setup('proc-like');
    const content = 'processor\t: 0\nmodel name\t: a CPU that stat says is empty\n';
    await fs.writeFile(path.join(src, 'proc-cpuinfo'), content);
    const ep = new ProcLikeEndpoint();
    const first = new Sync({ src: ep, srcRoot: src, dst: new LocalEndpoint(), dstRoot: dst, verify: true });
    const { items } = await run(first);
    expect(first.errors).toEqual([]);
    expect(await fs.readFile(path.join(dst, 'proc-cpuinfo'), 'utf8')).toBe(content);
    expect(items.find((i) => i.path === 'proc-cpuinfo')).toMatchObject({ action: 'new', bytes: content.length, verified: true });

    const second = await run(new Sync({ src: ep, srcRoot: src, dst: new LocalEndpoint(), dstRoot: dst }));
    expect(second.items.find((i) => i.path === 'proc-cpuinfo')).toMatchObject({ action: 'changed', reason: 'size unknown at the source (stat says 0)' });
    const third = await run(new Sync({ src: ep, srcRoot: src, dst: new LocalEndpoint(), dstRoot: dst, checksum: true }));
    expect(third.items.find((i) => i.path === 'proc-cpuinfo')).toMatchObject({ action: 'skipped', reason: 'same checksum' });
    expect(await fs.readFile(path.join(dst, 'proc-cpuinfo'), 'utf8')).toBe(content);
  });

  it('streams: files of the first directories are sent while later directories are still to be listed', async () => {
    const dir = await fs.mkdtemp(path.join(work, 'stream-'));
    const [src, dst] = [path.join(dir, 'src'), path.join(dir, 'dst')];
    for (const d of ['a', 'z']) {
      await fs.mkdir(path.join(src, d), { recursive: true });
      await fs.writeFile(path.join(src, d, 'f.txt'), d);
    }
    let sent!: () => void;
    const firstSent = new Promise<void>((r) => (sent = r));
    // "z" cannot be listed before a file has arrived: a sync that planned the whole tree
    // before sending anything would wait here until the listing gives up.
    const ep = new DoctoredEndpoint((d, entries) => entries);
    const list = ep.readdir.bind(ep);
    ep.readdir = async (d: string) => {
      if (d === path.join(src, 'z')) {
        const gaveUp = new Promise<'gave up'>((r) => setTimeout(() => r('gave up'), 5000).unref());
        if ((await Promise.race([firstSent, gaveUp])) === 'gave up') throw new FileError('list', 'local', d, 'waited 5 s for a file to be sent first');
      }
      return list(d);
    };
    const sync = new Sync({ src: ep, srcRoot: src, dst: new LocalEndpoint(), dstRoot: dst });
    sync.on('item', (i: SyncItem) => {
      if (i.action === 'new' && i.kind === 'file') sent();
    });
    const { items } = await run(sync);
    expect(sync.errors).toEqual([]);
    expect(items.filter((i) => i.kind === 'file').map((i) => i.path).sort()).toEqual(['a/f.txt', 'z/f.txt']);
    expect(await fs.readFile(path.join(dst, 'z/f.txt'), 'utf8')).toBe('z');
  });

  it('the engine failing (the link dropped) while the walk goes on: the run fails with that error, nothing unhandled, no hang', async () => {
    const dir = await fs.mkdtemp(path.join(work, 'engine-fails-'));
    const [src, dst] = [path.join(dir, 'src'), path.join(dir, 'dst')];
    for (let d = 0; d < 100; d++) {
      await fs.mkdir(path.join(src, `d${d}`), { recursive: true });
      await fs.writeFile(path.join(src, `d${d}`, 'f.txt'), `${d}`);
    }
    const unhandled: unknown[] = [];
    const onUnhandled = (e: unknown) => unhandled.push(e);
    process.on('unhandledRejection', onUnhandled);
    class Dropping extends LocalEndpoint {
      override async openWrite(p: string, o: Parameters<LocalEndpoint['openWrite']>[1]) {
        if (p.includes('/d0/')) throw new ConnectionError('connection to example lost');
        return super.openWrite(p, o);
      }
    }
    // Listings take a while: the walk is far from done when the first file fails.
    const slow = new DoctoredEndpoint((_d, entries) => entries);
    const list = slow.readdir.bind(slow);
    slow.readdir = async (d: string) => {
      if (d !== src) await new Promise((r) => setTimeout(r, 20));
      return list(d);
    };
    try {
      const sync = new Sync({ src: slow, srcRoot: src, dst: new Dropping(), dstRoot: dst });
      await expect(sync.run()).rejects.toThrow('connection to example lost');
      await new Promise((r) => setTimeout(r, 50));
      expect(unhandled).toEqual([]);
    } finally {
      process.off('unhandledRejection', onUnhandled);
    }
  });

  it('a target directory that cannot be listed is left alone: its files are not taken for new and overwritten', async () => {
    const { src, dst } = await setup('dst-unlistable');
    await fs.writeFile(path.join(src, 'sub/keep.txt'), 'source');
    await fs.writeFile(path.join(dst, 'sub/keep.txt'), 'the target\'s own');
    const ep = new DoctoredEndpoint((dir, entries) => {
      if (dir === path.join(dst, 'sub')) throw new FileError('list', 'local', dir, 'Permission denied', { code: 'EACCES' });
      return entries;
    });
    const sync = new Sync({ src: new LocalEndpoint(), srcRoot: src, dst: ep, dstRoot: dst, ignoreExisting: true, delete: true });
    await run(sync);
    expect(sync.errors.map((e) => e.message)).toEqual([`list local "${dst}/sub": Permission denied`]);
    expect(await fs.readFile(path.join(dst, 'sub/keep.txt'), 'utf8')).toBe('the target\'s own');
    expect(await fs.readFile(path.join(dst, 'stale.txt'), 'utf8')).toBe('old');
    expect(sync.deleteRefused).toMatch(/error/);
  });
});
