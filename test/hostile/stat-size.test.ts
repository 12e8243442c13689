// Catalog 27 and 28: a size a server reports that is not the file's length.
// 27: stat says 0, or leaves the size out, and reads return data (a FUSE-like
//     or /proc-like file): read until EOF, identical, exit 0, --json bytes is
//     the length.
// 28: stat understates the size: the data past it is copied (as OpenSSH's
//     sftp reads until EOF), identical, exit 0; for a journaled file cut past
//     the planned size, the rerun resumes past it and ends identical.
// A shorter copy with exit 0 is the failure these guard against.
import { randomBytes } from 'node:crypto';
import * as fs from 'node:fs/promises';
import * as path from 'node:path';
import ssh2 from 'ssh2';
import { afterAll, describe, expect, it } from 'vitest';
import { bytesSent, expectCleanOutput, expectIdentical, expectNoFinal, jsonEvents, journalCount, MiB, ofType, sha256 } from '../support/hostile-checks.js';
import { hostileServers, type SftpHooks } from '../support/hostile-server.js';

const { STATUS_CODE } = ssh2.utils.sftp;
const { serve, closeAll } = hostileServers();
afterAll(closeAll);

/** stat (and fstat) of `name` report `size` whatever the file holds. */
const statSays = (name: string, size: number): Partial<SftpHooks> => ({
  statAttrs: (p, a) => (p === name ? { ...a, size } : a),
});

describe.concurrent('27: stat says 0, reads return data', () => {
  for (const size of [1000, 3 * MiB + 17]) {
    it(`${size} bytes behind a stat of 0: read until EOF, identical, exit 0`, async () => {
      const data = randomBytes(size);
      const srv = await serve(statSays('/fuse.bin', 0));
      await fs.writeFile(path.join(srv.root, 'fuse.bin'), data);
      const dst = path.join(srv.work, 'fuse.bin');
      const r = await srv.cp(['--json', srv.remote('/fuse.bin'), dst]);
      expect(r.code, r.stderr).toBe(0);
      expectCleanOutput(r);
      await expectIdentical(dst, sha256(data));
      expect(bytesSent(r.stdout)).toBe(size);
      expect(ofType(jsonEvents(r.stdout), 'summary')[0].bytes).toBe(size);
    });
  }
});

/** `name` put on the server with `data` downloads whole, exit 0, and --json counts every byte. */
async function downloadsWhole(srv: Awaited<ReturnType<typeof serve>>, name: string, data: Buffer): Promise<void> {
  await fs.writeFile(path.join(srv.root, name), data);
  const dst = path.join(srv.work, name);
  const r = await srv.cp(['--json', srv.remote(`/${name}`), dst]);
  expect(r.code, r.stderr).toBe(0);
  await expectIdentical(dst, sha256(data));
  expect(bytesSent(r.stdout)).toBe(data.length);
}

describe.concurrent('27: stat without a size (the SIZE flag absent)', () => {
  it('is read until EOF like a stat of 0: identical, exit 0', async () => {
    const data = randomBytes(300 * 1024 + 5);
    const srv = await serve({ statAttrs: (p, a) => (p === '/nosize.bin' ? { ...a, size: undefined as unknown as number } : a) });
    await downloadsWhole(srv, 'nosize.bin', data);
  });
});

describe.concurrent('28: stat understates the size', () => {
  it('stat says 1 MiB of 3 MiB: the rest is copied, identical, exit 0', async () => {
    const data = randomBytes(3 * MiB);
    const srv = await serve(statSays('/f.bin', MiB));
    await downloadsWhole(srv, 'f.bin', data);
  });

  it('stat says 10 MiB of 14 MiB, a read past 12 MiB fails: the journal holds ranges past the plan and the rerun resumes past it', async () => {
    const data = randomBytes(14 * MiB);
    let failed = false;
    const srv = await serve({
      ...statSays('/g.bin', 10 * MiB),
      onRequest: (r) => {
        // The first READ past 12 MiB fails: the copy is then past the planned size.
        if (failed || r.op !== 'READ' || Number(r.args[1]) < 12 * MiB) return false;
        failed = true;
        r.sftp.status(r.reqid, STATUS_CODE.FAILURE, 'injected failure');
        return true;
      },
    });
    await fs.writeFile(path.join(srv.root, 'g.bin'), data);
    const dst = path.join(srv.work, 'g.bin');
    const r = await srv.cp(['--json', '--retries', '0', srv.remote('/g.bin'), dst]);
    expect(failed, 'the read past 12 MiB was refused').toBe(true);
    expect(r.code, r.stderr).toBe(1);
    expect(ofType(jsonEvents(r.stdout), 'error')[0].message).toBe('read remote "/g.bin": injected failure');
    await expectNoFinal(dst);
    expect(await journalCount(srv.stateDir)).toBe(1);

    const again = await srv.cp(['--json', srv.remote('/g.bin'), dst]);
    expect(again.code, again.stderr).toBe(0);
    const [file] = ofType(jsonEvents(again.stdout), 'file');
    expect(file.resumedFrom as number, 'resumed from past the planned size').toBeGreaterThan(10 * MiB);
    expect(bytesSent(again.stdout)).toBe(data.length - (file.resumedFrom as number));
    await expectIdentical(dst, sha256(data));
    expect(await journalCount(srv.stateDir)).toBe(0);
  });
});
