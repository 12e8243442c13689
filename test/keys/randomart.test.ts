import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { readFile, rm, writeFile } from 'node:fs/promises';
import * as path from 'node:path';
import { drawRandomart, randomartForKey } from '../../src/keys/randomart.js';
import { describeKey } from '../../src/keys/key-summary.js';
import { generateKey } from '../../src/keys/generate.js';
import { formatPublicKeyFile, parsePublicKeyLine } from '../../src/keys/public-key.js';
import { KEY_MATRIX, makeOpensshKey, makeTempDir, sshKeygenOk } from './ssh-keygen-cli.js';

let dir: string;
beforeAll(async () => {
  dir = await makeTempDir('ferry-randomart-');
});
afterAll(async () => {
  await rm(dir, { recursive: true, force: true });
});

async function blobOf(pubFile: string): Promise<Buffer> {
  return parsePublicKeyLine(await readFile(pubFile, 'utf8'))!.publicBlob;
}

/** `ssh-keygen -lv` output split into the summary line and the box. */
async function opensshLv(file: string, hash: 'sha256' | 'md5') {
  const out = await sshKeygenOk(['-l', '-v', '-E', hash, '-f', file], dir);
  const [summary, ...box] = out.replace(/\n$/, '').split('\n');
  return { summary: summary!, box: box.join('\n') };
}

describe('randomart', () => {
  for (const { type, bits } of KEY_MATRIX) {
    it(`matches ssh-keygen -lv for ${type} ${bits}, sha256 and md5`, async () => {
      const key = await makeOpensshKey(dir, `${type}-${bits}`, { type, bits });
      const blob = await blobOf(`${key}.pub`);
      for (const hash of ['sha256', 'md5'] as const) {
        const openssh = await opensshLv(`${key}.pub`, hash);
        expect(randomartForKey(blob, hash)).toBe(openssh.box);
        expect(describeKey(blob, `${type}-${bits}@test`, hash)).toBe(openssh.summary);
      }
    });
  }

  it('matches ssh-keygen -lv for 40 fresh keys (walks that hit every wall and corner)', async () => {
    const file = path.join(dir, 'many.pub');
    const blobs: Buffer[] = [];
    for (let i = 0; i < 40; i++) blobs.push((await generateKey(i % 4 === 0 ? 'ecdsa' : 'ed25519')).publicBlob);
    await writeFile(file, blobs.map((b, i) => formatPublicKeyFile(b, `k${i}`)).join(''));
    const out = await sshKeygenOk(['-l', '-v', '-f', file], dir);
    const expected = blobs.map((b, i) => `${describeKey(b, `k${i}`)}\n${randomartForKey(b)}\n`).join('');
    expect(out).toBe(expected);
  });

  it('draws the start S and end E, and stops counting at 14 visits', () => {
    // 0x00 moves up-left every step: the bishop piles into the top-left corner.
    const art = drawRandomart(Buffer.alloc(32), { typeLabel: 'ED25519', bits: 256, hashName: 'SHA256' });
    const rows = art.split('\n');
    expect(rows[0]).toBe('+--[ED25519 256]--+');
    expect(rows[10]).toBe('+----[SHA256]-----+');
    expect(rows[1]![1]).toBe('E');
    expect(rows[5]![9]).toBe('S');
    expect(rows).toHaveLength(11);
    expect(rows.every((r) => r.length === 19)).toBe(true);
  });

  it('falls back to [TYPE] when "[TYPE BITS]" does not fit the 17-column border', () => {
    const art = drawRandomart(Buffer.alloc(16), { typeLabel: 'ED25519-CERT', bits: 256, hashName: 'MD5' });
    expect(art.split('\n')[0]).toBe('+-[ED25519-CERT]--+');
    expect(art.split('\n')[10]).toBe('+------[MD5]------+');
  });
});
