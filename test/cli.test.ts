// Start-up: `--version` and `--help` must cost little more than Node itself,
// so src/cli.ts loads only the option parser; ssh2, the engine and the
// progress display come with the command that needs them. Which modules load
// is checked (NODE_DEBUG=esm names each one), not the time, which a shared
// 2-core machine cannot measure reliably inside a test. And a closed stdout
// (a pipe to head) ends a run as SIGPIPE would, not with a stack trace.
import { spawn } from 'node:child_process';
import { mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import * as path from 'node:path';
import { describe, expect, it } from 'vitest';
import { ferryBin, repoRoot, runFerry } from './support/run-ferry.js';

const pkg = JSON.parse(readFileSync(path.join(repoRoot, 'package.json'), 'utf8')) as { version: string };
const HEAVY = /node_modules\/(ssh2|cli-progress|ssh-config)\/|dist\/(transfer|ssh|keys)\//;

describe('start-up', () => {
  for (const args of [['--version'], ['--help'], ['cp', '--help']]) {
    it(`ferry ${args.join(' ')} loads no ssh2, engine or ssh code`, async () => {
      const r = await runFerry(args, { env: { ...process.env, NODE_DEBUG: 'esm' } });
      expect(r.code).toBe(0);
      const loaded = [...r.stderr.matchAll(/file:\/\/\S+?\.m?js/g)].map((m) => m[0]);
      expect(loaded.some((u) => u.endsWith('/dist/cli.js')), r.stderr.slice(0, 500)).toBe(true);
      expect([...new Set(loaded.filter((u) => HEAVY.test(u)))]).toEqual([]);
      if (args[0] === '--version') expect(r.stdout).toBe(`${pkg.version}\n`);
    });
  }
});

describe('a reader that goes away', () => {
  it('ferry sync --json | head -1: exit 141 (as SIGPIPE), no stack trace, nothing half-written under a final name', async () => {
    const dir = mkdtempSync(path.join(tmpdir(), 'ferry-epipe-'));
    try {
      const src = path.join(dir, 'src');
      mkdirSync(src);
      for (let i = 0; i < 400; i++) writeFileSync(path.join(src, `f${i}.txt`), `file ${i}\n`);
      const child = spawn(process.execPath, [ferryBin, 'sync', '--json', src, path.join(dir, 'dst')], { cwd: dir, env: { ...process.env, FERRY_STATE_DIR: path.join(dir, 'state') } });
      let stderr = '';
      child.stderr.on('data', (d: Buffer) => (stderr += d.toString()));
      // Read the first line, then close the pipe, as head does.
      await new Promise<void>((resolve) => child.stdout.once('data', () => resolve()));
      child.stdout.destroy();
      const code = await new Promise<number | null>((resolve) => child.once('close', (c) => resolve(c)));
      expect(code, stderr).toBe(141);
      expect(stderr).not.toMatch(/EPIPE|at .*\.js/);
      const left = readdirSync(path.join(dir, 'dst')).filter((n) => !n.endsWith('.ferry-part'));
      for (const n of left) expect(readFileSync(path.join(dir, 'dst', n), 'utf8')).toBe(readFileSync(path.join(src, n), 'utf8'));
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
});
