import { describe, expect, it } from 'vitest';
import { appendKeys, formatKeyLines, installedBlobs, selectKeysToAdd } from '../../src/keys/authorized-keys.js';
import { generateKey } from '../../src/keys/generate.js';

const a = await generateKey('ed25519');
const b = await generateKey('ecdsa');
const b64 = (blob: Buffer) => blob.toString('base64');
const keyA = { publicBlob: a.publicBlob, comment: 'a@host' };
const keyB = { publicBlob: b.publicBlob, comment: 'b@host' };

describe('authorized_keys merging', () => {
  it('finds keys whatever their options or comments, skipping comments and junk', () => {
    const text = [
      '# ssh-ed25519 ' + b64(a.publicBlob),
      'garbage line',
      `no-pty,command="echo a b" ${'ssh-ed25519'} ${b64(a.publicBlob)} someone else`,
      '',
    ].join('\n');
    expect([...installedBlobs(text)]).toEqual([b64(a.publicBlob)]);
    expect(selectKeysToAdd(text, [keyA, keyB])).toEqual([keyB]);
  });

  it('reads the file as bytes: a non-UTF-8 comment does not hide the key', () => {
    const file = Buffer.concat([Buffer.from(`ssh-ed25519 ${b64(a.publicBlob)} caf`), Buffer.from([0xe9, 0x0a])]);
    expect(selectKeysToAdd(file, [keyA])).toEqual([]);
  });

  it('adds each key once; with force even when already present', () => {
    const text = `ssh-ed25519 ${b64(a.publicBlob)} x\n`;
    expect(selectKeysToAdd(text, [keyA, keyA])).toEqual([]);
    expect(selectKeysToAdd(text, [keyA, keyA, keyB], true)).toEqual([keyA, keyB]);
    expect(selectKeysToAdd('', [keyB, { ...keyB, comment: 'other' }])).toEqual([keyB]);
  });

  it('keeps the old bytes, supplies a missing final newline, appends one line per key', () => {
    const line = `ssh-ed25519 ${b64(a.publicBlob)} a@host\n`;
    expect(appendKeys(Buffer.from('old'), [keyA]).toString()).toBe(`old\n${line}`);
    expect(appendKeys(Buffer.from('old\n'), [keyA]).toString()).toBe(`old\n${line}`);
    expect(appendKeys(Buffer.alloc(0), [keyA]).toString()).toBe(line);
    expect(appendKeys(Buffer.from('old'), []).toString()).toBe('old');
  });

  it('never lets a comment start a new authorized_keys line', () => {
    const evil = { publicBlob: a.publicBlob, comment: 'x\ncommand="sh" ssh-ed25519 AAAA\r\n' };
    expect(formatKeyLines([evil])).toBe(`ssh-ed25519 ${b64(a.publicBlob)} x command="sh" ssh-ed25519 AAAA\n`);
  });
});
