// The checks every hostile-catalog case repeats: output free of raw control
// bytes, a canary directory beside the target left alone, nothing at a final
// name unless it is complete, byte-identical copies.
import { createHash } from 'node:crypto';
import * as fs from 'node:fs/promises';
import * as path from 'node:path';
import { expect } from 'vitest';
import { sha256File } from './sshd.js';

export { sha256File };

export function sha256(buf: Buffer | string): string {
  return createHash('sha256').update(buf).digest('hex');
}

/**
 * No byte a terminal would act on: C0 controls other than tab and newline
 * (so ESC, BEL, a bare CR), DEL, and C1 controls (U+009B is a one-byte CSI).
 */
export function expectNoControlBytes(text: string, what = 'output'): void {
  const bad = /[\x00-\x08\x0b-\x1f\x7f\u0080-\u009f]/u.exec(text.replace(/\r\n/g, '\n'));
  expect(bad, `${what} holds a raw control character ${JSON.stringify(bad?.[0])} at ${bad?.index}: ${JSON.stringify(text)}`).toBeNull();
}

/** Both streams of a ferry run. */
export function expectCleanOutput(r: { stdout: string; stderr: string }): void {
  expectNoControlBytes(r.stdout, 'stdout');
  expectNoControlBytes(r.stderr, 'stderr');
}

export interface Canary {
  dir: string;
  /** Fails if anything in the canary directory changed (names, bytes, modes, mtimes). */
  check(): Promise<void>;
}

async function snapshot(dir: string): Promise<string[]> {
  const out: string[] = [];
  const st = await fs.lstat(dir);
  out.push(`. ${st.mode.toString(8)} ${st.mtimeMs}`);
  for (const name of (await fs.readdir(dir)).sort()) {
    const p = path.join(dir, name);
    const s = await fs.lstat(p);
    out.push(`${name} ${s.mode.toString(8)} ${s.size} ${s.mtimeMs} ${s.isFile() ? sha256(await fs.readFile(p)) : ''}`);
  }
  return out;
}

/** A directory beside `target` holding a file, to prove the run wrote nowhere else. */
export async function makeCanary(target: string): Promise<Canary> {
  const dir = path.join(path.dirname(target), `canary-${path.basename(target)}`);
  await fs.mkdir(dir, { recursive: true });
  await fs.writeFile(path.join(dir, 'canary.txt'), 'canary\n');
  await fs.chmod(dir, 0o750);
  const before = await snapshot(dir);
  return {
    dir,
    async check() {
      expect(await snapshot(dir), `canary ${dir} changed`).toEqual(before);
    },
  };
}

export async function exists(p: string): Promise<boolean> {
  return fs.lstat(p).then(() => true, () => false);
}

/** Nothing at `final` (or, if `digest` is given and something is there, exactly those bytes). */
export async function expectNoFinal(final: string): Promise<void> {
  expect(await exists(final), `${final} exists, but the copy did not complete`).toBe(false);
}

export async function expectIdentical(copy: string, digest: string): Promise<void> {
  expect(await exists(copy), `${copy} is missing`).toBe(true);
  expect(await sha256File(copy), `${copy} differs from its source`).toBe(digest);
}

/** `.NAME.ferry-part` beside a final path. */
export function partialOf(final: string): string {
  return path.join(path.dirname(final), `.${path.basename(final)}.ferry-part`);
}

type Event = Record<string, unknown> & { event: string };

/** --json output as objects (throws on a line that is not JSON). */
export function jsonEvents(stdout: string): Event[] {
  return stdout.split('\n').filter((l) => l.trim() !== '').map((l) => JSON.parse(l) as Event);
}

export const ofType = (evs: Event[], type: string): Event[] => evs.filter((e) => e.event === type);

/** Bytes sent by a --json run: the sum of its file events. */
export function bytesSent(stdout: string): number {
  return ofType(jsonEvents(stdout), 'file').reduce((n, e) => n + Number(e.bytes ?? 0), 0);
}

/** Partial-file journals in a state dir. */
export async function journalCount(stateDir: string): Promise<number> {
  const names = await fs.readdir(path.join(stateDir, 'partials')).catch(() => [] as string[]);
  return names.filter((n) => n.endsWith('.json')).length;
}

export const MiB = 1024 * 1024;
