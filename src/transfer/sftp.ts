/**
 * The endpoint interface over an ssh2 SFTP session. The only engine file that
 * knows about ssh2; the session is opened by the caller (src/ssh), so the
 * engine never sees connection details.
 */
import type { SFTPWrapper, Stats } from 'ssh2';
import { ConnectionError, FileError, ProtocolError } from '../errors.js';
import type { DirEntry, Endpoint, FileAttrs, FileHandle, LinkCosts, SetAttrs, WriteOpenOptions } from './endpoint.js';
import { guardReplies } from './sftp-guard.js';

interface SftpHandle extends FileHandle {
  raw: Buffer;
  /** The session generation the handle belongs to: never sent to a newer session. */
  gen: number;
}

// SFTP v3 status codes (draft-ietf-secsh-filexfer-02, section 7).
const SSH_FX = { EOF: 1, NO_SUCH_FILE: 2, PERMISSION_DENIED: 3, FAILURE: 4, BAD_MESSAGE: 5, NO_CONNECTION: 6, CONNECTION_LOST: 7, OP_UNSUPPORTED: 8 } as const;
const OPEN = { READ: 0x1, WRITE: 0x2, CREAT: 0x8, TRUNC: 0x10 } as const;
const S_IFMT = 0o170000;
/** ssh2's wording (and sftp-guard's) when the server's reply itself is wrong, not the link. */
const PROTOCOL_VIOLATION = /protocol violation|more data than requested|invalid packet|malformed|unknown packet|expected \w+ packet|response missing|exceeds max length/i;
/**
 * Entries one listing may hold. A server can answer READDIR forever; past this
 * the listing fails instead of filling memory (about 150 MB of entries).
 */
export const MAX_LIST_ENTRIES = 1_000_000;

function toAttrs(st: Stats): FileAttrs {
  const type = st.mode & S_IFMT;
  const kind = type === 0o100000 ? 'file' : type === 0o040000 ? 'dir' : type === 0o120000 ? 'symlink' : 'other';
  // A server may leave the size out (no SIZE flag): 0 is the engine's "read until EOF".
  return { kind, size: st.size === undefined ? 0 : Number(st.size), mode: st.mode & 0o7777, mtime: st.mtime, atime: st.atime };
}

/** SFTP v3 carries whole seconds, and atime only together with mtime. */
function wireAttrs(attrs: SetAttrs): { mode?: number; atime?: number; mtime?: number } {
  const a: { mode?: number; atime?: number; mtime?: number } = {};
  if (attrs.mode !== undefined) a.mode = attrs.mode;
  if (attrs.mtime !== undefined) {
    a.mtime = Math.floor(attrs.mtime);
    a.atime = Math.floor(attrs.atime ?? attrs.mtime);
  }
  return a;
}

export interface SftpEndpointOptions {
  /** Host name for messages. */
  label: string;
  /** Opens another SFTP session to the same server (the caller decides on which connection). */
  openLane?: () => Promise<SftpEndpoint>;
  /** A fresh session after the link dropped (reconnecting if needed). */
  reopen?: () => Promise<SFTPWrapper>;
  /** Cap on the entries of one listing (default MAX_LIST_ENTRIES). */
  maxListEntries?: number;
  /** What one more session costs to start, ms, as the caller measured it. */
  laneCost?: () => number | undefined;
  /** Told of each small request's reply (stat, resolve, open, ...), e.g. for a setup timeline. */
  onReply?: (verb: string) => void;
}

/** Requests whose reply time is mostly the link's, not the server's work or queued data. */
const TIMED_VERBS = new Set(['stat', 'resolve', 'open', 'close', 'set attributes of']);

export class SftpEndpoint implements Endpoint {
  readonly side = 'remote' as const;
  readonly label: string;
  readonly limits: { maxRead: number; maxWrite: number };
  /** ssh2 builds the WRITE packet (a copy) synchronously for writes within maxWrite. */
  readonly copiesWrites = true;
  readonly channelWindow: { read: number; write: number };
  readonly sharedWrites: boolean;
  private sftp: SFTPWrapper;
  private readonly reopen?: () => Promise<SFTPWrapper>;
  private reopening?: Promise<void>;
  generation = 0;
  openLane?: () => Promise<SftpEndpoint>;
  private readonly maxListEntries: number;
  /** The longest READDIR batch the server sent so far (OpenSSH: 100 names). */
  private fullBatch = 0;
  private readonly laneCost?: () => number | undefined;
  private onReply?: (verb: string) => void;
  /** Shortest reply time of a small request so far: the round trip, as near as we can tell. */
  private minRtt?: number;
  /** Sessions the server broke the protocol on, and how: their errors are protocol errors. */
  private readonly violations = new WeakMap<SFTPWrapper, string>();
  /** Sessions that ended (closed by either side, or given up on after a violation). */
  private readonly ended = new WeakSet<SFTPWrapper>();
  /** What the connection of a session failed with, first error only. */
  private readonly linkErrors = new WeakMap<SFTPWrapper, string>();

  constructor(sftp: SFTPWrapper, opts: SftpEndpointOptions) {
    this.sftp = this.adopt(sftp);
    this.label = opts.label;
    this.maxListEntries = opts.maxListEntries ?? MAX_LIST_ENTRIES;
    if (opts.openLane) this.openLane = opts.openLane;
    this.laneCost = opts.laneCost;
    this.onReply = opts.onReply;
    this.reopen = opts.reopen;
    // ssh2 asks limits@openssh.com when the server offers it; the answer may still be on its
    // way (the session is used from VERSION on), so the limits are read when they are needed.
    const live = () => this.sftp as unknown as { _maxReadLen?: number; _maxWriteLen?: number };
    this.limits = {
      get maxRead() { return live()._maxReadLen ?? 32 * 1024; },
      get maxWrite() { return live()._maxWriteLen ?? 32 * 1024; },
    };
    // The windows as the channel opened: ours (widened by src/ssh) and the server's (2 MiB in OpenSSH).
    const ch = sftp as unknown as { incoming?: { window?: number }; outgoing?: { window?: number } };
    const DEFAULT_WINDOW = 2 * 1024 * 1024;
    this.channelWindow = { read: ch.incoming?.window ?? DEFAULT_WINDOW, write: ch.outgoing?.window ?? DEFAULT_WINDOW };
    if (this.hasExtension('fsync@openssh.com')) this.fsync = (h) => this.syncFile(h);
    // OpenSSH and Dropbear serve files through OpenSSH's sftp-server (or internal-sftp), and
    // ferry's embedded server through node:fs: plain files, which several handles may write at
    // once. Anything else: one writer per file.
    const software = (sftp as unknown as { _client?: { _remoteVer?: string } })._client?._remoteVer ?? '';
    this.sharedWrites = /^(OpenSSH|dropbear|ferry-embedded)/i.test(software);
  }

  /** Replace a dead session, once, however many requests saw it die. */
  async reconnect(seenGeneration: number): Promise<void> {
    if (!this.reopen) throw new ConnectionError(`${this.label}: cannot reconnect`);
    if (seenGeneration !== this.generation) return;
    this.reopening ??= (async () => {
      try {
        const old = this.sftp;
        this.sftp = this.adopt(await this.reopen!());
        this.generation++;
        try { old.end(); } catch { /* already gone */ }
      } finally {
        this.reopening = undefined;
      }
    })();
    await this.reopening;
  }

  /**
   * Watch a session for protocol violations: replies sftp-guard refuses, and
   * the packets ssh2 itself finds malformed (an 'error' event that would
   * otherwise crash the process, as nothing else listens once it is ready).
   */
  private adopt(sftp: SFTPWrapper): SFTPWrapper {
    const note = (why: string) => {
      if (!this.violations.has(sftp)) this.violations.set(sftp, why);
      this.ended.add(sftp);
    };
    guardReplies(sftp, note);
    const end = () => this.ended.add(sftp);
    sftp.on('error', (err: Error & { level?: string }) => (err.level === 'sftp-protocol' ? note(err.message) : end()));
    sftp.on('end', end);
    sftp.on('close', end);
    // Why the connection under it died (a bad MAC, keepalives unanswered, a reset): the
    // session's own requests only learn "No response from server".
    const client = (sftp as unknown as { _client?: NodeJS.EventEmitter })._client;
    if (client) {
      const onError = (err: Error) => {
        if (!this.linkErrors.has(sftp)) this.linkErrors.set(sftp, err.message);
      };
      client.on('error', onError);
      sftp.once('close', () => client.off('error', onError));
    }
    return sftp;
  }

  private raw(h: FileHandle): Buffer {
    const sh = h as SftpHandle;
    if (sh.gen !== this.generation) throw new ConnectionError(`${this.label}: handle of "${h.path}" belongs to a closed session`);
    return sh.raw;
  }

  /** Wrap one ssh2 callback call, translating its error into ours. */
  private call<T>(verb: string, path: string, fn: (cb: (err: Error | null | undefined, v?: T) => void) => void): Promise<T> {
    const sftp = this.sftp;
    const t0 = TIMED_VERBS.has(verb) ? performance.now() : -1;
    return new Promise((resolve, reject) => {
      // ssh2 drops a request sent on an ended session without ever calling back.
      if (this.ended.has(sftp)) return reject(this.translate(verb, path, new Error('the SFTP session has ended'), sftp));
      try {
        fn((err, v) => {
          if (t0 >= 0) {
            this.sawRoundTrip(performance.now() - t0);
            this.onReply?.(verb);
          }
          return err ? reject(this.translate(verb, path, err, sftp)) : resolve(v as T);
        });
      } catch (err) {
        reject(this.translate(verb, path, err, sftp));
      }
    });
  }

  private sawRoundTrip(ms: number): void {
    if (this.minRtt === undefined || ms < this.minRtt) this.minRtt = ms;
  }

  /** The round trip measured here, and what the caller measured a session to cost. */
  costs(): LinkCosts {
    return { rttMs: this.minRtt, laneMs: this.laneCost?.() };
  }

  private translate(verb: string, path: string, err: unknown, sftp: SFTPWrapper): Error {
    const e = err as { code?: unknown; message?: string };
    if (typeof e.code === 'number' && e.code !== SSH_FX.NO_CONNECTION && e.code !== SSH_FX.CONNECTION_LOST) {
      const code = e.code === SSH_FX.NO_SUCH_FILE ? 'ENOENT' : e.code === SSH_FX.PERMISSION_DENIED ? 'EACCES' : e.code;
      return new FileError(verb, 'remote', path, e.message || 'Failure', { cause: err, code });
    }
    const message = e.message ?? String(err);
    const msg = `${verb} remote "${path}" on ${this.label}: ${message}`;
    if (PROTOCOL_VIOLATION.test(message)) return new ProtocolError(`protocol error: ${msg}`, { cause: err });
    // The session ended because the server broke the protocol, not because the link dropped.
    const violation = this.violations.get(sftp);
    if (violation !== undefined) return new ProtocolError(`protocol error: ${verb} remote "${path}" on ${this.label}: ${violation}`, { cause: err });
    const lost = this.linkErrors.get(sftp);
    if (lost !== undefined) {
      // ssh2 throws these while decrypting what arrived (OpenSSL's own text for a bad AES-GCM tag is opaque).
      const corrupted = /invalid mac|bad packet length|unable to authenticate data|^error:[0-9a-f]{8}:/i.test(lost);
      const why = corrupted ? `corrupted data refused (MAC check failed: ${lost})` : lost;
      return new ConnectionError(`${verb} remote "${path}" on ${this.label}: connection lost: ${why}`, {
        cause: err,
        hint: corrupted ? 'something on the way altered the data; nothing altered was written, run again to resume' : undefined,
      });
    }
    return new ConnectionError(msg, { cause: err });
  }

  stat(path: string) {
    return this.call<Stats>('stat', path, (cb) => this.sftp.stat(path, cb)).then(toAttrs);
  }
  lstat(path: string) {
    return this.call<Stats>('stat', path, (cb) => this.sftp.lstat(path, cb)).then(toAttrs);
  }
  realpath(path: string) {
    return this.call<string>('resolve', path, (cb) => this.sftp.realpath(path, cb));
  }
  /**
   * READDIR batch by batch (ssh2's readdir(path) would gather an endless
   * listing until memory ran out), up to maxListEntries. The "." and ".."
   * every server lists are dropped here, as ssh2 and OpenSSH do; every other
   * name goes to the engine as sent, to be validated there.
   */
  async readdir(path: string): Promise<DirEntry[]> {
    // The handle is only valid on the session that opened it, even if a reconnect replaces this.sftp meanwhile.
    const sftp = this.sftp;
    const handle = await this.call<Buffer>('list', path, (cb) => sftp.opendir(path, cb));
    try {
      return await this.readBatches(sftp, path, handle);
    } finally {
      this.closeDir(sftp, handle);
    }
  }

  /**
   * Keeps two READDIRs in flight, so the one after the last batch (EOF) is
   * already asked while that batch is on its way: a directory of one batch
   * takes one round trip, not two, and a big one half as many. After a batch
   * shorter than the server's full ones, only the request already asked is
   * waited for. The listing is complete once EOF (or an empty batch, as
   * OpenSSH's client takes it, or it could go on forever) came and every
   * request is answered: a server may answer out of order.
   */
  private readBatches(sftp: SFTPWrapper, path: string, handle: Buffer): Promise<DirEntry[]> {
    // full: keep "." and ".." in the batch, so a batch of only those is not taken as the end.
    type Batch = { filename: string; attrs: Stats }[];
    const readdir = sftp.readdir as unknown as (h: Buffer, o: { full: boolean }, cb: (err: (Error & { code?: unknown }) | undefined, list: Batch) => void) => void;
    return new Promise((resolve, reject) => {
      const out: DirEntry[] = [];
      let inFlight = 0;
      let done = false;
      let failed = false;
      const fail = (err: Error) => {
        failed = true;
        reject(err);
      };
      const onBatch = (err: (Error & { code?: unknown }) | undefined, batch: Batch) => {
        inFlight--;
        if (failed) return;
        let depth = 2;
        // EOF is checked before translate(): an error object per directory costs more than parsing its names.
        // After EOF, the request that was still in flight may fail (a server that let go of the
        // directory at its end): the listing is complete all the same.
        if (err && err.code !== SSH_FX.EOF && !done) return fail(this.translate('list', path, err, sftp));
        if (err || batch.length === 0) done = true;
        else {
          // Most likely the last batch: the request in flight will say EOF, one more would too.
          if (batch.length < this.fullBatch) depth = 1;
          else this.fullBatch = batch.length;
          for (const e of batch) {
            if (e.filename !== '.' && e.filename !== '..') out.push({ name: e.filename, attrs: toAttrs(e.attrs) });
          }
          if (out.length > this.maxListEntries) {
            return fail(new FileError('list', 'remote', path, `more than ${this.maxListEntries} entries`, {
              hint: 'the server does not end the listing; a directory this big can be copied in parts (globs)',
            }));
          }
        }
        if (!done) ask(depth);
        else if (inFlight === 0) resolve(out);
      };
      const ask = (depth: number) => {
        while (!failed && inFlight < depth) {
          // ssh2 drops a request sent on an ended session without ever calling back.
          if (this.ended.has(sftp)) return fail(this.translate('list', path, new Error('the SFTP session has ended'), sftp));
          inFlight++;
          try {
            readdir.call(sftp, handle, { full: true }, onBatch);
          } catch (err) {
            inFlight--;
            fail(this.translate('list', path, err, sftp));
          }
        }
      };
      ask(2);
    });
  }

  /**
   * Sends CLOSE for a directory handle without waiting for the answer: the
   * listing is complete (or failed) already, and a failed CLOSE changes
   * nothing for it. Requests on one session are sent in order, so the server
   * sees it before anything asked after this listing.
   */
  private closeDir(sftp: SFTPWrapper, handle: Buffer): void {
    if (this.ended.has(sftp)) return; // the handle ended with its session
    const t0 = performance.now();
    try {
      sftp.close(handle, () => {
        this.sawRoundTrip(performance.now() - t0);
        this.onReply?.('close');
      });
    } catch {
      // Only thrown when the session is gone, and the handle with it.
    }
  }
  mkdir(path: string, mode = 0o777) {
    return this.call<void>('create directory', path, (cb) => this.sftp.mkdir(path, { mode }, cb));
  }
  async rename(from: string, to: string) {
    // Plain SFTP v3 RENAME refuses an existing target; OpenSSH's extension replaces it atomically.
    if (this.hasExtension('posix-rename@openssh.com')) {
      return this.call<void>('rename', from, (cb) => this.sftp.ext_openssh_rename(from, to, cb));
    }
    try {
      await this.call<void>('rename', from, (cb) => this.sftp.rename(from, to, cb));
    } catch (err) {
      // Without posix-rename the replace cannot be atomic; remove then rename is the best v3 offers.
      await this.unlink(to).catch(() => undefined);
      await this.call<void>('rename', from, (cb) => this.sftp.rename(from, to, cb));
    }
  }
  unlink(path: string) {
    return this.call<void>('remove', path, (cb) => this.sftp.unlink(path, cb));
  }
  rmdir(path: string) {
    return this.call<void>('remove directory', path, (cb) => this.sftp.rmdir(path, cb));
  }
  setstat(path: string, attrs: SetAttrs) {
    return this.call<void>('set attributes of', path, (cb) => this.sftp.setstat(path, wireAttrs(attrs), cb));
  }
  fstat(h: FileHandle) {
    return this.call<Stats>('stat', h.path, (cb) => this.sftp.fstat(this.raw(h), cb)).then(toAttrs);
  }
  fsetstat(h: FileHandle, attrs: SetAttrs) {
    return this.call<void>('set attributes of', h.path, (cb) => this.sftp.fsetstat(this.raw(h), wireAttrs(attrs), cb));
  }
  async openRead(path: string): Promise<SftpHandle> {
    const gen = this.generation;
    const raw = await this.call<Buffer>('open', path, (cb) => this.sftp.open(path, OPEN.READ, cb));
    return { path, raw, gen };
  }
  async openWrite(path: string, opts: WriteOpenOptions): Promise<SftpHandle> {
    const flags = OPEN.WRITE | (opts.create === false ? 0 : OPEN.CREAT) | (opts.truncate ? OPEN.TRUNC : 0);
    const gen = this.generation;
    const raw = await this.call<Buffer>('open', path, (cb) => this.sftp.open(path, flags, { mode: opts.mode }, cb));
    return { path, raw, gen };
  }
  read(h: FileHandle, buf: Buffer, offset: number, length: number, position: number) {
    return this.call<number>('read', h.path, (cb) =>
      this.sftp.read(this.raw(h), buf, offset, length, position, (err, n) => cb(err, n)),
    );
  }
  write(h: FileHandle, buf: Buffer, offset: number, length: number, position: number) {
    return this.call<void>('write', h.path, (cb) =>
      this.sftp.write(this.raw(h), buf, offset, length, position, cb),
    );
  }
  close(h: FileHandle) {
    return this.call<void>('close', h.path, (cb) => this.sftp.close(this.raw(h), cb));
  }
  /**
   * Only where the server offers fsync@openssh.com: without it the engine
   * opens no session and no second handle just to flush (on a server that
   * writes files as streams, a second write handle starts a second stream).
   */
  fsync?: (h: FileHandle) => Promise<void>;
  private syncFile(h: FileHandle) {
    return this.call<void>('sync', h.path, (cb) => this.sftp.ext_openssh_fsync(this.raw(h), cb));
  }
  /** hardlink@openssh.com (sync --link-dest); undefined when the server does not offer it. */
  get hardlink(): ((existing: string, newPath: string) => Promise<void>) | undefined {
    if (!this.hasExtension('hardlink@openssh.com')) return undefined;
    return (existing, newPath) => this.call<void>('link', newPath, (cb) => this.sftp.ext_openssh_hardlink(existing, newPath, cb));
  }
  private hasExtension(name: string): boolean {
    const exts = (this.sftp as unknown as { _extensions?: Record<string, string> })._extensions ?? {};
    return exts[name] !== undefined;
  }
  async end() {
    this.sftp.end();
  }
}
