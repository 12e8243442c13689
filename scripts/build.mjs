#!/usr/bin/env node
// `prepare` (npm install in a clone, npm pack, install from a git URL): a clean
// build, so a tarball never ships a stale dist/ file whose source is gone.
// Plain Node so it runs before anything is built.
import { spawnSync } from 'node:child_process';
import { rmSync } from 'node:fs';
import { createRequire } from 'node:module';
import { fileURLToPath } from 'node:url';

const root = fileURLToPath(new URL('..', import.meta.url));
const say = (line) => process.stderr.write(`ferry build: ${line}\n`);
const findTsc = () => {
  try {
    return createRequire(import.meta.url).resolve('typescript/bin/tsc');
  } catch {
    return undefined;
  }
};

let tsc = findTsc();
if (!tsc && process.env.npm_config_global === 'true' && process.env.npm_execpath) {
  // `npm install -g <git URL>`: npm clones, then runs `npm install` there to put
  // the devDependencies in place for this script, but hands that child its own
  // --global, so nothing is installed (npm/cli#8440; fixed in pacote by passing
  // --global=false). Do what the fix does, once.
  say('npm install -g from git left the build tools out (npm/cli#8440); installing them here');
  const r = spawnSync(process.execPath, [process.env.npm_execpath, 'install', '--global=false', '--include=dev',
    '--no-save', '--no-audit', '--no-fund', '--ignore-scripts'], { stdio: ['ignore', 2, 2], cwd: root });
  if (r.status !== 0) process.exit(r.status ?? 1);
  tsc = findTsc();
}
if (!tsc) {
  say('TypeScript is missing: run `npm install` in this directory first (it installs the devDependencies), then retry');
  process.exit(1);
}
rmSync(new URL('../dist', import.meta.url), { recursive: true, force: true });
const r = spawnSync(process.execPath, [tsc, '-p', 'tsconfig.json'], { stdio: 'inherit', cwd: root });
process.exit(r.status ?? 1);
