/**
 * Writes in offset order. Chunks are read in parallel and their reads finish
 * in any order; a server whose files are streams (Go's pkg/sftp behind rclone
 * serve sftp, object-storage gateways) accepts a write only at the end of what
 * it has, and fails one that arrives early. So writes to one handle leave in
 * the order their chunks were claimed (ascending offsets): a chunk read early
 * waits for the one before it, which costs a little memory inside the window
 * and no round trip. When a server fails a write anyway (lanes spread a file
 * over several handles, each with gaps), the engine switches that host to one
 * handle per file (see copy-file.ts and transfer.ts).
 */
import { FerryError, FileError } from '../errors.js';
import type { Endpoint } from './endpoint.js';

/** How a destination takes writes: any order (lanes allowed) or one handle, strictly in order. */
export type WriteOrder = 'any' | 'in-order';

/** One chunk's place in its handle's queue. */
export interface WriteTurn {
  /** Resolves when every chunk claimed before this one on the handle was sent (or given up). */
  ready(): Promise<void>;
  /** This chunk's write is sent: the next may go. Idempotent; also ends a turn given up on. */
  done(): void;
}

/** What ready() gives a turn that may go now: no promise per write to wait on. */
const READY = Promise.resolve();
/** The local disk's turns: any order, always ready. */
const FREE_TURN: WriteTurn = { ready: () => READY, done: () => undefined };

interface QueueEntry {
  finished: boolean;
  /** Every turn before it is done. */
  go: boolean;
  /** Made only when the turn has to wait (most are first in their queue). */
  turn?: Promise<void>;
  settle?: () => void;
}

class HandleQueue {
  private readonly waiting: QueueEntry[] = [];

  claim(): WriteTurn {
    const entry: QueueEntry = { finished: false, go: this.waiting.length === 0 };
    this.waiting.push(entry);
    return {
      ready: () => (entry.go ? READY : (entry.turn ??= new Promise<void>((r) => (entry.settle = r)))),
      done: () => {
        if (entry.finished) return;
        entry.finished = true;
        // Advance past every finished turn at the head; the next one may go.
        while (this.waiting.length > 0 && this.waiting[0].finished) this.waiting.shift();
        const next = this.waiting[0];
        if (next && !next.go) {
          next.go = true;
          next.settle?.();
        }
      },
    };
  }
}

/** Per destination session (one handle each), the order writes are sent in. */
export class WriteSequencer {
  private readonly queues = new Map<Endpoint, HandleQueue>();

  /**
   * Claim the next place on `ep`'s handle. Call in offset order (the pump's),
   * synchronously, and end every turn with done(), sent or not. The local disk
   * takes writes in any order at no cost: its turns are ready at once.
   */
  claim(ep: Endpoint): WriteTurn {
    if (ep.side === 'local') return FREE_TURN;
    let q = this.queues.get(ep);
    if (!q) {
      q = new HandleQueue();
      this.queues.set(ep, q);
    }
    return q.claim();
  }
}

/** SFTP v3 status codes a stream-backed server answers an early write with. */
const SSH_FX_FAILURE = 4;
const SSH_FX_OP_UNSUPPORTED = 8;
/** Wording of servers that write files as streams: Go's ESPIPE, SSH.NET and ssh2-sftp-client's "seek N not supported". */
const SEEK_REFUSED = /illegal seek|not supported|can't seek|cannot seek|non-sequential|out of order/i;

/**
 * Why a failed write looks like the server refusing writes out of offset
 * order, or undefined when it is some other failure. `contiguous` is how far
 * the file is written without a gap (acknowledged writes). `plainFiles`: the
 * server is known to write plain files (OpenSSH's sftp-server), where a bare
 * FAILURE is a disk error (sftp-server reports ENOSPC so), never about order.
 */
export function outOfOrderReason(err: unknown, pos: number, contiguous: number, plainFiles = false): string | undefined {
  if (!(err instanceof FileError) || err.side !== 'remote') return undefined;
  if (SEEK_REFUSED.test(err.reason)) return `the server refused a write at ${pos} ("${err.reason}")`;
  if (!plainFiles && (err.code === SSH_FX_FAILURE || err.code === SSH_FX_OP_UNSUPPORTED) && pos > contiguous) {
    return `the server failed a write at ${pos}, past the ${contiguous} bytes written in order ("${err.reason}")`;
  }
  return undefined;
}

/**
 * A file's copy failed because the server takes writes only in offset order.
 * Not a FileError: it never reaches the user, the run switches the host to
 * in-order writes and copies the file again.
 */
export class OutOfOrderWrite extends FerryError {
  constructor(readonly reason: string, readonly error: unknown) {
    super(reason, { cause: error });
  }
}
