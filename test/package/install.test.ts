// ferry installs like a CLI: `npm pack` builds and packs only what a user
// needs, and the tarball installed with `npm install -g` puts a working
// `ferry` on PATH. Packed from a copy of the sources, so `prepare`'s clean
// build never removes the dist/ that other test files are running.
import { execFile } from 'node:child_process';
import { cp, mkdir, mkdtemp, readFile, readdir, rm, symlink, writeFile } from 'node:fs/promises';
import { realpathSync } from 'node:fs';
import { homedir, tmpdir } from 'node:os';
import * as path from 'node:path';
import { promisify } from 'node:util';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { repoRoot } from '../support/run-ferry.js';

const execFileP = promisify(execFile);
const SHIPPED_SOURCES = ['bin', 'src', 'scripts', 'package.json', 'tsconfig.json', 'README.md', 'LICENSE'];

let work: string;
let prefix: string;
let env: NodeJS.ProcessEnv;
let tarball: string;
const pkg = JSON.parse(await readFile(path.join(repoRoot, 'package.json'), 'utf8')) as { version: string };

beforeAll(async () => {
  work = await mkdtemp(path.join(tmpdir(), 'ferry-pack-'));
  prefix = path.join(work, 'prefix');
  // npm run by `npm test` exports its own settings as npm_* variables; the
  // nested npm must see only what a user's shell has.
  const realHome = process.env.HOME ?? homedir();
  env = Object.fromEntries(Object.entries(process.env).filter(([k]) => !/^npm_/i.test(k)));
  // The user's npm settings (a registry mirror, a proxy) and cache, read; the
  // home, npm's logs and everything installed stay in the temp directory.
  env.HOME = work;
  env.npm_config_userconfig = process.env.npm_config_userconfig ?? path.join(realHome, '.npmrc');
  env.npm_config_cache = process.env.npm_config_cache ?? path.join(realHome, '.npm');
  env.npm_config_logs_dir = path.join(work, 'npm-logs');
  env.npm_config_update_notifier = 'false';

  const src = path.join(work, 'src-copy');
  await mkdir(src);
  for (const p of SHIPPED_SOURCES) await cp(path.join(repoRoot, p), path.join(src, p), { recursive: true });
  await symlink(realpathSync(path.join(repoRoot, 'node_modules')), path.join(src, 'node_modules'));
  const packed = await execFileP('npm', ['pack', '--json', '--pack-destination', work], { cwd: src, env, maxBuffer: 16 << 20 });
  tarball = path.join(work, (JSON.parse(packed.stdout) as { filename: string }[])[0].filename);
  // --prefer-offline: the dependencies are in npm's cache after `npm install`;
  // --ignore-scripts: the dependencies' optional native builds (ssh2's crypto
  // binding, cpu-features) are no part of ferry's packaging and take a compiler.
  await execFileP('npm', ['install', '-g', '--prefix', prefix, '--prefer-offline', '--no-audit', '--no-fund', '--ignore-scripts', tarball], { cwd: work, env });
}, 120_000);

afterAll(async () => {
  if (work) await rm(work, { recursive: true, force: true });
});

describe('npm pack, then npm install -g of the tarball', () => {
  it('ships bin/, dist/, README and LICENSE, not tests, benches, sources or maps', async () => {
    const { stdout } = await execFileP('tar', ['tzf', tarball]);
    const files = stdout.trim().split('\n').map((f) => f.replace(/^package\//, ''));
    expect(files).toEqual(expect.arrayContaining(['bin/ferry', 'dist/cli.js', 'dist/commands/cp.js', 'README.md', 'LICENSE', 'package.json']));
    expect(files.filter((f) => !/^(bin|dist)\//.test(f)).sort()).toEqual(['LICENSE', 'README.md', 'package.json']);
    expect(files.filter((f) => /\.map$|^dist\/(demo\.js|embedded\/)/.test(f))).toEqual([]);
  });

  it('puts ferry on PATH; --version prints the package version', async () => {
    const { stdout } = await execFileP('ferry', ['--version'], { env: { ...env, PATH: `${prefix}/bin:${env.PATH}` }, cwd: work });
    expect(stdout.trim()).toBe(pkg.version);
  });

  it('copies a file local to local', async () => {
    const dir = path.join(work, 'cp');
    await mkdir(path.join(dir, 'out'), { recursive: true });
    await writeFile(path.join(dir, 'a name with spaces.txt'), 'installed ferry\n');
    const r = await execFileP(path.join(prefix, 'bin', 'ferry'), ['cp', '-q', 'a name with spaces.txt', 'out/'], {
      cwd: dir, env: { ...env, FERRY_STATE_DIR: path.join(work, 'state') },
    });
    expect(r.stderr).toBe('');
    expect(await readFile(path.join(dir, 'out', 'a name with spaces.txt'), 'utf8')).toBe('installed ferry\n');
    expect(await readdir(path.join(dir, 'out'))).toEqual(['a name with spaces.txt']);
  });
});
