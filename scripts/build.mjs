#!/usr/bin/env node
// `prepare` (npm install in a clone, npm pack, install from a git URL): a clean
// build, so a tarball never ships a stale dist/ file whose source is gone.
// Plain Node so it runs before anything is built.
import { spawnSync } from 'node:child_process';
import { lstatSync, mkdirSync, realpathSync, rmSync, unlinkSync } from 'node:fs';
import { join } from 'node:path';
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
// `npm install -g <git URL>`: npm clones, then runs `npm install` there to put
// the devDependencies in place for this script, but hands that child its own
// --global (npm/cli#8440, fixed in pacote by passing --global=false), so
// nothing is installed. Then we install the build tools ourselves, and remove
// them after the build: npm packs this directory and installs the tarball
// where the child just linked it, and a node_modules/ left here would pass
// for the installed dependencies.
const gitGlobal = !tsc && process.env.npm_config_global === 'true' && Boolean(process.env.npm_execpath);
if (gitGlobal) {
  say('npm install -g from git left the build tools out (npm/cli#8440); installing them for the build');
  const env = Object.fromEntries(Object.entries(process.env).filter(([k]) => !/^npm_config_(global|prefix|location)$/i.test(k)));
  const r = spawnSync(process.execPath, [process.env.npm_execpath, 'install', '--global=false', '--include=dev',
    '--no-save', '--no-audit', '--no-fund', '--ignore-scripts', '--no-package-lock'], { stdio: ['ignore', 2, 2], cwd: root, env });
  if (r.status !== 0) process.exit(r.status ?? 1);
  tsc = findTsc();
}
if (!tsc) {
  say('TypeScript is missing: run `npm install` in this directory first (it installs the devDependencies), then retry');
  process.exit(1);
}
rmSync(new URL('../dist', import.meta.url), { recursive: true, force: true });
const r = spawnSync(process.execPath, [tsc, '-p', 'tsconfig.json'], { stdio: 'inherit', cwd: root });
if (gitGlobal) {
  rmSync(new URL('../node_modules', import.meta.url), { recursive: true, force: true });
  unlinkGlobalLinkToHere();
}
process.exit(r.status ?? 1);

/**
 * The same bug makes that child link this temporary clone into the global
 * prefix, at the very path where npm then installs the packed tarball, so the
 * install lands in a directory that is deleted moments later (spawn ENOENT).
 * Remove the link, and only if it points here.
 */
function unlinkGlobalLinkToHere() {
  const prefix = process.env.npm_config_prefix;
  const name = process.env.npm_package_name;
  if (!prefix || !name) return;
  for (const link of [join(prefix, 'lib', 'node_modules', name), join(prefix, 'node_modules', name)]) {
    try {
      if (lstatSync(link).isSymbolicLink() && realpathSync(link) === realpathSync(root)) {
        unlinkSync(link);
        mkdirSync(link); // npm extracts the tarball here next, and expects a directory
      }
    } catch {}
  }
}
