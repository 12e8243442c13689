// Catalog 20, 21, 22: copies at the edges.
// 20: a file copied onto itself (every way it can be named) keeps its bytes; a
//     longer existing target, or a longer stale partial, ends exactly as long
//     as the source; several sources into one file fail before any write.
//     (cp-forms.test.ts and cp-errors.test.ts cover the plain cases.)
// 21: sizes 0, 1, C-1, C, C+1, 2C-1, 2C, 2C+1 and 7C for each chunk size C
//     ferry uses (OpenSSH's sftp-server limits, and the 31952-byte default
//     for servers without limits@openssh.com), with 1, 2 and 4 connections,
//     both ways.
// 22: 2,000 small files under `ulimit -n 256`: all identical, no EMFILE.
import { spawn } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import * as fs from 'node:fs/promises';
import * as os from 'node:os';
import * as path from 'node:path';
import ssh2 from 'ssh2';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { expectCleanOutput, expectIdentical, MiB, sha256 } from '../support/hostile-checks.js';
import { scenario } from '../support/hostile-link.js';
import { startHostileServer, type HostileServer } from '../support/hostile-server.js';
import { findPartials, listTree } from '../support/cp-helpers.js';
import { ferryBin } from '../support/run-ferry.js';
import { startSshd, type Sshd } from '../support/sshd.js';

let sd: Sshd;
let srv: HostileServer;
let work: string;

beforeAll(async () => {
  [sd, srv, work] = await Promise.all([startSshd(), startHostileServer(), fs.mkdtemp(path.join(os.tmpdir(), 'ferry-hostile-edge-'))]);
});
afterAll(async () => {
  await Promise.all([sd?.stop(), srv?.close()]);
  if (work) await fs.rm(work, { recursive: true, force: true });
});

describe.concurrent('20: self-copies, longer targets, several sources into one file', () => {
  it('a file copied onto itself, named every way, keeps its bytes', async () => {
    const s = await scenario(sd, work, 'self');
    const file = path.join(s.dir, 'same.bin');
    const data = randomBytes(3 * MiB + 1);
    await fs.writeFile(file, data);
    const remote = `127.0.0.1:${file}`;
    for (const [from, to] of [[file, file], [remote, file], [file, remote], [remote, remote]]) {
      const r = await s.cp(['-P', String(sd.port), from, to]);
      expectCleanOutput(r);
      // Success or a refusal are both fine; losing the file is not.
      expect([0, 1], r.stderr).toContain(r.code);
      await expectIdentical(file, sha256(data));
    }
    expect(await findPartials(s.dir)).toEqual([]);
  });

  for (const direction of ['download', 'upload'] as const) {
    it(`${direction}: a longer existing target and a longer stale partial end exactly as long as the source`, async () => {
      const s = await scenario(sd, work, `longer-${direction}`);
      const src = path.join(s.dir, 'src.bin');
      const data = randomBytes(MiB + 7);
      await fs.writeFile(src, data);
      const operands = (dst: string) => (direction === 'download' ? [`127.0.0.1:${src}`, dst] : [src, `127.0.0.1:${dst}`]);
      const longer = path.join(s.dir, 'longer.bin');
      await fs.writeFile(longer, randomBytes(5 * MiB));
      const stale = path.join(s.dir, 'stale.bin');
      await fs.writeFile(path.join(s.dir, '.stale.bin.ferry-part'), randomBytes(5 * MiB)); // no journal: not ours to trust
      for (const dst of [longer, stale]) {
        const r = await s.cp(['-P', String(sd.port), ...operands(dst)]);
        expect(r.code, r.stderr).toBe(0);
        expect((await fs.stat(dst)).size).toBe(data.length);
        await expectIdentical(dst, sha256(data));
      }
      expect(await findPartials(s.dir)).toEqual([]);
    });
  }

  it('several sources onto one existing file (download): exit 2 before any write', async () => {
    const s = await scenario(sd, work, 'many-to-one');
    for (const n of ['a', 'b']) await fs.writeFile(path.join(s.dir, n), n);
    const target = path.join(s.dir, 'target');
    await fs.writeFile(target, 'old');
    const r = await s.cp(['-P', String(sd.port), `127.0.0.1:${s.dir}/a`, `127.0.0.1:${s.dir}/b`, target]);
    expect(r.code, r.stderr).toBe(2);
    expect(r.stderr).toMatch(/not a directory/);
    expect(await fs.readFile(target, 'utf8')).toBe('old');
    expect((await fs.readdir(s.dir)).sort()).toEqual(['a', 'b', 'state', 'target']);
  });
});

/** The read/write limits ssh2 settles on for a server, as ferry's SFTP endpoint will see them. */
function sftpLimits(port: number, username: string, privateKey: Buffer, hostKeyCheck: (key: Buffer) => boolean): Promise<{ maxRead: number; maxWrite: number }> {
  return new Promise((resolve, reject) => {
    const c = new ssh2.Client();
    c.on('error', reject).on('ready', () => c.sftp((err, sftp) => {
      if (err) return reject(err);
      const s = sftp as unknown as { _maxReadLen: number; _maxWriteLen: number };
      resolve({ maxRead: s._maxReadLen, maxWrite: s._maxWriteLen });
      c.end();
    })).connect({ host: '127.0.0.1', port, username, privateKey, hostVerifier: hostKeyCheck });
  });
}

describe.concurrent('21: sizes around every chunk size, 1/2/4 connections, both ways', () => {
  const ENGINE_CHUNK = 256 * 1024; // Transfer's default request size, capped by the server's limits
  const sizes = (c: number) => [0, 1, c - 1, c, c + 1, 2 * c - 1, 2 * c, 2 * c + 1, 7 * c];

  for (const openssh of [true, false]) {
    const name = openssh ? 'OpenSSH sftp-server' : 'a server without limits@openssh.com';
    for (const connections of [1, 2, 4]) {
      for (const direction of ['download', 'upload'] as const) {
        it(`${name}, --connections ${connections}, ${direction}`, async () => {
          const key = await fs.readFile(openssh ? sd.clientKey : srv.clientKey);
          const limits = await sftpLimits(openssh ? sd.port : srv.port, openssh ? sd.user : 'ferry', key, () => true);
          const c = Math.min(ENGINE_CHUNK, limits.maxRead, limits.maxWrite);
          expect(c).toBe(openssh ? 261_120 : 31_952);
          // The remote side of the copy lives where the server serves it from.
          const base = await fs.mkdtemp(path.join(openssh ? work : srv.root, 'sizes-'));
          const remote = (sub: string) => (openssh ? `127.0.0.1:${path.join(base, sub)}` : srv.remote(`/${path.basename(base)}/${sub}`));
          const local = await fs.mkdtemp(path.join(work, 'sizes-local-'));
          const srcDir = path.join(direction === 'download' ? base : local, 'src');
          const dstDir = path.join(direction === 'download' ? local : base, 'dst');
          await fs.mkdir(srcDir);
          const digests = new Map<string, string>();
          for (const n of sizes(c)) {
            const data = randomBytes(n);
            await fs.writeFile(path.join(srcDir, `s${n}`), data);
            digests.set(`s${n}`, sha256(data));
          }
          const args = ['-r', '--connections', String(connections), ...(direction === 'download' ? [remote('src'), dstDir] : [srcDir, remote('dst')])];
          const r = openssh ? await (await scenario(sd, work, 'sizes')).cp(['-P', String(sd.port), ...args]) : await srv.cp(args);
          expect(r.code, r.stderr).toBe(0);
          expectCleanOutput(r);
          expect(await listTree(dstDir)).toEqual([...digests.keys()].sort());
          for (const [n, d] of digests) await expectIdentical(path.join(dstDir, n), d);
        });
      }
    }
  }
});

describe.concurrent('22: 2,000 small files with 256 file descriptors', () => {
  const COUNT = 2000;
  let tree: string;
  const digests = new Map<string, string>();
  beforeAll(async () => {
    tree = path.join(work, 'many');
    for (let d = 0; d < 4; d++) await fs.mkdir(path.join(tree, `d${d}`), { recursive: true });
    await Promise.all(Array.from({ length: COUNT }, async (_, i) => {
      const rel = `d${i % 4}/f${i}`;
      const data = randomBytes(i % 4097);
      await fs.writeFile(path.join(tree, rel), data);
      digests.set(rel, sha256(data));
    }));
  });

  for (const direction of ['download', 'upload'] as const) {
    it(`${direction} -r under ulimit -n 256: all identical, no EMFILE`, async () => {
      const s = await scenario(sd, work, `many-${direction}`);
      const dst = path.join(s.dir, 'dst');
      const operands = direction === 'download' ? [`127.0.0.1:${tree}`, dst] : [tree, `127.0.0.1:${dst}`];
      const child = spawn('prlimit', ['--nofile=256:256', process.execPath, ferryBin, 'cp', '-r', '-P', String(sd.port), ...operands], {
        env: s.env, cwd: s.dir, stdio: ['ignore', 'pipe', 'pipe'],
      });
      let stderr = '';
      child.stderr.on('data', (d: Buffer) => (stderr += d.toString()));
      child.stdout.resume();
      const code = await new Promise<number | null>((resolve) => child.on('close', resolve));
      expect(code, stderr).toBe(0);
      expect(stderr).not.toMatch(/EMFILE|too many open files/i);
      const got = (await listTree(dst)).filter((p) => !p.endsWith('/'));
      expect(got.length).toBe(COUNT);
      for (const [rel, d] of digests) expect(sha256(await fs.readFile(path.join(dst, rel))), rel).toBe(d);
    });
  }
});
