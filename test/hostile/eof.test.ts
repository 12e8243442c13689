// Catalog 9 and 10: the source ends early; a request fails mid-file.
// 9: stat says 3 MiB, the data ends at 1 MiB: "unexpected end of file at
//    1048576 of 3145728" (the lowest offset, whichever read failed first),
//    exit 1, nothing at the final name; with a journal (>= 8 MiB) the rerun
//    resumes once the server has the data.
// 10: a STATUS failure, or the channel closed, on the k-th READ (download) or
//    WRITE (upload): exit 1 naming the file (3 with --retries 0 for the
//    closed channel, which the default retries ride out); the rerun resumes
//    from the journal and sends less than the whole file.
import { randomBytes } from 'node:crypto';
import * as fs from 'node:fs/promises';
import * as path from 'node:path';
import ssh2 from 'ssh2';
import { afterAll, describe, expect, it } from 'vitest';
import {
  bytesSent, expectCleanOutput, expectIdentical, expectNoFinal, exists, jsonEvents, journalCount, makeCanary, MiB, ofType, partialOf, sha256,
} from '../support/hostile-checks.js';
import { hostileServers, type SftpHooks } from '../support/hostile-server.js';

const { STATUS_CODE } = ssh2.utils.sftp;
const { serve, closeAll } = hostileServers();
afterAll(closeAll);

describe.concurrent('9: stat says more than the file holds', () => {
  it('3 MiB by stat, EOF at 1 MiB: the exact offset, exit 1, no final file; right once the server is', async () => {
    const data = randomBytes(MiB);
    const srv = await serve({ statAttrs: (p, a) => (p === '/f.bin' ? { ...a, size: 3 * MiB } : a) });
    await fs.writeFile(path.join(srv.root, 'f.bin'), data);
    const dst = path.join(srv.work, 'out', 'f.bin');
    await fs.mkdir(path.dirname(dst));
    const canary = await makeCanary(dst);
    const r = await srv.cp([srv.remote('/f.bin'), dst]);
    expect(r.code, r.stderr).toBe(1);
    expectCleanOutput(r);
    expect(r.stderr).toContain('read remote "/f.bin": unexpected end of file at 1048576 of 3145728');
    await expectNoFinal(dst);
    await canary.check();
    // The server tells the truth now: the same command completes.
    delete srv.hooks.statAttrs;
    const again = await srv.cp([srv.remote('/f.bin'), dst]);
    expect(again.code, again.stderr).toBe(0);
    await expectIdentical(dst, sha256(data));
    expect(await exists(partialOf(dst))).toBe(false);
  });

  it('12 MiB by stat, EOF at 9 MiB: the partial is journaled and the rerun resumes from it', async () => {
    const full = randomBytes(12 * MiB);
    const srv = await serve({ statAttrs: (p, a) => (p === '/g.bin' ? { ...a, size: 12 * MiB } : a) });
    const file = path.join(srv.root, 'g.bin');
    await fs.writeFile(file, full.subarray(0, 9 * MiB));
    const mtime = new Date('2024-01-02T03:04:05Z');
    await fs.utimes(file, mtime, mtime);
    const dst = path.join(srv.work, 'g.bin');
    const r = await srv.cp(['--json', srv.remote('/g.bin'), dst]);
    expect(r.code, r.stderr).toBe(1);
    expect(ofType(jsonEvents(r.stdout), 'error')[0].message).toBe(`read remote "/g.bin": unexpected end of file at ${9 * MiB} of ${12 * MiB}`);
    await expectNoFinal(dst);
    expect(await journalCount(srv.stateDir)).toBe(1);
    // The rest arrives on the server (same mtime, so the same source as far as stat can tell).
    await fs.appendFile(file, full.subarray(9 * MiB));
    await fs.utimes(file, mtime, mtime);
    delete srv.hooks.statAttrs;
    const again = await srv.cp(['--json', srv.remote('/g.bin'), dst]);
    expect(again.code, again.stderr).toBe(0);
    const [file1] = ofType(jsonEvents(again.stdout), 'file');
    expect(file1.resumedFrom as number).toBeGreaterThan(0);
    expect(bytesSent(again.stdout)).toBeLessThan(12 * MiB);
    await expectIdentical(dst, sha256(full));
    expect(await journalCount(srv.stateDir)).toBe(0);
  });
});

type Fault = 'status' | 'close';

/** Fails the k-th request of `op` once: a FAILURE status, or the channel closed under it. */
function failOnce(op: 'READ' | 'WRITE', k: number, fault: Fault): Partial<SftpHooks> {
  let n = 0;
  return {
    onRequest: (r) => {
      if (r.op !== op || ++n !== k) return false;
      if (fault === 'status') r.sftp.status(r.reqid, STATUS_CODE.FAILURE, 'injected failure');
      else r.sftp.end();
      return true;
    },
  };
}

describe.concurrent('10: a failure on the k-th READ or WRITE', () => {
  const SIZE = 12 * MiB + 777;
  const source = randomBytes(SIZE);
  const digest = sha256(source);

  for (const direction of ['download', 'upload'] as const) {
    const op = direction === 'download' ? 'READ' : 'WRITE';
    for (const fault of ['status', 'close'] as const) {
      it(`${direction}, ${fault === 'status' ? 'STATUS failure' : 'channel closed'} on ${op} #150: exit ${fault === 'status' ? 1 : 3}, named, resumable`, async () => {
        const srv = await serve(failOnce(op, 150, fault));
        const remote = path.join(srv.root, 'f.bin');
        const local = path.join(srv.work, 'f.bin');
        await fs.writeFile(direction === 'download' ? remote : local, source);
        const dst = direction === 'download' ? local : remote;
        const canary = await makeCanary(dst);
        const args = direction === 'download' ? [srv.remote('/f.bin'), local] : [local, srv.remote('/f.bin')];
        const r = await srv.cp(['--json', '--retries', '0', ...args]);
        expectCleanOutput(r);
        const err = ofType(jsonEvents(r.stdout), 'error')[0]?.message ?? r.stderr;
        if (fault === 'status') {
          expect(r.code, r.stderr).toBe(1);
          expect(err).toMatch(new RegExp(`${direction === 'download' ? 'read' : 'write'} remote "/f\\.bin": injected failure`));
        } else {
          expect(r.code, r.stderr).toBe(3);
          expect(r.stderr).toMatch(/remote "\/f\.bin"/);
        }
        await expectNoFinal(dst);
        await canary.check();
        expect(await journalCount(srv.stateDir), 'a journal to resume from').toBe(1);

        delete srv.hooks.onRequest;
        const again = await srv.cp(['--json', ...args]);
        expect(again.code, again.stderr).toBe(0);
        const [file] = ofType(jsonEvents(again.stdout), 'file');
        expect(file.resumedFrom as number).toBeGreaterThan(0);
        expect(bytesSent(again.stdout)).toBe(SIZE - (file.resumedFrom as number));
        await expectIdentical(dst, digest);
        await canary.check();
      });
    }

    it(`${direction}, channel closed on ${op} #150 with the default retries: one run completes, identical`, async () => {
      const srv = await serve(failOnce(op, 150, 'close'));
      const remote = path.join(srv.root, 'f.bin');
      const local = path.join(srv.work, 'f.bin');
      await fs.writeFile(direction === 'download' ? remote : local, source);
      const dst = direction === 'download' ? local : remote;
      const r = await srv.cp(direction === 'download' ? [srv.remote('/f.bin'), local] : [local, srv.remote('/f.bin')]);
      expect(r.code, r.stderr).toBe(0);
      expectCleanOutput(r);
      expect(r.stderr).toMatch(/reconnecting/);
      await expectIdentical(dst, digest);
    });
  }
});
