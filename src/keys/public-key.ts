/** One-line public keys (`type base64 comment`), as in `.pub` and authorized_keys files. Pure. */
import { keyTypeOfBlob } from './fingerprint.js';
import { checkPublicBlob } from './key-types.js';

export interface PublicKeyLine {
  publicBlob: Buffer;
  /** Text after the key, leading blanks skipped (trailing ones kept, as OpenSSH does); '' if none. */
  comment: string;
  /** The authorized_keys options or known_hosts host names before the key, if any. */
  prefix?: string;
}

/** `type base64[ comment]`, as `ssh-keygen -y` prints it. */
export function formatPublicKey(publicBlob: Buffer, comment: string): string {
  const key = `${keyTypeOfBlob(publicBlob)} ${publicBlob.toString('base64')}`;
  return comment ? `${key} ${comment}\n` : `${key}\n`;
}

/** The `.pub` file ssh-keygen writes: the separating space is there even with no comment. */
export function formatPublicKeyFile(publicBlob: Buffer, comment: string): string {
  return `${keyTypeOfBlob(publicBlob)} ${publicBlob.toString('base64')} ${comment}\n`;
}

function parseAt(text: string): PublicKeyLine | undefined {
  const m = /^(\S+)[ \t]+([A-Za-z0-9+/]+={0,2})(?:[ \t]+(.*))?$/s.exec(text);
  if (!m) return undefined;
  const blob = Buffer.from(m[2]!, 'base64');
  if (keyTypeOfBlob(blob) !== m[1]) return undefined;
  try {
    checkPublicBlob(blob);
  } catch {
    return undefined;
  }
  return { publicBlob: blob, comment: m[3] ?? '' };
}

/** Length of a leading options (authorized_keys) or hostnames (known_hosts) field, quotes respected. */
function leadingFieldLength(text: string): number {
  let quoted = false;
  for (let i = 0; i < text.length; i++) {
    const ch = text[i];
    if (ch === '\\' && text[i + 1] === '"') i++;
    else if (ch === '"') quoted = !quoted;
    else if (!quoted && (ch === ' ' || ch === '\t')) return i;
  }
  return text.length;
}

/**
 * A key from one line of a `.pub`, authorized_keys or known_hosts file, or
 * undefined for blank lines, comments and lines holding no key we know.
 * With `bare`, only `type base64 [comment]` lines count (as in `.pub` files).
 */
export function parsePublicKeyLine(line: string, opts: { bare?: boolean } = {}): PublicKeyLine | undefined {
  const text = line.replace(/\r?\n?$/, '').replace(/^[ \t]+/, '');
  if (text === '' || text.startsWith('#')) return undefined;
  const direct = parseAt(text);
  if (direct || opts.bare) return direct;
  const skip = leadingFieldLength(text);
  if (skip >= text.length) return undefined;
  const key = parseAt(text.slice(skip + 1).replace(/^[ \t]+/, ''));
  return key && { ...key, prefix: text.slice(0, skip) };
}
