/**
 * Reading key files the way ssh-keygen does for -l, -y and -p. OpenSSH-format
 * private keys go through our own parser; older PEM keys through ssh2's.
 */
import { readFile } from 'node:fs/promises';
import ssh2 from 'ssh2';
import {
  decodePrivateKey,
  isOpenSshPrivateKey,
  KeyFormatError,
  PassphraseRequiredError,
  readPrivateKeyHeader,
  WrongPassphraseError,
} from './openssh-format.js';
import { parsePublicKeyLine } from './public-key.js';

export interface LoadedPrivateKey {
  publicBlob: Buffer;
  comment: string;
  /** Set for `openssh-key-v1` files: the fields needed to write the key again. */
  privateFields?: Buffer;
}

function looksPrivate(text: string): boolean {
  const first = text.split('\n').find((l) => l.trim() !== '') ?? '';
  return first.includes('PRIVATE KEY');
}

/** Whether reading the private key needs a passphrase (before asking for one). */
export function privateKeyNeedsPassphrase(text: string): boolean {
  if (isOpenSshPrivateKey(text)) return readPrivateKeyHeader(text).encrypted;
  return /Proc-Type:\s*4,ENCRYPTED|BEGIN ENCRYPTED PRIVATE KEY/.test(text);
}

function parsePemKey(text: string, passphrase?: string): LoadedPrivateKey {
  let parsed: ReturnType<typeof ssh2.utils.parseKey>;
  try {
    parsed = ssh2.utils.parseKey(text, passphrase);
  } catch (err) {
    // OpenSSL throws on a wrong passphrase for PEM keys.
    throw new WrongPassphraseError(`incorrect passphrase supplied to decrypt private key (${(err as Error).message})`);
  }
  if (parsed instanceof Error) {
    if (/no passphrase given/i.test(parsed.message)) throw new PassphraseRequiredError('the key is encrypted');
    if (/decrypt|passphrase/i.test(parsed.message)) throw new WrongPassphraseError('incorrect passphrase supplied to decrypt private key');
    throw new KeyFormatError(parsed.message);
  }
  const key = Array.isArray(parsed) ? parsed[0] : parsed;
  if (!key || !key.isPrivateKey()) throw new KeyFormatError('not a private key');
  return { publicBlob: key.getPublicSSH(), comment: key.comment ?? '' };
}

/** Decodes a private key file's text; an encrypted key needs `passphrase`. */
export function parsePrivateKeyText(text: string, passphrase?: string): LoadedPrivateKey {
  if (isOpenSshPrivateKey(text)) return decodePrivateKey(text, passphrase);
  if (!looksPrivate(text)) throw new KeyFormatError('not a private key file');
  return parsePemKey(text, passphrase);
}

async function readOptional(file: string): Promise<string | undefined> {
  try {
    return await readFile(file, 'utf8');
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') return undefined;
    throw err;
  }
}

/** One key to fingerprint; `comment` undefined prints as "no comment". */
export interface KeyToFingerprint {
  publicBlob: Buffer;
  comment?: string;
}

/**
 * The key(s) `ssh-keygen -l -f file` reports: for a private key, its public key
 * (from `file.pub` when present, as ssh-keygen prefers) and comment; for a
 * public key, authorized_keys or known_hosts file, every key line, with the
 * options or host names standing in for a missing comment.
 */
export async function loadKeysForFingerprint(file: string): Promise<KeyToFingerprint[]> {
  const text = await readFile(file, 'utf8');
  if (looksPrivate(text)) return [await fingerprintPrivate(file, text)];
  const keys: KeyToFingerprint[] = [];
  for (const line of text.split('\n')) {
    const key = parsePublicKeyLine(line);
    if (!key) continue;
    const comment = key.comment !== '' && !key.comment.startsWith('#') ? key.comment : key.prefix;
    keys.push({ publicBlob: key.publicBlob, comment });
  }
  if (keys.length === 0) throw new KeyFormatError('not a public key file');
  return keys;
}

async function fingerprintPrivate(file: string, text: string): Promise<KeyToFingerprint> {
  const pubFile = `${file}.pub`;
  const fromPub = (await readOptional(pubFile))?.split('\n').map((l) => parsePublicKeyLine(l, { bare: true })).find(Boolean);
  // ssh-keygen names the .pub file when its key line has no comment.
  let comment = fromPub ? fromPub.comment || pubFile : undefined;
  let publicBlob = fromPub?.publicBlob;
  if (publicBlob === undefined && isOpenSshPrivateKey(text)) publicBlob = readPrivateKeyHeader(text).publicBlob;
  if (publicBlob === undefined || comment === undefined) {
    // Like ssh-keygen, try the private key without a passphrase for the comment.
    try {
      const priv = parsePrivateKeyText(text);
      publicBlob ??= priv.publicBlob;
      comment = priv.comment;
    } catch (err) {
      if (publicBlob !== undefined) return { publicBlob, comment };
      // An encrypted PEM key keeps no public key in the clear.
      if (err instanceof PassphraseRequiredError) throw new KeyFormatError('encrypted PEM key without a .pub: no public key to read');
      throw err;
    }
  }
  return { publicBlob, comment };
}
