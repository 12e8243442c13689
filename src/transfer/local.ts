/** The endpoint interface over node:fs. */
import { promises as fsp, constants as fsc } from 'node:fs';
import type { FileHandle as NodeFileHandle } from 'node:fs/promises';
import type { Stats } from 'node:fs';
import { FileError } from '../errors.js';
import type { DirEntry, Endpoint, FileAttrs, FileHandle, SetAttrs, WriteOpenOptions } from './endpoint.js';

interface LocalHandle extends FileHandle {
  fh: NodeFileHandle;
}

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
    try { return toAttrs(await fsp.stat(path)); } catch (e) { throw fail('stat', path, e); }
  }
  async lstat(path: string) {
    try { return toAttrs(await fsp.lstat(path)); } catch (e) { throw fail('stat', path, e); }
  }
  async realpath(path: string) {
    try { return await fsp.realpath(path); } catch (e) { throw fail('resolve', path, e); }
  }
  async readdir(path: string): Promise<DirEntry[]> {
    let names: string[];
    try { names = await fsp.readdir(path); } catch (e) { throw fail('list', path, e); }
    const out: DirEntry[] = [];
    for (const name of names) {
      try {
        out.push({ name, attrs: toAttrs(await fsp.lstat(`${path}/${name}`)) });
      } catch (e) {
        // Vanished between readdir and lstat: not an error of the listing.
        if ((e as NodeJS.ErrnoException).code !== 'ENOENT') throw fail('stat', `${path}/${name}`, e);
      }
    }
    return out;
  }
  async mkdir(path: string, mode = 0o777) {
    try { await fsp.mkdir(path, { mode }); } catch (e) { throw fail('create directory', path, e); }
  }
  async rename(from: string, to: string) {
    try { await fsp.rename(from, to); } catch (e) { throw fail('rename', from, e); }
  }
  async unlink(path: string) {
    try { await fsp.unlink(path); } catch (e) { throw fail('remove', path, e); }
  }
  async rmdir(path: string) {
    try { await fsp.rmdir(path); } catch (e) { throw fail('remove directory', path, e); }
  }
  async hardlink(existing: string, newPath: string) {
    try { await fsp.link(existing, newPath); } catch (e) { throw fail('link', newPath, e); }
  }
  async setstat(path: string, attrs: SetAttrs) {
    try {
      if (attrs.mode !== undefined) await fsp.chmod(path, attrs.mode);
      if (attrs.mtime !== undefined) await fsp.utimes(path, attrs.atime ?? attrs.mtime, attrs.mtime);
    } catch (e) { throw fail('set attributes of', path, e); }
  }
  async openRead(path: string): Promise<LocalHandle> {
    try { return { path, fh: await fsp.open(path, fsc.O_RDONLY) }; } catch (e) { throw fail('open', path, e); }
  }
  async openWrite(path: string, opts: WriteOpenOptions): Promise<LocalHandle> {
    // O_NOFOLLOW: a symlink planted at our temp name must not redirect the write.
    const flags = fsc.O_WRONLY | (opts.create === false ? 0 : fsc.O_CREAT) | fsc.O_NOFOLLOW | (opts.truncate ? fsc.O_TRUNC : 0);
    try { return { path, fh: await fsp.open(path, flags, opts.mode) }; } catch (e) { throw fail('open', path, e); }
  }
  async read(h: FileHandle, buf: Buffer, offset: number, length: number, position: number) {
    try {
      const { bytesRead } = await (h as LocalHandle).fh.read(buf, offset, length, position);
      return bytesRead;
    } catch (e) { throw fail('read', h.path, e); }
  }
  async write(h: FileHandle, buf: Buffer, offset: number, length: number, position: number) {
    const fh = (h as LocalHandle).fh;
    try {
      let done = 0;
      while (done < length) {
        const { bytesWritten } = await fh.write(buf, offset + done, length - done, position + done);
        done += bytesWritten;
      }
    } catch (e) { throw fail('write', h.path, e); }
  }
  async close(h: FileHandle) {
    try { await (h as LocalHandle).fh.close(); } catch (e) { throw fail('close', h.path, e); }
  }
  async fsync(h: FileHandle) {
    try { await (h as LocalHandle).fh.sync(); } catch (e) { throw fail('sync', h.path, e); }
  }
  async end() {}
}
