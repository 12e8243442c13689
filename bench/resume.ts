/**
 * `npx tsx bench/resume.ts [--size MiB] [--at 0.9]`: what a rerun resends
 * after a cut. ferry copies a file (1 GiB by default) through a proxy that
 * cuts the link once 90% of the file's size has gone through it in the data's
 * direction (--retries 0, one connection, so the run stops there), then the
 * same command runs again through a proxy that only counts. Both directions.
 * Prints the bytes the rerun moved against what was still missing when the
 * link died, and what it moved the other way (replies, and the chunks of the
 * partial read back to check it). Needs `npm run build` first.
 */
import { spawn } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { createWriteStream } from 'node:fs';
import { copyFile, mkdtemp, rm, writeFile } from 'node:fs/promises';
import * as os from 'node:os';
import * as path from 'node:path';
import { startFaultProxy, type ProxyOptions } from '../test/support/fault-proxy.js';
import { ferryBin } from '../test/support/run-ferry.js';
import { sha256File, startSshd } from '../test/support/sshd.js';

const MiB = 1024 * 1024;
const CHUNK = 256 * 1024;

function arg(flag: string, fallback: number): number {
  const i = process.argv.indexOf(flag);
  const v = i >= 0 ? Number(process.argv[i + 1]) : fallback;
  if (!Number.isFinite(v) || v <= 0) throw new Error(`${flag} needs a positive number`);
  return v;
}

const sizeMiB = arg('--size', 1024);
const at = arg('--at', 0.9);
const size = sizeMiB * MiB;

async function makeFile(file: string) {
  const out = createWriteStream(file);
  for (let i = 0; i < sizeMiB; i++) if (!out.write(randomBytes(MiB))) await new Promise<void>((r) => out.once('drain', () => r()));
  await new Promise<void>((r, j) => out.end((e?: Error) => (e ? j(e) : r())));
}

const sd = await startSshd();
const work = await mkdtemp(path.join(os.tmpdir(), 'ferry-bench-resume-'));
const env = { ...sd.env, FERRY_STATE_DIR: path.join(work, 'state') };
const [keyType, keyB64] = sd.hostKeyPub.split(/\s+/);
try {
  const src = path.join(work, 'src.bin');
  await makeFile(src);
  const sum = await sha256File(src);
  for (const dir of ['upload', 'download'] as const) {
    const remote = path.join(work, `remote-${dir}.bin`);
    const local = path.join(work, `local-${dir}.bin`);
    if (dir === 'download') await copyFile(src, remote);
    const flow = dir === 'upload' ? 'up' : 'down';
    const run = async (opts: Partial<ProxyOptions>) => {
      const proxy = await startFaultProxy({ target: { host: sd.host, port: sd.port }, ...opts });
      const kh = path.join(work, `kh-${proxy.port}`);
      await writeFile(kh, `[${proxy.host}]:${proxy.port} ${keyType} ${keyB64}\n`);
      const r = `${sd.user}@${proxy.host}:${remote}`;
      const args = [ferryBin, 'cp', '-q', '-B', '--retries', '0', '--connections', '1', '-P', String(proxy.port), '-o', `UserKnownHostsFile=${kh}`,
        ...(dir === 'upload' ? [src, r] : [r, local])];
      // Not spawnSync: the proxy lives in this process and must keep forwarding.
      const child = spawn(process.execPath, args, { env, stdio: ['ignore', 'ignore', 'pipe'] });
      let stderr = '';
      child.stderr.on('data', (d: Buffer) => (stderr += d.toString()));
      const code = await new Promise<number | null>((r) => child.on('close', r));
      await proxy.close();
      return { code, stderr: stderr.trim(), bytes: proxy.bytes[flow], back: proxy.bytes[flow === 'up' ? 'down' : 'up'] };
    };
    const cutAt = Math.round(size * at);
    const first = await run({ cutAfterBytes: { [flow]: cutAt } });
    const second = await run({});
    const ok = (await sha256File(dir === 'upload' ? remote : local).catch(() => '')) === sum;
    const missing = size - cutAt;
    const excess = second.bytes - missing;
    console.log([
      `${sizeMiB} MiB ${dir}, link cut after ${(cutAt / MiB).toFixed(0)} MiB (${(at * 100).toFixed(0)}%):`,
      `  first run exit ${first.code} (${first.stderr.split('\n').pop()})`,
      `  rerun exit ${second.code}, identical: ${ok}`,
      `  rerun moved ${(second.bytes / MiB).toFixed(1)} MiB over the link (SSH framing included); ${(missing / MiB).toFixed(1)} MiB were missing`,
      `  and ${(second.back / MiB).toFixed(1)} MiB the other way (replies, and the partial read back to check it before resuming)`,
      `  excess ${(excess / MiB).toFixed(1)} MiB = ${(excess / CHUNK).toFixed(1)} chunks of 256 KiB = ${((100 * excess) / size).toFixed(2)}% of the file`,
    ].join('\n'));
  }
} finally {
  await sd.stop();
  await rm(work, { recursive: true, force: true });
}
