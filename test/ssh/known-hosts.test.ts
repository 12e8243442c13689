// known_hosts in OpenSSH's format. ssh-keygen (-H to hash, -F to look up)
// serves as the oracle, so ferry and OpenSSH must read each other's files.
import { execFile } from 'node:child_process';
import * as fs from 'node:fs/promises';
import * as os from 'node:os';
import * as path from 'node:path';
import { promisify } from 'node:util';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { keyBlob, publicKey } from '../support/cp-helpers.js';
import {
  appendKnownHost,
  checkHostKey,
  hashHostName,
  hostFieldMatches,
  hostKeyName,
  parseKnownHosts,
  readKnownHosts,
} from '../../src/ssh/known-hosts.js';

const execFileP = promisify(execFile);

let dir: string;
/** Two real ed25519 public keys and an ecdsa one: [type, base64]. */
let keyA: [string, string];
let keyB: [string, string];
let keyEc: [string, string];

const keygen = (name: string, type: string) => publicKey(dir, name, type);
const blob = keyBlob;

beforeAll(async () => {
  dir = await fs.mkdtemp(path.join(os.tmpdir(), 'ferry-known-hosts-'));
  [keyA, keyB, keyEc] = await Promise.all([keygen('a', 'ed25519'), keygen('b', 'ed25519'), keygen('ec', 'ecdsa')]);
});
afterAll(async () => {
  await fs.rm(dir, { recursive: true, force: true });
});

describe('hostKeyName', () => {
  it('files port 22 under the bare name and other ports as [host]:port', () => {
    expect(hostKeyName('example.com', 22)).toBe('example.com');
    expect(hostKeyName('127.0.0.1', 2222)).toBe('[127.0.0.1]:2222');
    expect(hostKeyName('::1', 2222)).toBe('[::1]:2222');
  });
});

describe('parseKnownHosts', () => {
  it('reads entries with line numbers; skips comments, blanks, short lines and unknown markers', () => {
    const text = [
      '# comment',
      '',
      `host1,host2 ${keyA.join(' ')} comment here`,
      'short line',
      `@revoked * ${keyB.join(' ')}`,
      `@cert-authority *.example.com ${keyEc.join(' ')}`,
      `@bogus host3 ${keyA.join(' ')}`,
      `   [127.0.0.1]:2222   ${keyB.join(' ')}`,
    ].join('\n');
    const entries = parseKnownHosts(text, 'f');
    expect(entries.map((e) => [e.line, e.marker, e.hosts, e.keyType])).toEqual([
      [3, undefined, 'host1,host2', 'ssh-ed25519'],
      [5, 'revoked', '*', 'ssh-ed25519'],
      [6, 'cert-authority', '*.example.com', keyEc[0]],
      [8, undefined, '[127.0.0.1]:2222', 'ssh-ed25519'],
    ]);
    expect(entries[0].keyBlob.equals(blob(keyA))).toBe(true);
    expect(entries.every((e) => e.file === 'f')).toBe(true);
  });
});

describe('hostFieldMatches', () => {
  it.each<[string, string, boolean]>([
    ['example.com', 'example.com', true],
    ['Example.COM', 'example.com', true],
    ['a,example.com,b', 'example.com', true],
    ['example.co', 'example.com', false],
    ['*.example.com', 'www.example.com', true],
    ['*.example.com', 'example.com', false],
    ['host?', 'host1', true],
    ['host?', 'host12', false],
    ['!bad.example.com,*.example.com', 'bad.example.com', false],
    ['!bad.example.com,*.example.com', 'ok.example.com', true],
    ['[127.0.0.1]:2222', '[127.0.0.1]:2222', true],
    ['[127.0.0.1]:2222', '127.0.0.1', false],
    ['[127.0.0.1]:2222', '[127.0.0.1]:2223', false],
    ['127.0.0.1', '[127.0.0.1]:2222', false],
    ['a.b', 'axb', false],
  ])('%j covers %j: %s', (field, name, want) => {
    expect(hostFieldMatches(field, name)).toBe(want);
  });

  it('matches our own hashed names, and only those', () => {
    const h = hashHostName('[127.0.0.1]:2222');
    expect(h).toMatch(/^\|1\|[^|]+\|[^|]+$/);
    expect(hostFieldMatches(h, '[127.0.0.1]:2222')).toBe(true);
    expect(hostFieldMatches(h, '127.0.0.1')).toBe(false);
    expect(hashHostName('x')).not.toBe(hashHostName('x')); // salted
  });

  it('matches names hashed by ssh-keygen -H', async () => {
    const file = `${dir}/to-hash`;
    await fs.writeFile(file, `[::1]:2200 ${keyA.join(' ')}\nplain.example ${keyB.join(' ')}\n`);
    await execFileP('ssh-keygen', ['-H', '-f', file]);
    const entries = parseKnownHosts(await fs.readFile(file, 'utf8'), file);
    expect(entries).toHaveLength(2);
    expect(entries.every((e) => e.hosts.startsWith('|1|'))).toBe(true);
    expect(hostFieldMatches(entries[0].hosts, '[::1]:2200')).toBe(true);
    expect(hostFieldMatches(entries[1].hosts, 'plain.example')).toBe(true);
    expect(hostFieldMatches(entries[1].hosts, '[::1]:2200')).toBe(false);
  });
});

describe('checkHostKey', () => {
  const name = '[127.0.0.1]:2222';
  const entries = () =>
    parseKnownHosts(
      [
        `${name} ${keyA.join(' ')}`,
        `other ${keyB.join(' ')}`,
        `@cert-authority * ${keyB.join(' ')}`,
      ].join('\n'),
      'kh',
    );

  it('match: the key on file for this name', () => {
    expect(checkHostKey(entries(), name, keyA[0], blob(keyA))).toMatchObject({ status: 'match', entry: { line: 1 } });
  });

  it('mismatch: another key of the same type on file for this name', () => {
    expect(checkHostKey(entries(), name, keyB[0], blob(keyB))).toMatchObject({ status: 'mismatch', entry: { line: 1, file: 'kh' } });
  });

  it('unknown: nothing on file for this name, or only other key types', () => {
    expect(checkHostKey(entries(), 'newhost', keyA[0], blob(keyA))).toEqual({ status: 'unknown', otherTypes: [] });
    const r = checkHostKey(entries(), name, keyEc[0], blob(keyEc));
    expect(r.status).toBe('unknown');
    expect(r.status === 'unknown' && r.otherTypes.map((e) => e.line)).toEqual([1]);
  });

  it('a @cert-authority line is not a plain host key', () => {
    expect(checkHostKey(entries(), 'any', keyB[0], blob(keyB)).status).toBe('unknown');
  });

  it('revoked wins over a match', () => {
    const e = parseKnownHosts(`${name} ${keyA.join(' ')}\n@revoked * ${keyA.join(' ')}\n`, 'kh');
    expect(checkHostKey(e, name, keyA[0], blob(keyA))).toMatchObject({ status: 'revoked', entry: { line: 2 } });
  });
});

describe('readKnownHosts and appendKnownHost', () => {
  it('reads several files, skipping missing ones', async () => {
    const f1 = `${dir}/kh1`;
    const f2 = `${dir}/kh2`;
    await fs.writeFile(f1, `h1 ${keyA.join(' ')}\n`);
    await fs.writeFile(f2, `h2 ${keyB.join(' ')}\n`);
    const all = await readKnownHosts([f1, `${dir}/missing`, f2]);
    expect(all.map((e) => [e.file, e.hosts])).toEqual([
      [f1, 'h1'],
      [f2, 'h2'],
    ]);
  });

  it('creates the file (and its directory) and appends lines ssh-keygen -F finds', async () => {
    const file = `${dir}/new/.ssh/known_hosts`;
    await appendKnownHost(file, '[127.0.0.1]:2222', keyA[0], blob(keyA), false);
    await appendKnownHost(file, 'hashed.example', keyB[0], blob(keyB), true);
    const text = await fs.readFile(file, 'utf8');
    expect(text).toBe(`[127.0.0.1]:2222 ${keyA.join(' ')}\n${text.split('\n')[1]}\n`);
    expect(text.split('\n')[1]).toMatch(/^\|1\|/);
    const found = async (n: string) => (await execFileP('ssh-keygen', ['-F', n, '-f', file])).stdout;
    expect(await found('[127.0.0.1]:2222')).toContain(keyA[1]);
    expect(await found('hashed.example')).toContain(keyB[1]);
    expect(checkHostKey(await readKnownHosts([file]), 'hashed.example', keyB[0], blob(keyB)).status).toBe('match');
  });

  it('starts a new line when the file does not end with one', async () => {
    const file = `${dir}/no-newline`;
    await fs.writeFile(file, `h1 ${keyA.join(' ')}`);
    await appendKnownHost(file, 'h2', keyB[0], blob(keyB), false);
    expect(await fs.readFile(file, 'utf8')).toBe(`h1 ${keyA.join(' ')}\nh2 ${keyB.join(' ')}\n`);
  });
});
