/**
 * Merging public keys into an authorized_keys file, as ssh-copy-id does. Pure:
 * text in, text out; reading and writing the file is the caller's business.
 */
import { formatPublicKey, parsePublicKeyLine } from './public-key.js';

export interface KeyToInstall {
  publicBlob: Buffer;
  comment: string;
}

/** The key blobs an authorized_keys file holds, whatever their options or comments. */
export function installedBlobs(file: Buffer | string): Set<string> {
  // latin1 maps every byte to one char: a stray non-UTF-8 comment cannot hide a key.
  const text = typeof file === 'string' ? file : file.toString('latin1');
  const blobs = new Set<string>();
  for (const line of text.split('\n')) {
    const key = parsePublicKeyLine(line);
    if (key) blobs.add(key.publicBlob.toString('base64'));
  }
  return blobs;
}

/**
 * The keys to append: those not in `existing` (all of them with `force`), each
 * once. The blob names the key type too, so equal blobs mean the same key.
 */
export function selectKeysToAdd<K extends KeyToInstall>(existing: Buffer | string, keys: readonly K[], force = false): K[] {
  const seen = force ? new Set<string>() : installedBlobs(existing);
  const add: K[] = [];
  for (const k of keys) {
    const id = k.publicBlob.toString('base64');
    if (seen.has(id)) continue;
    seen.add(id);
    add.push(k);
  }
  return add;
}

/**
 * The lines to append, `type base64 comment` each, newline-terminated. A line
 * break in a comment (an agent may hold anything there) would start a new
 * authorized_keys line, so it becomes a space.
 */
export function formatKeyLines(keys: readonly KeyToInstall[]): string {
  return keys.map((k) => formatPublicKey(k.publicBlob, k.comment.replace(/[\r\n]+/g, ' ').trim())).join('');
}

/** The new file: the old bytes untouched, a missing final newline supplied, then the keys. */
export function appendKeys(existing: Buffer, keys: readonly KeyToInstall[]): Buffer {
  if (keys.length === 0) return existing;
  const sep = existing.length === 0 || existing[existing.length - 1] === 0x0a ? '' : '\n';
  return Buffer.concat([existing, Buffer.from(sep + formatKeyLines(keys), 'utf8')]);
}
