#!/usr/bin/env node
// `prepare` (npm install in a clone, npm pack, install from a git URL): a clean
// build, so a tarball never ships a stale dist/ file whose source is gone.
// Plain Node so it runs wherever npm does; tsc is a devDependency, which npm
// installs before running `prepare` for a git dependency.
import { spawnSync } from 'node:child_process';
import { rmSync } from 'node:fs';
import { createRequire } from 'node:module';

rmSync(new URL('../dist', import.meta.url), { recursive: true, force: true });
const tsc = createRequire(import.meta.url).resolve('typescript/bin/tsc');
const r = spawnSync(process.execPath, [tsc, '-p', 'tsconfig.json'], { stdio: 'inherit', cwd: new URL('..', import.meta.url) });
process.exit(r.status ?? 1);
