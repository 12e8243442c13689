import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { rm, writeFile } from 'node:fs/promises';
import * as path from 'node:path';
import { describeBadBits, generateKey } from '../../src/keys/generate.js';
import { keyBits } from '../../src/keys/key-types.js';
import { describeKey } from '../../src/keys/key-summary.js';
import { encodePrivateKey } from '../../src/keys/openssh-format.js';
import { formatPublicKey, formatPublicKeyFile } from '../../src/keys/public-key.js';
import { KEY_MATRIX, makeTempDir, sshKeygenOk } from './ssh-keygen-cli.js';

let dir: string;
beforeAll(async () => {
  dir = await makeTempDir('ferry-generate-');
});
afterAll(async () => {
  await rm(dir, { recursive: true, force: true });
});

describe('generateKey', () => {
  for (const { type, bits } of KEY_MATRIX) {
    it(`makes a ${type} ${bits} key OpenSSH reads, fingerprints and signs with`, async () => {
      const key = await generateKey(type, bits);
      expect(keyBits(key.publicBlob)).toBe(bits);
      const file = path.join(dir, `${type}-${bits}`);
      await writeFile(file, encodePrivateKey({ ...key, comment: 'gen@test' }), { mode: 0o600 });

      // No .pub next to it: ssh-keygen derives everything from the private key.
      expect(await sshKeygenOk(['-y', '-f', file], dir)).toBe(formatPublicKey(key.publicBlob, 'gen@test'));
      expect(await sshKeygenOk(['-l', '-f', file], dir)).toBe(`${describeKey(key.publicBlob, 'gen@test')}\n`);

      // A signature made with the private key verifies against the public key:
      // the private fields (RSA CRT values, EC scalar, ed25519 seed) are right.
      await writeFile(`${file}.pub`, formatPublicKeyFile(key.publicBlob, 'gen@test'));
      const msg = path.join(dir, 'msg');
      await writeFile(msg, 'signed by ferry\n');
      await sshKeygenOk(['-Y', 'sign', '-f', file, '-n', 'file', msg], dir);
      const verify = await sshKeygenOk(['-Y', 'check-novalidate', '-n', 'file', '-f', `${file}.pub`, '-s', `${msg}.sig`], dir, 'signed by ferry\n');
      expect(verify).toMatch(/^Good "file" signature/);
      await rm(path.join(dir, 'msg.sig'));
    });
  }

  it('makes a different key every time', async () => {
    const a = await generateKey('ed25519');
    const b = await generateKey('ed25519');
    expect(a.publicBlob.equals(b.publicBlob)).toBe(false);
  });

  it('knows which sizes each type allows', () => {
    expect(describeBadBits('rsa', 1024)).toMatch(/2048/);
    expect(describeBadBits('rsa', 2048)).toBeUndefined();
    expect(describeBadBits('rsa', 3072)).toBeUndefined();
    expect(describeBadBits('ecdsa', 256)).toBeUndefined();
    expect(describeBadBits('ecdsa', 512)).toMatch(/256, 384 or 521/);
    expect(describeBadBits('ed25519', 1)).toBeUndefined();
  });
});
