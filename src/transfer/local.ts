/**
 * The endpoint interface over node:fs.
 *
 * Metadata calls and small reads and writes are synchronous on purpose. Each
 * async call is a hop to libuv's thread pool and back through a promise: for
 * a file of a few KB that cost about ten times the syscalls themselves
 * (measured: open, fstat, read, read at EOF, close and stat of 5,000 small
 * files took 450-530 ms of wall time and ~700 ms of CPU async, 52-61 ms sync),
 * and it was the largest part of a many-file sync's CPU. rsync, scp and sftp
 * make the same calls synchronously. Reads and writes of a chunk or more stay
 * async, so the disk works while the network does. A local filesystem that
 * hangs (a dead NFS mount) stalls the run either way.
 */
import * as fs from 'node:fs';
import { constants as fsc } from 'node:fs';
import type { Stats } from 'node:fs';
import { promisify } from 'node:util';
import { FileError } from '../errors.js';
import type { DirEntry, Endpoint, FileAttrs, FileHandle, SetAttrs, WriteOpenOptions } from './endpoint.js';

interface LocalHandle extends FileHandle {
  fd: number;
}

/** Reads and writes up to this size are made synchronously (see above). */
const SYNC_IO_MAX = 64 * 1024;
const readAsync = promisify(fs.read);
const writeAsync = promisify(fs.write);
const fsyncAsync = promisify(fs.fsync);

function toAttrs(st: Stats): FileAttrs {
  const kind = st.isFile() ? 'file' : st.isDirectory() ? 'dir' : st.isSymbolicLink() ? 'symlink' : 'other';
  return { kind, size: st.size, mode: st.mode & 0o7777, mtime: st.mtimeMs / 1000, atime: st.atimeMs / 1000 };
}

function fail(verb: string, path: string, err: unknown): FileError {
  const e = err as NodeJS.ErrnoException;
  const reason = describeErrno(e);
  return new FileError(verb, 'local', path, reason, { cause: err, code: e.code });
}

function describeErrno(e: NodeJS.ErrnoException): string {
  switch (e.code) {
    case 'ENOENT': return 'No such file or directory';
    case 'EACCES': case 'EPERM': return 'Permission denied';
    case 'EISDIR': return 'Is a directory';
    case 'ENOTDIR': return 'Not a directory';
    case 'ENOSPC': return 'No space left on device';
    case 'EEXIST': return 'File exists';
    default: return e.message;
  }
}

export class LocalEndpoint implements Endpoint {
  readonly side = 'local' as const;
  readonly label = 'local';
  // Local I/O has no protocol limit; 256 KiB keeps syscalls few and memory small.
  readonly limits = { maxRead: 256 * 1024, maxWrite: 256 * 1024 };

  async stat(path: string) {
    try { return toAttrs(fs.statSync(path)); } catch (e) { throw fail('stat', path, e); }
  }
  async lstat(path: string) {
    try { return toAttrs(fs.lstatSync(path)); } catch (e) { throw fail('stat', path, e); }
  }
  async realpath(path: string) {
    try { return fs.realpathSync(path); } catch (e) { throw fail('resolve', path, e); }
  }
  async readdir(path: string): Promise<DirEntry[]> {
    let names: string[];
    try { names = fs.readdirSync(path); } catch (e) { throw fail('list', path, e); }
    const out: DirEntry[] = [];
    for (const name of names) {
      try {
        out.push({ name, attrs: toAttrs(fs.lstatSync(`${path}/${name}`)) });
      } catch (e) {
        // Vanished between readdir and lstat: not an error of the listing.
        if ((e as NodeJS.ErrnoException).code !== 'ENOENT') throw fail('stat', `${path}/${name}`, e);
      }
    }
    return out;
  }
  async mkdir(path: string, mode = 0o777) {
    try { fs.mkdirSync(path, { mode }); } catch (e) { throw fail('create directory', path, e); }
  }
  async rename(from: string, to: string) {
    try { fs.renameSync(from, to); } catch (e) { throw fail('rename', from, e); }
  }
  async unlink(path: string) {
    try { fs.unlinkSync(path); } catch (e) { throw fail('remove', path, e); }
  }
  async rmdir(path: string) {
    try { fs.rmdirSync(path); } catch (e) { throw fail('remove directory', path, e); }
  }
  async hardlink(existing: string, newPath: string) {
    try { fs.linkSync(existing, newPath); } catch (e) { throw fail('link', newPath, e); }
  }
  async setstat(path: string, attrs: SetAttrs) {
    try {
      if (attrs.mode !== undefined) fs.chmodSync(path, attrs.mode);
      if (attrs.mtime !== undefined) fs.utimesSync(path, attrs.atime ?? attrs.mtime, attrs.mtime);
    } catch (e) { throw fail('set attributes of', path, e); }
  }
  async fstat(h: FileHandle) {
    try { return toAttrs(fs.fstatSync((h as LocalHandle).fd)); } catch (e) { throw fail('stat', h.path, e); }
  }
  async fsetstat(h: FileHandle, attrs: SetAttrs) {
    const { fd } = h as LocalHandle;
    try {
      if (attrs.mode !== undefined) fs.fchmodSync(fd, attrs.mode);
      if (attrs.mtime !== undefined) fs.futimesSync(fd, attrs.atime ?? attrs.mtime, attrs.mtime);
    } catch (e) { throw fail('set attributes of', h.path, e); }
  }
  async openRead(path: string): Promise<LocalHandle> {
    try { return { path, fd: fs.openSync(path, fsc.O_RDONLY) }; } catch (e) { throw fail('open', path, e); }
  }
  async openWrite(path: string, opts: WriteOpenOptions): Promise<LocalHandle> {
    // O_NOFOLLOW: a symlink planted at our temp name must not redirect the write.
    const flags = fsc.O_WRONLY | (opts.create === false ? 0 : fsc.O_CREAT) | fsc.O_NOFOLLOW | (opts.truncate ? fsc.O_TRUNC : 0);
    try { return { path, fd: fs.openSync(path, flags, opts.mode) }; } catch (e) { throw fail('open', path, e); }
  }
  async read(h: FileHandle, buf: Buffer, offset: number, length: number, position: number) {
    const { fd } = h as LocalHandle;
    try {
      return length <= SYNC_IO_MAX ? fs.readSync(fd, buf, offset, length, position) : (await readAsync(fd, buf, offset, length, position)).bytesRead;
    } catch (e) { throw fail('read', h.path, e); }
  }
  async write(h: FileHandle, buf: Buffer, offset: number, length: number, position: number) {
    const { fd } = h as LocalHandle;
    try {
      let done = 0;
      while (done < length) {
        const n = length - done;
        done += n <= SYNC_IO_MAX
          ? fs.writeSync(fd, buf, offset + done, n, position + done)
          : (await writeAsync(fd, buf, offset + done, n, position + done)).bytesWritten;
      }
    } catch (e) { throw fail('write', h.path, e); }
  }
  async close(h: FileHandle) {
    try { fs.closeSync((h as LocalHandle).fd); } catch (e) { throw fail('close', h.path, e); }
  }
  async fsync(h: FileHandle) {
    // Can take long (a disk flush): the event loop keeps serving the network meanwhile.
    try { await fsyncAsync((h as LocalHandle).fd); } catch (e) { throw fail('sync', h.path, e); }
  }
  async end() {}
}
