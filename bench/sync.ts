/**
 * `npx tsx bench/sync.ts`: the cron case. A second, no-change sync of a
 * 5,000-file tree (100 directories) to a local sshd with ferry sync, rsync -a
 * over ssh and rclone sync, same key, same server, same run. Prints the first
 * run and five no-change runs per tool.
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
