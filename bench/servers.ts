/**
 * ferry against OpenSSH sftp on every server of the matrix (README "Servers"):
 * starts each server as the tests do, copies one file up and down with each
 * tool (best of N, whole command wall time), checks the bytes, prints a
 * Markdown table. `npx tsx bench/servers.ts [--size MiB] [--repeat N] [--only NAME]`; needs
 * root (Dropbear and the chroot use a throwaway user) and the built CLI.
 */
import { execFile, spawn } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import * as fs from 'node:fs/promises';
import * as os from 'node:os';
import * as path from 'node:path';
import { promisify } from 'node:util';
import { startChrootSftp, startOpensshServer } from '../test/support/chroot-sftp.js';
import { startDropbear } from '../test/support/dropbear.js';
import { startRcloneSftp } from '../test/support/rclone-sftp.js';
import { ferryBin } from '../test/support/run-ferry.js';
import type { TestServer } from '../test/support/server-setup.js';
import { sha256File } from '../test/support/sshd.js';

const execFileP = promisify(execFile);
const arg = (name: string, dflt: number) => {
  const i = process.argv.indexOf(`--${name}`);
  return i > 0 ? Number(process.argv[i + 1]) : dflt;
};
const SIZE = arg('size', 48) * 1024 * 1024;
const REPEAT = arg('repeat', 2);

const SERVERS: [string, () => Promise<TestServer>][] = [
  ['OpenSSH sshd', startOpensshServer],
  ['Dropbear', () => startDropbear()],
  ['rclone serve sftp', () => startRcloneSftp()],
  ['internal-sftp chroot', startChrootSftp],
];

function timed(cmd: string, args: string[], env: NodeJS.ProcessEnv, stdin = ''): Promise<number> {
  return new Promise((resolve, reject) => {
    const t0 = performance.now();
    const child = spawn(cmd, args, { env, stdio: ['pipe', 'ignore', 'pipe'] });
    let err = '';
    child.stderr.on('data', (d) => (err += d));
    child.stdin.end(stdin);
    child.on('close', (code) => (code === 0 ? resolve((performance.now() - t0) / 1000) : reject(new Error(`${cmd} ${args.join(' ')}: exit ${code}\n${err}`))));
  });
}

async function best(run: () => Promise<number>): Promise<number> {
  let t = Infinity;
  for (let i = 0; i < REPEAT; i++) t = Math.min(t, await run());
  return t;
}

async function main() {
  const work = await fs.mkdtemp(path.join(os.tmpdir(), 'ferry-bench-servers-'));
  const src = path.join(work, 'src.bin');
  await fs.writeFile(src, randomBytes(SIZE));
  const tiny = path.join(work, 'tiny.bin');
  await fs.writeFile(tiny, 'x');
  const want = await sha256File(src);
  const load = (await fs.readFile('/proc/loadavg', 'utf8')).split(' ')[0];
  console.log(`${SIZE / 1024 / 1024} MiB, loopback, best of ${REPEAT}, load average ${load} at start\n`);
  console.log('| server | direction | ferry s | sftp s | ferry vs sftp (>1: ferry faster) | bytes | setup s ferry / sftp | vs sftp after setup |');
  console.log('|---|---|---:|---:|---:|---|---:|---:|');
  try {
    const only = process.argv.includes('--only') ? process.argv[process.argv.indexOf('--only') + 1] : '';
    for (const [name, start] of SERVERS.filter(([n]) => n.toLowerCase().includes(only.toLowerCase()))) {
      const srv = await start();
      try {
        const home = srv.env.HOME!;
        const key = path.join(home, '.ssh', 'id_ed25519');
        const known = path.join(home, '.ssh', 'known_hosts');
        const at = `${srv.user}@${srv.host}`;
        const remote = (n: string) => path.posix.join(srv.remoteDir, n);
        const disk = (n: string) => path.join(srv.diskDir, n);
        const env = { ...srv.env, FERRY_STATE_DIR: path.join(work, 'state') };
        const sftp = (batch: string) => timed('sftp', ['-q', '-F', '/dev/null', '-P', String(srv.port), '-i', key, '-o', `UserKnownHostsFile=${known}`, '-o', 'BatchMode=yes', '-b', '-', at], env, batch);
        const ferry = (a: string, b: string) => timed(process.execPath, [ferryBin, 'cp', '-q', '-P', String(srv.port), a, b], env);
        // Setup: the same tool copying one byte (start-up, handshake, session, open, close).
        const setup = { ferry: await best(() => ferry(tiny, `${at}:${remote('t.bin')}`)), sftp: await best(() => sftp(`put ${tiny} ${remote('t.bin')}\n`)) };
        const up = { ferry: await best(() => ferry(src, `${at}:${remote('f.bin')}`)), sftp: await best(() => sftp(`put ${src} ${remote('s.bin')}\n`)) };
        const upOk = (await sha256File(disk('f.bin'))) === want && (await sha256File(disk('s.bin'))) === want;
        const back = (n: string) => path.join(work, n);
        const down = { ferry: await best(() => ferry(`${at}:${remote('s.bin')}`, back('f.bin'))), sftp: await best(() => sftp(`get ${remote('s.bin')} ${back('s.bin')}\n`)) };
        const downOk = (await sha256File(back('f.bin'))) === want && (await sha256File(back('s.bin'))) === want;
        for (const [dir, t, ok] of [['upload', up, upOk], ['download', down, downOk]] as const) {
          const after = (t.sftp - setup.sftp) / Math.max(t.ferry - setup.ferry, 1e-3);
          console.log(`| ${name} | ${dir} | ${t.ferry.toFixed(2)} | ${t.sftp.toFixed(2)} | ${(t.sftp / t.ferry).toFixed(2)}x | ${ok ? 'identical' : 'DIFFERENT'} | ${setup.ferry.toFixed(2)} / ${setup.sftp.toFixed(2)} | ${after.toFixed(2)}x |`);
        }
        await fs.rm(back('f.bin'), { force: true });
        await fs.rm(back('s.bin'), { force: true });
      } finally {
        await srv.stop();
      }
    }
  } finally {
    await fs.rm(work, { recursive: true, force: true });
  }
  console.log(`\nload average ${(await fs.readFile('/proc/loadavg', 'utf8')).split(' ')[0]} at end; ${(await execFileP('nproc')).stdout.trim()} cores`);
}

await main();
