// SFTP request handlers for the embedded server: one SftpSession per accepted
// "sftp" subsystem, serving a local directory as if it were "/".
//
// Requests are processed strictly one after another (a per-session promise
// queue). That keeps SFTP's "results as if processed in order" rule trivially
// true (e.g. WRITE then CLOSE, MKDIR then OPEN in one pipelined burst) and makes
// hook behaviour (delays, drops) deterministic for tests.
//
// Known limits (fine for a demo/test server): the symlink confinement check and
// the later fs call are not atomic, so a local process racing to swap symlinks
// could escape the root; uid/gid in SETSTAT are ignored.
import { constants as fsc, type Stats } from 'node:fs';
import * as fsp from 'node:fs/promises';
import type { FileHandle } from 'node:fs/promises';
import * as path from 'node:path';
import ssh2 from 'ssh2';
import type { Attributes, FileEntry, SFTPWrapper } from 'ssh2';

const { OPEN_MODE, STATUS_CODE } = ssh2.utils.sftp;

/** Largest READ reply we send; a shorter reply than requested is legal SFTP. */
const MAX_READ = 255 * 1024;
/** Directory entries per READDIR reply. */
const READDIR_BATCH = 100;

export type SftpOp =
  | 'OPEN' | 'CLOSE' | 'READ' | 'WRITE' | 'FSTAT' | 'FSETSTAT' | 'STAT' | 'LSTAT'
  | 'SETSTAT' | 'OPENDIR' | 'READDIR' | 'REMOVE' | 'RMDIR' | 'MKDIR' | 'RENAME'
  | 'REALPATH' | 'READLINK' | 'SYMLINK' | 'EXTENDED';

export interface SftpRequest {
  op: SftpOp;
  reqid: number;
  /** The ssh2 event arguments after reqid (paths as sent by the client, handles as Buffers). */
  args: readonly unknown[];
  /** Reply with sftp.status/handle/data/name/attrs if the hook takes over. */
  sftp: SFTPWrapper;
  /** Drop the whole SSH connection (not just this channel: for that, sftp.end()). */
  disconnect(): void;
}

export type SftpReplyKind = 'status' | 'handle' | 'data' | 'name' | 'attrs';

/** A reply the built-in handlers are about to send, handed to the onReply hook. */
export interface SftpReply {
  op: SftpOp;
  /** The id of the request being answered. */
  reqid: number;
  kind: SftpReplyKind;
  /** The arguments after reqid of sftp.status/handle/data/name/attrs. */
  args: readonly unknown[];
  /** Send it now, under its own id or another one; may be called later, twice, or never. */
  send(reqid?: number): void;
}

/** Override points for tests ("hostile server"). Paths are client-visible (chrooted) paths. */
export interface SftpHooks {
  /** Runs before the built-in handler; may be async (e.g. to delay). Return true if the hook replied itself. */
  onRequest(req: SftpRequest): boolean | void | Promise<boolean | void>;
  /** Rewrites one READDIR batch before it is sent. */
  readdirNames(path: string, names: FileEntry[]): FileEntry[] | Promise<FileEntry[]>;
  /** Rewrites file data before a READ reply (e.g. truncate or corrupt it). */
  onRead(path: string, offset: number, data: Buffer): Buffer | Promise<Buffer>;
  /** Rewrites data of a WRITE request before it reaches the disk. */
  onWrite(path: string, offset: number, data: Buffer): Buffer | Promise<Buffer>;
  /** Rewrites attributes sent for STAT, LSTAT and FSTAT. */
  statAttrs(path: string, attrs: Attributes): Attributes | Promise<Attributes>;
  /**
   * Sees every reply of the built-in handlers (and of status replies for their
   * errors) instead of it being sent: the hook decides when, how often and
   * under which id to send() it (reordering, duplicates, unknown ids).
   */
  onReply(reply: SftpReply): void;
}

/** What SETSTAT/FSETSTAT need: a FileHandle, or the same three calls bound to a path. */
type AttrTarget = Pick<FileHandle, 'truncate' | 'chmod' | 'utimes'>;

type OpenHandle =
  | { kind: 'file'; vpath: string; fh: FileHandle }
  | { kind: 'dir'; vpath: string; real: string; names: string[]; pos: number };

/** An error that carries an errno-style code, so it maps onto an SFTP status. */
class SftpError extends Error {
  constructor(readonly code: string, message: string) {
    super(message);
  }
}

/** Client path -> normalised absolute POSIX path inside the virtual root ("." and ".." resolved, never above "/"). */
export function virtualPath(p: string): string {
  const v = path.posix.normalize(`/${p}`);
  return v.length > 1 && v.endsWith('/') ? v.slice(0, -1) : v;
}

export function toAttrs(st: Stats): Attributes {
  return {
    mode: st.mode, uid: st.uid, gid: st.gid, size: st.size,
    atime: Math.floor(st.atimeMs / 1000), mtime: Math.floor(st.mtimeMs / 1000),
  };
}

/** `ls -l`-style line, in the format OpenSSH's sftp-server uses (numeric owner/group). */
export function longname(name: string, st: Stats): string {
  const owner = String(st.uid).padEnd(8);
  const group = String(st.gid).padEnd(8);
  const size = String(st.size).padStart(8);
  return `${modeString(st.mode)} ${String(st.nlink).padStart(3)} ${owner} ${group} ${size} ${lsDate(st.mtime)} ${name}`;
}

function modeString(mode: number): string {
  const types: Record<number, string> = {
    [fsc.S_IFDIR]: 'd', [fsc.S_IFLNK]: 'l', [fsc.S_IFCHR]: 'c',
    [fsc.S_IFBLK]: 'b', [fsc.S_IFIFO]: 'p', [fsc.S_IFSOCK]: 's',
  };
  let s = types[mode & fsc.S_IFMT] ?? '-';
  const special = [[0o4000, 's'], [0o2000, 's'], [0o1000, 't']] as const; // setuid, setgid, sticky
  for (let i = 0; i < 3; i++) {
    const bits = (mode >> (6 - 3 * i)) & 7;
    const [flag, ch] = special[i];
    const exec = bits & 1 ? 'x' : '-';
    s += (bits & 4 ? 'r' : '-') + (bits & 2 ? 'w' : '-');
    s += mode & flag ? (exec === 'x' ? ch : ch.toUpperCase()) : exec;
  }
  return s;
}

const MONTHS = ['Jan', 'Feb', 'Mar', 'Apr', 'May', 'Jun', 'Jul', 'Aug', 'Sep', 'Oct', 'Nov', 'Dec'];

function lsDate(d: Date): string {
  const month = MONTHS[d.getMonth()];
  const day = String(d.getDate()).padStart(2);
  const sixMonths = 182 * 24 * 3600 * 1000;
  if (Math.abs(Date.now() - d.getTime()) < sixMonths) {
    const hh = String(d.getHours()).padStart(2, '0');
    const mm = String(d.getMinutes()).padStart(2, '0');
    return `${month} ${day} ${hh}:${mm}`;
  }
  return `${month} ${day}  ${d.getFullYear()}`;
}

/** SFTP v3 OPEN pflags -> fs.open numeric flags (covers combinations flagsToString() maps to null). */
function openFlags(pflags: number): number {
  const rw = pflags & (OPEN_MODE.READ | OPEN_MODE.WRITE);
  let flags = rw === (OPEN_MODE.READ | OPEN_MODE.WRITE) ? fsc.O_RDWR
    : rw === OPEN_MODE.WRITE ? fsc.O_WRONLY : fsc.O_RDONLY;
  if (pflags & OPEN_MODE.APPEND) flags |= fsc.O_APPEND;
  if (pflags & OPEN_MODE.CREAT) flags |= fsc.O_CREAT;
  if (pflags & OPEN_MODE.TRUNC) flags |= fsc.O_TRUNC;
  if (pflags & OPEN_MODE.EXCL) flags |= fsc.O_EXCL;
  return flags;
}

function statusOf(err: unknown): { code: number; message: string } {
  const e = err as { code?: unknown; message?: unknown };
  const errno = typeof e?.code === 'string' ? e.code : '';
  // Node's fs messages look like "ENOENT: no such file or directory, open '/real/path'":
  // keep the part before the comma so real paths outside the chroot never leak.
  const message = typeof e?.message === 'string' ? e.message.split(', ')[0] : 'failure';
  if (errno === 'ENOENT' || errno === 'ENOTDIR') return { code: STATUS_CODE.NO_SUCH_FILE, message };
  if (errno === 'EACCES' || errno === 'EPERM') return { code: STATUS_CODE.PERMISSION_DENIED, message };
  return { code: STATUS_CODE.FAILURE, message };
}

/** Reads the two SSH strings (old path, new path) of a posix-rename@openssh.com request. */
function parseTwoStrings(data: Buffer | undefined): [string, string] {
  const out: string[] = [];
  let p = 0;
  while (data && out.length < 2 && p + 4 <= data.length) {
    const len = data.readUInt32BE(p);
    if (p + 4 + len > data.length) break;
    out.push(data.toString('utf8', p + 4, p + 4 + len));
    p += 4 + len;
  }
  if (out.length !== 2) throw new SftpError('EINVAL', 'malformed posix-rename request');
  return [out[0], out[1]];
}

export class SftpSession {
  private readonly handles = new Map<number, OpenHandle>();
  private nextHandle = 1;
  private queue: Promise<void> = Promise.resolve();
  private closed = false;

  /** What the handlers reply through: the channel itself, or one routed via the onReply hook. */
  private readonly out: SFTPWrapper;
  private currentOp: SftpOp = 'OPEN';

  constructor(
    private readonly sftp: SFTPWrapper,
    private readonly root: string, // already realpath()ed
    private readonly hooks: Partial<SftpHooks>,
    private readonly disconnect: () => void = () => sftp.end(),
  ) {
    this.out = hooks.onReply ? this.routeReplies(hooks.onReply) : sftp;
    this.register();
    // Client sent EOF/CLOSE: answer what is queued, then close our side too
    // (ssh2 does not send CHANNEL_CLOSE back for SFTP channels on its own).
    sftp.on('end', () => void this.queue.then(() => sftp.end()));
    sftp.on('close', () => void this.cleanup());
    sftp.on('error', () => void this.cleanup());
  }

  // ---- plumbing -------------------------------------------------------------

  /** Requests are handled one at a time, so the op being answered is the current one. */
  private routeReplies(onReply: SftpHooks['onReply']): SFTPWrapper {
    const kinds: SftpReplyKind[] = ['status', 'handle', 'data', 'name', 'attrs'];
    const routed = Object.create(this.sftp) as SFTPWrapper;
    for (const kind of kinds) {
      const real = (this.sftp[kind] as (...a: unknown[]) => boolean).bind(this.sftp);
      (routed as unknown as Record<string, unknown>)[kind] = (reqid: number, ...args: unknown[]) => {
        onReply({ op: this.currentOp, reqid, kind, args, send: (id = reqid) => void real(id, ...args) });
        return true;
      };
    }
    return routed;
  }

  private register(): void {
    const on = (op: SftpOp, fn: (reqid: number, ...args: never[]) => Promise<void>): void => {
      (this.sftp as NodeJS.EventEmitter).on(op, (reqid: number, ...args: unknown[]) => {
        this.queue = this.queue.then(() => this.dispatch(op, reqid, args, fn));
      });
    };
    on('OPEN', (id, p: string, flags: number, attrs: Partial<Attributes>) => this.open(id, p, flags, attrs));
    on('CLOSE', (id, h: Buffer) => this.close(id, h));
    on('READ', (id, h: Buffer, offset: number, len: number) => this.read(id, h, offset, len));
    on('WRITE', (id, h: Buffer, offset: number, data: Buffer) => this.write(id, h, offset, data));
    on('FSTAT', async (id, h: Buffer) => {
      const f = this.file(h);
      await this.sendAttrs(id, f.vpath, await f.fh.stat());
    });
    on('STAT', async (id, p: string) => {
      await this.sendAttrs(id, virtualPath(p), await fsp.stat(await this.resolve(p)));
    });
    on('LSTAT', async (id, p: string) => {
      await this.sendAttrs(id, virtualPath(p), await fsp.lstat(await this.resolve(p, false)));
    });
    on('FSETSTAT', (id, h: Buffer, attrs: Partial<Attributes>) => this.setAttrs(id, this.file(h).fh, attrs));
    on('SETSTAT', async (id, p: string, attrs: Partial<Attributes>) => {
      const real = await this.resolve(p);
      const target: AttrTarget = {
        truncate: (n) => fsp.truncate(real, n),
        chmod: (m) => fsp.chmod(real, m),
        utimes: (a, m) => fsp.utimes(real, a, m),
      };
      await this.setAttrs(id, target, attrs);
    });
    on('OPENDIR', (id, p: string) => this.opendir(id, p));
    on('READDIR', (id, h: Buffer) => this.readdir(id, h));
    on('REMOVE', async (id, p: string) => {
      await fsp.unlink(await this.resolve(p, false));
      this.ok(id);
    });
    on('RMDIR', async (id, p: string) => {
      await fsp.rmdir(await this.resolve(p, false));
      this.ok(id);
    });
    on('MKDIR', async (id, p: string, attrs: Partial<Attributes>) => {
      await fsp.mkdir(await this.resolve(p, false), (attrs.mode ?? 0o777) & 0o7777);
      this.ok(id);
    });
    on('RENAME', async (id, from: string, to: string) => {
      await renameNoClobber(await this.resolve(from, false), await this.resolve(to, false));
      this.ok(id);
    });
    on('REALPATH', (id, p: string) => this.realpath(id, p));
    on('READLINK', (id, p: string) => this.readlink(id, p));
    on('SYMLINK', async (id) => this.out.status(id, STATUS_CODE.OP_UNSUPPORTED, 'symlink not supported'));
    on('EXTENDED', (id, name: string, data: Buffer | undefined) => this.extended(id, name, data));
  }

  private async dispatch(
    op: SftpOp, reqid: number, args: unknown[],
    fn: (reqid: number, ...args: never[]) => Promise<void>,
  ): Promise<void> {
    this.currentOp = op;
    try {
      const req: SftpRequest = { op, reqid, args, sftp: this.sftp, disconnect: this.disconnect };
      if (this.hooks.onRequest && (await this.hooks.onRequest(req))) return;
      await fn(reqid, ...(args as never[]));
    } catch (err) {
      const { code, message } = statusOf(err);
      this.out.status(reqid, code, message);
    }
  }

  private ok(reqid: number): void {
    this.out.status(reqid, STATUS_CODE.OK);
  }

  private async cleanup(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    const open = [...this.handles.values()];
    this.handles.clear();
    await Promise.all(open.map((h) => (h.kind === 'file' ? h.fh.close().catch(() => {}) : undefined)));
  }

  private addHandle(h: OpenHandle): Buffer {
    if (this.closed) {
      if (h.kind === 'file') void h.fh.close().catch(() => {});
      throw new SftpError('EBADF', 'session closed');
    }
    const id = this.nextHandle++;
    this.handles.set(id, h);
    const buf = Buffer.alloc(4);
    buf.writeUInt32BE(id);
    return buf;
  }

  private lookup(h: Buffer): OpenHandle {
    const found = h.length === 4 ? this.handles.get(h.readUInt32BE(0)) : undefined;
    if (!found) throw new SftpError('EBADF', 'invalid handle');
    return found;
  }

  private file(h: Buffer): Extract<OpenHandle, { kind: 'file' }> {
    const found = this.lookup(h);
    if (found.kind !== 'file') throw new SftpError('EBADF', 'not a file handle');
    return found;
  }

  // ---- chroot ---------------------------------------------------------------

  private confine(real: string): string {
    const rel = path.relative(this.root, real);
    if (rel === '..' || rel.startsWith(`..${path.sep}`) || path.isAbsolute(rel)) {
      throw new SftpError('EACCES', 'path escapes the served root');
    }
    return real;
  }

  private toVirtual(real: string): string {
    return virtualPath(path.relative(this.root, real).split(path.sep).join('/'));
  }

  /**
   * Maps a client path onto a real path inside root. With followFinal the last
   * component's symlinks are resolved (and must stay inside root); without it
   * only the parent directory is resolved (for lstat, remove, rename, ...).
   */
  private async resolve(clientPath: string, followFinal = true): Promise<string> {
    const v = virtualPath(clientPath);
    if (v === '/') return this.root;
    const lexical = path.join(this.root, v);
    if (followFinal) {
      try {
        return this.confine(await fsp.realpath(lexical));
      } catch (err) {
        if ((err as NodeJS.ErrnoException).code !== 'ENOENT') throw err;
        // Missing final component is fine (O_CREAT), a dangling symlink is not:
        // following it could create a file anywhere.
        const st = await fsp.lstat(lexical).catch(() => undefined);
        if (st?.isSymbolicLink()) throw new SftpError('EACCES', 'dangling symlink refused');
      }
    }
    const parent = this.confine(await fsp.realpath(path.dirname(lexical)));
    return path.join(parent, path.basename(lexical));
  }

  // ---- operations -----------------------------------------------------------

  private async open(reqid: number, p: string, pflags: number, attrs: Partial<Attributes>): Promise<void> {
    const real = await this.resolve(p);
    const fh = await fsp.open(real, openFlags(pflags), (attrs.mode ?? 0o666) & 0o7777);
    this.out.handle(reqid, this.addHandle({ kind: 'file', vpath: virtualPath(p), fh }));
  }

  private async close(reqid: number, h: Buffer): Promise<void> {
    const found = this.lookup(h);
    this.handles.delete(h.readUInt32BE(0));
    if (found.kind === 'file') await found.fh.close();
    this.ok(reqid);
  }

  private async read(reqid: number, h: Buffer, offset: number, len: number): Promise<void> {
    const f = this.file(h);
    const buf = Buffer.allocUnsafe(Math.min(len, MAX_READ));
    const { bytesRead } = await f.fh.read(buf, 0, buf.length, offset);
    if (bytesRead === 0 && len > 0) return this.out.status(reqid, STATUS_CODE.EOF);
    let data: Buffer = buf.subarray(0, bytesRead);
    if (this.hooks.onRead) data = await this.hooks.onRead(f.vpath, offset, data);
    this.out.data(reqid, data);
  }

  private async write(reqid: number, h: Buffer, offset: number, data: Buffer): Promise<void> {
    const f = this.file(h);
    if (this.hooks.onWrite) data = await this.hooks.onWrite(f.vpath, offset, data);
    for (let done = 0; done < data.length;) {
      const { bytesWritten } = await f.fh.write(data, done, data.length - done, offset + done);
      done += bytesWritten;
    }
    this.ok(reqid);
  }

  private async sendAttrs(reqid: number, vpath: string, st: Stats): Promise<void> {
    let attrs = toAttrs(st);
    if (this.hooks.statAttrs) attrs = await this.hooks.statAttrs(vpath, attrs);
    this.out.attrs(reqid, attrs);
  }

  /** Applies size, then mode, then times (so truncation cannot bump the mtime we set). */
  private async setAttrs(reqid: number, target: AttrTarget, attrs: Partial<Attributes>): Promise<void> {
    if (typeof attrs.size === 'number') await target.truncate(attrs.size);
    if (typeof attrs.mode === 'number') await target.chmod(attrs.mode & 0o7777);
    if (typeof attrs.atime === 'number' && typeof attrs.mtime === 'number') {
      await target.utimes(attrs.atime, attrs.mtime);
    }
    this.ok(reqid);
  }

  private async opendir(reqid: number, p: string): Promise<void> {
    const real = await this.resolve(p);
    const names = await fsp.readdir(real);
    this.out.handle(reqid, this.addHandle({ kind: 'dir', vpath: virtualPath(p), real, names, pos: 0 }));
  }

  private async readdir(reqid: number, h: Buffer): Promise<void> {
    const dir = this.lookup(h);
    if (dir.kind !== 'dir') throw new SftpError('EBADF', 'not a directory handle');
    let entries: FileEntry[] = [];
    while (entries.length === 0 && dir.pos < dir.names.length) {
      const batch = dir.names.slice(dir.pos, dir.pos + READDIR_BATCH);
      dir.pos += batch.length;
      const lstat = (name: string) => fsp.lstat(path.join(dir.real, name)).catch(() => undefined);
      const stats = await Promise.all(batch.map(lstat));
      entries = batch.flatMap((filename, i) => {
        const st = stats[i];
        return st ? [{ filename, longname: longname(filename, st), attrs: toAttrs(st) }] : [];
      });
    }
    if (entries.length === 0) return this.out.status(reqid, STATUS_CODE.EOF);
    if (this.hooks.readdirNames) entries = await this.hooks.readdirNames(dir.vpath, entries);
    this.out.name(reqid, entries);
  }

  private async realpath(reqid: number, p: string): Promise<void> {
    let resolved = virtualPath(p);
    try {
      resolved = this.toVirtual(await this.resolve(p));
    } catch (err) {
      if (statusOf(err).code !== STATUS_CODE.NO_SUCH_FILE) throw err;
    }
    // REALPATH replies carry dummy attributes (flags 0), as OpenSSH's server does.
    this.out.name(reqid, [{ filename: resolved, longname: resolved, attrs: {} as Attributes }]);
  }

  private async readlink(reqid: number, p: string): Promise<void> {
    const real = await this.resolve(p, false);
    const target = await fsp.readlink(real);
    const absolute = this.confine(path.resolve(path.dirname(real), target));
    const shown = path.isAbsolute(target) ? this.toVirtual(absolute) : target;
    this.out.name(reqid, [{ filename: shown, longname: shown, attrs: {} as Attributes }]);
  }

  private async extended(reqid: number, name: string, data: Buffer | undefined): Promise<void> {
    if (name !== 'posix-rename@openssh.com') {
      return this.out.status(reqid, STATUS_CODE.OP_UNSUPPORTED, `${name} not supported`);
    }
    const [from, to] = parseTwoStrings(data);
    await fsp.rename(await this.resolve(from, false), await this.resolve(to, false));
    this.ok(reqid);
  }
}

/**
 * SFTP v3 RENAME must fail if the target exists (OpenSSH's server behaves the same).
 * Regular files use link()+unlink(), which is atomic about that; other types (and
 * filesystems without hard links) fall back to check-then-rename.
 */
async function renameNoClobber(from: string, to: string): Promise<void> {
  const st = await fsp.lstat(from);
  if (st.isFile()) {
    const linked = await fsp.link(from, to).then(
      () => true,
      (err: NodeJS.ErrnoException) => {
        if (err.code === 'EEXIST') throw err;
        return false; // e.g. no hard links on this filesystem
      },
    );
    if (linked) return fsp.unlink(from);
  }
  const existing = await fsp.lstat(to).catch(() => undefined);
  if (existing) throw new SftpError('EEXIST', 'EEXIST: file already exists');
  await fsp.rename(from, to);
}
