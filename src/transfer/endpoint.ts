/**
 * The file interface the transfer engine sees. Local disk and an SFTP session
 * both implement it, so upload, download, remote-to-remote and local copies
 * are one engine with the endpoints swapped. Paths are POSIX strings as the
 * endpoint understands them; the engine never interprets them beyond joining.
 */
import type { Side } from '../errors.js';

export type FileKind = 'file' | 'dir' | 'symlink' | 'other';

export interface FileAttrs {
  kind: FileKind;
  size: number;
  /** Permission bits only (07777), never the file-type bits. */
  mode: number;
  /** Seconds since the epoch (integer on SFTP v3). */
  mtime: number;
  atime: number;
}

export interface DirEntry {
  /** Exactly as the endpoint returned it; validate before use (see names.ts). */
  name: string;
  attrs: FileAttrs;
}

/** An open file. Carries its path so every error can name the file. */
export interface FileHandle {
  readonly path: string;
}

export interface SetAttrs {
  mode?: number;
  atime?: number;
  mtime?: number;
}

export interface LinkCosts {
  rttMs?: number;
  laneMs?: number;
}

export interface EndpointLimits {
  /** Largest read the peer will answer in one request. */
  maxRead: number;
  /** Largest write the peer accepts in one request. */
  maxWrite: number;
}

export interface WriteOpenOptions {
  mode: number;
  truncate: boolean;
  /** false: fail when the file is missing rather than create it. */
  create?: boolean;
}

export interface Endpoint {
  readonly side: Side;
  /** For messages: "local" or the host name. */
  readonly label: string;
  readonly limits: EndpointLimits;

  /** Follows symlinks. Rejects with FileError (code 'ENOENT' when missing). */
  stat(path: string): Promise<FileAttrs>;
  lstat(path: string): Promise<FileAttrs>;
  realpath(path: string): Promise<string>;
  readdir(path: string): Promise<DirEntry[]>;
  mkdir(path: string, mode?: number): Promise<void>;
  /** Replaces `to` if it exists, atomically where the endpoint can. */
  rename(from: string, to: string): Promise<void>;
  unlink(path: string): Promise<void>;
  /** Remove an empty directory (sync --delete); absent when the endpoint cannot. */
  rmdir?(path: string): Promise<void>;
  setstat(path: string, attrs: SetAttrs): Promise<void>;
  /**
   * Make `newPath` another name of the file at `existing` (a hard link, for
   * sync --link-dest); fails if `newPath` exists. Absent when the endpoint
   * cannot (an SFTP server without hardlink@openssh.com), so a caller can tell
   * before it writes anything.
   */
  hardlink?(existing: string, newPath: string): Promise<void>;

  openRead(path: string): Promise<FileHandle>;
  /** Creates the file if missing (unless `create` is false); truncates only when asked. */
  openWrite(path: string, opts: WriteOpenOptions): Promise<FileHandle>;
  /** Reads up to `length` bytes at `position` into buf[offset..]; 0 means EOF. */
  read(h: FileHandle, buf: Buffer, offset: number, length: number, position: number): Promise<number>;
  write(h: FileHandle, buf: Buffer, offset: number, length: number, position: number): Promise<void>;
  /**
   * True when write() has copied `buf` by the time it returns (up to
   * limits.maxWrite bytes), so the caller may reuse it before the write completes.
   */
  readonly copiesWrites?: boolean;
  /**
   * Bytes one session can have in flight each way (its SSH channel windows:
   * `read` is what we grant for replies, `write` what the peer grants us).
   * Absent: unbounded, as for the local disk.
   */
  readonly channelWindow?: { read: number; write: number };
  /**
   * false: one file must have one writer. Lanes then carry whole files, never
   * parts of one: servers other than OpenSSH's sftp-server may keep a file per
   * handle (rclone serve sftp with a write cache dropped what one handle wrote
   * when a second opened the file, and reported success). Absent: a plain file
   * many handles may write, as the local disk and sftp-server give.
   */
  readonly sharedWrites?: boolean;
  close(h: FileHandle): Promise<void>;
  /**
   * Attributes of the open file. A server answers the requests on one handle
   * in order, so an fstat, fsetstat and close sent back to back finish a file
   * in one round trip. Absent: the engine uses stat/setstat by path.
   */
  fstat?(h: FileHandle): Promise<FileAttrs>;
  fsetstat?(h: FileHandle, attrs: SetAttrs): Promise<void>;

  /** Flush written data to stable storage, where the endpoint can. */
  fsync?(h: FileHandle): Promise<void>;

  /**
   * Another independent session to the same place, so requests can be spread
   * past one channel's window. Absent when the endpoint has only one.
   */
  openLane?(): Promise<Endpoint>;

  /**
   * What the endpoint measured of its link, in ms: the shortest request round
   * trip, and what one more session (openLane) costs to start, with a new
   * connection's handshake when the open ones are full. Absent: not measured.
   */
  costs?(): LinkCosts;

  /** Bumped each time the session is replaced; handles of older ones are dead. */
  readonly generation?: number;
  /**
   * Replace the session after the link dropped, unless that already happened
   * since `seenGeneration`. Absent when the endpoint cannot reconnect.
   */
  reconnect?(seenGeneration: number): Promise<void>;

  /** Release the session (not the shared connection). */
  end(): Promise<void>;
}

/** Missing-file check that works for both endpoints' errors. */
export function isNotFound(err: unknown): boolean {
  const code = (err as { code?: unknown })?.code;
  return code === 'ENOENT' || code === 2;
}
