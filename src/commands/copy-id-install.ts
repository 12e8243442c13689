/**
 * Reading and replacing authorized_keys through the endpoint interface (an
 * SFTP session in real use, local files in tests). The new file is written
 * beside the old one and renamed over it, so an interrupted install leaves
 * the old file as it was.
 */
import { randomBytes } from 'node:crypto';
import { posix } from 'node:path';
import { FileError } from '../errors.js';
import type { Endpoint, FileAttrs } from '../transfer/endpoint.js';
import { isNotFound } from '../transfer/endpoint.js';

export const SSH_DIR_MODE = 0o700;
export const AUTHORIZED_KEYS_MODE = 0o600;
/** Far beyond any real authorized_keys; keeps a hostile or odd file from filling memory. */
const MAX_AUTHORIZED_KEYS_BYTES = 16 * 1024 * 1024;

export interface AuthorizedKeysState {
  sshDir: string;
  file: string;
  dirExists: boolean;
  /** The file's bytes; empty when it does not exist. */
  content: Buffer;
  /** The existing file's permission bits, or undefined when it does not exist. */
  mode?: number;
  /** Things that will make sshd (StrictModes) ignore the file, worth telling the user. */
  warnings: string[];
}

async function lstatOrMissing(ep: Endpoint, path: string): Promise<FileAttrs | undefined> {
  try {
    return await ep.lstat(path);
  } catch (err) {
    if (isNotFound(err)) return undefined;
    throw err;
  }
}

function refuse(ep: Endpoint, path: string, reason: string, hint: string): FileError {
  return new FileError('install keys into', ep.side, path, reason, { hint });
}

function strictModesWarning(path: string, attrs: FileAttrs | undefined): string[] {
  if (!attrs || (attrs.mode & 0o022) === 0) return [];
  const name = path === '.' ? 'the home directory' : `"${path}"`;
  return [`${name} is writable by group or others (mode 0${attrs.mode.toString(8)}): sshd (StrictModes, the default) ` +
    `may then ignore the keys; fix it with: chmod go-w ${path === '.' ? '~' : `~/${path}`}`];
}

async function readAll(ep: Endpoint, path: string): Promise<Buffer> {
  const h = await ep.openRead(path);
  const chunks: Buffer[] = [];
  let total = 0;
  try {
    for (;;) {
      const buf = Buffer.alloc(ep.limits.maxRead);
      // Short reads are normal; only 0 means the end.
      const n = await ep.read(h, buf, 0, buf.length, total);
      if (n === 0) break;
      chunks.push(buf.subarray(0, n));
      total += n;
      if (total > MAX_AUTHORIZED_KEYS_BYTES) throw refuse(ep, path, `larger than ${MAX_AUTHORIZED_KEYS_BYTES / 1024 / 1024} MiB`, 'is this really an authorized_keys file?');
    }
  } finally {
    await ep.close(h).catch(() => undefined);
  }
  return Buffer.concat(chunks);
}

/**
 * Look at `sshDir` and its authorized_keys without changing anything. A
 * symlink at either is refused: following it would write wherever it points.
 */
export async function inspectAuthorizedKeys(ep: Endpoint, sshDir: string): Promise<AuthorizedKeysState> {
  const file = posix.join(sshDir, 'authorized_keys');
  const dir = await lstatOrMissing(ep, sshDir);
  const home = await lstatOrMissing(ep, posix.dirname(sshDir)).catch(() => undefined);
  const warnings = strictModesWarning(posix.dirname(sshDir), home);
  if (!dir) return { sshDir, file, dirExists: false, content: Buffer.alloc(0), warnings };
  if (dir.kind === 'symlink') throw refuse(ep, sshDir, 'is a symbolic link; refusing to follow it', `replace the link with a real directory (mode 700) and run again`);
  if (dir.kind !== 'dir') throw refuse(ep, sshDir, 'is not a directory', 'move it out of the way and run again');
  warnings.push(...strictModesWarning(sshDir, dir));

  const attrs = await lstatOrMissing(ep, file);
  if (!attrs) return { sshDir, file, dirExists: true, content: Buffer.alloc(0), warnings };
  if (attrs.kind === 'symlink') throw refuse(ep, file, 'is a symbolic link; refusing to follow it', `replace the link with a regular file (e.g. copy its target there) and run again`);
  if (attrs.kind !== 'file') throw refuse(ep, file, 'is not a regular file', 'move it out of the way and run again');
  warnings.push(...strictModesWarning(file, attrs));
  return { sshDir, file, dirExists: true, content: await readAll(ep, file), mode: attrs.mode, warnings };
}

async function writeAll(ep: Endpoint, path: string, data: Buffer, mode: number): Promise<void> {
  const h = await ep.openWrite(path, { mode, truncate: true });
  try {
    for (let pos = 0; pos < data.length; pos += ep.limits.maxWrite) {
      const len = Math.min(ep.limits.maxWrite, data.length - pos);
      await ep.write(h, data, pos, len, pos);
    }
    await ep.fsync?.(h);
  } finally {
    await ep.close(h).catch(() => undefined);
  }
  // The server's umask may have trimmed the mode given at open.
  await ep.setstat(path, { mode });
}

/**
 * Replace authorized_keys with `content`: create the directory (0700) if it is
 * missing, write a temporary file beside the old one with the old file's mode
 * (0600 for a new one), then rename it over.
 */
export async function writeAuthorizedKeys(ep: Endpoint, state: AuthorizedKeysState, content: Buffer): Promise<void> {
  if (!state.dirExists) {
    await ep.mkdir(state.sshDir, SSH_DIR_MODE);
    await ep.setstat(state.sshDir, { mode: SSH_DIR_MODE });
  }
  const tmp = posix.join(state.sshDir, `authorized_keys.ferry-tmp-${randomBytes(6).toString('hex')}`);
  try {
    await writeAll(ep, tmp, content, state.mode ?? AUTHORIZED_KEYS_MODE);
    await ep.rename(tmp, state.file);
  } catch (err) {
    await ep.unlink(tmp).catch(() => undefined);
    throw err;
  }
}
