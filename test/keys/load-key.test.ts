import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { readFile, rename, rm, writeFile } from 'node:fs/promises';
import * as path from 'node:path';
import { describeKey } from '../../src/keys/key-summary.js';
import { loadKeysForFingerprint, parsePrivateKeyText, privateKeyNeedsPassphrase } from '../../src/keys/load-key.js';
import { KeyFormatError, PassphraseRequiredError, WrongPassphraseError } from '../../src/keys/openssh-format.js';
import { formatPublicKey } from '../../src/keys/public-key.js';
import { makeOpensshKey, makeTempDir, sshKeygen, sshKeygenOk } from './ssh-keygen-cli.js';

let dir: string;
beforeAll(async () => {
  dir = await makeTempDir('ferry-load-key-');
});
afterAll(async () => {
  await rm(dir, { recursive: true, force: true });
});

/** ferry's `-l` lines for `file` next to ssh-keygen's. */
async function bothFingerprints(file: string) {
  const ours = (await loadKeysForFingerprint(file)).map((k) => `${describeKey(k.publicBlob, k.comment)}\n`).join('');
  return { ours, openssh: await sshKeygenOk(['-l', '-f', file], dir) };
}

describe('loadKeysForFingerprint, as ssh-keygen -l reads files', () => {
  it('a private key next to its .pub: the comment comes from the .pub', async () => {
    const file = await makeOpensshKey(dir, 'with-pub', { type: 'ed25519', comment: 'in both' });
    const pub = await readFile(`${file}.pub`, 'utf8');
    await writeFile(`${file}.pub`, pub.replace('in both', 'only in pub'));
    const { ours, openssh } = await bothFingerprints(file);
    expect(ours).toBe(openssh);
    expect(ours).toMatch(/ only in pub \(ED25519\)\n$/);
  });

  it('a private key alone: comment from the key; encrypted: "no comment"', async () => {
    const plain = await makeOpensshKey(dir, 'alone', { type: 'ecdsa', bits: 384 });
    const enc = await makeOpensshKey(dir, 'alone-enc', { type: 'ed25519', passphrase: 'pw' });
    await rm(`${plain}.pub`);
    await rm(`${enc}.pub`);
    for (const file of [plain, enc]) {
      const { ours, openssh } = await bothFingerprints(file);
      expect(ours).toBe(openssh);
    }
    expect((await bothFingerprints(enc)).ours).toMatch(/ no comment \(ED25519\)/);
  });

  it('an empty comment: the .pub file name stands in; alone, an empty comment is printed', async () => {
    const file = await makeOpensshKey(dir, 'no-comment', { type: 'ed25519', comment: '' });
    expect((await bothFingerprints(file)).ours).toBe((await bothFingerprints(file)).openssh);
    await rename(`${file}.pub`, `${file}.pub.away`);
    const { ours, openssh } = await bothFingerprints(file);
    expect(ours).toBe(openssh);
  });

  it('a .pub file, and authorized_keys / known_hosts files with several keys', async () => {
    const a = await makeOpensshKey(dir, 'ak-a', { type: 'ed25519' });
    const b = await makeOpensshKey(dir, 'ak-b', { type: 'rsa', bits: 2048 });
    const lineA = (await readFile(`${a}.pub`, 'utf8')).trim();
    const lineB = (await readFile(`${b}.pub`, 'utf8')).trim();
    const keyB = lineB.split(' ').slice(0, 2).join(' ');
    const ak = path.join(dir, 'authorized_keys');
    await writeFile(ak, `# a comment\n\ncommand="echo a b",no-pty ${lineA}\n${lineB}  spaced  comment \nhost1,host2 ${keyB}\n`);
    for (const file of [`${a}.pub`, ak]) {
      const { ours, openssh } = await bothFingerprints(file);
      expect(ours).toBe(openssh);
    }
  });

  it('old PEM keys, through ssh2', async () => {
    const file = await makeOpensshKey(dir, 'pem', { type: 'rsa', bits: 2048, extra: ['-m', 'PEM'] });
    expect((await readFile(file, 'utf8')).startsWith('-----BEGIN RSA PRIVATE KEY-----')).toBe(true);
    const { ours, openssh } = await bothFingerprints(file);
    expect(ours).toBe(openssh);

    // Encrypted PEM keeps no public key in the clear: without its .pub there is nothing to show.
    const enc = await makeOpensshKey(dir, 'pem-enc', { type: 'rsa', bits: 2048, passphrase: 'pem-pass', extra: ['-m', 'PEM'] });
    expect((await bothFingerprints(enc)).ours).toBe((await bothFingerprints(enc)).openssh);
    await rm(`${enc}.pub`);
    await expect(loadKeysForFingerprint(enc)).rejects.toThrow(KeyFormatError);
    expect((await sshKeygen(['-l', '-f', enc], dir)).stderr).toMatch(/is not a key file/);
  });
});

describe('parsePrivateKeyText', () => {
  it('opens OpenSSH and PEM keys, encrypted or not', async () => {
    for (const extra of [[], ['-m', 'PEM']]) {
      const file = await makeOpensshKey(dir, `open-${extra.length}`, { type: 'ecdsa', bits: 256, passphrase: 'secret', extra });
      const text = await readFile(file, 'utf8');
      expect(privateKeyNeedsPassphrase(text)).toBe(true);
      expect(() => parsePrivateKeyText(text)).toThrow(PassphraseRequiredError);
      expect(() => parsePrivateKeyText(text, 'wrong')).toThrow(WrongPassphraseError);
      const key = parsePrivateKeyText(text, 'secret');
      const expected = await sshKeygenOk(['-y', '-P', 'secret', '-f', file], dir);
      expect(formatPublicKey(key.publicBlob, key.comment)).toBe(expected);
    }
  });
});
