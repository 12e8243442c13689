// Runs the built CLI the way users do (a separate node process, no TTY) so
// tests cover argument parsing, exit codes and stdout/stderr separation.
import { spawn } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import * as path from 'node:path';
import { withLogins } from './budget.js';

export const repoRoot = fileURLToPath(new URL('../../', import.meta.url));
export const ferryBin = path.join(repoRoot, 'bin', 'ferry');

export interface RunFerryOptions {
  env: NodeJS.ProcessEnv;
  cwd?: string;
  /** Written to stdin, which is then closed; stdin is always a pipe. */
  input?: string | Buffer;
  /**
   * What the run's own work should take (default 30 s, for a loaded 2-core
   * machine); the login cost of the sessions it may open is added (budget.ts).
   * On expiry ferry is SIGKILLed and code is null.
   */
  timeoutMs?: number;
}

export interface RunFerryResult {
  code: number | null;
  stdout: string;
  stderr: string;
}

export function runFerry(args: string[], opts: RunFerryOptions): Promise<RunFerryResult> {
  const timeoutMs = withLogins(opts.timeoutMs ?? 30_000);
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, [ferryBin, ...args], {
      env: opts.env,
      cwd: opts.cwd ?? repoRoot,
      stdio: ['pipe', 'pipe', 'pipe'],
    });
    const out: Buffer[] = [];
    const err: Buffer[] = [];
    let timedOut = false;
    const timer = setTimeout(() => {
      timedOut = true;
      child.kill('SIGKILL');
    }, timeoutMs);
    child.stdout.on('data', (d: Buffer) => out.push(d));
    child.stderr.on('data', (d: Buffer) => err.push(d));
    // ferry may exit without reading stdin; EPIPE here is not a test failure.
    child.stdin.on('error', () => {});
    child.stdin.end(opts.input ?? '');
    child.on('error', (e) => {
      clearTimeout(timer);
      reject(e);
    });
    child.on('close', (code) => {
      clearTimeout(timer);
      let stderr = Buffer.concat(err).toString('utf8');
      if (timedOut) stderr += `\n[runFerry] killed after ${timeoutMs} ms timeout\n`;
      resolve({ code, stdout: Buffer.concat(out).toString('utf8'), stderr });
    });
  });
}
