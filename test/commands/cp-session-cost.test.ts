// What an SFTP session costs is measured, not assumed. Against a real sshd
// whose sessions start a second late (as where ~/.bashrc runs conda or pyenv
// init), a small copy uses the one session it needs and exits; a lane still
// starting when the run is over is given up, not waited for. On a long link
// whose channels are the limit, lanes are still opened.
import { randomBytes } from 'node:crypto';
import { rm, writeFile } from 'node:fs/promises';
import { performance } from 'node:perf_hooks';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { Endpoints } from '../../src/commands/endpoints.js';
import { silentPrompter } from '../../src/ssh/prompter.js';
import { makeTempDir } from '../support/cp-helpers.js';
import { startLink } from '../support/hostile-link.js';
import { runFerry } from '../support/run-ferry.js';
import { sha256File, sshdLog, startSshd, type Sshd } from '../support/sshd.js';

const MiB = 1024 * 1024;
let slow: Sshd;
let fast: Sshd;
let work: string;

beforeAll(async () => {
  [slow, fast, work] = await Promise.all([startSshd({ sessionStartDelay: 1 }), startSshd(), makeTempDir('session-cost')]);
});
afterAll(async () => {
  await Promise.all([slow?.stop(), fast?.stop()]);
  await rm(work, { recursive: true, force: true });
});

const sessionsStarted = (sd: Sshd) => (sshdLog(sd).match(/Starting session: subsystem 'sftp'/g) ?? []).length;

/**
 * Runs ferry with -v and --json and times it from spawn to exit, less Node's
 * and ferry's own start-up (the setup event's first two phases): on a loaded
 * machine those alone can take a second, and they are not the copy's doing.
 */
async function timedCp(sd: Sshd, args: string[]) {
  const t0 = performance.now();
  const r = await runFerry(['cp', '-v', '--json', '-B', '-P', String(sd.port), ...args], { env: sd.env, timeoutMs: 20_000 });
  const wall = performance.now() - t0;
  const setup = r.stdout.split('\n').filter(Boolean).map((l) => JSON.parse(l)).find((e) => e.event === 'setup');
  const startUp = (setup?.phases ?? []).slice(0, 2).reduce((sum: number, p: { ms: number }) => sum + p.ms, 0);
  return { ...r, ms: wall - startUp };
}

describe('a server whose sessions start slowly', () => {
  for (const dir of ['upload', 'download'] as const) {
    it(`a 1 MiB ${dir} opens exactly one session and takes one session start plus at most a second`, async () => {
      const src = `${work}/one-${dir}.bin`;
      await writeFile(src, randomBytes(MiB));
      const dst = `${work}/one-${dir}.out`;
      const before = sessionsStarted(slow);
      const r = await timedCp(slow, dir === 'upload' ? [src, `127.0.0.1:${dst}`] : [`127.0.0.1:${src}`, dst]);
      expect(r.code, r.stderr).toBe(0);
      expect(await sha256File(dst)).toBe(await sha256File(src));
      // Counted by sshd itself: one subsystem started for this run, no lane, no flush session.
      expect(sessionsStarted(slow) - before).toBe(1);
      const started = /SFTP session 1 started in (\d+) ms/.exec(r.stderr);
      expect(started, r.stderr).not.toBeNull();
      const sessionMs = Number(started![1]);
      expect(sessionMs, 'the fixture really makes sessions slow').toBeGreaterThanOrEqual(1000);
      expect(r.ms).toBeLessThan(sessionMs + 1000);
    });
  }

  it('says why no lane was opened', async () => {
    const src = `${work}/why.bin`;
    await writeFile(src, randomBytes(12 * MiB));
    const r = await timedCp(slow, [src, `127.0.0.1:${work}/why.out`]);
    expect(r.code, r.stderr).toBe(0);
    expect(r.stderr).toMatch(/lanes: 1 SFTP session\(s\) to 127\.0\.0\.1, want 1: (channels are not the limit|not worth a session)/);
  });

  it('closing gives up a lane still starting: nothing waits for it', async () => {
    const endpoints = new Endpoints({
      cli: {
        configFile: 'none', port: slow.port,
        options: [`UserKnownHostsFile=${slow.knownHosts}`, 'GlobalKnownHostsFile=none', 'StrictHostKeyChecking=yes', `IdentityFile=${slow.clientKey}`, 'BatchMode=yes'],
      },
      prompter: silentPrompter,
    });
    const root = await endpoints.get({ kind: 'remote', host: slow.host, user: slow.user, path: '.', raw: '' });
    // A lane that takes a second to start is still starting when the run closes.
    const lane = root.openLane!();
    lane.catch(() => undefined);
    await new Promise((r) => setTimeout(r, 100));
    const t0 = performance.now();
    await endpoints.closeAll();
    expect(performance.now() - t0).toBeLessThan(200);
    // The lane never becomes usable after the close: it fails or is already ended.
    await expect(lane.then((ep) => ep.stat('/'))).rejects.toThrow();
  });
});

describe('a long link', () => {
  it('an upload at 50 ms RTT still opens lanes, and arrives intact', async () => {
    const link = await startLink(fast, { delayMs: { up: 25, down: 25 } });
    try {
      const src = `${work}/far.bin`;
      // Work enough (3 s on one channel) that lanes pay even where a session costs a slow login shell.
      await writeFile(src, randomBytes(96 * MiB + 7));
      const r = await runFerry(['cp', '--json', '-B', ...link.args, src, `127.0.0.1:${work}/far.out`], { env: fast.env, timeoutMs: 30_000 });
      expect(r.code, r.stderr).toBe(0);
      const lanes = r.stdout.split('\n').filter(Boolean).map((l) => JSON.parse(l)).filter((e) => e.event === 'lanes');
      expect(Math.max(...lanes.map((e) => e.lanes as number))).toBeGreaterThan(1);
      expect(lanes.some((e) => /channels are the limit/.test(e.reason))).toBe(true);
      // The setup timeline, phase by phase, as the JSON event scripts read.
      const setup = r.stdout.split('\n').filter(Boolean).map((l) => JSON.parse(l)).find((e) => e.event === 'setup');
      expect(setup.phases.map((p: { name: string }) => p.name)).toEqual([
        'process start', 'ferry start-up', 'tcp', 'ident', 'key exchange', 'auth', 'channel', 'subsystem', 'sftp init', 'find path', 'open',
      ]);
      // 50 ms away, the round trips show in the time: at least one RTT per one counted.
      expect(setup.ms).toBeGreaterThan(40 * (setup.roundTrips - 1));
      // An unencrypted key signs on the first try, with the service request pipelined: one round trip.
      const phase = (name: string) => setup.phases.find((p: { name: string }) => p.name === name);
      expect(phase('auth').roundTrips).toBe(1);
      // The SFTP INIT follows the subsystem request, so VERSION costs no round trip of its own.
      expect(phase('sftp init').roundTrips).toBe(0);
      expect(setup.roundTrips, JSON.stringify(setup.phases)).toBeLessThanOrEqual(10);
      expect(await sha256File(`${work}/far.out`)).toBe(await sha256File(src));
    } finally {
      await link.close();
    }
  });
});
