// Runs the real OpenSSH ssh-keygen with HOME pointed at a test directory, so
// tests compare ferry's keys with what OpenSSH itself reads and prints.
import { execFile } from 'node:child_process';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import * as path from 'node:path';

export interface ToolResult {
  code: number;
  stdout: string;
  stderr: string;
}

export function sshKeygen(args: string[], home: string, input?: string): Promise<ToolResult> {
  return new Promise((resolve, reject) => {
    const child = execFile(
      'ssh-keygen',
      args,
      { env: { HOME: home, PATH: process.env.PATH ?? '/usr/bin:/bin' }, timeout: 60_000 },
      (err, stdout, stderr) => {
        const code = err ? (typeof err.code === 'number' ? err.code : -1) : 0;
        if (err && typeof err.code !== 'number') return reject(err);
        resolve({ code, stdout, stderr });
      },
    );
    // ssh-keygen may exit without reading stdin; EPIPE then is not a failure.
    child.stdin?.on('error', () => {});
    child.stdin?.end(input ?? '');
  });
}

/** ssh-keygen output that must succeed. */
export async function sshKeygenOk(args: string[], home: string, input?: string): Promise<string> {
  const r = await sshKeygen(args, home, input);
  if (r.code !== 0) throw new Error(`ssh-keygen ${args.join(' ')} exited ${r.code}: ${r.stderr}`);
  return r.stdout;
}

/** The "type base64" part of a public key line, without the comment. */
export function keyPart(line: string): string {
  return line.trim().split(/\s+/).slice(0, 2).join(' ');
}

export async function withTempDir<T>(prefix: string, fn: (dir: string) => Promise<T>): Promise<T> {
  const dir = await mkdtemp(path.join(tmpdir(), prefix));
  try {
    return await fn(dir);
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
}

export async function makeTempDir(prefix: string): Promise<string> {
  return mkdtemp(path.join(tmpdir(), prefix));
}

export interface SshKeygenKeySpec {
  type: 'ed25519' | 'ecdsa' | 'rsa';
  bits?: number;
  passphrase?: string;
  comment?: string;
  /** Extra ssh-keygen arguments, e.g. ['-m', 'PEM']. */
  extra?: string[];
}

/** A key pair made by OpenSSH itself in `dir`; returns the private key path. */
export async function makeOpensshKey(dir: string, name: string, spec: SshKeygenKeySpec): Promise<string> {
  const file = path.join(dir, name);
  const args = ['-q', '-t', spec.type, '-N', spec.passphrase ?? '', '-C', spec.comment ?? `${name}@test`, '-f', file];
  if (spec.bits) args.push('-b', String(spec.bits));
  await sshKeygenOk([...args, ...(spec.extra ?? [])], dir);
  return file;
}

/** Key types and sizes every suite covers; RSA kept to one size since it is slow. */
export const KEY_MATRIX = [
  { type: 'ed25519', bits: 256 },
  { type: 'ecdsa', bits: 256 },
  { type: 'ecdsa', bits: 384 },
  { type: 'ecdsa', bits: 521 },
  { type: 'rsa', bits: 2048 },
] as const;
