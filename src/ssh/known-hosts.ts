/**
 * known_hosts lookup and recording, in OpenSSH's format: plain and hashed
 * (`|1|salt|hmac`) host fields, `[host]:port`, comma lists, `*`/`?` and `!`
 * patterns, `@revoked` and `@cert-authority` markers.
 */
import { createHmac, randomBytes, timingSafeEqual } from 'node:crypto';
import { promises as fsp } from 'node:fs';
import { dirname } from 'node:path';
import { matchPatternList } from './match-pattern.js';

export interface KnownHostEntry {
  file: string;
  line: number;
  marker?: 'revoked' | 'cert-authority';
  hosts: string;
  keyType: string;
  keyBlob: Buffer;
}

export type HostKeyStatus =
  | { status: 'match'; entry: KnownHostEntry }
  | { status: 'revoked'; entry: KnownHostEntry }
  | { status: 'mismatch'; entry: KnownHostEntry }
  | { status: 'unknown'; otherTypes: KnownHostEntry[] };

/** The name a host is filed under: `host` on port 22, else `[host]:port`; lower-cased as OpenSSH does. */
export function hostKeyName(host: string, port: number): string {
  const h = host.toLowerCase();
  return port === 22 ? h : `[${h}]:${port}`;
}

export function parseKnownHosts(text: string, file: string): KnownHostEntry[] {
  const out: KnownHostEntry[] = [];
  text.split('\n').forEach((raw, i) => {
    const line = raw.trim();
    if (line === '' || line.startsWith('#')) return;
    const fields = line.split(/\s+/);
    let marker: KnownHostEntry['marker'];
    if (fields[0].startsWith('@')) {
      const m = fields.shift()!;
      if (m === '@revoked') marker = 'revoked';
      else if (m === '@cert-authority') marker = 'cert-authority';
      else return; // Unknown marker: OpenSSH ignores the line.
    }
    if (fields.length < 3) return;
    const [hosts, keyType, b64] = fields;
    const keyBlob = Buffer.from(b64, 'base64');
    if (keyBlob.length === 0) return;
    out.push({ file, line: i + 1, marker, hosts, keyType, keyBlob });
  });
  return out;
}

function hashedMatches(field: string, name: string): boolean {
  const parts = field.split('|');
  if (parts.length !== 4 || parts[1] !== '1') return false;
  const salt = Buffer.from(parts[2], 'base64');
  const want = Buffer.from(parts[3], 'base64');
  const got = createHmac('sha1', salt).update(name.toLowerCase()).digest();
  return want.length === got.length && timingSafeEqual(want, got);
}

/** Does a host field (comma list, maybe hashed, maybe negated) cover `name`? */
export function hostFieldMatches(field: string, name: string): boolean {
  if (field.startsWith('|')) return hashedMatches(field, name);
  return matchPatternList(name, field);
}

export async function readKnownHosts(files: string[]): Promise<KnownHostEntry[]> {
  const all: KnownHostEntry[] = [];
  for (const file of files) {
    let text: string;
    try {
      text = await fsp.readFile(file, 'utf8');
    } catch {
      continue; // A missing file knows no hosts.
    }
    all.push(...parseKnownHosts(text, file));
  }
  return all;
}

/** Decide what known_hosts says about this key for this host name. */
export function checkHostKey(entries: KnownHostEntry[], name: string, keyType: string, keyBlob: Buffer): HostKeyStatus {
  const forHost = entries.filter((e) => hostFieldMatches(e.hosts, name));
  const revoked = entries.find((e) => e.marker === 'revoked' && e.keyBlob.equals(keyBlob));
  if (revoked) return { status: 'revoked', entry: revoked };
  const plain = forHost.filter((e) => e.marker === undefined);
  const match = plain.find((e) => e.keyBlob.equals(keyBlob));
  if (match) return { status: 'match', entry: match };
  const sameType = plain.find((e) => e.keyType === keyType);
  if (sameType) return { status: 'mismatch', entry: sameType };
  return { status: 'unknown', otherTypes: plain };
}

/** @cert-authority lines covering this name: ferry cannot use them (no host certificates). */
export function certAuthoritiesFor(entries: KnownHostEntry[], name: string): KnownHostEntry[] {
  return entries.filter((e) => e.marker === 'cert-authority' && hostFieldMatches(e.hosts, name));
}

/** Key types on file for this name (plain entries only), to prefer those host key algorithms. */
export function knownKeyTypes(entries: KnownHostEntry[], name: string): string[] {
  const types: string[] = [];
  for (const e of entries) {
    if (e.marker === undefined && !types.includes(e.keyType) && hostFieldMatches(e.hosts, name)) types.push(e.keyType);
  }
  return types;
}

/** `|1|salt|hmac` for a name, as HashKnownHosts writes it. */
export function hashHostName(name: string): string {
  const salt = randomBytes(20);
  const hmac = createHmac('sha1', salt).update(name.toLowerCase()).digest();
  return `|1|${salt.toString('base64')}|${hmac.toString('base64')}`;
}

/**
 * Append one entry. The file is opened once in append mode and the whole line
 * (with a newline first if the old file lacked a trailing one) goes out in a
 * single write, so an interruption leaves no torn line and concurrent writers
 * do not interleave.
 */
export async function appendKnownHost(file: string, name: string, keyType: string, keyBlob: Buffer, hash: boolean): Promise<void> {
  await fsp.mkdir(dirname(file), { recursive: true, mode: 0o700 });
  const fh = await fsp.open(file, 'a+', 0o644);
  try {
    const { size } = await fh.stat();
    let prefix = '';
    if (size > 0) {
      const last = Buffer.alloc(1);
      await fh.read(last, 0, 1, size - 1);
      if (last[0] !== 0x0a) prefix = '\n';
    }
    const host = hash ? hashHostName(name) : name;
    await fh.write(`${prefix}${host} ${keyType} ${keyBlob.toString('base64')}\n`);
  } finally {
    await fh.close();
  }
}
