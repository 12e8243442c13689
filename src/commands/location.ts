/**
 * scp's operand syntax: `path`, `[user@]host:path`, `host:`, `[::1]:path`,
 * `scp://[user@]host[:port][/path]`. A `:` after a `/` means a local path.
 */
import { UsageError } from '../errors.js';

export type Location =
  | { kind: 'local'; path: string; raw: string }
  | { kind: 'remote'; host: string; user?: string; port?: number; path: string; raw: string };

function parseUri(raw: string): Location {
  const m = /^scp:\/\/(?:([^@/]*)@)?(\[[^\]]*\]|[^:/]*)(?::(\d*))?(\/.*)?$/.exec(raw);
  if (!m || m[2] === '' || m[2] === '[]') {
    throw new UsageError(`bad URI "${raw}"`, { hint: 'write it as scp://[user@]host[:port][/path]' });
  }
  const port = m[3] ? Number(m[3]) : undefined;
  if (port !== undefined && (port < 1 || port > 65535)) throw new UsageError(`bad port in "${raw}"`);
  const user = m[1] ? decodeURIComponent(m[1]) : undefined;
  if (user !== undefined && user.includes(';')) {
    throw new UsageError(`"${raw}": connection parameters in scp URIs are not supported`);
  }
  // As in OpenSSH, the path after the host is relative to the remote home ("//abs" for absolute).
  const path = m[4] ? decodeURIComponent(m[4].slice(1)) : '';
  return { kind: 'remote', host: m[2].replace(/^\[|\]$/g, ''), user, port, path: path || '.', raw };
}

/** Where the host part ends (index of the ':'), or -1 for a local path. */
export function colonIndex(raw: string): number {
  if (raw.startsWith(':')) return -1;
  let inBrackets = false;
  for (let i = 0; i < raw.length; i++) {
    const c = raw[i];
    if (c === '[' && (i === 0 || raw[i - 1] === '@')) inBrackets = true;
    else if (c === ']' && inBrackets) inBrackets = false;
    else if (c === ':' && !inBrackets) return i;
    else if (c === '/') return -1;
  }
  return -1;
}

export function parseLocation(raw: string): Location {
  if (raw === '') throw new UsageError('empty path operand');
  if (raw.startsWith('scp://')) return parseUri(raw);
  const colon = colonIndex(raw);
  if (colon < 0) return { kind: 'local', path: raw, raw };
  const hostPart = raw.slice(0, colon);
  let path = raw.slice(colon + 1);
  const at = hostPart.lastIndexOf('@');
  const user = at >= 0 ? hostPart.slice(0, at) : undefined;
  let host = at >= 0 ? hostPart.slice(at + 1) : hostPart;
  if (host.startsWith('[') && host.endsWith(']')) host = host.slice(1, -1);
  if (host === '') throw new UsageError(`no host name in "${raw}"`);
  if (user === '') throw new UsageError(`empty user name in "${raw}"`);
  // `~/x` means home-relative; SFTP paths are already relative to the login directory.
  if (path === '~' || path === '') path = '.';
  else if (path.startsWith('~/')) path = path.slice(2) || '.';
  return { kind: 'remote', host, user, path, raw };
}

/** A key identifying one connection target, so sources on one host share it. */
export function hostKey(l: Extract<Location, { kind: 'remote' }>): string {
  return `${l.user ?? ''}@${l.host}:${l.port ?? ''}`;
}
