/**
 * The endpoint interface over an ssh2 SFTP session. The only engine file that
 * knows about ssh2; the session is opened by the caller (src/ssh), so the
 * engine never sees connection details.
 */
import type { SFTPWrapper, Stats } from 'ssh2';
import { ConnectionError, FileError, ProtocolError } from '../errors.js';
import type { DirEntry, Endpoint, FileAttrs, FileHandle, SetAttrs } from './endpoint.js';

interface SftpHandle extends FileHandle {
  raw: Buffer;
  /** The session generation the handle belongs to: never sent to a newer session. */
  gen: number;
}

// SFTP v3 status codes (draft-ietf-secsh-filexfer-02, section 7).
const SSH_FX = { EOF: 1, NO_SUCH_FILE: 2, PERMISSION_DENIED: 3, FAILURE: 4, BAD_MESSAGE: 5, NO_CONNECTION: 6, CONNECTION_LOST: 7, OP_UNSUPPORTED: 8 } as const;
const OPEN = { READ: 0x1, WRITE: 0x2, CREAT: 0x8, TRUNC: 0x10 } as const;
const S_IFMT = 0o170000;
/** ssh2's wording when the server's reply itself is wrong, not the link. */
const PROTOCOL_VIOLATION = /more data than requested|invalid packet|malformed|unknown packet|expected \w+ packet|response missing/i;

function toAttrs(st: Stats): FileAttrs {
  const type = st.mode & S_IFMT;
  const kind = type === 0o100000 ? 'file' : type === 0o040000 ? 'dir' : type === 0o120000 ? 'symlink' : 'other';
  return { kind, size: Number(st.size), mode: st.mode & 0o7777, mtime: st.mtime, atime: st.atime };
}

export interface SftpEndpointOptions {
  /** Host name for messages. */
  label: string;
  /** Opens another SFTP session to the same server (the caller decides on which connection). */
  openLane?: () => Promise<SftpEndpoint>;
  /** A fresh session after the link dropped (reconnecting if needed). */
  reopen?: () => Promise<SFTPWrapper>;
}

export class SftpEndpoint implements Endpoint {
  readonly side = 'remote' as const;
  readonly label: string;
  readonly limits: { maxRead: number; maxWrite: number };
  private sftp: SFTPWrapper;
  private readonly reopen?: () => Promise<SFTPWrapper>;
  private reopening?: Promise<void>;
  generation = 0;
  openLane?: () => Promise<SftpEndpoint>;

  constructor(sftp: SFTPWrapper, opts: SftpEndpointOptions) {
    this.sftp = sftp;
    this.label = opts.label;
    if (opts.openLane) this.openLane = opts.openLane;
    this.reopen = opts.reopen;
    // ssh2 has already asked limits@openssh.com when the server offers it.
    const s = sftp as unknown as { _maxReadLen?: number; _maxWriteLen?: number };
    this.limits = { maxRead: s._maxReadLen ?? 32 * 1024, maxWrite: s._maxWriteLen ?? 32 * 1024 };
  }

  /** Replace a dead session, once, however many requests saw it die. */
  async reconnect(seenGeneration: number): Promise<void> {
    if (!this.reopen) throw new ConnectionError(`${this.label}: cannot reconnect`);
    if (seenGeneration !== this.generation) return;
    this.reopening ??= (async () => {
      try {
        const old = this.sftp;
        this.sftp = await this.reopen!();
        this.generation++;
        try { old.end(); } catch { /* already gone */ }
      } finally {
        this.reopening = undefined;
      }
    })();
    await this.reopening;
  }

  private raw(h: FileHandle): Buffer {
    const sh = h as SftpHandle;
    if (sh.gen !== this.generation) throw new ConnectionError(`${this.label}: handle of "${h.path}" belongs to a closed session`);
    return sh.raw;
  }

  /** Wrap one ssh2 callback call, translating its error into ours. */
  private call<T>(verb: string, path: string, fn: (cb: (err: Error | null | undefined, v?: T) => void) => void): Promise<T> {
    return new Promise((resolve, reject) => {
      try {
        fn((err, v) => (err ? reject(this.translate(verb, path, err)) : resolve(v as T)));
      } catch (err) {
        reject(this.translate(verb, path, err));
      }
    });
  }

  private translate(verb: string, path: string, err: unknown): Error {
    const e = err as { code?: unknown; message?: string };
    if (typeof e.code === 'number' && e.code !== SSH_FX.NO_CONNECTION && e.code !== SSH_FX.CONNECTION_LOST) {
      const code = e.code === SSH_FX.NO_SUCH_FILE ? 'ENOENT' : e.code === SSH_FX.PERMISSION_DENIED ? 'EACCES' : e.code;
      return new FileError(verb, 'remote', path, e.message || 'Failure', { cause: err, code });
    }
    const msg = `${verb} remote "${path}" on ${this.label}: ${e.message ?? String(err)}`;
    if (PROTOCOL_VIOLATION.test(e.message ?? '')) return new ProtocolError(`protocol error: ${msg}`, { cause: err });
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
  async readdir(path: string): Promise<DirEntry[]> {
    const list = await this.call<{ filename: string; attrs: Stats }[]>('list', path, (cb) => this.sftp.readdir(path, cb));
    return list.map((e) => ({ name: e.filename, attrs: toAttrs(e.attrs) }));
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
    const a: { mode?: number; atime?: number; mtime?: number } = {};
    if (attrs.mode !== undefined) a.mode = attrs.mode;
    if (attrs.mtime !== undefined) {
      a.mtime = Math.floor(attrs.mtime);
      a.atime = Math.floor(attrs.atime ?? attrs.mtime);
    }
    return this.call<void>('set attributes of', path, (cb) => this.sftp.setstat(path, a, cb));
  }
  async openRead(path: string): Promise<SftpHandle> {
    const gen = this.generation;
    const raw = await this.call<Buffer>('open', path, (cb) => this.sftp.open(path, OPEN.READ, cb));
    return { path, raw, gen };
  }
  async openWrite(path: string, opts: { mode: number; truncate: boolean }): Promise<SftpHandle> {
    const flags = OPEN.WRITE | OPEN.CREAT | (opts.truncate ? OPEN.TRUNC : 0);
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
  async fsync(h: FileHandle) {
    if (!this.hasExtension('fsync@openssh.com')) return;
    await this.call<void>('sync', h.path, (cb) => this.sftp.ext_openssh_fsync(this.raw(h), cb));
  }
  private hasExtension(name: string): boolean {
    const exts = (this.sftp as unknown as { _extensions?: Record<string, string> })._extensions ?? {};
    return exts[name] !== undefined;
  }
  async end() {
    this.sftp.end();
  }
}
