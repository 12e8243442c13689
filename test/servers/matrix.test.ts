// The server conformance matrix: the same core cases through the real CLI
// against every server ferry is tested with (README "Servers"): OpenSSH sshd,
// Dropbear, rclone serve sftp (Go pkg/sftp, files written as streams) and an
// OpenSSH internal-sftp chroot account. Each server is started here (and
// installed first when missing, as root) and stopped after its cases. Where
// a server lacks something, the case expects ferry's documented fallback,
// said in --json, never a silent difference. Needs the built CLI.
import { spawn } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { existsSync } from 'node:fs';
import * as fs from 'node:fs/promises';
import * as path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { findPartials, listTree, makeTempDir } from '../support/cp-helpers.js';
import { startFaultProxy } from '../support/fault-proxy.js';
import { ferryBin, repoRoot, runFerry, type RunFerryResult } from '../support/run-ferry.js';
import { sha256File } from '../support/sshd.js';
import { startChrootSftp, startOpensshServer } from '../support/chroot-sftp.js';
import { startDropbear } from '../support/dropbear.js';
import { startRcloneSftp } from '../support/rclone-sftp.js';
import type { TestServer } from '../support/server-setup.js';

const MiB = 1024 * 1024;
/** Several chunks whatever the server's limits (32 KiB to 256 KiB), and not a multiple of one. */
const MULTI = 3 * MiB + 12_345;
/** Big enough for a resume journal (8 MiB and up). */
const RESUMABLE = 24 * MiB;

type Event = Record<string, unknown> & { event: string };
const events = (stdout: string): Event[] => stdout.split('\n').filter((l) => l.trim()).map((l) => JSON.parse(l) as Event);
const ofType = (evs: Event[], type: string) => evs.filter((e) => e.event === type);
const said = (r: RunFerryResult) => `exit ${r.code}\n${r.stderr}\n${r.stdout.slice(0, 4000)}`;

const SERVERS: [string, () => Promise<TestServer>][] = [
  ['OpenSSH sshd', startOpensshServer],
  ['Dropbear', () => startDropbear()],
  ['rclone serve sftp', () => startRcloneSftp()],
  ['rclone serve sftp --vfs-cache-mode writes', () => startRcloneSftp({ cacheMode: 'writes' })],
  ['OpenSSH internal-sftp chroot', startChrootSftp],
];

let work: string;
const sums = new Map<string, string>();
beforeAll(async () => {
  if (!existsSync(path.join(repoRoot, 'dist', 'cli.js'))) throw new Error('dist/cli.js is missing: run `npm run build` first');
  work = await makeTempDir('matrix');
  for (const [name, size] of [['empty.bin', 0], ['multi.bin', MULTI], ['big.bin', RESUMABLE]] as const) {
    const file = path.join(work, name);
    await fs.writeFile(file, randomBytes(size));
    sums.set(name, await sha256File(file));
  }
});
afterAll(async () => {
  if (work) await fs.rm(work, { recursive: true, force: true });
});

describe.each(SERVERS)('%s', (_name, start) => {
  let srv: TestServer;
  let local: string;
  let n = 0;
  beforeAll(async () => {
    srv = await start();
    local = await fs.mkdtemp(path.join(work, `${srv.kind}-`));
  }, 600_000);
  afterAll(async () => {
    await srv?.stop();
  });

  /** A fresh directory on the server (its client path and its disk path) and one here. */
  async function dirs(name: string) {
    const disk = path.join(srv.diskDir, `${name}-${++n}`);
    await fs.mkdir(disk);
    await srv.own(disk);
    const here = path.join(local, `${name}-${n}`);
    await fs.mkdir(here);
    return { remote: path.posix.join(srv.remoteDir, path.basename(disk)), disk, here, state: path.join(here, '.state') };
  }
  const at = (p: string) => `${srv.user}@${srv.host}:${p}`;
  const ferry = (args: string[], state: string) =>
    runFerry([args[0], '-P', String(srv.port), ...args.slice(1)], { env: { ...srv.env, FERRY_STATE_DIR: state }, timeoutMs: 60_000 });

  it('cp up and down: 0 bytes and a multi-chunk file, byte-identical, nothing left behind', async () => {
    const d = await dirs('cp');
    for (const name of ['empty.bin', 'multi.bin']) {
      const up = await ferry(['cp', path.join(work, name), at(`${d.remote}/${name}`)], d.state);
      expect(up.code, said(up)).toBe(0);
      expect(await sha256File(path.join(d.disk, name)), `${name} up`).toBe(sums.get(name));
      const down = await ferry(['cp', at(`${d.remote}/${name}`), path.join(d.here, name)], d.state);
      expect(down.code, said(down)).toBe(0);
      expect(await sha256File(path.join(d.here, name)), `${name} down`).toBe(sums.get(name));
    }
    expect(await findPartials(d.disk, d.here)).toEqual([]);
  });

  it('cp -r with nested directories, both ways', async () => {
    const d = await dirs('tree');
    const tree = path.join(d.here, 'src');
    await fs.mkdir(path.join(tree, 'a', 'b', 'c'), { recursive: true });
    await fs.mkdir(path.join(tree, 'empty'));
    await fs.writeFile(path.join(tree, 'top.txt'), 'top\n');
    await fs.writeFile(path.join(tree, 'a', 'one.bin'), randomBytes(70_000));
    await fs.writeFile(path.join(tree, 'a', 'b', 'c', 'deep.bin'), randomBytes(MiB + 1));
    const up = await ferry(['cp', '-r', tree, at(`${d.remote}/up`)], d.state);
    expect(up.code, said(up)).toBe(0);
    const want = await listTree(tree);
    expect(await listTree(path.join(d.disk, 'up'))).toEqual(want);
    const down = await ferry(['cp', '-r', at(`${d.remote}/up`), path.join(d.here, 'down')], d.state);
    expect(down.code, said(down)).toBe(0);
    expect(await listTree(path.join(d.here, 'down'))).toEqual(want);
    for (const f of want.filter((p) => !p.endsWith('/'))) {
      expect(await sha256File(path.join(d.here, 'down', f)), f).toBe(await sha256File(path.join(tree, f)));
    }
  });

  it('cp -p keeps mode and mtime both ways, or says what the server did not keep', async () => {
    const d = await dirs('keep');
    const src = path.join(d.here, 'kept.txt');
    await fs.writeFile(src, 'kept\n');
    await fs.chmod(src, 0o640);
    const mtime = new Date('2001-02-03T04:05:06Z');
    await fs.utimes(src, mtime, mtime);
    const up = await ferry(['cp', '-p', '--json', src, at(`${d.remote}/kept.txt`)], d.state);
    expect(up.code, said(up)).toBe(0);
    const there = await fs.stat(path.join(d.disk, 'kept.txt'));
    const notices = ofType(events(up.stdout), 'notice');
    if (srv.kind.startsWith('rclone')) {
      // rclone applies its own --file-perms whatever SETSTAT asks: told, not hidden.
      expect(there.mode & 0o777).not.toBe(0o640);
      expect(notices, up.stdout).toHaveLength(1);
      expect(notices[0].message).toMatch(/did not keep the mode/);
    } else {
      expect(there.mode & 0o777).toBe(0o640);
      expect(notices, up.stdout).toEqual([]);
    }
    expect(Math.floor(there.mtimeMs / 1000)).toBe(mtime.getTime() / 1000);
    const down = await ferry(['cp', '-p', at(`${d.remote}/kept.txt`), path.join(d.here, 'back.txt')], d.state);
    expect(down.code, said(down)).toBe(0);
    const back = await fs.stat(path.join(d.here, 'back.txt'));
    // Down, the mode is the server's, whatever it kept.
    expect(back.mode & 0o777).toBe(there.mode & 0o777);
    expect(Math.floor(back.mtimeMs / 1000)).toBe(mtime.getTime() / 1000);
  });

  it('upload killed mid-file: the rerun completes identically, resuming or saying why not', async () => {
    const d = await dirs('resume');
    const dst = `${d.remote}/big.bin`;
    // 6 MiB/s: the first checkpoint (1 s) comes well before the end.
    const args = ['cp', '-P', String(srv.port), '--json', '-l', String(6 * 8 * 1024), path.join(work, 'big.bin'), at(dst)];
    const child = spawn(process.execPath, [ferryBin, ...args], { env: { ...srv.env, FERRY_STATE_DIR: d.state }, cwd: repoRoot, stdio: 'ignore' });
    const gone = new Promise((r) => child.once('close', r));
    try {
      const deadline = Date.now() + 30_000;
      // Killed once a checkpoint is on disk, so there is something to resume from.
      while (!(await recorded(d.state))) {
        if (child.exitCode !== null) throw new Error(`ferry exited (${child.exitCode}) before a checkpoint`);
        if (Date.now() > deadline) throw new Error('no checkpoint within 30 s');
        await new Promise((r) => setTimeout(r, 50));
      }
    } finally {
      child.kill('SIGKILL');
      await gone;
    }
    expect(existsSync(path.join(d.disk, 'big.bin')), 'nothing under the final name').toBe(false);
    const again = await ferry(['cp', '--json', path.join(work, 'big.bin'), at(dst)], d.state);
    expect(again.code, said(again)).toBe(0);
    expect(await sha256File(path.join(d.disk, 'big.bin'))).toBe(sums.get('big.bin'));
    expect(await findPartials(d.disk)).toEqual([]);
    const evs = events(again.stdout);
    const [file] = ofType(evs, 'file');
    if (srv.kind.startsWith('rclone')) {
      // Not OpenSSH's sftp-server: a partial there is not continued (a stream cannot be; the
      // cache mode reopened one as zeros). Started over, and said why (documented fallback).
      expect(ofType(evs, 'restart').map((e) => e.reason), again.stdout).toEqual([expect.stringMatching(/not OpenSSH's sftp-server/)]);
      expect(file.bytes).toBe(RESUMABLE);
    } else {
      // Resumed from the checkpoint.
      expect(file.resumedFrom as number, again.stdout).toBeGreaterThan(0);
      expect(file.bytes).toBe(RESUMABLE - (file.resumedFrom as number));
    }
  });

  it('sync --delete makes the server side equal, deleting what the source lacks', async () => {
    const d = await dirs('sync');
    const src = path.join(d.here, 'src');
    await fs.mkdir(path.join(src, 'sub'), { recursive: true });
    await fs.writeFile(path.join(src, 'keep.txt'), 'keep\n');
    await fs.writeFile(path.join(src, 'sub', 'new.bin'), randomBytes(300_000));
    await fs.mkdir(path.join(d.disk, 'sub', 'old'), { recursive: true });
    await fs.writeFile(path.join(d.disk, 'stale.txt'), 'stale\n');
    await fs.writeFile(path.join(d.disk, 'sub', 'old', 'gone.txt'), 'gone\n');
    await srv.own(d.disk);
    const r = await ferry(['sync', '--delete', `${src}/`, at(`${d.remote}/`)], d.state);
    expect(r.code, said(r)).toBe(0);
    expect(await listTree(d.disk)).toEqual(await listTree(src));
    expect(await sha256File(path.join(d.disk, 'sub', 'new.bin'))).toBe(await sha256File(path.join(src, 'sub', 'new.bin')));
    const again = await ferry(['sync', '--delete', `${src}/`, at(`${d.remote}/`)], d.state);
    expect(again.code, said(again)).toBe(0);
  });

  it('upload over a 40 ms link, where lanes may open: identical, no write refused', async () => {
    const d = await dirs('lanes');
    const proxy = await startFaultProxy({ target: { host: srv.host, port: srv.port }, delayMs: { up: 20, down: 20 } });
    try {
      const trust = (await fs.readFile(path.join(srv.env.HOME!, '.ssh', 'known_hosts'), 'utf8')).replace(/\]:\d+ /, `]:${proxy.port} `);
      await fs.appendFile(path.join(srv.env.HOME!, '.ssh', 'known_hosts'), trust);
      const r = await runFerry(['cp', '-P', String(proxy.port), '--json', path.join(work, 'big.bin'), at(`${d.remote}/big.bin`)], {
        env: { ...srv.env, FERRY_STATE_DIR: d.state }, timeoutMs: 60_000,
      });
      expect(r.code, said(r)).toBe(0);
      expect(await sha256File(path.join(d.disk, 'big.bin'))).toBe(sums.get('big.bin'));
      const evs = events(r.stdout);
      const switched = ofType(evs, 'write-order');
      // OpenSSH and Dropbear take a file from several handles; rclone (not OpenSSH's sftp-server)
      // gets one writer per file, in order, so it never has to refuse a write.
      expect(switched, r.stdout).toEqual([]);
    } finally {
      await proxy.close();
    }
  });
});

async function recorded(state: string): Promise<boolean> {
  const dir = path.join(state, 'partials');
  // Only whole journals: a ".tmp" is one being written, and may be cut short.
  for (const name of (await fs.readdir(dir).catch(() => [] as string[])).filter((n) => n.endsWith('.json'))) {
    const j = await fs.readFile(path.join(dir, name), 'utf8').then((t) => JSON.parse(t) as { done: unknown[] }).catch(() => undefined);
    if (j && j.done.length > 0) return true;
  }
  return false;
}
