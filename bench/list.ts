/**
 * `npx tsx bench/list.ts [--files N] [--runs N] [--concurrency a,b] [--rtt ms]`:
 * how long listing a remote tree takes through ferry's SFTP endpoint (the walk
 * of a no-change sync), against a local sshd (or through a delay proxy in front
 * of it, --rtt), on the cached tree of bench/sync.ts (default 200,000 files in
 * 2,000 directories). Prints each walk and the median per concurrency (default
 * 8, as sync walks, and 1); run under `node --cpu-prof --import tsx` to see
 * where the time goes.
 */
import { spawn } from 'node:child_process';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { startSshd } from '../test/support/sshd.js';
import { connectSsh } from '../src/ssh/connect.js';
import { silentPrompter } from '../src/ssh/prompter.js';
import { SftpEndpoint } from '../src/transfer/sftp.js';
import { walkTree } from '../src/transfer/tree.js';
import { cachedTree } from './tree-cache.js';

const arg = (flag: string, dflt: string) => {
  const i = process.argv.indexOf(flag);
  return i < 0 ? dflt : process.argv[i + 1];
};
const files = Number(arg('--files', '200000'));
const runs = Number(arg('--runs', '5'));
const rttMs = Number(arg('--rtt', '0'));
const concurrencies = arg('--concurrency', '8,1').split(',').map(Number);
const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)];

const root = cachedTree(files);
const sd = await startSshd();
/**
 * A delay proxy (test/support/fault-proxy.ts) in front of sshd, half the round trip
 * each way, in a process of its own: in this one it would take the walk's CPU.
 */
async function startProxy(port: number, rtt: number): Promise<{ port: number; close(): void }> {
  const code = `const { startFaultProxy } = await import(${JSON.stringify(new URL('../test/support/fault-proxy.ts', import.meta.url).href)});
    const p = await startFaultProxy({ target: { host: '127.0.0.1', port: ${port} }, delayMs: { up: ${rtt / 2}, down: ${rtt / 2} } });
    console.log(p.port);`;
  const child = spawn(process.execPath, ['--import', 'tsx', '--input-type=module', '-e', code], { stdio: ['ignore', 'pipe', 'inherit'] });
  const out = await new Promise<string>((resolve, reject) => {
    child.stdout!.once('data', (d) => resolve(String(d)));
    child.once('exit', (c) => reject(new Error(`delay proxy exited (${c})`)));
  });
  process.once('exit', () => child.kill()); // even when this run dies of an error
  return { port: Number(out), close: () => child.kill() };
}
const proxy = rttMs ? await startProxy(sd.port, rttMs) : undefined;
const work = fs.mkdtempSync(path.join(os.tmpdir(), 'ferry-bench-list-'));
const knownHosts = path.join(work, 'known_hosts');
fs.writeFileSync(knownHosts, `[${sd.host}]:${proxy?.port ?? sd.port} ${sd.hostKeyPub.split(/\s+/).slice(0, 2).join(' ')}\n`);
const conn = await connectSsh({
  alias: sd.host, user: sd.user, prompter: silentPrompter,
  cli: { configFile: 'none', port: proxy?.port ?? sd.port, options: [`UserKnownHostsFile=${knownHosts}`, 'GlobalKnownHostsFile=none', `IdentityFile=${sd.clientKey}`, 'BatchMode=yes'] },
});
try {
  const ep = new SftpEndpoint(await conn.openSftp(), { label: sd.host });
  await walkTree(ep, root, { concurrency: 8 }); // warm-up: server's page cache, JIT
  for (const concurrency of concurrencies) {
    const times: number[] = [];
    for (let i = 0; i < runs; i++) {
      const t0 = performance.now();
      const tree = await walkTree(ep, root, { concurrency });
      times.push((performance.now() - t0) / 1000);
      if (tree.entries.size < files || tree.errors.length) throw new Error(`listed ${tree.entries.size} entries, ${tree.errors.length} errors`);
    }
    console.log(`concurrency ${concurrency}: ${times.map((t) => t.toFixed(2)).join(' / ')} s (median ${median(times).toFixed(2)})`);
  }
  await ep.end();
} finally {
  conn.end();
  proxy?.close();
  await sd.stop();
  fs.rmSync(work, { recursive: true, force: true });
}
