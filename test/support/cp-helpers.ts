// Small helpers shared by the `ferry cp` CLI suites: temp dirs, tree listings
// and leftover checks. Everything here inspects the real filesystem.
import { execFile } from 'node:child_process';
import * as fs from 'node:fs/promises';
import * as os from 'node:os';
import * as path from 'node:path';
import { promisify } from 'node:util';
import { runFerry, type RunFerryOptions, type RunFerryResult } from './run-ferry.js';
import type { Sshd } from './sshd.js';

const execFileP = promisify(execFile);

export function makeTempDir(prefix: string): Promise<string> {
  return fs.mkdtemp(path.join(os.tmpdir(), `ferry-${prefix}-`));
}

/** `ferry cp -P <port> ...args` as the sshd's test user, with its HOME. */
export function cpVia(sd: Sshd) {
  return (args: string[], o: Partial<RunFerryOptions> = {}): Promise<RunFerryResult> =>
    runFerry(['cp', '-P', String(sd.port), ...args], { env: sd.env, ...o });
}

/** Every path under `dir`, relative, sorted; directories end in "/". */
export async function listTree(dir: string): Promise<string[]> {
  const out: string[] = [];
  const walk = async (rel: string) => {
    for (const e of await fs.readdir(path.join(dir, rel), { withFileTypes: true })) {
      const p = rel ? `${rel}/${e.name}` : e.name;
      if (e.isDirectory()) {
        out.push(`${p}/`);
        await walk(p);
      } else {
        out.push(p);
      }
    }
  };
  await walk('');
  return out.sort();
}

/** Paths under the given dirs (recursively) whose last component satisfies `test`. */
export async function findNames(dirs: string[], test: (name: string) => boolean): Promise<string[]> {
  const hits: string[] = [];
  for (const d of dirs) {
    for (const p of await listTree(d).catch(() => [] as string[])) {
      if (test(path.basename(p))) hits.push(path.join(d, p));
    }
  }
  return hits;
}

/** Leftover partial files (`.name.ferry-part`) anywhere under the dirs. */
export function findPartials(...dirs: string[]): Promise<string[]> {
  return findNames(dirs, (n) => n.includes('ferry-part'));
}

/** A fresh ed25519 key pair; returns the private key path and the public line. */
export async function makeKey(dir: string, name: string, type = 'ed25519'): Promise<{ key: string; pub: string }> {
  const key = path.join(dir, name);
  await execFileP('ssh-keygen', ['-q', '-t', type, '-N', '', '-C', name, '-f', key]);
  return { key, pub: (await fs.readFile(`${key}.pub`, 'utf8')).trim() };
}

/** A fresh ssh-keygen key's public half as [type, base64], and its blob. */
export async function publicKey(dir: string, name: string, type = 'ed25519'): Promise<[string, string]> {
  const [t, b64] = (await makeKey(dir, name, type)).pub.split(/\s+/);
  return [t, b64];
}
export const keyBlob = (k: [string, string]): Buffer => Buffer.from(k[1], 'base64');

/** The known_hosts line pinning this sshd's host key under `[host]:port`. */
export function knownHostsLine(sd: Sshd): string {
  const [type, b64] = sd.hostKeyPub.split(/\s+/);
  return `[${sd.host}]:${sd.port} ${type} ${b64}`;
}

/** Does OpenSSH's own ssh-keygen find `name` in this known_hosts file (hashed or not)? */
export async function knownHostsHas(file: string, name: string): Promise<string> {
  const r = await execFileP('ssh-keygen', ['-F', name, '-f', file]).catch((e: { stdout?: string }) => ({ stdout: e.stdout ?? '' }));
  return r.stdout;
}

export async function mtimeSec(p: string): Promise<number> {
  return Math.floor((await fs.stat(p)).mtimeMs / 1000);
}

export async function modeOf(p: string): Promise<number> {
  return (await fs.stat(p)).mode & 0o7777;
}

export async function exists(p: string): Promise<boolean> {
  return fs.lstat(p).then(
    () => true,
    () => false,
  );
}
