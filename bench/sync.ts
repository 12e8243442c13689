/**
 * `npx tsx bench/sync.ts`: the cron case. A second, no-change sync of a
 * 5,000-file tree (100 directories) to a local sshd with ferry sync, rsync -a
 * over ssh and rclone sync, same key, same server, same run. Prints the first
 * run and five no-change runs per tool.
 *
 * `npx tsx bench/sync.ts --link-dest`: dated snapshots instead. After a first
 * snapshot, 1% of the files change (new content and mtime); then five
 * `--link-dest ../snap0` snapshots into new directories (each links 4,950
 * files and sends 50) and five no-change syncs of an up-to-date mirror,
 * and five syncs of the mirror with the same 1% changed (what sending them
 * costs without links), interleaved so all see the same machine; prints the medians,
 * their ratio and how much the server's disk use grew per snapshot (du).
 */
import { execFileSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { startSshd } from '../test/support/sshd.js';
import { ferryBin } from '../test/support/run-ferry.js';

const sd = await startSshd();
const root = fs.mkdtempSync(path.join(os.tmpdir(), 'ferry-bench-sync-'));
const src = path.join(root, 'src');
for (let d = 0; d < 50; d++) {
  fs.mkdirSync(path.join(src, `d${d}`, 'sub'), { recursive: true });
  for (let f = 0; f < 100; f++) fs.writeFileSync(path.join(src, `d${d}`, f % 2 ? 'sub' : '', `f${f}.txt`), 'x'.repeat(1000 + f * 10));
}
const ssh = ['-F', '/dev/null', '-o', 'BatchMode=yes', '-o', `UserKnownHostsFile=${sd.knownHosts}`, '-i', sd.clientKey, '-p', String(sd.port)].join(' ');
const tools: Record<string, (dst: string) => [string, string[]]> = {
  ferry: (dst) => [process.execPath, [ferryBin, 'sync', '-q', '-B', '-P', String(sd.port), '-o', `UserKnownHostsFile=${sd.knownHosts}`, src, `${sd.host}:${dst}`]],
  'rsync -a': (dst) => ['rsync', ['-a', '-e', `ssh ${ssh}`, `${src}/`, `${sd.host}:${dst}/`]],
  'rclone sync': (dst) => ['rclone', ['sync', '--config', '/dev/null', '--sftp-host', sd.host, '--sftp-port', String(sd.port), '--sftp-user', sd.user,
    '--sftp-key-file', sd.clientKey, '--sftp-known-hosts-file', sd.knownHosts, '-q', src, `:sftp:${dst}`]],
};
const env = { ...sd.env, FERRY_STATE_DIR: path.join(root, 'state') };
const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)];
const timed = (c: string, a: string[]) => {
  const t = Date.now();
  execFileSync(c, a, { env, stdio: 'inherit' });
  return (Date.now() - t) / 1000;
};
/** KiB the directory takes on disk, hard links counted once (what a snapshot costs). */
const duKiB = (dir: string) => Number(execFileSync('du', ['-sk', dir], { encoding: 'utf8' }).split('\t')[0]);

if (process.argv.includes('--link-dest')) {
  const bk = path.join(root, 'backups');
  fs.mkdirSync(bk);
  const [c, a] = tools.ferry(path.join(bk, 'snap0'));
  const first = timed(c, a);
  let changedBytes = 0;
  for (let d = 0; d < 50; d++) {
    // 1% of the 5,000 files: the first file of every directory.
    const f = path.join(src, `d${d}`, 'f0.txt');
    fs.writeFileSync(f, 'y'.repeat(1000));
    fs.utimesSync(f, new Date(), new Date(Date.now() + 5000));
    changedBytes += 1000;
  }
  // The no-change baseline syncs a mirror already up to date; snap0 stays the older snapshot throughout.
  const [mc, ma] = tools.ferry(path.join(bk, 'mirror'));
  timed(mc, ma);
  const link: number[] = [];
  const noChange: number[] = [];
  const changed: number[] = [];
  const growth: number[] = [];
  for (let i = 1; i <= 5; i++) {
    const before = duKiB(bk);
    const [lc, la] = tools.ferry(path.join(bk, `snap${i}`));
    link.push(timed(lc, [...la.slice(0, 2), '--link-dest', '../snap0', ...la.slice(2)]));
    growth.push(duKiB(bk) - before);
    noChange.push(timed(mc, ma));
    // The same 1% changed again (new mtimes), synced into the mirror: what sending them costs without links.
    for (let d = 0; d < 50; d++) fs.utimesSync(path.join(src, `d${d}`, 'f0.txt'), new Date(), new Date(Date.now() + 5000 + i * 1000));
    changed.push(timed(mc, ma));
  }
  const [ml, mn] = [median(link), median(noChange)];
  console.log(`first snapshot ${first.toFixed(2)} s; 50 of 5000 files changed (${changedBytes} bytes)`);
  console.log(`--link-dest snapshot: ${link.map((x) => x.toFixed(2)).join(' / ')} s (median ${ml.toFixed(2)})`);
  console.log(`no-change sync:       ${noChange.map((x) => x.toFixed(2)).join(' / ')} s (median ${mn.toFixed(2)})`);
  console.log(`1%-changed sync:      ${changed.map((x) => x.toFixed(2)).join(' / ')} s (median ${median(changed).toFixed(2)})`);
  console.log(`ratio ${(ml / mn).toFixed(2)}x the no-change sync, ${(ml / median(changed)).toFixed(2)}x the 1%-changed sync; server disk use grew ${growth.join(' / ')} KiB per snapshot (snap0: ${duKiB(path.join(bk, 'snap0'))} KiB)`);
  await sd.stop();
  fs.rmSync(root, { recursive: true, force: true });
  process.exit(0);
}
for (const [name, cmd] of Object.entries(tools)) {
  const dst = path.join(root, name.replace(/\W/g, '_'));
  const [c, a] = cmd(dst);
  let t = Date.now();
  // rclone's first upload is very slow here; seed its target with ferry's mirror instead.
  if (name.startsWith('rclone')) execFileSync('cp', ['-a', path.join(root, 'ferry'), dst]);
  execFileSync(c, a, { env, stdio: 'inherit' });
  const first = (Date.now() - t) / 1000;
  const times: number[] = [];
  for (let i = 0; i < 5; i++) {
    t = Date.now();
    execFileSync(c, a, { env, stdio: 'inherit' });
    times.push((Date.now() - t) / 1000);
  }
  console.log(`${name.padEnd(12)} first ${first.toFixed(2)} s; no-change runs ${times.map((x) => x.toFixed(2)).join(' / ')} s (median ${times.sort()[2].toFixed(2)})`);
}
await sd.stop();
fs.rmSync(root, { recursive: true, force: true });
