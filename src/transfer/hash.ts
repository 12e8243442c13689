/**
 * sha256 of a file over any endpoint, by reading it: a few requests in
 * flight, fed to the hash in order, so memory is bounded and a remote file is
 * hashed at close to transfer speed. No remote command is ever run; OpenSSH's
 * sftp-server offers no hashing extension (check-file is not implemented by
 * it), so a remote file is hashed by reading it back over SFTP.
 */
import { createHash } from 'node:crypto';
import { FileError, InterruptedError } from '../errors.js';
import type { Endpoint } from './endpoint.js';

export interface FileDigest {
  sha256: string;
  size: number;
}

const IN_FLIGHT = 8;

export async function hashFile(ep: Endpoint, path: string, signal?: AbortSignal): Promise<FileDigest> {
  const chunk = Math.min(ep.limits.maxRead, 256 * 1024);
  const hash = createHash('sha256');
  const h = await ep.openRead(path);
  try {
    /** Reads all `len` bytes at `pos` unless EOF comes first (a short reply is asked again). */
    const readAt = async (pos: number): Promise<Buffer> => {
      const buf = Buffer.allocUnsafe(chunk);
      let got = 0;
      while (got < chunk) {
        const n = await ep.read(h, buf, got, chunk - got, pos + got);
        if (n === 0) break;
        got += n;
      }
      return buf.subarray(0, got);
    };
    const queue: Promise<Buffer>[] = [];
    const enqueue = (pos: number) => {
      const p = readAt(pos);
      p.catch(() => undefined); // Awaited in order below; a failure past the first must not go unhandled.
      queue.push(p);
    };
    let next = 0;
    let size = 0;
    for (let i = 0; i < IN_FLIGHT; i++, next += chunk) enqueue(next);
    for (;;) {
      if (signal?.aborted) throw new InterruptedError('interrupted');
      const buf = await queue.shift()!;
      hash.update(buf);
      size += buf.length;
      if (buf.length < chunk) break;
      enqueue(next);
      next += chunk;
    }
    // Reads past the end still in flight: let them land before the handle closes.
    await Promise.allSettled(queue);
    return { sha256: hash.digest('hex'), size };
  } finally {
    await ep.close(h).catch(() => undefined);
  }
}

/**
 * TEST ONLY (for --verify's tests): invert one byte of a file in place,
 * keeping its size and mtime, to stand for corruption on the target.
 */
export async function flipByteForTest(ep: Endpoint, path: string, offset = 0): Promise<void> {
  const attrs = await ep.stat(path);
  if (attrs.size === 0) return;
  const at = Math.min(offset, attrs.size - 1);
  const buf = Buffer.alloc(1);
  const r = await ep.openRead(path);
  try {
    if ((await ep.read(r, buf, 0, 1, at)) !== 1) throw new FileError('read', ep.side, path, 'short read');
  } finally {
    await ep.close(r);
  }
  buf[0] ^= 0xff;
  const w = await ep.openWrite(path, { mode: attrs.mode & 0o777, truncate: false });
  try {
    await ep.write(w, buf, 0, 1, at);
  } finally {
    await ep.close(w);
  }
  await ep.setstat(path, { atime: attrs.atime, mtime: attrs.mtime });
}
