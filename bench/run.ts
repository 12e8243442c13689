/**
 * `npm run bench`: ferry side by side with OpenSSH sftp/scp, rsync and rclone
 * against one real sshd started here, on data made here, on loopback and
 * through a delay proxy (test/support/fault-proxy.ts: the kernel here has no
 * netem). Prints MB/s, peak RSS and ferry's ratio to each tool. Figures are
 * measured, never asserted.
 *
 *   npm run bench                          # 1 GiB loopback, 5,000 files, 256 MiB at 50/100 ms RTT
 *   npx tsx bench/run.ts --quick           # smoke run: 64 MiB, 500 files, 64 MiB delayed
 *   npm run bench -- --cases 100ms --tools ferry,sftp
 *
 * Options: --size MiB (loopback file), --files N, --delay-size MiB (proxied file),
 * --cases a,b (substrings of the case ids below), --tools a,b (substrings of
 * tool names), --repeat N (median of N), --timeout s (per tool run, default 600).
 * Case ids: up-loop down-loop files down-50ms up-50ms down-100ms up-100ms, and
 * against a second sshd whose sessions start 1 s late (a login shell running
 * conda/pyenv init): slow-up-4m slow-down-4m slow-files slow-up-50ms slow-down-50ms.
 */
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { copyFile, mkdir, mkdtemp, readdir, readFile, rm, writeFile } from 'node:fs/promises';
import { createWriteStream } from 'node:fs';
import { availableParallelism, loadavg, tmpdir } from 'node:os';
import { startFaultProxy, type FaultProxy } from '../test/support/fault-proxy.js';
import { startSshd, sha256File, type Sshd } from '../test/support/sshd.js';
import { connectSsh } from '../src/ssh/connect.js';
import { silentPrompter } from '../src/ssh/prompter.js';
import { formatTimeline, type SetupPhase } from '../src/ssh/timeline.js';
import { ferry, rclone, rsync, scp, sftp, type Direction, type Target, type Tool, type ToolRun } from './tools.js';

const LINK_RATE = 125e6; // bytes/s: a gigabit link
const RTTS_MS = [50, 100];
/** Seconds the slow server's sessions wait before sftp-server starts. */
const SLOW_SESSION_SEC = 1;

interface Args {
  sizeMiB: number; files: number; delaySizeMiB: number; repeat: number; timeoutSec: number; quick: boolean;
  cases?: string[]; tools?: string[];
}

function parseArgs(argv: string[]): Args {
  const set: Partial<Args> = {};
  let quick = false;
  const num = (flag: string, v: string | undefined) => {
    const n = Number(v);
    if (!Number.isInteger(n) || n < 1) throw new Error(`${flag} needs a positive integer, got ${JSON.stringify(v)}`);
    return n;
  };
  for (let i = 0; i < argv.length; i++) {
    const [flag, v] = [argv[i], argv[i + 1]];
    const list = () => (i++, (v ?? '').split(',').filter(Boolean));
    if (flag === '--quick') quick = true;
    else if (flag === '--size') (set.sizeMiB = num(flag, v)), i++;
    else if (flag === '--files') (set.files = num(flag, v)), i++;
    else if (flag === '--delay-size') (set.delaySizeMiB = num(flag, v)), i++;
    else if (flag === '--repeat') (set.repeat = num(flag, v)), i++;
    else if (flag === '--timeout') (set.timeoutSec = num(flag, v)), i++;
    else if (flag === '--cases' || flag === '--only') set.cases = list();
    else if (flag === '--tools') set.tools = list();
    else throw new Error(`unknown option ${flag} (see the comment at the top of bench/run.ts)`);
  }
  const sizes = quick ? { sizeMiB: 64, files: 500, delaySizeMiB: 64 } : { sizeMiB: 1024, files: 5000, delaySizeMiB: 256 };
  return { ...sizes, repeat: 1, timeoutSec: 600, quick, ...set };
}

interface Case {
  id: string;
  name: string;
  dir: Direction;
  recursive: boolean;
  bytes: number;
  /** File size in MiB for single-file cases. */
  mib?: number;
  /** Through the proxy: one-way delay each direction, and the cap. */
  link?: { oneWayMs: number; rate: number };
  /** Recursive cases: files and the size of each. */
  tree?: { count: number; size: number };
  /** Which sshd: the machine's own login shell, or one whose sessions start 1 s late. */
  server: 'fast' | 'slow';
}

function buildCases(a: Args): Case[] {
  const MiB = 1024 * 1024;
  const all: Case[] = [
    { id: 'up-loop', name: `${a.sizeMiB} MiB upload, loopback`, dir: 'upload', recursive: false, bytes: a.sizeMiB * MiB, mib: a.sizeMiB, server: 'fast' },
    { id: 'down-loop', name: `${a.sizeMiB} MiB download, loopback`, dir: 'download', recursive: false, bytes: a.sizeMiB * MiB, mib: a.sizeMiB, server: 'fast' },
    { id: 'files', name: `${a.files} x 4 KiB upload, loopback`, dir: 'upload', recursive: true, bytes: a.files * 4096, tree: { count: a.files, size: 4096 }, server: 'fast' },
  ];
  const slow = `slow sessions (+${SLOW_SESSION_SEC} s)`;
  all.push(
    { id: 'slow-up-4m', name: `4 MiB upload, loopback, ${slow}`, dir: 'upload', recursive: false, bytes: 4 * MiB, mib: 4, server: 'slow' },
    { id: 'slow-down-4m', name: `4 MiB download, loopback, ${slow}`, dir: 'download', recursive: false, bytes: 4 * MiB, mib: 4, server: 'slow' },
    { id: 'slow-files', name: `200 x 64 KiB upload, loopback, ${slow}`, dir: 'upload', recursive: true, bytes: 200 * 64 * 1024, tree: { count: 200, size: 64 * 1024 }, server: 'slow' },
  );
  for (const dir of ['upload', 'download'] as const) {
    all.push({
      id: `slow-${dir === 'download' ? 'down' : 'up'}-50ms`,
      name: `${a.delaySizeMiB} MiB ${dir}, 50 ms RTT, ${slow}`,
      dir, recursive: false, bytes: a.delaySizeMiB * MiB, mib: a.delaySizeMiB,
      link: { oneWayMs: 25, rate: LINK_RATE }, server: 'slow',
    });
  }
  for (const rtt of RTTS_MS) {
    for (const dir of ['download', 'upload'] as const) {
      all.push({
        id: `${dir === 'download' ? 'down' : 'up'}-${rtt}ms`,
        name: `${a.delaySizeMiB} MiB ${dir}, ${rtt} ms RTT, ${LINK_RATE / 1e6} MB/s`,
        dir, recursive: false, bytes: a.delaySizeMiB * MiB, mib: a.delaySizeMiB,
        link: { oneWayMs: rtt / 2, rate: LINK_RATE }, server: 'fast',
      });
    }
  }
  return all.filter((c) => !a.cases || a.cases.some((f) => c.id.includes(f)));
}

type Status = 'ok' | 'FAILED' | 'TIMEOUT';
interface Measured {
  seconds: number; rssMiB: number; status: Status; note?: string;
  /** User + system CPU seconds of the tool and the children it waited for (ssh for sftp/scp). */
  cpu: number;
  /** The same tool copying one byte over the same link: start-up, handshake and per-file round trips. */
  setup?: number;
}

let running: ChildProcess | undefined;
let interrupted = false;

/** Runs one tool under /usr/bin/time in its own process group, killed whole on timeout. */
function timed(run: ToolRun, env: NodeJS.ProcessEnv, timeoutMs: number): Promise<Measured> {
  return new Promise((resolve) => {
    const child = spawn('/usr/bin/time', ['-f', 'BENCH %e %M %U %S', run.cmd, ...run.args], { env, stdio: ['pipe', 'ignore', 'pipe'], detached: true });
    running = child;
    let err = '';
    let timedOut = false;
    const timer = setTimeout(() => {
      timedOut = true;
      killGroup(child);
    }, timeoutMs);
    child.stderr!.on('data', (d: Buffer) => (err = (err + d.toString()).slice(-8192)));
    child.stdin!.on('error', () => {});
    child.stdin!.end(run.stdin ?? '');
    child.on('close', (code) => {
      clearTimeout(timer);
      running = undefined;
      const m = /BENCH ([\d.]+) (\d+) ([\d.]+) ([\d.]+)/.exec(err);
      const status: Status = timedOut ? 'TIMEOUT' : code === 0 && m ? 'ok' : 'FAILED';
      const tail = err.split('\n').filter((l) => l && !l.startsWith('BENCH') && !l.startsWith('Command ')).slice(-2).join(' | ');
      resolve({
        seconds: m ? Number(m[1]) : NaN,
        rssMiB: m ? Number(m[2]) / 1024 : NaN,
        cpu: m ? Number(m[3]) + Number(m[4]) : NaN,
        status,
        note: status === 'ok' ? undefined : timedOut ? `killed after ${timeoutMs / 1000} s` : tail || `exit ${code}`,
      });
    });
  });
}

function killGroup(child: ChildProcess) {
  try {
    process.kill(-child.pid!, 'SIGKILL');
  } catch {
    // already gone
  }
}

async function makeFile(path: string, mib: number) {
  const out = createWriteStream(path);
  for (let i = 0; i < mib; i++) if (!out.write(randomBytes(1024 * 1024))) await new Promise<void>((r) => out.once('drain', () => r()));
  await new Promise<void>((r, j) => out.end((e?: Error) => (e ? j(e) : r())));
}

async function makeTree(dir: string, count: number, size: number) {
  await mkdir(dir, { recursive: true });
  for (let i = 0; i < count; i++) {
    const sub = `${dir}/d${Math.floor(i / 500)}`;
    if (i % 500 === 0) await mkdir(sub);
    await writeFile(`${sub}/f${i}.dat`, randomBytes(size));
  }
}

/**
 * What one SFTP session costs on this server: channel open to VERSION, as
 * ferry's client measures it, median of 3 (one connection, three sessions).
 */
async function sessionStartMs(sd: Sshd): Promise<number> {
  const conn = await connectSsh({
    alias: sd.host, user: sd.user, prompter: silentPrompter,
    cli: { configFile: 'none', port: sd.port, options: [`UserKnownHostsFile=${sd.knownHosts}`, 'GlobalKnownHostsFile=none', `IdentityFile=${sd.clientKey}`, 'BatchMode=yes'] },
  });
  try {
    const times: number[] = [];
    for (let i = 0; i < 3; i++) {
      const t0 = performance.now();
      const sftp = await conn.openSftp();
      times.push(performance.now() - t0);
      sftp.end();
    }
    return median(times);
  } finally {
    conn.end();
  }
}

function median(xs: number[]): number {
  const s = [...xs].sort((a, b) => a - b);
  return s[Math.floor((s.length - 1) / 2)];
}

async function countFiles(dir: string): Promise<number> {
  const entries = await readdir(dir, { recursive: true, withFileTypes: true }).catch(() => []);
  return entries.filter((e) => e.isFile()).length;
}

/** A proxy with the case's link in front of sshd, and a known_hosts pinning sshd's key at the proxy's port. */
async function startLink(sd: Sshd, link: NonNullable<Case['link']>, work: string): Promise<{ proxy: FaultProxy; target: Target }> {
  const proxy = await startFaultProxy({
    target: { host: sd.host, port: sd.port },
    delayMs: { up: link.oneWayMs, down: link.oneWayMs },
    rateBytesPerSec: link.rate,
  });
  const [keyType, keyB64] = sd.hostKeyPub.split(/\s+/);
  const knownHosts = `${work}/known_hosts_proxy`;
  await writeFile(knownHosts, `[${proxy.host}]:${proxy.port} ${keyType} ${keyB64}\n`, { mode: 0o600 });
  return { proxy, target: { ...sd, host: proxy.host, port: proxy.port, knownHosts } };
}

interface Row { c: Case; tool: string; m: Measured }

/** ferry's setup timeline for a 1-byte copy over each case's link (its --json `setup` event). */
const timelines = new Map<Case, SetupPhase[]>();

async function ferryTimeline(c: Case, ctx: { sd: Sshd; work: string; args: Args }): Promise<void> {
  const { sd, work, args } = ctx;
  const [tinyLocal, tinyRemote, tinyOut] = [`${work}/tiny.bin`, `${work}/tiny-remote.bin`, `${work}/tiny-out.bin`];
  const link = c.link ? await startLink(sd, c.link, work) : undefined;
  try {
    const [from, to] = c.dir === 'upload' ? [tinyLocal, tinyRemote] : [tinyOut, tinyRemote];
    const run = ferry.command(link?.target ?? sd, c.dir, from, to, { recursive: false });
    const args2 = run.args.map((a) => (a === '-q' ? '--json' : a));
    const r = spawnSync(run.cmd, args2, { env: sd.env, encoding: 'utf8', timeout: args.timeoutSec * 1000 });
    const ev = (r.stdout ?? '').split('\n').filter(Boolean).map((l) => JSON.parse(l) as { event: string; phases?: SetupPhase[] }).find((e) => e.event === 'setup');
    if (ev?.phases) timelines.set(c, ev.phases);
  } finally {
    await link?.proxy.close();
  }
}

async function runCase(c: Case, ctx: { sd: Sshd; work: string; args: Args; src: string; sum?: string }, tools: Tool[]): Promise<Row[]> {
  const { sd, work, args } = ctx;
  const remote = `${work}/remote-${c.recursive ? 'tree' : 'big'}`;
  const localOut = `${work}/local-out`;
  await rm(remote, { recursive: true, force: true });
  if (c.dir === 'download') await copyFile(ctx.src, remote);
  const rows: Row[] = [];
  if (c.mib) await writeFile(`${work}/tiny.bin`, 'x');
  for (const tool of tools) {
    const setup = c.mib ? await setupSeconds(c, ctx, tool) : undefined;
    if (c.mib && tool === ferry) await ferryTimeline(c, ctx);
    const runs: Measured[] = [];
    for (let r = 0; r < args.repeat && !interrupted; r++) {
      if (c.dir === 'upload') await rm(remote, { recursive: true, force: true });
      await rm(localOut, { recursive: true, force: true });
      const link = c.link ? await startLink(sd, c.link, work) : undefined;
      let m: Measured;
      try {
        const local = c.dir === 'upload' ? ctx.src : localOut;
        m = await timed(tool.command(link?.target ?? sd, c.dir, local, remote, { recursive: c.recursive }), sd.env, args.timeoutSec * 1000);
      } finally {
        await link?.proxy.close();
      }
      if (m.status === 'ok') Object.assign(m, await verify(c, ctx, c.dir === 'upload' ? remote : localOut, link?.proxy));
      runs.push(m);
    }
    // The median run (a failed run counts as slowest), so one lucky or unlucky run does not decide.
    const ranked = runs.map((m) => ({ m, key: m.status === 'ok' ? m.seconds : Infinity })).sort((a, b) => a.key - b.key);
    const best = ranked[Math.floor((ranked.length - 1) / 2)]?.m;
    if (!best) break;
    best.setup = setup;
    rows.push({ c, tool: tool.name, m: best });
    process.stderr.write(`${c.name.padEnd(40)} ${tool.name.padEnd(20)} ${fmt(c.bytes, best)}\n`);
  }
  return rows;
}

/**
 * Seconds the tool needs to copy one byte over the case's link, best of
 * --repeat: what every run pays before the first byte of data moves. The
 * table shows the rate after it, so a long link's fixed cost (a dozen round
 * trips at 100 ms) is not mistaken for transfer speed.
 */
async function setupSeconds(c: Case, ctx: { sd: Sshd; work: string; args: Args }, tool: Tool): Promise<number | undefined> {
  const { sd, work, args } = ctx;
  const [tinyLocal, tinyRemote, tinyOut] = [`${work}/tiny.bin`, `${work}/tiny-remote.bin`, `${work}/tiny-out.bin`];
  if (c.dir === 'download') await copyFile(tinyLocal, tinyRemote);
  let best: number | undefined;
  for (let r = 0; r < args.repeat && !interrupted; r++) {
    await rm(c.dir === 'upload' ? tinyRemote : tinyOut, { force: true });
    const link = c.link ? await startLink(sd, c.link, work) : undefined;
    try {
      const [from, to] = c.dir === 'upload' ? [tinyLocal, tinyRemote] : [tinyOut, tinyRemote];
      const m = await timed(tool.command(link?.target ?? sd, c.dir, from, to, { recursive: false }), sd.env, args.timeoutSec * 1000);
      if (m.status === 'ok' && (best === undefined || m.seconds < best)) best = m.seconds;
    } finally {
      await link?.proxy.close();
    }
  }
  return best;
}

/** A run only counts if the copy is right and, through the proxy, really went through it. */
async function verify(c: Case, ctx: { args: Args; sum?: string }, out: string, proxy?: FaultProxy): Promise<Partial<Measured>> {
  if (proxy && proxy.bytes.up + proxy.bytes.down < c.bytes) return { status: 'FAILED', note: 'traffic did not go through the proxy' };
  if (c.recursive) {
    const n = await countFiles(out);
    const want = c.tree?.count ?? 0;
    return n === want ? {} : { status: 'FAILED', note: `${n} of ${want} files arrived` };
  }
  return (await sha256File(out).catch(() => '')) === ctx.sum ? {} : { status: 'FAILED', note: 'sha256 mismatch' };
}

function mbps(bytes: number, m: Measured): number {
  return bytes / 1e6 / m.seconds;
}

/** Two decimals below 10 MB/s, so the small-files case doesn't show as 0.0. */
function fmtRate(x: number): string {
  return x.toFixed(x < 10 ? 2 : 1);
}

function fmt(bytes: number, m: Measured): string {
  if (m.status !== 'ok') return `${m.status} ${m.note ?? ''}`;
  return `${fmtRate(mbps(bytes, m)).padStart(7)} MB/s  ${m.seconds.toFixed(2).padStart(6)} s  RSS ${m.rssMiB.toFixed(0)} MiB`;
}

function firstLine(cmd: string, args: string[]): string {
  const r = spawnSync(cmd, args, { encoding: 'utf8' });
  return `${r.stdout ?? ''}${r.stderr ?? ''}`.split('\n')[0].trim() || `${cmd}: unavailable`;
}

async function describeMachine(): Promise<string> {
  const cpuinfo = await readFile('/proc/cpuinfo', 'utf8').catch(() => '');
  const model = /^model name\s*:\s*(.+)$/m.exec(cpuinfo)?.[1]?.trim() ?? 'unknown CPU';
  const nproc = firstLine('nproc', []) || String(availableParallelism());
  return [
    `Machine: ${model}, nproc ${nproc}, Node ${process.version}, ${firstLine('ssh', ['-V'])}`,
    `Also: ${firstLine('rclone', ['version'])}, ${firstLine('rsync', ['--version']).replace(/\s+/g, ' ')}`,
  ].join('\n');
}

function printTable(rows: Row[], cases: Case[], header: string, sessionStart: Map<Case['server'], number>) {
  const lines = [
    '', header, '',
    '| case | session start s | tool | MB/s | seconds | CPU s/GiB | peak RSS MiB | ferry ÷ tool (>1: ferry faster) | setup s | MB/s after setup |',
    '|---|---:|---|---:|---:|---:|---:|---:|---:|---:|',
  ];
  const notes: string[] = [];
  for (const c of cases) {
    const f = rows.find((r) => r.c === c && r.tool === ferry.name);
    for (const r of rows.filter((x) => x.c === c)) {
      const ok = r.m.status === 'ok';
      const rate = ok ? fmtRate(mbps(c.bytes, r.m)) : r.m.status;
      const ratio = r.tool === ferry.name ? '—' : f?.m.status === 'ok' && ok ? `${(mbps(c.bytes, f.m) / mbps(c.bytes, r.m)).toFixed(2)}` : '';
      const rss = Number.isNaN(r.m.rssMiB) ? '-' : r.m.rssMiB.toFixed(0);
      const after = ok && r.m.setup !== undefined && r.m.seconds > r.m.setup ? fmtRate(c.bytes / 1e6 / (r.m.seconds - r.m.setup)) : '-';
      const setup = r.m.setup === undefined ? '-' : r.m.setup.toFixed(2);
      const cpu = ok && !Number.isNaN(r.m.cpu) ? (r.m.cpu / (c.bytes / 2 ** 30)).toFixed(2) : '-';
      const session = sessionStart.get(c.server);
      lines.push(`| ${c.name} | ${session === undefined ? '-' : (session / 1000).toFixed(2)} | ${r.tool} | ${rate} | ${ok ? r.m.seconds.toFixed(2) : '-'} | ${cpu} | ${rss} | ${ratio} | ${setup} | ${after} |`);
      if (!ok) notes.push(`- ${c.name}, ${r.tool}: ${r.m.status}: ${r.m.note ?? ''}`);
    }
  }
  lines.push('', 'Seconds are wall time of the whole command (start-up and SSH handshake included); peak RSS is');
  lines.push('the largest single process /usr/bin/time saw (for sftp/scp/rsync: the client, ssh or rsync).');
  lines.push('Setup is the same tool copying a 1-byte file over the same link (start-up, handshake, round');
  lines.push('trips before data moves); MB/s after setup = bytes / (seconds - setup). Session start is');
  lines.push('the server\'s measured cost of one SFTP session (channel open to VERSION, median of 3);');
  lines.push('CPU s/GiB is the client\'s user+system time per GiB moved.');
  if (notes.length) lines.push('', ...notes);
  const tl = cases.filter((c) => timelines.has(c));
  if (tl.length) {
    lines.push('', 'ferry\'s setup timeline for the 1-byte copy of each case (`--json` setup event):', '');
    for (const c of tl) lines.push(`- ${c.name}: ${formatTimeline(timelines.get(c)!)}`);
  }
  process.stdout.write(lines.join('\n') + '\n');
}

async function main() {
  const args = parseArgs(process.argv.slice(2));
  const allTools = [ferry, sftp, scp, rsync, rclone];
  const tools = allTools.filter((t) => !args.tools || args.tools.some((n) => t.name.toLowerCase().includes(n.toLowerCase())));
  const cases = buildCases(args);
  if (!cases.length || !tools.length) throw new Error('no case or no tool left after --cases/--tools');
  process.once('SIGINT', () => {
    interrupted = true;
    if (running) killGroup(running);
  });
  const load0 = loadavg()[0];
  const work = await mkdtemp(`${tmpdir()}/ferry-bench-`);
  const servers = new Map<Case['server'], Sshd>();
  const sessionStart = new Map<Case['server'], number>();
  try {
    for (const kind of new Set(cases.map((c) => c.server))) {
      const sd = await startSshd({ extraConfig: ['MaxSessions 100'], sessionStartDelay: kind === 'slow' ? SLOW_SESSION_SEC : undefined });
      servers.set(kind, sd);
      sessionStart.set(kind, await sessionStartMs(sd));
    }
    process.stderr.write(`making data in ${work}\n`);
    const files = new Map<number, { src: string; sum: string }>();
    for (const mib of new Set(cases.flatMap((c) => (c.mib ? [c.mib] : [])))) {
      const src = `${work}/big-${mib}.bin`;
      await makeFile(src, mib);
      files.set(mib, { src, sum: await sha256File(src) });
    }
    const trees = new Map<string, string>();
    for (const c of cases) {
      if (!c.tree) continue;
      const key = `${c.tree.count}x${c.tree.size}`;
      if (!trees.has(key)) {
        trees.set(key, `${work}/tree-${key}`);
        await makeTree(trees.get(key)!, c.tree.count, c.tree.size);
      }
    }

    const rows: Row[] = [];
    for (const c of cases) {
      if (interrupted) break;
      const data = c.mib ? files.get(c.mib)! : { src: trees.get(`${c.tree!.count}x${c.tree!.size}`)!, sum: undefined };
      rows.push(...(await runCase(c, { sd: servers.get(c.server)!, work, args, ...data }, tools)));
    }
    const mode = args.quick ? 'quick run (--quick)' : 'full run';
    const header = `${await describeMachine()}\nLoad average (1 min) ${load0.toFixed(1)} at start, ${loadavg()[0].toFixed(1)} at end; ${mode}, median of ${args.repeat}.`;
    printTable(rows, cases.filter((c) => rows.some((r) => r.c === c)), header, sessionStart);
    if (interrupted) process.exitCode = 130;
  } finally {
    await Promise.all([...servers.values()].map((sd) => sd.stop()));
    await rm(work, { recursive: true, force: true });
  }
}

main().catch((err) => {
  process.stderr.write(`bench: ${(err as Error).stack}\n`);
  process.exit(1);
});
