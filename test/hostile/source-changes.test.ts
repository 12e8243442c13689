// Catalog 19: the source changes while it is copied (grows, shrinks, is
// rewritten in place, vanishes). Each ends in a clear error with nothing at
// the final name, or in a whole copy of one version; never in a silent mix of
// old and new bytes. Other files of the run still arrive, and the rerun copies
// each file as it is then. The change is made from inside the transfer (a
// server hook at the k-th READ or WRITE), so the timing is exact.
import { randomBytes } from 'node:crypto';
import * as fs from 'node:fs/promises';
import * as path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { expectCleanOutput, expectIdentical, expectNoFinal, makeCanary, MiB, sha256 } from '../support/hostile-checks.js';
import { startHostileServer, type HostileServer } from '../support/hostile-server.js';
import { listTree } from '../support/cp-helpers.js';

const SIZE = 2 * MiB;
type Change = 'grows' | 'shrinks' | 'rewritten' | 'vanishes';
const CHANGES: Change[] = ['grows', 'shrinks', 'rewritten', 'vanishes'];

/** Changes `file` as named; returns the bytes it holds afterwards (undefined: gone). */
async function change(file: string, how: Change): Promise<Buffer | undefined> {
  const later = new Date(Date.now() + 60_000); // a new mtime even within the same second
  switch (how) {
    case 'grows':
      await fs.appendFile(file, randomBytes(64 * 1024));
      break;
    case 'shrinks':
      await fs.truncate(file, 100 * 1024);
      break;
    case 'rewritten': {
      // Same size, new bytes: only the mtime tells.
      const fh = await fs.open(file, 'r+');
      await fh.write(randomBytes(SIZE), 0, SIZE, 0);
      await fh.close();
      break;
    }
    case 'vanishes':
      await fs.unlink(file);
      return undefined;
  }
  await fs.utimes(file, later, later);
  return fs.readFile(file);
}

const servers: HostileServer[] = [];
afterAll(async () => {
  await Promise.all(servers.map((s) => s.close()));
});

describe.concurrent('19: a source that changes mid-transfer', () => {
  let srv: HostileServer;
  const now = new Map<string, Buffer | undefined>();
  const original = new Map<string, Buffer>();
  const reads = new Map<string, number>();

  beforeAll(async () => {
    srv = await startHostileServer();
    servers.push(srv);
    await fs.mkdir(path.join(srv.root, 'src'));
    for (const name of [...CHANGES, 'stable-1', 'stable-2']) {
      const data = randomBytes(SIZE);
      await fs.writeFile(path.join(srv.root, 'src', `${name}.bin`), data);
      now.set(name, data);
      original.set(name, data);
    }
    // At the 5th READ of each changing file (its first reads are in flight, most are not yet sent).
    srv.hooks.onRead = async (p, _off, data) => {
      const name = path.basename(p, '.bin') as Change;
      const n = (reads.get(name) ?? 0) + 1;
      reads.set(name, n);
      if (n === 5 && CHANGES.includes(name)) now.set(name, await change(path.join(srv.root, p), name));
      return data;
    };
  });

  it('download -r: the changed files fail clearly (or arrive whole), the stable ones arrive, the rerun is exact', async () => {
    const top = await fs.mkdtemp(path.join(srv.work, 'down-'));
    const dst = path.join(top, 'dst');
    const canary = await makeCanary(dst);
    const r = await srv.cp(['-r', srv.remote('/src'), dst]);
    expect(r.code, r.stderr).toBe(1);
    expectCleanOutput(r);
    expect(r.stderr).toContain('read remote "/src/grows.bin": changed while being copied (its size went from 2097152 to 2162688)');
    expect(r.stderr).toContain('read remote "/src/rewritten.bin": changed while being copied (it was modified)');
    expect(r.stderr).toMatch(/read remote "\/src\/shrinks\.bin": (unexpected end of file at \d+ of 2097152|changed while being copied)/);
    for (const name of ['grows', 'shrinks', 'rewritten']) await expectNoFinal(path.join(dst, `${name}.bin`));
    // Unlinked while open: read whole through the handle already open, or (a lane opening it
    // again) a clear error; never part of it.
    const vanished = path.join(dst, 'vanishes.bin');
    if (/"\/src\/vanishes\.bin": .*no such file/i.test(r.stderr)) await expectNoFinal(vanished);
    else await expectIdentical(vanished, sha256(original.get('vanishes')!));
    for (const name of ['stable-1', 'stable-2']) await expectIdentical(path.join(dst, `${name}.bin`), sha256(now.get(name)!));
    await canary.check();

    srv.hooks.onRead = undefined;
    const again = await srv.cp(['-r', srv.remote('/src'), dst]);
    expect(again.code, again.stderr).toBe(0);
    for (const [name, data] of now) if (data) await expectIdentical(path.join(dst, `${name}.bin`), sha256(data));
    // Only the partial of the file that is gone may be left (nothing copies over it again).
    expect((await listTree(dst)).filter((p) => p.includes('ferry-part') && p !== '.vanishes.bin.ferry-part')).toEqual([]);
    await canary.check();
  });
});

describe.concurrent('19: an upload source that changes mid-transfer', () => {
  for (const how of ['grows', 'shrinks', 'rewritten'] as const) {
    it(`${how}: a clear error, no final remote file; the rerun copies the new content`, async () => {
      const srv = await startHostileServer();
      servers.push(srv);
      const local = path.join(srv.work, 'src.bin');
      await fs.writeFile(local, randomBytes(SIZE));
      let writes = 0;
      let current: Buffer | undefined;
      srv.hooks.onWrite = async (_p, _off, data) => {
        if (++writes === 5) current = await change(local, how);
        return data;
      };
      const r = await srv.cp([local, srv.remote('/dst.bin')]);
      expect(r.code, r.stderr).toBe(1);
      expectCleanOutput(r);
      expect(r.stderr).toMatch(new RegExp(`read local "${local}": (changed while being copied|unexpected end of file)`));
      await expectNoFinal(path.join(srv.root, 'dst.bin'));
      srv.hooks.onWrite = undefined;
      const again = await srv.cp([local, srv.remote('/dst.bin')]);
      expect(again.code, again.stderr).toBe(0);
      await expectIdentical(path.join(srv.root, 'dst.bin'), sha256(current!));
    });
  }
});
