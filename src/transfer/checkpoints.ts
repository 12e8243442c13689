/**
 * What a copy tells its journal as it goes. Checkpoints sync the partial,
 * then record what was written before the sync started, so the journal never
 * runs ahead of the disk. A sync's answer comes back behind all the data
 * queued on the link, so checkpoints trail the copy; notes (a local write,
 * never synced, every few MiB) say what the destination acknowledged since,
 * as a hint a rerun checks against the source before it uses it.
 */
import { ConnectionError } from '../errors.js';
import type { Endpoint, FileHandle } from './endpoint.js';
import type { JournalStore, PartialJournal } from './journal.js';
import type { LanePool } from './lanes.js';
import type { Range, RangeSet } from './ranges.js';

/** Checkpoint after this many bytes or milliseconds, whichever first. */
const CHECKPOINT_BYTES = 16 * 1024 * 1024;
const CHECKPOINT_MS = 1000;
/** Note after this many bytes or milliseconds: cheap, so it can trail the copy by little. */
const NOTE_BYTES = 4 * 1024 * 1024;
const NOTE_MS = 100;

/**
 * Copies (their done-sets, kept across reconnects) in which a flush failed: no
 * note may vouch for their unsynced data again, not even from a later attempt.
 */
const flushFailed = new WeakSet<RangeSet>();

export interface CheckpointOptions {
  journals: JournalStore;
  key: string;
  /** The journal entry for these ranges. */
  journal: (done: Range[], written?: Range[]) => PartialJournal;
  /** What the destination acknowledged (shared with the copy, and across its reconnects). */
  done: RangeSet;
  dst: LanePool;
  partial: string;
  createMode: number;
  /** The copy's write handles: a flush uses one until the flush session is open. */
  dstHandles: Map<Endpoint, Promise<FileHandle>>;
  /** The file must have one handle only (a stream server, in-order writes): no flush handle. */
  oneWriter: () => boolean;
}

export class Checkpoints {
  /** What the journal records as synced (the last checkpoint's snapshot, or what a rerun resumed from). */
  recorded: Range[] = [];
  /** Set once every byte is written: a checkpoint still flushing then records nothing. */
  finished = false;
  private sinceCheckpoint = 0;
  private lastCheckpoint = performance.now();
  private checkpointing?: Promise<void>;
  private saving?: Promise<void>;
  private noting?: Promise<void>;
  private sinceNote = 0;
  private lastNote = performance.now();
  /**
   * Where checkpoints flush the partial: a handle on a session of its own.
   * A server-side fsync of a big file can take a second, and the session
   * doing it answers nothing else meanwhile: no data lane should wait.
   */
  private syncer?: { ep: Endpoint; h: FileHandle };
  private syncerOpening?: Promise<void>;
  /** A flush handle was tried on the run's flush session: not again, whatever came of it. */
  private syncerTried = false;
  private closed = false;

  constructor(private readonly o: CheckpointOptions) {}

  /** `bytes` more were acknowledged: checkpoint or note when due (one of each at a time). */
  wrote(bytes: number): void {
    this.sinceCheckpoint += bytes;
    this.sinceNote += bytes;
    const now = performance.now();
    if (this.sinceCheckpoint >= CHECKPOINT_BYTES || now - this.lastCheckpoint >= CHECKPOINT_MS) {
      this.checkpointing ??= this.checkpoint().catch(() => undefined).finally(() => (this.checkpointing = undefined));
    }
    if (this.o.journals.note && (this.sinceNote >= NOTE_BYTES || now - this.lastNote >= NOTE_MS)) {
      this.noting ??= this.note().catch(() => undefined).finally(() => (this.noting = undefined));
    }
  }

  /**
   * Sync what is written, then record it: the journal never runs ahead of the
   * disk. `mayOpen`: false once the copy failed (no flush handle is opened then).
   */
  async checkpoint(mayOpen = true): Promise<void> {
    if (this.o.done.size === 0) return;
    await this.checkpointing;
    this.sinceCheckpoint = 0;
    this.lastCheckpoint = performance.now();
    const snapshot = this.o.done.toJSON();
    // The run opens the flush session when the work left pays for it (Transfer); each
    // checkpoint takes it once it is there, and until then a data handle flushes.
    if (mayOpen) this.takeFlushSession();
    try {
      await this.flush();
    } catch (err) {
      // A failed flush can leave data that reads back fine and is lost on disk.
      if (!(err instanceof ConnectionError)) await this.voidNotes();
      throw err;
    }
    if (this.finished) return;
    this.recorded = snapshot;
    this.saving = this.o.journals.save(this.o.key, this.o.journal(snapshot));
    await this.saving;
  }

  /** The copy failed: record what is safe, and note what arrived (a dropped link fails the last flush). */
  async afterFailure(): Promise<void> {
    await this.checkpoint(false).catch(() => undefined);
    await this.noting;
    await this.note().catch(() => undefined);
  }

  /** Wait for what is being saved, then drop the journal and its note. */
  async remove(): Promise<void> {
    await this.saving?.catch(() => undefined);
    await this.noting;
    await this.o.journals.remove(this.o.key).catch(() => undefined);
  }

  /** The last checkpoint, if one is running: on failure the journal must hold all that is safe. */
  async settled(): Promise<void> {
    await this.checkpointing?.catch(() => undefined);
  }

  /**
   * Note what the destination acknowledged so far: unlike a checkpoint it
   * waits for no flush, so it trails the copy by a few MiB, not by the flush's
   * round trip. A rerun checks the partial holds it before using it.
   */
  private async note(): Promise<void> {
    this.sinceNote = 0;
    this.lastNote = performance.now();
    if (this.finished || flushFailed.has(this.o.done) || this.o.done.size === 0) return;
    await this.o.journals.note?.(this.o.key, this.o.journal(this.recorded, this.o.done.toJSON()));
  }

  /** From now on no note vouches for unsynced data, and the last one is taken back. */
  private async voidNotes(): Promise<void> {
    flushFailed.add(this.o.done);
    await this.noting;
    await this.o.journals.note?.(this.o.key, this.o.journal(this.recorded, [])).catch(() => undefined);
  }

  /**
   * Flush the partial to stable storage. fsync acts on the file, not the
   * handle, so one handle flushes what every lane wrote. A server without
   * fsync@openssh.com makes it a no-op; one that fails it (EIO, a dropped
   * link) must not have its data marked as safe, so failures propagate.
   */
  private async flush(): Promise<void> {
    // Until its session is open (or if it never opens), a data handle does it.
    const own = this.syncer;
    if (own) {
      try {
        return await own.ep.fsync!(own.h);
      } catch (err) {
        // A disk error is the answer; only a dead session means: flush another way.
        if (!(err instanceof ConnectionError)) throw err;
        this.syncer = undefined;
        this.o.dst.dropSpare(own.ep);
      }
    }
    for (const [ep, h] of this.o.dstHandles) {
      const handle = await h.catch(() => undefined);
      if (handle && ep.fsync) return ep.fsync(handle);
    }
  }

  /** Use the run's flush session, if it has one and no flush handle was tried yet. */
  takeFlushSession(): void {
    if (this.syncer || this.syncerOpening || this.syncerTried) return;
    this.syncerOpening = this.openSyncer().finally(() => (this.syncerOpening = undefined));
  }

  /** A handle for flushes on the run's flush session, when there is one. */
  private async openSyncer(): Promise<void> {
    try {
      // Nothing to flush with (no fsync@openssh.com), or one handle only: a second handle
      // on a file the server writes as a stream would start a second stream.
      if (this.o.oneWriter() || !this.o.dst.root.fsync) return;
      const ep = await this.o.dst.openedSpare();
      if (!ep?.fsync) return;
      this.syncerTried = true;
      // Never created here: this open may reach the server after the partial is renamed or removed.
      const h = await ep.openWrite(this.o.partial, { mode: this.o.createMode & 0o777, truncate: false, create: false });
      if (this.closed) await ep.close(h);
      else this.syncer = { ep, h };
    } catch {
      // No session of its own: checkpoints flush through a data handle.
    }
  }

  /** The flush handle wrote nothing, so its close reports nothing: never wait behind its flush. */
  closeSyncer(): void {
    this.closed = true;
    if (this.syncer) void this.syncer.ep.close(this.syncer.h).catch(() => undefined);
  }
}
