/**
 * Writes a key pair so an interrupted or failed run leaves no key or a complete
 * private key, never half of one, and never a private key next to someone
 * else's `.pub`: each file is written to a 0600 temp file in the same
 * directory, fsynced, then linked (no clobber) or, with `force`, renamed into
 * place, private key first.
 */
import { randomBytes } from 'node:crypto';
import * as fsp from 'node:fs/promises';
import * as path from 'node:path';

/** The file-system calls this module makes; tests wrap them to inject failures. */
export interface KeyFileIo {
  mkdir(dir: string, opts: { recursive: true; mode: number }): Promise<string | undefined>;
  chmod(file: string, mode: number): Promise<void>;
  /** Creates `file` (must not exist) with `mode`, writes `data`, fsyncs and closes it. */
  writeNewFile(file: string, data: string, mode: number): Promise<void>;
  link(from: string, to: string): Promise<void>;
  rename(from: string, to: string): Promise<void>;
  unlink(file: string): Promise<void>;
  lstat(file: string): Promise<unknown>;
  syncDir(dir: string): Promise<void>;
}

export const nodeKeyFileIo: KeyFileIo = {
  mkdir: (dir, opts) => fsp.mkdir(dir, opts),
  chmod: (file, mode) => fsp.chmod(file, mode),
  async writeNewFile(file, data, mode) {
    const fh = await fsp.open(file, 'wx', mode);
    try {
      await fh.chmod(mode); // the umask must not widen or narrow what we asked for
      await fh.writeFile(data, 'utf8');
      await fh.sync();
    } finally {
      await fh.close();
    }
  },
  link: (from, to) => fsp.link(from, to),
  rename: (from, to) => fsp.rename(from, to),
  unlink: (file) => fsp.unlink(file),
  lstat: (file) => fsp.lstat(file),
  async syncDir(dir) {
    const fh = await fsp.open(dir, 'r');
    try {
      await fh.sync();
    } catch {
      // Some file systems cannot fsync a directory; the renames still happened.
    } finally {
      await fh.close();
    }
  },
};

/** The target exists and `force` was not given. */
export class KeyFileExistsError extends Error {
  constructor(readonly path: string) {
    super(`${path} already exists`);
  }
}

/** Writing `path` failed; `cause` holds the system error. */
export class KeyFileWriteError extends Error {
  constructor(readonly path: string, cause: unknown) {
    super(`${path}: ${(cause as NodeJS.ErrnoException)?.message ?? String(cause)}`, { cause });
  }
}

export const PRIVATE_KEY_MODE = 0o600;
export const PUBLIC_KEY_MODE = 0o644;
export const KEY_DIR_MODE = 0o700;

function errnoOf(err: unknown): string | undefined {
  return (err as NodeJS.ErrnoException | undefined)?.code;
}

async function exists(io: KeyFileIo, file: string): Promise<boolean> {
  try {
    await io.lstat(file);
    return true;
  } catch (err) {
    if (errnoOf(err) === 'ENOENT') return false;
    throw new KeyFileWriteError(file, err);
  }
}

/** Which of the pair's files already exist (private key first). */
export async function findExistingKeyFiles(privatePath: string, io: KeyFileIo = nodeKeyFileIo): Promise<string[]> {
  const found: string[] = [];
  for (const file of [privatePath, `${privatePath}.pub`]) if (await exists(io, file)) found.push(file);
  return found;
}

function tempNameFor(file: string): string {
  return path.join(path.dirname(file), `.${path.basename(file)}.ferry-tmp-${randomBytes(6).toString('hex')}`);
}

/** Puts `temp` at `final`; without `force` an existing `final` is an error, checked atomically where links work. */
async function install(io: KeyFileIo, temp: string, final: string, force: boolean): Promise<void> {
  if (force) return io.rename(temp, final);
  try {
    await io.link(temp, final);
  } catch (err) {
    if (errnoOf(err) === 'EEXIST') throw new KeyFileExistsError(final);
    if (!['EPERM', 'ENOTSUP', 'EOPNOTSUPP', 'ENOSYS'].includes(errnoOf(err) ?? '')) throw err;
    // No hard links here (some network and FAT file systems): check, then rename.
    if (await exists(io, final)) throw new KeyFileExistsError(final);
    await io.rename(temp, final);
  }
}

async function removeQuietly(io: KeyFileIo, files: string[]): Promise<void> {
  for (const f of files) await io.unlink(f).catch(() => undefined);
}

export interface KeyPairFiles {
  privatePath: string;
  privateText: string;
  publicText: string;
  /** Replace existing files. */
  force?: boolean;
}

/**
 * Writes `privatePath` (0600) and `privatePath.pub` (0644), creating the
 * directory 0700 when missing. Returns the directory it created, if any.
 */
export async function writeKeyPair(files: KeyPairFiles, io: KeyFileIo = nodeKeyFileIo): Promise<{ createdDir?: string }> {
  const { privatePath, force = false } = files;
  const publicPath = `${privatePath}.pub`;
  const dir = path.dirname(privatePath);
  let createdDir: string | undefined;
  try {
    createdDir = await io.mkdir(dir, { recursive: true, mode: KEY_DIR_MODE });
    if (createdDir !== undefined) await io.chmod(dir, KEY_DIR_MODE);
  } catch (err) {
    throw new KeyFileWriteError(dir, err);
  }

  const tempPrivate = tempNameFor(privatePath);
  const tempPublic = tempNameFor(publicPath);
  let stage: 'temps' | 'private' | 'public' = 'temps';
  let privateInstalled = false;
  try {
    await io.writeNewFile(tempPrivate, files.privateText, PRIVATE_KEY_MODE);
    await io.writeNewFile(tempPublic, files.publicText, PRIVATE_KEY_MODE);
    await io.chmod(tempPublic, PUBLIC_KEY_MODE);
    // An old .pub must not outlive the private key it belonged to.
    if (force) await io.unlink(publicPath).catch((err) => (errnoOf(err) === 'ENOENT' ? undefined : Promise.reject(err)));
    stage = 'private';
    await install(io, tempPrivate, privatePath, force);
    privateInstalled = true;
    stage = 'public';
    await install(io, tempPublic, publicPath, force);
  } catch (err) {
    await removeQuietly(io, [tempPrivate, tempPublic]);
    // Without force the private key is one we just created: take it back, leaving no key.
    if (privateInstalled && !force) await removeQuietly(io, [privatePath]);
    if (err instanceof KeyFileExistsError) throw err;
    throw new KeyFileWriteError(stage === 'public' ? publicPath : privatePath, err);
  }
  // After links the temp names remain; after renames they are gone already.
  await removeQuietly(io, [tempPrivate, tempPublic]);
  await io.syncDir(dir).catch(() => undefined);
  return createdDir === undefined ? {} : { createdDir };
}

/** Replaces `file` atomically with `text` at `mode` (for a changed passphrase). */
export async function replaceFile(file: string, text: string, mode: number, io: KeyFileIo = nodeKeyFileIo): Promise<void> {
  const temp = tempNameFor(file);
  try {
    await io.writeNewFile(temp, text, mode);
    await io.rename(temp, file);
  } catch (err) {
    await removeQuietly(io, [temp]);
    throw new KeyFileWriteError(file, err);
  }
  await io.syncDir(path.dirname(file)).catch(() => undefined);
}
