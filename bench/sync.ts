/**
 * `npx tsx bench/sync.ts [--files N] [--runs N] [--slow-shell] [--link-dest]`:
 * the cron case. ferry sync, `rsync -a` over ssh and `rclone sync` against
 * one local sshd, same key, same tree: a first sync, then N no-change syncs
 * per tool (default 5), interleaved so all tools see the same machine. Prints
 * each time, the medians, each run's peak RSS (the largest single local
 * process, from /usr/bin/time when present, else the tool's VmHWM polled) and
 * ferry ÷ rsync for the first and the no-change sync.
 *
 * - `--files N`: the tree holds N files in directories of 100 (default 5,000;
 *   the scale case is 200,000 in 2,000 directories). It is built once
 *   under os.tmpdir() (bench/tree-cache.ts) and reused by later runs.
 * - `--slow-shell`: every SSH session starts 0.5 s late, as where the login
 *   shell runs conda/pyenv init: sshd starts sftp-server after `sleep 0.5`, and
 *   rsync runs through `--rsync-path 'sleep 0.5; rsync'`.
 * - rclone's first upload is very slow here, so its target is seeded with
 *   `cp -a` of ferry's mirror first (not timed): its "first" syncs an
 *   up-to-date copy. The output says so.
 *
 * `--link-dest`: dated snapshots instead, ferry only. After a first snapshot,
 * 1% of the files change (the first file of every directory: new content and
 * mtime); then N `--link-dest ../snap0` snapshots into new directories, N
 * no-change syncs of an up-to-date mirror and N syncs of the mirror with the
 * same 1% changed (what sending them costs without links), interleaved; prints
 * the medians, their ratios and how much the server's disk use grew per
 * snapshot (du). The cached tree is put back as it was afterwards.
 */
import { execFileSync, spawn, spawnSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { startSshd } from '../test/support/sshd.js';
import { ferryBin } from '../test/support/run-ferry.js';
import { cachedTree, treeDirs } from './tree-cache.js';

const SLOW_SHELL_SEC = 0.5;

function parseArgs(argv: string[]) {
  const a = { files: 5000, runs: 5, slowShell: false, linkDest: false };
  const num = (flag: string, v: string | undefined) => {
    const n = Number(v);
    if (!Number.isInteger(n) || n < 1) throw new Error(`${flag} needs a positive integer, got ${JSON.stringify(v)}`);
    return n;
  };
  for (let i = 0; i < argv.length; i++) {
    if (argv[i] === '--files') a.files = num('--files', argv[++i]);
    else if (argv[i] === '--runs') a.runs = num('--runs', argv[++i]);
    else if (argv[i] === '--slow-shell') a.slowShell = true;
    else if (argv[i] === '--link-dest') a.linkDest = true;
    else throw new Error(`unknown option ${argv[i]} (see the comment at the top of bench/sync.ts)`);
  }
  return a;
}

const args = parseArgs(process.argv.slice(2));
const sd = await startSshd(args.slowShell ? { sessionStartDelay: SLOW_SHELL_SEC } : {});
const root = fs.mkdtempSync(path.join(os.tmpdir(), 'ferry-bench-sync-'));
const cached = cachedTree(args.files);
const ssh = ['-F', '/dev/null', '-o', 'BatchMode=yes', '-o', `UserKnownHostsFile=${sd.knownHosts}`, '-i', sd.clientKey, '-p', String(sd.port)].join(' ');
const rsyncPath = args.slowShell ? ['--rsync-path', `sleep ${SLOW_SHELL_SEC}; rsync`] : [];
type Command = [string, string[]];
const tools: Record<string, (src: string, dst: string) => Command> = {
  'ferry sync': (src, dst) => [process.execPath, [ferryBin, 'sync', '-q', '-B', '-P', String(sd.port), '-o', `UserKnownHostsFile=${sd.knownHosts}`, src, `${sd.host}:${dst}`]],
  'rsync -a': (src, dst) => ['rsync', ['-a', ...rsyncPath, '-e', `ssh ${ssh}`, `${src}/`, `${sd.host}:${dst}/`]],
  'rclone sync': (src, dst) => ['rclone', ['sync', '--config', '/dev/null', '--sftp-host', sd.host, '--sftp-port', String(sd.port), '--sftp-user', sd.user,
    '--sftp-key-file', sd.clientKey, '--sftp-known-hosts-file', sd.knownHosts, '-q', src, `:sftp:${dst}`]],
};
const env = { ...sd.env, FERRY_STATE_DIR: path.join(root, 'state') };
const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)];
const secs = (xs: number[]) => xs.map((x) => x.toFixed(2)).join(' / ');
/** KiB the directory takes on disk, hard links counted once (what a snapshot costs). */
const duKiB = (dir: string) => Number(execFileSync('du', ['-sk', dir], { encoding: 'utf8' }).split('\t')[0]);

const TIME = '/usr/bin/time';
const haveTime = spawnSync(TIME, ['-f', '%M', 'true']).status === 0;

interface Run { secs: number; rssMiB: number }

/** The child's peak RSS so far, KiB (0 once it has exited). */
function vmHwmKiB(pid: number): number {
  try {
    return Number(/VmHWM:\s+(\d+)/.exec(fs.readFileSync(`/proc/${pid}/status`, 'utf8'))?.[1] ?? 0);
  } catch {
    return 0;
  }
}

/** Runs one command, timed, with its peak RSS. */
async function timed([cmd, cmdArgs]: Command): Promise<Run> {
  const rssFile = path.join(root, 'rss');
  const [c, a] = haveTime ? [TIME, ['-f', '%M', '-o', rssFile, cmd, ...cmdArgs]] : [cmd, cmdArgs];
  const t0 = performance.now();
  const child = spawn(c, a, { env, stdio: 'inherit' });
  let hwm = 0;
  const poll = haveTime ? undefined : setInterval(() => (hwm = Math.max(hwm, vmHwmKiB(child.pid!))), 10);
  const status = await new Promise((resolve) => child.on('exit', (code, signal) => resolve(code ?? signal)));
  const took = (performance.now() - t0) / 1000;
  clearInterval(poll);
  if (status !== 0) throw new Error(`${cmd} ${cmdArgs.join(' ')}: exit ${status}`);
  // time(1) writes "Command exited with ..." first when the command fails; the figure is the last line.
  const kib = haveTime ? Number(fs.readFileSync(rssFile, 'utf8').trim().split('\n').pop()) : hwm;
  return { secs: took, rssMiB: kib / 1024 };
}

function describeRun() {
  const dirs = treeDirs(args.files).length;
  console.log(`${args.files.toLocaleString('en')} files in ${dirs.toLocaleString('en')} directories (${cached}, built once and reused), ${args.runs} ${args.linkDest ? 'runs of each kind' : 'no-change runs per tool'}`);
  console.log(args.slowShell
    ? `shell: slow, every session starts ${SLOW_SHELL_SEC} s late (sshd runs "sleep ${SLOW_SHELL_SEC}; exec sftp-server", rsync gets --rsync-path "sleep ${SLOW_SHELL_SEC}; rsync")`
    : 'shell: plain, sessions start at once (--slow-shell: 0.5 s more each)');
  console.log(`peak RSS: the largest single local process, ${haveTime ? 'from /usr/bin/time -f %M' : 'from /proc/PID/status VmHWM polled every 10 ms'}`);
}

async function compareTools() {
  const firsts: Record<string, Run> = {};
  const noChange: Record<string, Run[]> = {};
  const dst = (name: string) => path.join(root, name.replace(/\W/g, '_'));
  let seedSecs = 0;
  for (const [name, cmd] of Object.entries(tools)) {
    if (name.startsWith('rclone')) {
      const t0 = performance.now();
      execFileSync('cp', ['-a', dst('ferry sync'), dst(name)]);
      seedSecs = (performance.now() - t0) / 1000;
    }
    firsts[name] = await timed(cmd(cached, dst(name)));
    noChange[name] = [];
  }
  for (let i = 0; i < args.runs; i++) {
    for (const [name, cmd] of Object.entries(tools)) noChange[name].push(await timed(cmd(cached, dst(name))));
  }
  const rows = [['tool', 'first s', 'RSS MiB', 'no-change s (median)', 'runs', 'RSS MiB (max)']];
  for (const name of Object.keys(tools)) {
    const runs = noChange[name];
    rows.push([
      name + (name.startsWith('rclone') ? ' *' : ''),
      firsts[name].secs.toFixed(2), firsts[name].rssMiB.toFixed(0),
      median(runs.map((r) => r.secs)).toFixed(2), secs(runs.map((r) => r.secs)),
      Math.max(...runs.map((r) => r.rssMiB)).toFixed(0),
    ]);
  }
  const widths = rows[0].map((_, c) => Math.max(...rows.map((r) => r[c].length)));
  for (const r of rows) console.log(r.map((cell, c) => (c === 0 || c === 4 ? cell.padEnd(widths[c]) : cell.padStart(widths[c]))).join('  '));
  console.log(`* rclone's target was seeded with cp -a of ferry's mirror (${seedSecs.toFixed(2)} s, not timed): its first run syncs an up-to-date copy, not an upload.`);
  const ratio = (f: (name: string) => number) => (f('ferry sync') / f('rsync -a')).toFixed(2);
  console.log(`ferry ÷ rsync (>1: ferry slower): first ${ratio((n) => firsts[n].secs)}x, no-change ${ratio((n) => median(noChange[n].map((r) => r.secs)))}x`);
}

/** Snapshots with --link-dest, on the cached tree borrowed into this run (it gets changed) and put back after. */
async function snapshots() {
  const src = path.join(root, 'src');
  fs.renameSync(cached, src);
  const changed = treeDirs(args.files).map((d) => path.join(src, d, 'f0.txt'));
  const saved = changed.map((f) => ({ f, data: fs.readFileSync(f), st: fs.statSync(f) }));
  try {
    await linkDestRuns(src, changed);
  } finally {
    for (const { f, data, st } of saved) {
      fs.writeFileSync(f, data);
      fs.utimesSync(f, st.atime, st.mtime);
    }
    fs.renameSync(src, cached);
  }
}

async function linkDestRuns(src: string, changed: string[]) {
  const bk = path.join(root, 'backups');
  fs.mkdirSync(bk);
  const ferry = (dst: string, extra: string[] = []): Command => {
    const [c, a] = tools['ferry sync'](src, path.join(bk, dst));
    return [c, [...a.slice(0, 2), ...extra, ...a.slice(2)]];
  };
  const first = (await timed(ferry('snap0'))).secs;
  let changedBytes = 0;
  for (const f of changed) {
    fs.writeFileSync(f, 'y'.repeat(1000));
    fs.utimesSync(f, new Date(), new Date(Date.now() + 5000));
    changedBytes += 1000;
  }
  // The no-change baseline syncs a mirror already up to date; snap0 stays the older snapshot throughout.
  await timed(ferry('mirror'));
  const link: number[] = [];
  const noChange: number[] = [];
  const resent: number[] = [];
  const growth: number[] = [];
  for (let i = 1; i <= args.runs; i++) {
    const before = duKiB(bk);
    link.push((await timed(ferry(`snap${i}`, ['--link-dest', '../snap0']))).secs);
    growth.push(duKiB(bk) - before);
    noChange.push((await timed(ferry('mirror'))).secs);
    // The same 1% changed again (new mtimes), synced into the mirror: what sending them costs without links.
    for (const f of changed) fs.utimesSync(f, new Date(), new Date(Date.now() + 5000 + i * 1000));
    resent.push((await timed(ferry('mirror'))).secs);
  }
  const [ml, mn, mr] = [median(link), median(noChange), median(resent)];
  console.log(`first snapshot ${first.toFixed(2)} s; ${changed.length} of ${args.files} files changed (${changedBytes} bytes)`);
  console.log(`--link-dest snapshot: ${secs(link)} s (median ${ml.toFixed(2)})`);
  console.log(`no-change sync:       ${secs(noChange)} s (median ${mn.toFixed(2)})`);
  console.log(`1%-changed sync:      ${secs(resent)} s (median ${mr.toFixed(2)})`);
  console.log(`ratio ${(ml / mn).toFixed(2)}x the no-change sync, ${(ml / mr).toFixed(2)}x the 1%-changed sync; server disk use grew ${growth.join(' / ')} KiB per snapshot (snap0: ${duKiB(path.join(bk, 'snap0'))} KiB)`);
}

try {
  describeRun();
  await (args.linkDest ? snapshots() : compareTools());
} finally {
  await sd.stop();
  fs.rmSync(root, { recursive: true, force: true });
}
