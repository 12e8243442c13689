// More of known_hosts: names as OpenSSH files them (lower case, [host]:port),
// wildcard ports, CA lines, several keys per host, CRLF files, and appends that
// never tear or merge lines. ssh-keygen -F is the oracle for what we write.
import { execFile } from 'node:child_process';
import * as fs from 'node:fs/promises';
import * as os from 'node:os';
import * as path from 'node:path';
import { promisify } from 'node:util';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { keyBlob, publicKey } from '../support/cp-helpers.js';
import {
  appendKnownHost,
  certAuthoritiesFor,
  checkHostKey,
  hashHostName,
  hostFieldMatches,
  hostKeyName,
  knownKeyTypes,
  parseKnownHosts,
  readKnownHosts,
} from '../../src/ssh/known-hosts.js';

const execFileP = promisify(execFile);
let dir: string;
let keyA: [string, string];
let keyB: [string, string];

const keygen = (name: string) => publicKey(dir, name);
const blob = keyBlob;

beforeAll(async () => {
  dir = await fs.mkdtemp(path.join(os.tmpdir(), 'ferry-kh-match-'));
  [keyA, keyB] = await Promise.all([keygen('a'), keygen('b')]);
});
afterAll(async () => {
  await fs.rm(dir, { recursive: true, force: true });
});

describe('names', () => {
  it('are lower-cased, so hashed entries match whatever case was typed', () => {
    expect(hostKeyName('Web.Example', 22)).toBe('web.example');
    expect(hostKeyName('Web.Example', 2222)).toBe('[web.example]:2222');
    expect(hostFieldMatches(hashHostName('web.example'), 'WEB.example')).toBe(true);
  });

  it('[host]:port patterns may use wildcards, and ! excludes', () => {
    expect(hostFieldMatches('[*.example]:*', '[a.example]:2222')).toBe(true);
    expect(hostFieldMatches('[*.example]:*', 'a.example')).toBe(false);
    expect(hostFieldMatches('[10.0.0.?]:22??,![10.0.0.9]:*', '[10.0.0.1]:2200')).toBe(true);
    expect(hostFieldMatches('[10.0.0.?]:22??,![10.0.0.9]:*', '[10.0.0.9]:2200')).toBe(false);
  });

  it('hashed entries made by ssh-keygen -H for a [host]:port name match only that port', async () => {
    const file = `${dir}/hashed-port`;
    await fs.writeFile(file, `[h.example]:2200 ${keyA.join(' ')}\n`);
    await execFileP('ssh-keygen', ['-H', '-f', file]);
    const [e] = parseKnownHosts(await fs.readFile(file, 'utf8'), file);
    expect(hostFieldMatches(e.hosts, '[h.example]:2200')).toBe(true);
    expect(hostFieldMatches(e.hosts, '[h.example]:2201')).toBe(false);
    expect(hostFieldMatches(e.hosts, 'h.example')).toBe(false);
  });
});

describe('lookups', () => {
  const text = () => [
    `h1,h2 ${keyA.join(' ')}`,
    `h1 ${keyB.join(' ')}`,
    `@cert-authority *.ca.example ${keyB.join(' ')}`,
    `@revoked nothing-matches ${keyB.join(' ')}`,
  ].join('\r\n');

  it('several keys for one host: each matches; CRLF line ends are fine', () => {
    const entries = parseKnownHosts(text(), 'kh');
    expect(entries).toHaveLength(4);
    expect(checkHostKey(entries.slice(0, 2), 'h1', keyA[0], blob(keyA))).toMatchObject({ status: 'match', entry: { line: 1 } });
    expect(checkHostKey(entries.slice(0, 2), 'h1', keyB[0], blob(keyB))).toMatchObject({ status: 'match', entry: { line: 2 } });
    expect(checkHostKey(entries.slice(0, 2), 'h2', keyB[0], blob(keyB))).toMatchObject({ status: 'mismatch', entry: { line: 1 } });
  });

  it('@revoked applies to the key wherever it is filed', () => {
    const entries = parseKnownHosts(text(), 'kh');
    expect(checkHostKey(entries, 'h1', keyB[0], blob(keyB))).toMatchObject({ status: 'revoked', entry: { line: 4 } });
  });

  it('CA lines are found by name, and are never plain keys', () => {
    const entries = parseKnownHosts(text(), 'kh');
    expect(certAuthoritiesFor(entries, 'www.ca.example').map((e) => e.line)).toEqual([3]);
    expect(certAuthoritiesFor(entries, 'h1')).toEqual([]);
    expect(knownKeyTypes(entries, 'www.ca.example')).toEqual([]);
    expect(knownKeyTypes(entries, 'h1')).toEqual(['ssh-ed25519']);
  });
});

describe('appendKnownHost', () => {
  it('fixes a missing trailing newline, and ssh-keygen -F finds both entries', async () => {
    const file = `${dir}/append-no-newline`;
    await fs.writeFile(file, `old.example ${keyA.join(' ')}`);
    await appendKnownHost(file, '[new.example]:2222', keyB[0], blob(keyB), true);
    const lines = (await fs.readFile(file, 'utf8')).split('\n');
    expect(lines).toHaveLength(3);
    expect(lines[2]).toBe('');
    expect((await execFileP('ssh-keygen', ['-F', 'old.example', '-f', file])).stdout).toContain(keyA[1]);
    expect((await execFileP('ssh-keygen', ['-F', '[new.example]:2222', '-f', file])).stdout).toContain(keyB[1]);
  });

  it('many concurrent appends leave whole, separate lines', async () => {
    const file = `${dir}/append-concurrent`;
    await Promise.all(Array.from({ length: 40 }, (_, i) => appendKnownHost(file, `host${i}`, keyA[0], blob(keyA), i % 2 === 0)));
    const entries = await readKnownHosts([file]);
    expect(entries).toHaveLength(40);
    for (let i = 0; i < 40; i++) expect(checkHostKey(entries, `host${i}`, keyA[0], blob(keyA)).status).toBe('match');
  });
});
