/**
 * -p against a server that takes a SETSTAT and applies nothing (rclone serve
 * sftp keeps its own --file-perms; some gateways have no mtimes): the copy is
 * fine, but the user asked for the mode and times, so the difference is told,
 * never left silent. Pure: the caller stats the copy.
 */
import type { FileAttrs } from './endpoint.js';

const oct = (mode: number) => `0${(mode & 0o7777).toString(8)}`;

/** What of `want` (mode, mtime) the copy did not get, or undefined when it got both. */
export function preserveShortfall(want: Pick<FileAttrs, 'mode' | 'mtime'>, got: Pick<FileAttrs, 'mode' | 'mtime'>): string | undefined {
  const lost: string[] = [];
  if ((got.mode & 0o777) !== (want.mode & 0o777)) lost.push(`mode ${oct(got.mode & 0o777)}, not ${oct(want.mode & 0o777)}`);
  // Whole seconds: SFTP v3 carries no more.
  if (Number.isFinite(got.mtime) && Math.floor(got.mtime) !== Math.floor(want.mtime)) {
    lost.push(`mtime ${new Date(got.mtime * 1000).toISOString()}, not ${new Date(want.mtime * 1000).toISOString()}`);
  }
  return lost.length > 0 ? lost.join('; ') : undefined;
}
