// Catalog 17 and 18: the destination refuses the data.
// 17: the local disk fills up: exit 1 saying "No space left", nothing at the
//     final name, and once there is room again the rerun resumes. Twice: on a
//     real 4 MiB tmpfs (where mounting is permitted, i.e. as root), and with
//     ENOSPC injected under the engine (everywhere). A remote disk full (the
//     server's WRITE status) the same way.
// 18: the server denies permission (sftp-server -R, read-only; or one file):
//     exit 1 naming each path, the other files go on. (cp-errors.test.ts
//     covers sftp-server -P open.)
import { execFile } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import * as fs from 'node:fs/promises';
import * as os from 'node:os';
import * as path from 'node:path';
import { promisify } from 'node:util';
import ssh2 from 'ssh2';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { exitCodeFor, FileError } from '../../src/errors.js';
import type { FileHandle } from '../../src/transfer/endpoint.js';
import { MemoryJournalStore } from '../../src/transfer/journal.js';
import { LocalEndpoint } from '../../src/transfer/local.js';
import { partialName } from '../../src/transfer/names.js';
import { Transfer } from '../../src/transfer/transfer.js';
import {
  bytesSent, expectCleanOutput, expectIdentical, expectNoFinal, exists, jsonEvents, makeCanary, MiB, ofType, sha256,
} from '../support/hostile-checks.js';
import { scenario } from '../support/hostile-link.js';
import { startHostileServer, type HostileServer } from '../support/hostile-server.js';
import { findPartials, listTree } from '../support/cp-helpers.js';
import { startSshd, type Sshd } from '../support/sshd.js';

const execFileP = promisify(execFile);
const { STATUS_CODE } = ssh2.utils.sftp;
const SIZE = 12 * MiB + 3;
let sd: Sshd;
let readOnly: Sshd;
let work: string;
let src: string;
let source: Buffer;
const mounts: string[] = [];

beforeAll(async () => {
  [sd, readOnly, work] = await Promise.all([
    startSshd(), startSshd({ sftpServerArgs: ['-R'] }), fs.mkdtemp(path.join(os.tmpdir(), 'ferry-hostile-disk-')),
  ]);
  src = path.join(work, 'src.bin');
  source = randomBytes(SIZE);
  await fs.writeFile(src, source);
});
afterAll(async () => {
  for (const m of mounts) await execFileP('umount', [m]).catch(() => undefined);
  await Promise.all([sd?.stop(), readOnly?.stop()]);
  if (work) await fs.rm(work, { recursive: true, force: true });
});

async function mountTmpfs(dir: string, size: string): Promise<boolean> {
  await fs.mkdir(dir, { recursive: true });
  try {
    await execFileP('mount', ['-t', 'tmpfs', '-o', `size=${size}`, 'tmpfs', dir]);
  } catch {
    return false; // not permitted here (not root, or no CAP_SYS_ADMIN)
  }
  mounts.push(dir);
  return true;
}

/** The local disk, full once `room` bytes were written. */
class FullDisk extends LocalEndpoint {
  constructor(private room: number) {
    super();
  }
  override async write(h: FileHandle, buf: Buffer, offset: number, length: number, position: number) {
    if (length > this.room) throw new FileError('write', 'local', h.path, 'No space left on device', { code: 'ENOSPC' });
    this.room -= length;
    return super.write(h, buf, offset, length, position);
  }
}

describe.concurrent('17: disk full', () => {
  it('a real 4 MiB tmpfs as the download target: exit 1, "No space left", no final file; resumes once there is room', async (ctx) => {
    const s = await scenario(sd, work, 'tmpfs');
    const mnt = path.join(s.dir, 'small-disk');
    if (!(await mountTmpfs(mnt, '4m'))) return ctx.skip();
    const dst = path.join(mnt, 'copy.bin');
    const canary = await makeCanary(dst);
    const args = ['--json', '-P', String(sd.port), `127.0.0.1:${src}`, dst];
    const r = await s.cp(args);
    expect(r.code, r.stderr).toBe(1);
    expectCleanOutput(r);
    expect(ofType(jsonEvents(r.stdout), 'error')[0].message).toBe(`write local "${dst}": No space left on device`);
    await expectNoFinal(dst);
    await canary.check();

    await execFileP('mount', ['-o', 'remount,size=64m', mnt]);
    const again = await s.cp(args);
    expect(again.code, again.stderr).toBe(0);
    expect(ofType(jsonEvents(again.stdout), 'file')[0].resumedFrom as number).toBeGreaterThan(0);
    expect(bytesSent(again.stdout)).toBeLessThan(SIZE);
    await expectIdentical(dst, sha256(source));
    await canary.check();
  });

  it('ENOSPC injected under the engine: the file fails (exit 1), the partial stays, the rerun resumes', async () => {
    const dir = await fs.mkdtemp(path.join(work, 'enospc-'));
    const dst = path.join(dir, 'copy.bin');
    const journals = new MemoryJournalStore();
    const job = (dstEp: LocalEndpoint) => [{ src: new LocalEndpoint(), srcPath: src, dst: dstEp, dstPath: dst }];
    const t1 = new Transfer({ journals });
    await t1.run(job(new FullDisk(5 * MiB)));
    expect(t1.errors.map((e) => e.message)).toEqual([`write local "${dst}": No space left on device`]);
    expect(exitCodeFor(t1.errors[0])).toBe(1);
    await expectNoFinal(dst);
    expect(await exists(partialName(dst))).toBe(true);
    expect(journals.entries.size).toBe(1);

    const t2 = new Transfer({ journals });
    const resumed: number[] = [];
    t2.on('file-resume', (e: { resumedFrom?: number }) => e.resumedFrom !== undefined && resumed.push(e.resumedFrom));
    await t2.run(job(new LocalEndpoint()));
    expect(t2.errors).toEqual([]);
    expect(resumed[0]).toBeGreaterThan(0);
    await expectIdentical(dst, sha256(source));
  });

  it('the remote disk full (a WRITE status): exit 1, no final remote file, the other files arrive; the rerun resumes', async () => {
    const srv: HostileServer = await startHostileServer();
    try {
      let writes = 0;
      srv.hooks.onRequest = (r) => {
        if (r.op !== 'WRITE' || ++writes < 100) return false;
        r.sftp.status(r.reqid, STATUS_CODE.FAILURE, 'No space left on device');
        return true;
      };
      const dir = path.join(srv.work, 'up');
      await fs.mkdir(dir);
      await fs.copyFile(src, path.join(dir, 'big.bin'));
      await fs.writeFile(path.join(dir, 'small.txt'), 'small\n');
      const r = await srv.cp(['-r', '--json', dir, srv.remote('/dst')]);
      expect(r.code, r.stderr).toBe(1);
      expect(ofType(jsonEvents(r.stdout), 'error')[0].message).toBe('write remote "/dst/big.bin": No space left on device');
      await expectNoFinal(path.join(srv.root, 'dst', 'big.bin'));
      expect(await fs.readFile(path.join(srv.root, 'dst', 'small.txt'), 'utf8')).toBe('small\n');

      srv.hooks.onRequest = undefined;
      const again = await srv.cp(['-r', '--json', dir, srv.remote('/dst')]);
      expect(again.code, again.stderr).toBe(0);
      await expectIdentical(path.join(srv.root, 'dst', 'big.bin'), sha256(source));
      expect(bytesSent(again.stdout)).toBeLessThan(SIZE);
    } finally {
      await srv.close();
    }
  });
});

describe.concurrent('18: permission denied by the server', () => {
  it('sftp-server -R (read-only): every upload fails naming its path, no partials; downloads work', async () => {
    const s = await scenario(readOnly, work, 'ro');
    const tree = path.join(s.dir, 'tree');
    await fs.mkdir(tree);
    for (const n of ['a.txt', 'b.txt']) await fs.writeFile(path.join(tree, n), `${n}\n`);
    const target = path.join(s.dir, 'target');
    await fs.mkdir(target);
    const r = await s.cp(['-P', String(readOnly.port), path.join(tree, 'a.txt'), path.join(tree, 'b.txt'), `127.0.0.1:${target}`]);
    expect(r.code, r.stderr).toBe(1);
    expectCleanOutput(r);
    for (const n of ['a.txt', 'b.txt']) expect(r.stderr).toMatch(new RegExp(`remote "${target}/${n}": Permission denied`, 'i'));
    expect(await listTree(target)).toEqual([]);

    const down = await s.cp(['-P', String(readOnly.port), `127.0.0.1:${src}`, path.join(s.dir, 'down.bin')]);
    expect(down.code, down.stderr).toBe(0);
    await expectIdentical(path.join(s.dir, 'down.bin'), sha256(source));
  });

  it('one file denied: that one named, exit 1, the others arrive, no partial left', async () => {
    const srv = await startHostileServer({
      hooks: {
        onRequest: (r) => {
          if (r.op !== 'OPEN' || !String(r.args[0]).includes('b.txt')) return false;
          r.sftp.status(r.reqid, STATUS_CODE.PERMISSION_DENIED, 'Permission denied');
          return true;
        },
      },
    });
    try {
      const tree = path.join(srv.work, 'tree');
      await fs.mkdir(tree);
      for (const n of ['a.txt', 'b.txt', 'c.txt']) await fs.writeFile(path.join(tree, n), `${n}\n`);
      const up = await srv.cp(['-r', tree, srv.remote('/up')]);
      expect(up.code, up.stderr).toBe(1);
      expect(up.stderr).toContain('open remote "/up/b.txt": Permission denied');
      expect(await listTree(path.join(srv.root, 'up'))).toEqual(['a.txt', 'c.txt']);
      await fs.cp(tree, path.join(srv.root, 'down-src'), { recursive: true });
      const down = await srv.cp(['-r', srv.remote('/down-src'), path.join(srv.work, 'down')]);
      expect(down.code, down.stderr).toBe(1);
      expect(down.stderr).toContain('open remote "/down-src/b.txt": Permission denied');
      expect(await listTree(path.join(srv.work, 'down'))).toEqual(['a.txt', 'c.txt']);
      expect(await findPartials(path.join(srv.work, 'down'), path.join(srv.root, 'up'))).toEqual([]);
    } finally {
      await srv.close();
    }
  });
});
