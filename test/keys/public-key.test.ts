import { describe, expect, it } from 'vitest';
import { generateKey } from '../../src/keys/generate.js';
import { formatPublicKey, formatPublicKeyFile, parsePublicKeyLine } from '../../src/keys/public-key.js';

const key = await generateKey('ed25519');
const b64 = key.publicBlob.toString('base64');

describe('public key lines', () => {
  it('formats like ssh-keygen: -y output drops an empty comment, the .pub file keeps the space', () => {
    expect(formatPublicKey(key.publicBlob, 'a@b')).toBe(`ssh-ed25519 ${b64} a@b\n`);
    expect(formatPublicKey(key.publicBlob, '')).toBe(`ssh-ed25519 ${b64}\n`);
    expect(formatPublicKeyFile(key.publicBlob, '')).toBe(`ssh-ed25519 ${b64} \n`);
  });

  it('reads .pub, authorized_keys and known_hosts lines', () => {
    expect(parsePublicKeyLine(`ssh-ed25519 ${b64} a@b\n`)).toEqual({ publicBlob: key.publicBlob, comment: 'a@b' });
    expect(parsePublicKeyLine(`  ssh-ed25519 ${b64}  two  words  `)!.comment).toBe('two  words  ');
    const opts = parsePublicKeyLine(`command="echo a b",no-pty ssh-ed25519 ${b64} c`);
    expect(opts).toEqual({ publicBlob: key.publicBlob, comment: 'c', prefix: 'command="echo a b",no-pty' });
    expect(parsePublicKeyLine(`host1,host2 ssh-ed25519 ${b64}`)).toMatchObject({ prefix: 'host1,host2', comment: '' });
    expect(parsePublicKeyLine(`host1 ssh-ed25519 ${b64}`, { bare: true })).toBeUndefined();
  });

  it('skips blank lines, comments and lines whose blob is not the named type', () => {
    expect(parsePublicKeyLine('')).toBeUndefined();
    expect(parsePublicKeyLine(`# ssh-ed25519 ${b64}`)).toBeUndefined();
    expect(parsePublicKeyLine(`ssh-rsa ${b64}`)).toBeUndefined();
    expect(parsePublicKeyLine(`ssh-ed25519 ${b64.slice(0, 20)}`)).toBeUndefined();
  });
});
