/**
 * Copy one regular file between two endpoints with many requests in flight.
 * Data goes to a hidden partial name and is renamed into place only when every
 * byte is written, so nothing incomplete ever appears under the final name.
 */
import { FileError, InterruptedError, renameFileError } from '../errors.js';
import type { Endpoint, FileHandle } from './endpoint.js';
import { partialName } from './names.js';
import type { RateLimiter } from './rate-limit.js';

export interface CopyFileOptions {
  src: Endpoint;
  srcPath: string;
  /** Bytes to copy: the size stat reported when the file was chosen. */
  size: number;
  dst: Endpoint;
  dstPath: string;
  /** Mode the new file is created with (the receiver's umask still applies). */
  createMode: number;
  /** With -p: exact mode and times to set before the rename. */
  preserve?: { mode: number; atime: number; mtime: number };
  chunkSize: number;
  /** Requests kept outstanding at once; memory is chunkSize x this. */
  maxInflight: number;
  limiter?: RateLimiter;
  signal?: AbortSignal;
  onBytes?: (n: number) => void;
}

export async function copyFile(o: CopyFileOptions): Promise<void> {
  const tmp = partialName(o.dstPath);
  try {
    await copyViaPartial(o, tmp);
  } catch (err) {
    // The user named the final path; errors about our partial file should too.
    throw renameFileError(err, tmp, o.dstPath);
  }
}

async function copyViaPartial(o: CopyFileOptions, tmp: string): Promise<void> {
  const input = await o.src.openRead(o.srcPath);
  let output: FileHandle | undefined;
  try {
    output = await o.dst.openWrite(tmp, { mode: o.createMode & 0o777, truncate: true });
    await pump(o, input, output);
  } catch (err) {
    await Promise.allSettled([o.src.close(input), output && o.dst.close(output)]);
    throw err;
  }
  await o.src.close(input);
  // A remote server may report a failed write only at close: it must count.
  await o.dst.close(output);
  if (o.preserve) {
    await o.dst.setstat(tmp, { mode: o.preserve.mode, atime: o.preserve.atime, mtime: o.preserve.mtime });
  }
  await o.dst.rename(tmp, o.dstPath);
}

async function pump(o: CopyFileOptions, input: FileHandle, output: FileHandle): Promise<void> {
  const chunk = Math.max(1, o.chunkSize);
  let next = 0;
  let failure: unknown;

  const worker = async () => {
    // One buffer per outstanding request, reused: memory is bounded by the window.
    const buf = Buffer.allocUnsafe(chunk);
    while (failure === undefined && next < o.size) {
      if (o.signal?.aborted) throw new InterruptedError('interrupted');
      const pos = next;
      const len = Math.min(chunk, o.size - pos);
      next += len;
      let got = 0;
      // A server may answer with fewer bytes than asked: ask again for the rest.
      while (got < len) {
        const n = await o.src.read(input, buf, got, len - got, pos + got);
        if (n === 0) {
          throw new FileError('read', o.src.side, o.srcPath, `unexpected end of file at ${pos + got} of ${o.size}`, {
            hint: 'the file shrank while it was being copied',
          });
        }
        got += n;
      }
      if (o.limiter) await o.limiter.take(len);
      await o.dst.write(output, buf, 0, len, pos);
      o.onBytes?.(len);
    }
  };

  const count = Math.max(1, Math.min(o.maxInflight, Math.ceil(o.size / chunk)));
  const results = await Promise.allSettled(
    Array.from({ length: count }, () =>
      worker().catch((err) => {
        failure ??= err;
        throw err;
      }),
    ),
  );
  if (failure !== undefined) throw failure;
  for (const r of results) if (r.status === 'rejected') throw r.reason;
}
