// Catalog 12: ferry killed at random moments while copying a tree over three
// connections (--connections 3): after SIGKILL nothing under a final name is
// incomplete, and the rerun completes every file byte-identical. SIGINT:
// exit 130 within about 2 s with a hint how to go on, and the rerun is
// identical. (test/commands/cp-resume.test.ts covers SIGKILL/SIGINT resume
// points and bytes sent on one connection; this adds random kill moments and
// several connections.)
import { spawn } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import * as fs from 'node:fs/promises';
import * as os from 'node:os';
import * as path from 'node:path';
import { afterAll, beforeAll, describe, expect, it, type TestContext } from 'vitest';
import { withLogins } from '../support/budget.js';
import { mulberry32 } from '../support/fault-proxy.js';
import { expectCleanOutput, expectIdentical, exists, makeCanary, MiB, sha256 } from '../support/hostile-checks.js';
import { scenario } from '../support/hostile-link.js';
import { ferryBin } from '../support/run-ferry.js';
import { startSshd, type Sshd } from '../support/sshd.js';

const FILES: [string, number][] = [['big.bin', 20 * MiB + 17], ['mid.bin', 9 * MiB], ...[1, 2, 3, 4, 5].map((i): [string, number] => [`small-${i}.bin`, 100_000 * i])];
const SEEDS = process.env.FERRY_HEAVY ? 12 : 3;
/** -l in Kbit/s: 24 MiB/s, so the tree takes about 1.3 s and the kills land all over it. */
const LIMIT = String(Math.round((24 * MiB * 8) / 1024));

let sd: Sshd;
let work: string;
let tree: string;
const digests = new Map<string, string>();

beforeAll(async () => {
  [sd, work] = await Promise.all([startSshd(), fs.mkdtemp(path.join(os.tmpdir(), 'ferry-hostile-kill-'))]);
  tree = path.join(work, 'tree');
  await fs.mkdir(tree);
  for (const [name, size] of FILES) {
    const data = randomBytes(size);
    await fs.writeFile(path.join(tree, name), data);
    digests.set(name, sha256(data));
  }
});
afterAll(async () => {
  await sd?.stop();
  if (work) await fs.rm(work, { recursive: true, force: true });
});

/** ferry in the background, in the scenario's dir (the rerun must run from the same cwd to be "the same command"). */
function start(args: string[], s: { env: NodeJS.ProcessEnv; dir: string }, ctx: TestContext) {
  const child = spawn(process.execPath, [ferryBin, 'cp', ...args], { env: s.env, cwd: s.dir, stdio: ['ignore', 'pipe', 'pipe'] });
  ctx.onTestFinished(() => {
    if (child.exitCode === null && child.signalCode === null) child.kill('SIGKILL');
  });
  let stderr = '';
  child.stderr.on('data', (d: Buffer) => (stderr += d.toString()));
  child.stdout.resume();
  const exited = new Promise<{ code: number | null; signal: NodeJS.Signals | null; stderr: string }>((resolve) => {
    child.on('close', (code, signal) => resolve({ code, signal, stderr }));
  });
  return { child, exited };
}

/** Files under their final names are whole (or absent); never a piece. */
async function expectNoTornFinals(dst: string) {
  for (const [name] of FILES) {
    const p = path.join(dst, name);
    if (await exists(p)) await expectIdentical(p, digests.get(name)!);
  }
}

describe.concurrent('12: kill -9 at random moments, several connections', () => {
  for (const direction of ['download', 'upload'] as const) {
    const rand = mulberry32(direction === 'download' ? 11 : 12);
    for (let seed = 1; seed <= SEEDS; seed++) {
      const killAfterMs = 150 + Math.floor(rand() * 1300);
      it(`${direction}, seed ${seed}: SIGKILL after ${killAfterMs} ms; the rerun completes every file identically`, async (ctx) => {
        const s = await scenario(sd, work, `${direction}-${seed}`);
        const dst = path.join(s.dir, 'dst');
        const canary = await makeCanary(dst);
        const operands = direction === 'download' ? ['-r', `127.0.0.1:${tree}`, dst] : ['-r', tree, `127.0.0.1:${dst}`];
        const args = ['-P', String(sd.port), '--connections', '3', ...operands];
        const run = start(['-l', LIMIT, ...args], s, ctx);
        await new Promise((r) => setTimeout(r, killAfterMs));
        run.child.kill('SIGKILL');
        const exit = await run.exited;
        if (exit.code !== 0) expect(exit.signal).toBe('SIGKILL');
        if (await exists(dst)) await expectNoTornFinals(dst);

        const again = await s.cp(args);
        expect(again.code, again.stderr).toBe(0);
        expectCleanOutput(again);
        for (const [name] of FILES) await expectIdentical(path.join(dst, name), digests.get(name)!);
        expect((await fs.readdir(dst)).sort()).toEqual(FILES.map(([n]) => n).sort());
        await canary.check();
      });
    }
  }

  it('SIGINT: exit 130 within 2 s, a hint how to go on, the rerun identical', async (ctx) => {
    const s = await scenario(sd, work, 'sigint');
    const dst = path.join(s.dir, 'dst');
    const args = ['-P', String(sd.port), '--connections', '3', '-r', `127.0.0.1:${tree}`, dst];
    const run = start(['-l', LIMIT, ...args], s, ctx);
    // Mid-transfer: the big file's partial has data.
    const part = path.join(dst, '.big.bin.ferry-part');
    for (const end = Date.now() + withLogins(4_000, 3); Date.now() < end && ((await fs.stat(part).catch(() => undefined))?.size ?? 0) < MiB;) await new Promise((r) => setTimeout(r, 10));
    const t0 = Date.now();
    run.child.kill('SIGINT');
    const exit = await run.exited;
    const elapsed = Date.now() - t0;
    expect(exit.code, exit.stderr).toBe(130);
    expect(elapsed).toBeLessThan(2500);
    expectCleanOutput({ stdout: '', stderr: exit.stderr });
    expect(exit.stderr).toContain('run the same command again');
    await expectNoTornFinals(dst);

    const again = await s.cp(args);
    expect(again.code, again.stderr).toBe(0);
    for (const [name] of FILES) await expectIdentical(path.join(dst, name), digests.get(name)!);
  });
});
