// Catalog 16 and 23: resuming from a partial of a given length.
// 16: a partial already holding 0, 1, 1 KiB, 1 MiB, size-1 and size bytes
//     (with the journal an interrupted run would have left), both ways: the
//     run sends exactly the rest ("size" sends nothing) and ends identical.
// 23: a sparse 4 GiB + 2 MiB file resumed at 4 GiB + 1 MiB: every offset past
//     2^32 exact, and only the last 1 MiB sent.
import { spawn } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import * as fs from 'node:fs/promises';
import * as os from 'node:os';
import * as path from 'node:path';
import { afterAll, beforeAll, describe, expect, it, type TestContext } from 'vitest';
import { journalKey, type PartialJournal } from '../../src/transfer/journal.js';
import { partialName } from '../../src/transfer/names.js';
import { bytesSent, expectCleanOutput, expectIdentical, jsonEvents, journalCount, MiB, ofType, sha256 } from '../support/hostile-checks.js';
import { scenario } from '../support/hostile-link.js';
import { ferryBin } from '../support/run-ferry.js';
import { startSshd, type Sshd } from '../support/sshd.js';

const SIZE = 9 * MiB + 5; // >= 8 MiB: files that small get no journal
const CHUNK = 256 * 1024;
const GiB = 1024 * MiB;
let sd: Sshd;
let work: string;
let src: string;
let source: Buffer;

beforeAll(async () => {
  [sd, work] = await Promise.all([startSshd(), fs.mkdtemp(path.join(os.tmpdir(), 'ferry-hostile-offsets-'))]);
  src = path.join(work, 'src.bin');
  source = randomBytes(SIZE);
  await fs.writeFile(src, source);
});
afterAll(async () => {
  await sd?.stop();
  if (work) await fs.rm(work, { recursive: true, force: true });
});

type Direction = 'download' | 'upload';

/** The journal an interrupted run would have left for `dst`, claiming [0, have) of `srcPath`. */
async function plantJournal(o: { stateDir: string; direction: Direction; srcPath: string; dst: string; size: number; have: number }) {
  const st = await fs.stat(o.srcPath);
  const remoteLabel = sd.host;
  const [srcLabel, dstLabel] = o.direction === 'download' ? [remoteLabel, 'local'] : ['local', remoteLabel];
  // What each endpoint reports as mtime: SFTP carries whole seconds, the local disk more.
  const mtime = o.direction === 'download' ? Math.floor(st.mtimeMs / 1000) : st.mtimeMs / 1000;
  const j: PartialJournal = {
    version: 1,
    source: { label: srcLabel, path: o.srcPath, size: o.size, mtime },
    dest: { label: dstLabel, path: o.dst, partial: partialName(o.dst) },
    chunk: CHUNK,
    done: o.have > 0 ? [[0, o.have]] : [],
  };
  await fs.mkdir(path.join(o.stateDir, 'partials'), { recursive: true });
  await fs.writeFile(path.join(o.stateDir, 'partials', `${journalKey(dstLabel, o.dst)}.json`), JSON.stringify(j));
}

describe.concurrent('16: resume from a partial of every interesting length', () => {
  const HAVE = [0, 1, 1024, MiB, SIZE - 1, SIZE];
  for (const direction of ['download', 'upload'] as const) {
    for (const have of HAVE) {
      it(`${direction}, partial of ${have} bytes: sends the other ${SIZE - have}, identical`, async () => {
        const s = await scenario(sd, work, `${direction}-${have}`);
        const dst = path.join(s.dir, 'copy.bin');
        await fs.writeFile(partialName(dst), source.subarray(0, have));
        await plantJournal({ stateDir: s.stateDir, direction, srcPath: src, dst, size: SIZE, have });
        const operands = direction === 'download' ? [`127.0.0.1:${src}`, dst] : [src, `127.0.0.1:${dst}`];
        const r = await s.cp(['--json', '-P', String(sd.port), ...operands]);
        expect(r.code, r.stderr).toBe(0);
        expectCleanOutput(r);
        const evs = jsonEvents(r.stdout);
        const [file] = ofType(evs, 'file');
        if (have === 0) {
          // Nothing recorded: started over, and said so.
          expect(ofType(evs, 'restart')).toHaveLength(1);
          expect(file.resumedFrom).toBe(0);
        } else {
          expect(ofType(evs, 'resume')[0]).toMatchObject({ resumedFrom: have, size: SIZE });
          expect(file.resumedFrom).toBe(have);
        }
        expect(bytesSent(r.stdout)).toBe(SIZE - have);
        await expectIdentical(dst, sha256(source));
        expect(await journalCount(s.stateDir)).toBe(0);
      });
    }
  }
});

/** ferry --json that is killed at once if it starts over (that would copy 4 GiB). */
function runResumeOnly(args: string[], s: { env: NodeJS.ProcessEnv; dir: string }, ctx: TestContext) {
  const child = spawn(process.execPath, [ferryBin, 'cp', '--json', ...args], { env: s.env, cwd: s.dir, stdio: ['ignore', 'pipe', 'pipe'] });
  ctx.onTestFinished(() => {
    if (child.exitCode === null && child.signalCode === null) child.kill('SIGKILL');
  });
  let stdout = '';
  let stderr = '';
  child.stdout.on('data', (d: Buffer) => {
    stdout += d.toString();
    if (stdout.includes('"event":"restart"')) child.kill('SIGKILL');
  });
  child.stderr.on('data', (d: Buffer) => (stderr += d.toString()));
  const timer = setTimeout(() => child.kill('SIGKILL'), 30_000);
  return new Promise<{ code: number | null; stdout: string; stderr: string }>((resolve) => {
    child.on('close', (code) => {
      clearTimeout(timer);
      resolve({ code, stdout, stderr });
    });
  });
}

async function sparseFile(file: string, size: number, at: number, data: Buffer): Promise<boolean> {
  const fh = await fs.open(file, 'w');
  try {
    await fh.truncate(size);
    await fh.write(data, 0, data.length, at);
  } finally {
    await fh.close();
  }
  // A filesystem without holes would hold 4 GiB of zeros: not here.
  return (await fs.stat(file)).blocks * 512 < 64 * MiB;
}

describe.concurrent('23: offsets past 2^32', () => {
  const BIG = 4 * GiB + 2 * MiB;
  const tail = randomBytes(2 * MiB);
  for (const direction of ['download', 'upload'] as const) {
    it(`${direction}: a sparse 4 GiB + 2 MiB file resumed at 4 GiB + 1 MiB is exact`, async (ctx) => {
      const s = await scenario(sd, work, `sparse-${direction}`);
      const bigSrc = path.join(s.dir, 'sparse-src.bin');
      const dst = path.join(s.dir, 'sparse-copy.bin');
      if (!(await sparseFile(bigSrc, BIG, 4 * GiB, tail))) return ctx.skip();
      await sparseFile(partialName(dst), 4 * GiB + MiB, 4 * GiB, tail.subarray(0, MiB));
      await plantJournal({ stateDir: s.stateDir, direction, srcPath: bigSrc, dst, size: BIG, have: 4 * GiB + MiB });
      const operands = direction === 'download' ? [`127.0.0.1:${bigSrc}`, dst] : [bigSrc, `127.0.0.1:${dst}`];
      const r = await runResumeOnly(['-P', String(sd.port), ...operands], s, ctx);
      expect(r.code, `${r.stderr}\n${r.stdout}`).toBe(0);
      expect(ofType(jsonEvents(r.stdout), 'file')[0]).toMatchObject({ resumedFrom: 4 * GiB + MiB, bytes: MiB });
      const st = await fs.stat(dst);
      expect(st.size).toBe(BIG);
      const fh = await fs.open(dst, 'r');
      try {
        const got = Buffer.alloc(2 * MiB);
        await fh.read(got, 0, got.length, 4 * GiB);
        expect(sha256(got)).toBe(sha256(tail));
        // Just before 2^32 and the region the resume started at: still what they should be.
        const edge = Buffer.alloc(4096);
        await fh.read(edge, 0, edge.length, 4 * GiB - 4096);
        expect(edge.every((b) => b === 0)).toBe(true);
      } finally {
        await fh.close();
      }
    });
  }
});
