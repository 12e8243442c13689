/**
 * The `openssh-key-v1` private key format (PROTOCOL.key in OpenSSH), written
 * the way ssh-keygen writes it: unencrypted, or bcrypt KDF (16 rounds, 16-byte
 * salt) with aes256-ctr. Reads the CTR and CBC AES ciphers. Pure: no files.
 */
import { createCipheriv, createDecipheriv, randomBytes } from 'node:crypto';
import { createRequire } from 'node:module';
import { readPrivateKeyFields } from './key-types.js';
import { encodeString, encodeUint32, WireFormatError, WireReader } from './ssh-wire.js';

const MAGIC = Buffer.from('openssh-key-v1\0', 'latin1');
const BEGIN = '-----BEGIN OPENSSH PRIVATE KEY-----';
const END = '-----END OPENSSH PRIVATE KEY-----';
/** ssh-keygen's defaults (sshkey.c): DEFAULT_CIPHERNAME, DEFAULT_ROUNDS, SALT_LEN. */
const DEFAULT_CIPHER = 'aes256-ctr';
export const DEFAULT_KDF_ROUNDS = 16;
const SALT_LEN = 16;
const LINE_LEN = 70;

interface CipherInfo {
  node: string;
  keyLen: number;
  ivLen: number;
  blockSize: number;
}
const CIPHERS: Record<string, CipherInfo> = {
  none: { node: '', keyLen: 0, ivLen: 0, blockSize: 8 },
  'aes128-ctr': { node: 'aes-128-ctr', keyLen: 16, ivLen: 16, blockSize: 16 },
  'aes192-ctr': { node: 'aes-192-ctr', keyLen: 24, ivLen: 16, blockSize: 16 },
  'aes256-ctr': { node: 'aes-256-ctr', keyLen: 32, ivLen: 16, blockSize: 16 },
  'aes128-cbc': { node: 'aes-128-cbc', keyLen: 16, ivLen: 16, blockSize: 16 },
  'aes192-cbc': { node: 'aes-192-cbc', keyLen: 24, ivLen: 16, blockSize: 16 },
  'aes256-cbc': { node: 'aes-256-cbc', keyLen: 32, ivLen: 16, blockSize: 16 },
};

/** Not an OpenSSH private key, or a damaged one. */
export class KeyFormatError extends Error {}
/** The key is encrypted and no passphrase was given. */
export class PassphraseRequiredError extends Error {}
/** The passphrase does not decrypt the key. */
export class WrongPassphraseError extends Error {}

export interface PrivateKeyContents {
  publicBlob: Buffer;
  /** Type name and private fields, exactly as in the private section. */
  privateFields: Buffer;
  comment: string;
}

export interface PrivateKeyHeader {
  cipherName: string;
  kdfName: string;
  encrypted: boolean;
  publicBlob: Buffer;
}

/** Loaded when a key is encrypted: every other run (an agent, a plain key) skips its start-up cost. */
type BcryptPbkdf = { pbkdf(pass: Buffer, passLen: number, salt: Buffer, saltLen: number, key: Buffer, keyLen: number, rounds: number): number };
let bcrypt: BcryptPbkdf | undefined;

function deriveKeyAndIv(passphrase: Buffer, salt: Buffer, rounds: number, cipher: CipherInfo) {
  const out = Buffer.alloc(cipher.keyLen + cipher.ivLen);
  bcrypt ??= createRequire(import.meta.url)('bcrypt-pbkdf') as BcryptPbkdf;
  if (bcrypt.pbkdf(passphrase, passphrase.length, salt, salt.length, out, out.length, rounds) !== 0) {
    throw new KeyFormatError('bcrypt_pbkdf failed');
  }
  return { key: out.subarray(0, cipher.keyLen), iv: out.subarray(cipher.keyLen) };
}

function crypt(decrypt: boolean, cipher: CipherInfo, key: Buffer, iv: Buffer, data: Buffer): Buffer {
  const c = decrypt ? createDecipheriv(cipher.node, key, iv) : createCipheriv(cipher.node, key, iv);
  c.setAutoPadding(false);
  return Buffer.concat([c.update(data), c.final()]);
}

function armor(data: Buffer): string {
  const b64 = data.toString('base64');
  const lines: string[] = [];
  for (let i = 0; i < b64.length; i += LINE_LEN) lines.push(b64.slice(i, i + LINE_LEN));
  return `${BEGIN}\n${lines.join('\n')}\n${END}\n`;
}

function dearmor(text: string): Buffer {
  const begin = text.indexOf(BEGIN);
  const end = text.indexOf(END, begin);
  if (begin < 0 || end < 0) throw new KeyFormatError('not an OpenSSH private key');
  const body = text.slice(begin + BEGIN.length, end).replace(/\s+/g, '');
  if (!/^[A-Za-z0-9+/]*={0,2}$/.test(body)) throw new KeyFormatError('invalid base64 in private key');
  return Buffer.from(body, 'base64');
}

export function isOpenSshPrivateKey(text: string): boolean {
  return text.includes(BEGIN);
}

/** The private key file text for `key`; an empty or missing passphrase means unencrypted. */
export function encodePrivateKey(key: PrivateKeyContents, opts: { passphrase?: string | Buffer; rounds?: number } = {}): string {
  const passphrase = typeof opts.passphrase === 'string' ? Buffer.from(opts.passphrase, 'utf8') : opts.passphrase;
  const encrypted = passphrase !== undefined && passphrase.length > 0;
  const cipherName = encrypted ? DEFAULT_CIPHER : 'none';
  const cipher = CIPHERS[cipherName]!;
  const rounds = opts.rounds ?? DEFAULT_KDF_ROUNDS;
  const salt = encrypted ? randomBytes(SALT_LEN) : Buffer.alloc(0);
  const kdfOptions = encrypted ? Buffer.concat([encodeString(salt), encodeUint32(rounds)]) : Buffer.alloc(0);

  const check = randomBytes(4);
  const parts = [check, check, key.privateFields, encodeString(key.comment)];
  let plain: Buffer = Buffer.concat(parts);
  const padLen = (cipher.blockSize - (plain.length % cipher.blockSize)) % cipher.blockSize;
  plain = Buffer.concat([plain, Buffer.from(Array.from({ length: padLen }, (_, i) => i + 1))]);

  let secret: Buffer = plain;
  if (encrypted) {
    const { key: k, iv } = deriveKeyAndIv(passphrase, salt, rounds, cipher);
    secret = crypt(false, cipher, k, iv, plain);
  }
  return armor(
    Buffer.concat([
      MAGIC,
      encodeString(cipherName),
      encodeString(encrypted ? 'bcrypt' : 'none'),
      encodeString(kdfOptions),
      encodeUint32(1),
      encodeString(key.publicBlob),
      encodeString(secret),
    ]),
  );
}

interface ParsedContainer extends PrivateKeyHeader {
  kdfOptions: Buffer;
  secret: Buffer;
}

function parseContainer(text: string): ParsedContainer {
  const data = dearmor(text);
  if (data.length < MAGIC.length || !data.subarray(0, MAGIC.length).equals(MAGIC)) {
    throw new KeyFormatError('not an openssh-key-v1 private key');
  }
  try {
    const r = new WireReader(data.subarray(MAGIC.length));
    const cipherName = r.text();
    const kdfName = r.text();
    const kdfOptions = r.string();
    const count = r.uint32();
    if (count !== 1) throw new KeyFormatError(`file holds ${count} keys; only one is supported`);
    const publicBlob = r.string();
    const secret = r.string();
    if (!CIPHERS[cipherName]) throw new KeyFormatError(`unsupported cipher ${cipherName}`);
    if (kdfName !== 'none' && kdfName !== 'bcrypt') throw new KeyFormatError(`unsupported KDF ${kdfName}`);
    if ((cipherName === 'none') !== (kdfName === 'none')) throw new KeyFormatError('cipher and KDF disagree');
    return { cipherName, kdfName, kdfOptions, publicBlob, secret, encrypted: cipherName !== 'none' };
  } catch (err) {
    if (err instanceof WireFormatError) throw new KeyFormatError(`truncated private key (${err.message})`);
    throw err;
  }
}

/** What can be read without the passphrase: cipher, KDF and the public key. */
export function readPrivateKeyHeader(text: string): PrivateKeyHeader {
  const { cipherName, kdfName, encrypted, publicBlob } = parseContainer(text);
  return { cipherName, kdfName, encrypted, publicBlob };
}

function decryptSecret(c: ParsedContainer, passphrase: Buffer | undefined): Buffer {
  if (!c.encrypted) return c.secret;
  if (passphrase === undefined || passphrase.length === 0) throw new PassphraseRequiredError('the key is encrypted');
  const cipher = CIPHERS[c.cipherName]!;
  const opts = new WireReader(c.kdfOptions);
  const salt = opts.string();
  const rounds = opts.uint32();
  if (c.secret.length % cipher.blockSize !== 0) throw new KeyFormatError('encrypted section is not whole blocks');
  const { key, iv } = deriveKeyAndIv(passphrase, salt, rounds, cipher);
  return crypt(true, cipher, key, iv, c.secret);
}

/** Decrypts (when needed) and checks the whole key: check words, public key match, padding. */
export function decodePrivateKey(text: string, passphrase?: string | Buffer): PrivateKeyContents {
  const c = parseContainer(text);
  const pass = typeof passphrase === 'string' ? Buffer.from(passphrase, 'utf8') : passphrase;
  let plain: Buffer;
  try {
    plain = decryptSecret(c, pass);
  } catch (err) {
    if (err instanceof WireFormatError) throw new KeyFormatError(`bad KDF options (${err.message})`);
    throw err;
  }
  const r = new WireReader(plain);
  try {
    if (r.uint32() !== r.uint32()) {
      if (c.encrypted) throw new WrongPassphraseError('incorrect passphrase supplied to decrypt private key');
      throw new KeyFormatError('corrupt private key (check words differ)');
    }
    const { privateFields, publicBlob } = readPrivateKeyFields(r);
    const comment = r.text();
    const padding = r.rest();
    if (padding.length >= CIPHERS[c.cipherName]!.blockSize || padding.some((b, i) => b !== i + 1)) {
      throw new KeyFormatError('corrupt private key (bad padding)');
    }
    if (!publicBlob.equals(c.publicBlob)) throw new KeyFormatError('public and private parts of the key do not match');
    return { publicBlob, privateFields, comment };
  } catch (err) {
    if (err instanceof WireFormatError) throw new KeyFormatError(`corrupt private key (${err.message})`);
    throw err;
  }
}
