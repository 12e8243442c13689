/**
 * The journal of a whole run: which files an interrupted run already put in
 * place, so running the same command again skips them instead of sending
 * them twice. Appended one line per finished file; removed when a run
 * finishes cleanly.
 */
import { promises as fsp } from 'node:fs';
import type { SourceIdentity } from './journal.js';

export interface RunJournal {
  /** Was this destination completed from exactly this source by the interrupted run? */
  wasCompleted(dstPath: string, src: SourceIdentity): boolean;
  markCompleted(dstPath: string, src: SourceIdentity): void;
  /** Write out what is still buffered (the run stopped early). */
  flush(): Promise<void>;
  /** The run finished without errors: forget it. */
  finish(): Promise<void>;
}

interface Line {
  dst: string;
  src: SourceIdentity;
}

/** Decisions of the interrupted run that the rerun must repeat, not re-derive. */
export interface RunMeta {
  /** Whether the target was an existing directory when the run began (scp semantics hinge on it). */
  targetIsDir: boolean;
}

const FLUSH_MS = 100;

const same = (a: SourceIdentity, b: SourceIdentity) =>
  a.label === b.label && a.path === b.path && a.size === b.size && Math.floor(a.mtime) === Math.floor(b.mtime);

export class FileRunJournal implements RunJournal {
  private readonly completed = new Map<string, SourceIdentity>();
  private pending: string[] = [];
  private timer?: NodeJS.Timeout;
  private writing?: Promise<void>;
  private finished = false;
  /** From the interrupted run, if there was one. */
  meta?: RunMeta;

  private constructor(private readonly file: string) {}

  static async open(file: string, dir: string): Promise<FileRunJournal> {
    const j = new FileRunJournal(file);
    await fsp.mkdir(dir, { recursive: true, mode: 0o700 });
    try {
      for (const line of (await fsp.readFile(file, 'utf8')).split('\n')) {
        if (!line) continue;
        try {
          const l = JSON.parse(line) as Line | { meta: RunMeta };
          if ('meta' in l) j.meta = l.meta;
          else j.completed.set(l.dst, l.src);
        } catch {
          // A torn last line after a crash: that file is simply sent again.
        }
      }
    } catch {
      /* no interrupted run */
    }
    return j;
  }

  get size(): number {
    return this.completed.size;
  }

  wasCompleted(dstPath: string, src: SourceIdentity): boolean {
    const c = this.completed.get(dstPath);
    return c !== undefined && same(c, src);
  }

  markCompleted(dstPath: string, src: SourceIdentity): void {
    // Batched: thousands of small files must not cost a write each. A crash loses at
    // most the last moment's lines, and those files are simply sent again.
    this.pending.push(JSON.stringify({ dst: dstPath, src } satisfies Line) + '\n');
    this.timer ??= setTimeout(() => void this.flush().catch(() => undefined), FLUSH_MS);
  }

  async flush(): Promise<void> {
    clearTimeout(this.timer);
    this.timer = undefined;
    await this.writing;
    const lines = this.pending.splice(0).join('');
    if (!lines || this.finished) return;
    this.writing = fsp.appendFile(this.file, lines, { mode: 0o600 }).finally(() => (this.writing = undefined));
    await this.writing;
  }

  /** Record how the run began, once, before anything is copied. */
  async begin(meta: RunMeta): Promise<void> {
    if (this.meta) return;
    this.meta = meta;
    await fsp.appendFile(this.file, JSON.stringify({ meta }) + '\n', { mode: 0o600 });
  }

  async finish(): Promise<void> {
    this.finished = true;
    clearTimeout(this.timer);
    await this.writing?.catch(() => undefined);
    await fsp.rm(this.file, { force: true });
  }
}
