/**
 * The few error kinds ferry distinguishes. Each maps to one exit code in
 * `exitCodeFor`; whether to retry is a predicate (`isRetryable`), not a class.
 */

export const ExitCode = {
  ok: 0,
  partial: 1,
  usage: 2,
  connection: 3,
  auth: 4,
  /** sync: source files vanished during the run, everything else succeeded (rsync's 24). */
  vanished: 24,
  interrupted: 130,
  /** stdout's reader went away (`ferry sync --json | head`): 128 + SIGPIPE, as a shell reports a C tool killed by it. */
  brokenPipe: 141,
} as const;

export type Side = 'local' | 'remote';

export class FerryError extends Error {
  /** A one-line hint telling the user how to fix it, when there is one. */
  readonly hint?: string;
  constructor(message: string, options?: { cause?: unknown; hint?: string }) {
    super(message, options?.cause !== undefined ? { cause: options.cause } : undefined);
    this.name = new.target.name;
    this.hint = options?.hint;
  }
}

/** Bad arguments or options: nothing was transferred. */
export class UsageError extends FerryError {}

/** Could not reach the host, the link dropped, or the server broke the protocol. */
export class ConnectionError extends FerryError {}

/** The server refused every credential we had. */
export class AuthError extends FerryError {}

/** The server broke the protocol (e.g. sent more than asked for): reconnecting will not help. */
export class ProtocolError extends ConnectionError {}

/** The server's host key is unknown (and we may not ask) or does not match. */
export class HostKeyError extends FerryError {}

/** An operation on one file failed; the run goes on with the other files. */
export class FileError extends FerryError {
  readonly verb: string;
  readonly side: Side;
  readonly path: string;
  readonly reason: string;
  readonly code?: string | number;
  constructor(
    verb: string,
    side: Side,
    path: string,
    reason: string,
    options?: { cause?: unknown; hint?: string; code?: string | number },
  ) {
    super(`${verb} ${side} "${path}": ${reason}`, options);
    this.verb = verb;
    this.reason = reason;
    this.side = side;
    this.path = path;
    this.code = options?.code;
  }
}

/** The same failure, told about another path (e.g. the final name, not the partial one). */
export function renameFileError(err: unknown, from: string, to: string): unknown {
  if (err instanceof ConnectionError && err.message.includes(`"${from}"`)) {
    // Same class (a ProtocolError stays one: retrying depends on it), the user's name in the message.
    const Same = err.constructor as new (message: string, options?: { cause?: unknown; hint?: string }) => ConnectionError;
    return new Same(err.message.replace(`"${from}"`, `"${to}"`), { cause: err.cause, hint: err.hint });
  }
  if (!(err instanceof FileError) || err.path !== from) return err;
  return new FileError(err.verb, err.side, to, err.reason, { cause: err.cause, hint: err.hint, code: err.code });
}

/** The user pressed Ctrl-C (or the process got SIGTERM). */
export class InterruptedError extends FerryError {}

export function exitCodeFor(err: unknown): number {
  if (err instanceof UsageError) return ExitCode.usage;
  if (err instanceof AuthError || err instanceof HostKeyError) return ExitCode.auth;
  if (err instanceof ConnectionError) return ExitCode.connection;
  if (err instanceof InterruptedError) return ExitCode.interrupted;
  if (err instanceof FileError) return ExitCode.partial;
  return ExitCode.partial;
}

/** Errors worth a reconnect-and-retry: the link, not the file, failed. */
export function isRetryable(err: unknown): boolean {
  return err instanceof ConnectionError && !(err instanceof ProtocolError);
}

/** Connection, auth and host-key failures end the whole run; file errors do not. */
export function isFatal(err: unknown): boolean {
  return (
    err instanceof ConnectionError ||
    err instanceof AuthError ||
    err instanceof HostKeyError ||
    err instanceof InterruptedError ||
    err instanceof UsageError
  );
}
