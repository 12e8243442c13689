/**
 * The journal of a partial file: which byte ranges of it are known good,
 * and for which exact source. Ranges are recorded only after the partial was
 * synced, so after a crash the journal never claims more than the disk has.
 * Beside it, a note (saved often, never synced) lists what the destination
 * acknowledged since the last sync: a hint a rerun verifies before it uses.
 * Journals live in a local state directory (chosen by the caller), keyed by
 * the destination, so uploads and downloads resume the same way.
 */
import { createHash } from 'node:crypto';
import { promises as fsp } from 'node:fs';
import { RangeSet, type Range } from './ranges.js';

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
  /** Synced: on the destination's disk. */
  done: Range[];
  /**
   * Acknowledged by the destination, not known to be on its disk (only in
   * notes): a rerun trusts none of it before checking it against the source.
   */
  written?: Range[];
}

/** Where journals are kept; the engine never knows the directory. */
export interface JournalStore {
  /** The journal, merged with its note (mergeNote). */
  load(key: string): Promise<PartialJournal | undefined>;
  /** Durable: synced before it replaces the last one. */
  save(key: string, j: PartialJournal): Promise<void>;
  /**
   * Quick, not synced, beside the journal (never replacing it): a crash of
   * this machine may lose a note, never the journal. Absent: no notes.
   */
  note?(key: string, j: PartialJournal): Promise<void>;
  /** The journal and its note. */
  remove(key: string): Promise<void>;
}

/**
 * A journal and a note about the same partial, as one: `done` from both
 * (each was synced when written), `written` from the note. A note about
 * another source or partial is ignored.
 */
export function mergeNote(main: PartialJournal | undefined, note: PartialJournal | undefined): PartialJournal | undefined {
  if (!note) return main;
  if (!main) return note;
  const same = note.source.label === main.source.label && note.source.path === main.source.path && note.source.size === main.source.size
    && note.source.mtime === main.source.mtime && note.dest.partial === main.dest.partial && note.chunk === main.chunk;
  if (!same) return main;
  return { ...main, done: new RangeSet([...main.done, ...note.done]).toJSON(), written: note.written };
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

  /** Not ".json": tools that count journals count journals. */
  private noteFile(key: string) {
    return `${this.dir}/${key}.note`;
  }

  async load(key: string): Promise<PartialJournal | undefined> {
    const [main, note] = await Promise.all([readJournal(this.file(key)), readJournal(this.noteFile(key))]);
    return mergeNote(main, note);
  }

  async note(key: string, j: PartialJournal): Promise<void> {
    await fsp.mkdir(this.dir, { recursive: true, mode: 0o700 });
    const tmp = `${this.noteFile(key)}.${process.pid}.tmp`;
    await fsp.writeFile(tmp, JSON.stringify(j), { mode: 0o600 });
    await fsp.rename(tmp, this.noteFile(key));
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
    await Promise.all([fsp.rm(this.file(key), { force: true }), fsp.rm(this.noteFile(key), { force: true })]);
  }
}

async function readJournal(file: string): Promise<PartialJournal | undefined> {
  try {
    const j = JSON.parse(await fsp.readFile(file, 'utf8')) as PartialJournal;
    return j && j.version === 1 && Array.isArray(j.done) ? j : undefined;
  } catch {
    return undefined; // Missing or torn: start over, never trust it.
  }
}

/** For tests and for runs with resume disabled. */
export class MemoryJournalStore implements JournalStore {
  readonly entries = new Map<string, PartialJournal>();
  readonly notes = new Map<string, PartialJournal>();
  async load(key: string) {
    const j = mergeNote(this.entries.get(key), this.notes.get(key));
    return j && (JSON.parse(JSON.stringify(j)) as PartialJournal);
  }
  async save(key: string, j: PartialJournal) {
    this.entries.set(key, JSON.parse(JSON.stringify(j)) as PartialJournal);
  }
  async note(key: string, j: PartialJournal) {
    this.notes.set(key, JSON.parse(JSON.stringify(j)) as PartialJournal);
  }
  async remove(key: string) {
    this.entries.delete(key);
    this.notes.delete(key);
  }
}
