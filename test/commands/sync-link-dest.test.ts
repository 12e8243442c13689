// `ferry sync --link-dest` against the real sshd: dated snapshots whose
// unchanged files are hard links into the previous one. sshd runs on loopback,
// so the server's files are this machine's and their inodes can be compared.
import { spawn } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { existsSync } from 'node:fs';
import * as fs from 'node:fs/promises';
import * as path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { findNames, listTree, makeTempDir } from '../support/cp-helpers.js';
import { startHostileServer } from '../support/hostile-server.js';
import { ferryBin, runFerry, type RunFerryResult } from '../support/run-ferry.js';
import { sha256File, startSshd, type Sshd } from '../support/sshd.js';

let sd: Sshd;
let work: string;

beforeAll(async () => {
  [sd, work] = await Promise.all([startSshd(), makeTempDir('link-dest')]);
});
afterAll(async () => {
  await sd?.stop();
  if (work) await fs.rm(work, { recursive: true, force: true });
});

type Event = Record<string, unknown> & { event: string };
const events = (r: RunFerryResult): Event[] => r.stdout.split('\n').filter((l) => l.trim() !== '').map((l) => JSON.parse(l) as Event);
/** "action path" of every file event but skips, sorted. */
const actions = (r: RunFerryResult) => events(r).filter((e) => e.event === 'file' && e.kind === 'file' && e.action !== 'skipped').map((e) => `${e.action} ${e.path}`).sort();
const summary = (r: RunFerryResult) => events(r).find((e) => e.event === 'summary')!;

const sync = (args: string[], env: NodeJS.ProcessEnv = sd.env) => runFerry(['sync', '-P', String(sd.port), ...args], { env, timeoutMs: 60_000 });
const remote = (p: string) => `127.0.0.1:${p}`;
const ino = async (p: string) => (await fs.stat(p)).ino;

const T0 = 1_600_000_000;

/** A source tree whose files have whole-second mtimes in the past. */
async function makeSource(dir: string, files: Record<string, string | Buffer>): Promise<void> {
  for (const [rel, content] of Object.entries(files)) {
    await fs.mkdir(path.dirname(path.join(dir, rel)), { recursive: true });
    await fs.writeFile(path.join(dir, rel), content);
    await fs.utimes(path.join(dir, rel), T0, T0);
  }
}

describe('--link-dest', () => {
  it('links unchanged files, copies changed and new ones, leaves deleted ones out', async () => {
    const top = await fs.mkdtemp(`${work}/basic-`);
    const src = `${top}/src`;
    const bk = `${top}/backups`;
    await fs.mkdir(bk);
    await makeSource(src, { 'same.txt': 'same\n', 'deep/er/same.bin': randomBytes(40_000), 'touched.txt': 'v1\n', 'grown.txt': 'v1\n', 'gone.txt': 'bye\n' });
    const first = await sync(['--json', src, remote(`${bk}/day1`)]);
    expect(first.code, first.stderr).toBe(0);

    // touched: same size, new mtime; grown: new size; gone: deleted; new: added.
    await fs.writeFile(`${src}/touched.txt`, 'v2\n');
    await fs.utimes(`${src}/touched.txt`, T0 + 60, T0 + 60);
    await fs.writeFile(`${src}/grown.txt`, 'version 2\n');
    await fs.rm(`${src}/gone.txt`);
    await makeSource(src, { 'new.txt': 'new\n' });

    const r = await sync(['--json', '--link-dest', '../day1', src, remote(`${bk}/day2`)]);
    expect(r.code, r.stderr).toBe(0);
    expect(r.stderr).toBe('');
    expect(actions(r)).toEqual(['linked deep/er/same.bin', 'linked same.txt', 'new grown.txt', 'new new.txt', 'new touched.txt']);
    expect(summary(r)).toMatchObject({ linked: 2, new: 3, changed: 0, bytes: 3 + 10 + 4, bytesLinked: 5 + 40_000 });

    expect(await listTree(`${bk}/day2`)).toEqual(['deep/', 'deep/er/', 'deep/er/same.bin', 'grown.txt', 'new.txt', 'same.txt', 'touched.txt']);
    for (const f of ['same.txt', 'deep/er/same.bin']) {
      expect(await ino(`${bk}/day2/${f}`), f).toBe(await ino(`${bk}/day1/${f}`));
      expect((await fs.stat(`${bk}/day2/${f}`)).nlink).toBe(2);
    }
    for (const f of ['touched.txt', 'grown.txt', 'new.txt']) {
      const st = await fs.stat(`${bk}/day2/${f}`);
      expect(st.nlink, f).toBe(1);
      expect(await fs.readFile(`${bk}/day2/${f}`), f).toEqual(await fs.readFile(`${src}/${f}`));
      expect(Math.floor(st.mtimeMs / 1000)).toBe(Math.floor((await fs.stat(`${src}/${f}`)).mtimeMs / 1000));
    }
    // The older snapshot keeps its versions.
    expect(await fs.readFile(`${bk}/day1/touched.txt`, 'utf8')).toBe('v1\n');
    expect(await fs.readFile(`${bk}/day1/gone.txt`, 'utf8')).toBe('bye\n');

    // A third day with no change sends nothing; the human summary counts the links.
    const day3 = await sync(['--itemize', '--link-dest', `${bk}/day2`, src, remote(`${bk}/day3`)]);
    expect(day3.code, day3.stderr).toBe(0);
    expect(day3.stdout).toMatch(/^h same\.txt$/m);
    expect(day3.stdout).toMatch(/5 files: 0 transferred, 5 linked, 0 skipped, 0 deleted; sent 0B/);
  });

  it('replaces another version already in the snapshot through a hidden name, and keeps modes out of the quick check', async () => {
    const top = await fs.mkdtemp(`${work}/replace-`);
    const src = `${top}/src`;
    await makeSource(src, { 'a.txt': 'aaaa\n', 'b.txt': 'bbbb\n' });
    expect((await sync([src, remote(`${top}/day1`)])).code).toBe(0);
    await makeSource(`${top}/day2`, { 'a.txt': 'an older, longer a\n' });
    // b's mode differs from day1's copy: a link would share the wrong mode, so it is sent.
    await fs.chmod(`${src}/b.txt`, 0o600);
    const r = await sync(['--json', '--link-dest', '../day1', src, remote(`${top}/day2`)]);
    expect(r.code, r.stderr).toBe(0);
    expect(actions(r)).toEqual(['linked a.txt', 'new b.txt']);
    expect(await ino(`${top}/day2/a.txt`)).toBe(await ino(`${top}/day1/a.txt`));
    expect((await fs.stat(`${top}/day2/b.txt`)).mode & 0o777).toBe(0o600);
    expect((await fs.stat(`${top}/day1/b.txt`)).mode & 0o777).toBe(0o644);
    expect(await findNames([`${top}/day2`], (n) => n.includes('.ferry-'))).toEqual([]);
  });

  it('--verify reads linked files back, and a link-dest copy that lies to the quick check is replaced by a copy', async () => {
    const top = await fs.mkdtemp(`${work}/verify-`);
    const src = `${top}/src`;
    await makeSource(src, { 'ok.txt': 'fine\n', 'rot.txt': 'good data\n' });
    expect((await sync([src, remote(`${top}/day1`)])).code).toBe(0);
    // Bit rot in the older snapshot: same size, same mtime, other bytes.
    await fs.writeFile(`${top}/day1/rot.txt`, 'bad  data\n');
    await fs.utimes(`${top}/day1/rot.txt`, T0, T0);
    const r = await sync(['--json', '--verify', '--link-dest', '../day1', src, remote(`${top}/day2`)]);
    expect(r.code, r.stderr).toBe(0);
    const files = events(r).filter((e) => e.event === 'file' && e.kind === 'file');
    expect(files.find((e) => e.path === 'ok.txt')).toMatchObject({ action: 'linked', verified: true });
    expect(files.find((e) => e.path === 'rot.txt')).toMatchObject({ action: 'new', verified: true, reason: 'the --link-dest copy differs in content' });
    expect(await fs.readFile(`${top}/day2/rot.txt`, 'utf8')).toBe('good data\n');
    expect(await ino(`${top}/day2/rot.txt`)).not.toBe(await ino(`${top}/day1/rot.txt`));
    expect(summary(r)).toMatchObject({ linked: 1, new: 1, verified: 2 });
  });

  it('a snapshot interrupted and run again finishes, and the older snapshot is never written to', async () => {
    const top = await fs.mkdtemp(`${work}/interrupt-`);
    const src = `${top}/src`;
    const unchanged: Record<string, string> = {};
    for (let i = 0; i < 40; i++) unchanged[`d${i % 4}/f${i}.txt`] = `file ${i}\n`;
    await makeSource(src, { ...unchanged, 'big.bin': randomBytes(6 * 1024 * 1024) });
    expect((await sync([src, remote(`${top}/day1`)])).code).toBe(0);
    const oldBig = await sha256File(`${top}/day1/big.bin`);
    await makeSource(src, { 'big.bin': randomBytes(6 * 1024 * 1024) });
    await fs.utimes(`${src}/big.bin`, T0 + 60, T0 + 60);

    // 16,000 Kbit/s: the changed 6 MiB take about three seconds; the links are made before it starts.
    const args = ['sync', '-P', String(sd.port), '-l', '16000', '--link-dest', '../day1', src, remote(`${top}/day2`)];
    const child = spawn(process.execPath, [ferryBin, ...args], { env: { ...sd.env, FERRY_STATE_DIR: `${top}/state` }, stdio: 'ignore' });
    const exited = new Promise((r) => child.on('exit', r));
    const partial = `${top}/day2/.big.bin.ferry-part`;
    for (let i = 0; i < 200; i++) {
      const st = await fs.stat(partial).catch(() => undefined);
      if (st && st.size > 1024 * 1024) break;
      await new Promise((r) => setTimeout(r, 50));
    }
    child.kill('SIGKILL');
    await exited;
    expect(await fs.stat(`${top}/day2/big.bin`).catch(() => undefined), 'the cut came too late').toBeUndefined();

    const rerun = args.filter((a, i) => a !== '-l' && args[i - 1] !== '-l');
    const r = await runFerry([...rerun, '--json'], { env: { ...sd.env, FERRY_STATE_DIR: `${top}/state` } });
    expect(r.code, r.stderr).toBe(0);
    expect(await sha256File(`${top}/day2/big.bin`)).toBe(await sha256File(`${src}/big.bin`));
    expect(await sha256File(`${top}/day1/big.bin`)).toBe(oldBig);
    for (const f of Object.keys(unchanged)) expect(await ino(`${top}/day2/${f}`), f).toBe(await ino(`${top}/day1/${f}`));
    expect(await listTree(`${top}/day2`)).toEqual(await listTree(src));
    // What the first run linked is in place now: the rerun skips it, links the rest, sends only big.bin.
    expect(actions(r).filter((a) => !a.startsWith('linked'))).toEqual(['new big.bin']);
    expect(summary(r).linked as number + (summary(r).skipped as number)).toBe(40);
  });

  it('downloads into local snapshots link on this machine (fs.link)', async () => {
    const top = await fs.mkdtemp(`${work}/download-`);
    await makeSource(`${top}/server`, { 'a.txt': 'a\n', 'b.txt': 'b\n' });
    expect((await sync([remote(`${top}/server`), `${top}/day1`])).code).toBe(0);
    await makeSource(`${top}/server`, { 'b.txt': 'b2\n' });
    const r = await sync(['--json', '--link-dest', '../day1', remote(`${top}/server`), `${top}/day2`]);
    expect(r.code, r.stderr).toBe(0);
    expect(actions(r)).toEqual(['linked a.txt', 'new b.txt']);
    expect(await ino(`${top}/day2/a.txt`)).toBe(await ino(`${top}/day1/a.txt`));
    expect(await fs.readFile(`${top}/day1/b.txt`, 'utf8')).toBe('b\n');
  });

  it('a missing --link-dest directory is a warning, and every file is sent', async () => {
    const top = await fs.mkdtemp(`${work}/missing-`);
    await makeSource(`${top}/src`, { 'a.txt': 'a\n' });
    const r = await sync(['--link-dest', '../nope', `${top}/src`, remote(`${top}/day1`)]);
    expect(r.code, r.stderr).toBe(0);
    expect(r.stderr).toContain(`--link-dest remote "${top}/nope": No such file or directory; sending every file`);
    expect(await fs.readFile(`${top}/day1/a.txt`, 'utf8')).toBe('a\n');
  });

  it('-n lists the links and writes nothing; the target itself is refused', async () => {
    const top = await fs.mkdtemp(`${work}/dry-`);
    await makeSource(`${top}/src`, { 'a.txt': 'a\n' });
    expect((await sync([`${top}/src`, remote(`${top}/day1`)])).code).toBe(0);
    const r = await sync(['-n', '--link-dest', '../day1', `${top}/src`, remote(`${top}/day2`)]);
    expect(r.code, r.stderr).toBe(0);
    expect(r.stdout).toMatch(/^h a\.txt$/m);
    expect(r.stdout).toMatch(/1 would be linked/);
    expect(await fs.stat(`${top}/day2`).catch(() => undefined)).toBeUndefined();
    const self = await sync(['--link-dest', '.', `${top}/src`, remote(`${top}/day1`)]);
    expect(self.code).toBe(2);
    expect(self.stderr).toContain('is the target itself');
  });

  it('sftp-server -P hardlink does not offer the extension: a clear error, and nothing is written', async () => {
    const denying = await startSshd({ sftpServerArgs: ['-P', 'hardlink'] });
    try {
      const top = await fs.mkdtemp(`${work}/denied-`);
      await makeSource(`${top}/src`, { 'a.txt': 'a\n' });
      const run = (args: string[]) => runFerry(['sync', '-P', String(denying.port), ...args], { env: denying.env });
      expect((await run([`${top}/src`, remote(`${top}/day1`)])).code).toBe(0);
      const r = await run(['--link-dest', '../day1', `${top}/src`, remote(`${top}/day2`)]);
      expect(r.code).toBe(1);
      expect(r.stderr).toContain(`ferry: link remote "${top}/day1": 127.0.0.1 cannot make hard links (no hardlink@openssh.com)`);
      expect(r.stderr).toContain('hint:');
      expect(await fs.stat(`${top}/day2`).catch(() => undefined)).toBeUndefined();
    } finally {
      await denying.stop();
    }
  });

  // /dev/shm is another filesystem than the temp dir here: every link fails (EXDEV).
  it.runIf(existsSync('/dev/shm'))('links that fail are sent instead, with the warnings counted, and the snapshot is complete', async () => {
    const top = await fs.mkdtemp(`${work}/xdev-`);
    const other = await fs.mkdtemp('/dev/shm/ferry-link-dest-');
    try {
      const files: Record<string, string> = {};
      for (let i = 0; i < 12; i++) files[`f${i}.txt`] = `file ${i}\n`;
      await makeSource(`${top}/server`, files);
      expect((await sync([remote(`${top}/server`), `${other}/day1`])).code).toBe(0);
      if ((await fs.stat(`${other}/day1`)).dev === (await fs.stat(top)).dev) return; // same filesystem after all: nothing to prove
      const r = await sync(['--link-dest', `${other}/day1`, remote(`${top}/server`), `${top}/day2`]);
      expect(r.code, r.stderr).toBe(0);
      expect(r.stderr.match(/sending it instead/g)).toHaveLength(5);
      expect(r.stderr).toContain('7 more files could not be linked from --link-dest; they were sent instead');
      expect(r.stdout).toMatch(/12 transferred \(12 new, 0 changed\), 0 linked/);
      for (const f of Object.keys(files)) expect(await fs.readFile(`${top}/day2/${f}`, 'utf8')).toBe(files[f]);
    } finally {
      await fs.rm(other, { recursive: true, force: true });
    }
  });

  it('a server without hardlink@openssh.com gets a clear error before anything is written', async () => {
    const srv = await startHostileServer();
    try {
      await makeSource(path.join(srv.root, 'day1'), { 'a.txt': 'a\n' });
      await makeSource(path.join(srv.work, 'src'), { 'a.txt': 'a\n' });
      const r = await srv.sync(['--link-dest', '../day1', path.join(srv.work, 'src'), srv.remote('/day2')]);
      expect(r.code).toBe(1);
      expect(r.stderr).toContain('ferry: link remote "/day1": ');
      expect(r.stderr).toContain('cannot make hard links (no hardlink@openssh.com)');
      expect(await fs.stat(path.join(srv.root, 'day2')).catch(() => undefined)).toBeUndefined();
    } finally {
      await srv.close();
    }
  });
});
