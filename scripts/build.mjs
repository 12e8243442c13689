#!/usr/bin/env node
// `prepare` (npm install in a clone, npm pack, install from a git URL): a clean
// build, so a tarball never ships a stale dist/ file whose source is gone.
// Plain Node so it runs before anything is built.
import { spawnSync } from 'node:child_process';
import { rmSync } from 'node:fs';
import { createRequire } from 'node:module';
import { fileURLToPath } from 'node:url';

const root = fileURLToPath(new URL('..', import.meta.url));
let tsc;
try {
  tsc = createRequire(import.meta.url).resolve('typescript/bin/tsc');
} catch {
  // e.g. `npm install -g .` in a clone where `npm install` never ran: npm links
  // the clone and installs none of its dependencies.
  process.stderr.write('ferry build: TypeScript is missing: run `npm install` in this directory first (it installs the devDependencies), then retry\n');
  process.exit(1);
}
rmSync(new URL('../dist', import.meta.url), { recursive: true, force: true });
const r = spawnSync(process.execPath, [tsc, '-p', 'tsconfig.json'], { stdio: 'inherit', cwd: root });
process.exit(r.status ?? 1);
