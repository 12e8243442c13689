// Start-up: `--version` and `--help` must cost little more than Node itself,
// so src/cli.ts loads only the option parser; ssh2, the engine and the
// progress display come with the command that needs them. Which modules load
// is checked (NODE_DEBUG=esm names each one), not the time, which a shared
// 2-core machine cannot measure reliably inside a test.
import { readFileSync } from 'node:fs';
import * as path from 'node:path';
import { describe, expect, it } from 'vitest';
import { repoRoot, runFerry } from './support/run-ferry.js';

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
