/**
 * The journal of a partial file: which byte ranges of it are known good,
 * and for which exact source. Ranges are recorded only after the partial was
 * synced, so after a crash the journal never claims more than the disk has.
 * Journals live in a local state directory (chosen by the caller), keyed by
 * the destination, so uploads and downloads resume the same way.
 */
import { createHash } from 'node:crypto';
import { promises as fsp } from 'node:fs';
import type { Range } from './ranges.js';

export interface SourceIdentity {
  label: string;
  path: string;
  size: number;
  mtime: number;
}

export interface PartialJournal {
  version: 1;
  source: SourceIdentity;
  dest: { label: string; path: string; partial: string };
  chunk: number;
  done: Range[];
}

/** Where journals are kept; the engine never knows the directory. */
export interface JournalStore {
  load(key: string): Promise<PartialJournal | undefined>;
  save(key: string, j: PartialJournal): Promise<void>;
  remove(key: string): Promise<void>;
}

export function journalKey(destLabel: string, destPath: string): string {
  return createHash('sha256').update(`${destLabel}\0${destPath}`).digest('hex').slice(0, 32);
}

/** Why a journal cannot be trusted for this source, or null if it can. */
export function staleReason(j: PartialJournal, src: SourceIdentity): string | null {
  if (j.version !== 1) return 'journal from another ferry version';
  if (j.source.path !== src.path || j.source.label !== src.label) return 'the partial file belongs to another source';
  if (j.source.size !== src.size) return `source size changed (${j.source.size} -> ${src.size})`;
  if (Math.floor(j.source.mtime) !== Math.floor(src.mtime)) return 'source modified since the interrupted run';
  return null;
}

export class DirJournalStore implements JournalStore {
  constructor(private readonly dir: string) {}

  private file(key: string) {
    return `${this.dir}/${key}.json`;
  }

  async load(key: string): Promise<PartialJournal | undefined> {
    try {
      const j = JSON.parse(await fsp.readFile(this.file(key), 'utf8')) as PartialJournal;
      return j && j.version === 1 && Array.isArray(j.done) ? j : undefined;
    } catch {
      return undefined; // Missing or torn: start over, never trust it.
    }
  }

  async save(key: string, j: PartialJournal): Promise<void> {
    await fsp.mkdir(this.dir, { recursive: true, mode: 0o700 });
    const tmp = `${this.file(key)}.${process.pid}.tmp`;
    const fh = await fsp.open(tmp, 'w', 0o600);
    try {
      await fh.writeFile(JSON.stringify(j));
      await fh.sync();
    } finally {
      await fh.close();
    }
    await fsp.rename(tmp, this.file(key));
  }

  async remove(key: string): Promise<void> {
    await fsp.rm(this.file(key), { force: true });
  }
}

/** For tests and for runs with resume disabled. */
export class MemoryJournalStore implements JournalStore {
  readonly entries = new Map<string, PartialJournal>();
  async load(key: string) {
    const j = this.entries.get(key);
    return j && (JSON.parse(JSON.stringify(j)) as PartialJournal);
  }
  async save(key: string, j: PartialJournal) {
    this.entries.set(key, JSON.parse(JSON.stringify(j)) as PartialJournal);
  }
  async remove(key: string) {
    this.entries.delete(key);
  }
}
