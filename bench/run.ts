/**
 * `npm run bench`: ferry side by side with OpenSSH sftp/scp, rsync and rclone
 * against one real sshd started here, on data made here. Prints MB/s, peak
 * RSS and ferry's ratio to each tool. Figures are measured, never asserted.
 *
 *   npm run bench                 # default cases
 *   npm run bench -- --size 1024  # file size in MiB for the single-file cases
 *   npm run bench -- --only upload,download --tools ferry,sftp
 */
import { spawn } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { mkdir, mkdtemp, rm, writeFile } from 'node:fs/promises';
import { createWriteStream } from 'node:fs';
import { tmpdir } from 'node:os';
import { startSshd, sha256File, type Sshd } from '../test/support/sshd.js';
import { ferry, rclone, rsync, scp, sftp, type Direction, type Tool } from './tools.js';

interface Args { sizeMiB: number; files: number; only?: string[]; tools?: string[]; repeat: number }

function parseArgs(argv: string[]): Args {
  const a: Args = { sizeMiB: 256, files: 5000, repeat: 1 };
  for (let i = 0; i < argv.length; i++) {
    const v = argv[i + 1];
    if (argv[i] === '--size') (a.sizeMiB = Number(v)), i++;
    else if (argv[i] === '--files') (a.files = Number(v)), i++;
    else if (argv[i] === '--only') (a.only = v.split(',')), i++;
    else if (argv[i] === '--tools') (a.tools = v.split(',')), i++;
    else if (argv[i] === '--repeat') (a.repeat = Number(v)), i++;
  }
  return a;
}

interface Measured { seconds: number; rssMiB: number; ok: boolean; note?: string }

function timed(cmd: string, args: string[], stdin: string | undefined, env: NodeJS.ProcessEnv): Promise<Measured> {
  return new Promise((resolve) => {
    const child = spawn('/usr/bin/time', ['-f', 'BENCH %e %M', cmd, ...args], { env, stdio: ['pipe', 'ignore', 'pipe'] });
    let err = '';
    child.stderr.on('data', (d: Buffer) => (err += d.toString()));
    child.stdin.end(stdin ?? '');
    child.on('close', (code) => {
      const m = /BENCH ([\d.]+) (\d+)/.exec(err);
      resolve({
        seconds: m ? Number(m[1]) : NaN,
        rssMiB: m ? Number(m[2]) / 1024 : NaN,
        ok: code === 0,
        note: code === 0 ? undefined : err.split('\n').filter((l) => l && !l.startsWith('BENCH')).slice(-2).join(' | '),
      });
    });
  });
}

async function makeFile(path: string, mib: number) {
  const out = createWriteStream(path);
  for (let i = 0; i < mib; i++) if (!out.write(randomBytes(1024 * 1024))) await new Promise((r) => out.once('drain', r));
  await new Promise<void>((r, j) => out.end((e?: Error) => (e ? j(e) : r())));
}

async function makeTree(dir: string, count: number) {
  await mkdir(dir, { recursive: true });
  for (let i = 0; i < count; i++) {
    const sub = `${dir}/d${Math.floor(i / 500)}`;
    if (i % 500 === 0) await mkdir(sub);
    await writeFile(`${sub}/f${i}.dat`, randomBytes(4096));
  }
}

interface Case { name: string; dir: Direction; recursive: boolean; bytes: number; src: string; verify?: string }

async function main() {
  const args = parseArgs(process.argv.slice(2));
  const allTools = [ferry, sftp, scp, rsync, rclone];
  const tools = allTools.filter((t) => !args.tools || args.tools.some((n) => t.name.toLowerCase().includes(n)));
  const work = await mkdtemp(`${tmpdir()}/ferry-bench-`);
  const sd: Sshd = await startSshd({ extraConfig: ['MaxSessions 100'] });
  const env = { ...sd.env };
  try {
    const big = `${work}/big.bin`;
    const tree = `${work}/tree`;
    const bytes = args.sizeMiB * 1024 * 1024;
    const cases: Case[] = [
      { name: `${args.sizeMiB} MiB upload, loopback`, dir: 'upload', recursive: false, bytes, src: big },
      { name: `${args.sizeMiB} MiB download, loopback`, dir: 'download', recursive: false, bytes, src: big },
      { name: `${args.files} x 4 KiB upload, loopback`, dir: 'upload', recursive: true, bytes: args.files * 4096, src: tree },
    ].filter((c) => !args.only || args.only.some((o) => c.name.includes(o)));
    process.stderr.write(`making data in ${work}\n`);
    await makeFile(big, args.sizeMiB);
    const bigSum = await sha256File(big);
    if (cases.some((c) => c.recursive)) await makeTree(tree, args.files);

    const rows: { case: string; tool: string; m: Measured }[] = [];
    for (const c of cases) {
      for (const tool of tools) {
        let best: Measured | undefined;
        for (let r = 0; r < args.repeat; r++) {
          const remote = `${work}/remote-${c.recursive ? 'tree' : 'big'}`;
          const local = c.dir === 'upload' ? c.src : `${work}/local-out`;
          await rm(remote, { recursive: true, force: true });
          await rm(`${work}/local-out`, { recursive: true, force: true });
          if (c.dir === 'download') await (c.recursive ? rm(remote) : writeFile(remote, '')).catch(() => undefined);
          const from = c.dir === 'download' ? big : undefined;
          if (from) await runCopy(from, remote);
          const run = tool.command(sd, c.dir, local, remote, { recursive: c.recursive });
          const m = await timed(run.cmd, run.args, run.stdin, env);
          if (m.ok && !c.recursive) {
            const out = c.dir === 'upload' ? remote : `${work}/local-out`;
            if ((await sha256File(out).catch(() => '')) !== bigSum) Object.assign(m, { ok: false, note: 'sha256 mismatch' });
          }
          if (!best || (m.ok && m.seconds < best.seconds)) best = m;
        }
        rows.push({ case: c.name, tool: tool.name, m: best! });
        process.stderr.write(`${c.name.padEnd(34)} ${tool.name.padEnd(20)} ${fmt(c.bytes, best!)}\n`);
      }
    }
    printTable(rows, cases);
  } finally {
    await sd.stop();
    await rm(work, { recursive: true, force: true });
  }
}

async function runCopy(from: string, to: string) {
  const { copyFile } = await import('node:fs/promises');
  await copyFile(from, to);
}

function fmt(bytes: number, m: Measured): string {
  if (!m.ok) return `FAILED ${m.note ?? ''}`;
  return `${(bytes / 1e6 / m.seconds).toFixed(1).padStart(7)} MB/s  ${m.seconds.toFixed(2).padStart(6)} s  RSS ${m.rssMiB.toFixed(0)} MiB`;
}

function printTable(rows: { case: string; tool: string; m: Measured }[], cases: Case[]) {
  const lines = ['', '| case | tool | MB/s | seconds | peak RSS MiB | ferry ratio |', '|---|---|---:|---:|---:|---:|'];
  for (const c of cases) {
    const f = rows.find((r) => r.case === c.name && r.tool === 'ferry');
    for (const r of rows.filter((x) => x.case === c.name)) {
      const rate = r.m.ok ? (c.bytes / 1e6 / r.m.seconds).toFixed(1) : 'failed';
      const ratio = f?.m.ok && r.m.ok && r.tool !== 'ferry' ? `${(r.m.seconds / f.m.seconds).toFixed(2)}x` : '';
      lines.push(`| ${c.name} | ${r.tool} | ${rate} | ${r.m.ok ? r.m.seconds.toFixed(2) : '-'} | ${r.m.rssMiB.toFixed(0)} | ${ratio} |`);
    }
  }
  process.stdout.write(lines.join('\n') + '\n');
}

main().catch((err) => {
  process.stderr.write(`bench: ${(err as Error).stack}\n`);
  process.exit(1);
});
