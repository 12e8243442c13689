import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { readFile, rm, writeFile } from 'node:fs/promises';
import * as path from 'node:path';
import {
  decodePrivateKey,
  encodePrivateKey,
  KeyFormatError,
  PassphraseRequiredError,
  readPrivateKeyHeader,
  WrongPassphraseError,
} from '../../src/keys/openssh-format.js';
import { formatPublicKey, parsePublicKeyLine } from '../../src/keys/public-key.js';
import { WireReader } from '../../src/keys/ssh-wire.js';
import { KEY_MATRIX, makeOpensshKey, makeTempDir, sshKeygen, sshKeygenOk } from './ssh-keygen-cli.js';

let dir: string;
beforeAll(async () => {
  dir = await makeTempDir('ferry-openssh-format-');
});
afterAll(async () => {
  await rm(dir, { recursive: true, force: true });
});

function body(text: string): Buffer {
  return Buffer.from(text.replace(/-----[A-Z ]+-----/g, '').replace(/\s+/g, ''), 'base64');
}

/** Splits a key file into everything before the private section, its check words, and the rest. */
function sections(text: string) {
  const data = body(text);
  const r = new WireReader(data.subarray(15));
  r.text();
  r.text();
  r.string();
  r.uint32();
  r.string();
  const secretStart = 15 + r.offset + 4;
  return {
    head: data.subarray(0, secretStart),
    check: data.subarray(secretStart, secretStart + 8),
    rest: data.subarray(secretStart + 8),
  };
}

describe('openssh-key-v1', () => {
  for (const { type, bits } of KEY_MATRIX) {
    it(`reads ssh-keygen's ${type} ${bits} key and writes the same bytes back (check words aside)`, async () => {
      const file = await makeOpensshKey(dir, `plain-${type}-${bits}`, { type, bits, comment: 'alice@example' });
      const text = await readFile(file, 'utf8');
      const key = decodePrivateKey(text);
      expect(key.comment).toBe('alice@example');
      expect(key.publicBlob.equals(parsePublicKeyLine(await readFile(`${file}.pub`, 'utf8'))!.publicBlob)).toBe(true);

      const ours = encodePrivateKey(key);
      const a = sections(ours);
      const b = sections(text);
      expect(a.head.equals(b.head)).toBe(true);
      expect(a.rest.equals(b.rest)).toBe(true);
      expect(a.check.subarray(0, 4).equals(a.check.subarray(4))).toBe(true);
      // Same armour: 70-column base64 lines between the BEGIN and END lines.
      expect(ours.split('\n').map((l) => l.length)).toEqual(text.split('\n').map((l) => l.length));
    });
  }

  it("reads ssh-keygen's encrypted keys, and tells a missing from a wrong passphrase", async () => {
    const file = await makeOpensshKey(dir, 'enc-ed25519', { type: 'ed25519', passphrase: 'correct horse' });
    const text = await readFile(file, 'utf8');
    const header = readPrivateKeyHeader(text);
    expect(header).toMatchObject({ encrypted: true, cipherName: 'aes256-ctr', kdfName: 'bcrypt' });
    expect(() => decodePrivateKey(text)).toThrow(PassphraseRequiredError);
    expect(() => decodePrivateKey(text, 'wrong')).toThrow(WrongPassphraseError);
    const key = decodePrivateKey(text, 'correct horse');
    expect(key.publicBlob.equals(header.publicBlob)).toBe(true);
    expect(key.comment).toBe('enc-ed25519@test');
  });

  for (const { type, bits } of [KEY_MATRIX[0], KEY_MATRIX[3], KEY_MATRIX[4]]) {
    it(`encrypts ${type} ${bits} as ssh-keygen does (bcrypt, 16 rounds, 16-byte salt, aes256-ctr) and OpenSSH opens it`, async () => {
      const source = decodePrivateKey(await readFile(await makeOpensshKey(dir, `src-${type}-${bits}`, { type, bits }), 'utf8'));
      const text = encodePrivateKey({ ...source, comment: 'enc@ferry' }, { passphrase: 'pass phrase' });
      const file = path.join(dir, `ours-enc-${type}-${bits}`);
      await writeFile(file, text, { mode: 0o600 });

      const data = body(text);
      const r = new WireReader(data.subarray(15));
      expect(r.text()).toBe('aes256-ctr');
      expect(r.text()).toBe('bcrypt');
      const kdf = new WireReader(r.string());
      expect(kdf.string()).toHaveLength(16);
      expect(kdf.uint32()).toBe(16);
      expect(r.uint32()).toBe(1);

      const pub = await sshKeygenOk(['-y', '-P', 'pass phrase', '-f', file], dir);
      expect(pub).toBe(formatPublicKey(source.publicBlob, 'enc@ferry'));
      const wrong = await sshKeygen(['-y', '-P', 'nope', '-f', file], dir);
      expect(wrong.code).not.toBe(0);
      expect(wrong.stderr).toMatch(/incorrect passphrase/);
      expect(decodePrivateKey(text, 'pass phrase').privateFields.equals(source.privateFields)).toBe(true);
    });
  }

  it('an empty passphrase writes an unencrypted key, as ssh-keygen -N "" does', async () => {
    const source = decodePrivateKey(await readFile(await makeOpensshKey(dir, 'empty-pass', { type: 'ed25519' }), 'utf8'));
    expect(readPrivateKeyHeader(encodePrivateKey(source, { passphrase: '' })).encrypted).toBe(false);
  });

  it('rejects damaged files instead of returning a wrong key', async () => {
    const text = await readFile(await makeOpensshKey(dir, 'damage', { type: 'ed25519' }), 'utf8');
    const data = body(text);
    const rearmour = (d: Buffer) => `-----BEGIN OPENSSH PRIVATE KEY-----\n${d.toString('base64')}\n-----END OPENSSH PRIVATE KEY-----\n`;

    expect(() => decodePrivateKey('not a key')).toThrow(KeyFormatError);
    expect(() => decodePrivateKey(rearmour(data.subarray(0, data.length - 20)))).toThrow(KeyFormatError);

    const badCheck = Buffer.from(data);
    badCheck[sections(text).head.length] ^= 1;
    expect(() => decodePrivateKey(rearmour(badCheck))).toThrow(/check words/);

    const badPadding = Buffer.from(data);
    badPadding[badPadding.length - 1] ^= 0x40;
    expect(() => decodePrivateKey(rearmour(badPadding))).toThrow(/padding/);

    // The public key in the header must be the private key's.
    const other = body(await readFile(await makeOpensshKey(dir, 'damage-other', { type: 'ed25519' }), 'utf8'));
    const swapped = Buffer.concat([other.subarray(0, sections(text).head.length - 4), data.subarray(sections(text).head.length - 4)]);
    expect(() => decodePrivateKey(rearmour(swapped))).toThrow(/do not match/);
  });
});
