// Catalog 2 and 4: modes a server reports.
// 2: a "." entry in a listing (CVE-2018-20685: scp let it chmod the target
//    directory) with mode 0000 or 04777 changes no directory's mode with -rp.
// 4: server modes 06755 with -p: nothing setuid/setgid appears locally
//    (cp-recursive.test.ts covers a 04755 source both ways against sshd).
import * as fs from 'node:fs/promises';
import * as path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Attributes, FileEntry } from 'ssh2';
import { expectCleanOutput, makeCanary } from '../support/hostile-checks.js';
import { startHostileServer, type HostileServer } from '../support/hostile-server.js';
import { listTree, modeOf } from '../support/cp-helpers.js';

const S_IFDIR = 0o040000;

function dotEntry(name: string, mode: number): FileEntry {
  const attrs = { mode: S_IFDIR | mode, uid: 0, gid: 0, size: 4096, atime: 0, mtime: 0 } as Attributes;
  return { filename: name, longname: `d--------- 2 0 0 4096 Jan 1 1970 ${name}`, attrs };
}

let srv: HostileServer;
beforeAll(async () => {
  srv = await startHostileServer();
  await fs.mkdir(path.join(srv.root, 'src', 'inner'), { recursive: true });
  await fs.writeFile(path.join(srv.root, 'src', 'f.txt'), 'f\n');
  await fs.writeFile(path.join(srv.root, 'src', 'inner', 'g.txt'), 'g\n');
  await fs.chmod(path.join(srv.root, 'src'), 0o755);
  await fs.chmod(path.join(srv.root, 'src', 'inner'), 0o750);
  await fs.mkdir(path.join(srv.root, 'suid', 'sgid-dir'), { recursive: true });
  await fs.writeFile(path.join(srv.root, 'suid', 'tool'), '#!/bin/sh\n');
  await fs.chmod(path.join(srv.root, 'suid', 'tool'), 0o6755);
  await fs.chmod(path.join(srv.root, 'suid', 'sgid-dir'), 0o6755);
  await fs.chmod(path.join(srv.root, 'suid'), 0o6755);
});
afterAll(() => srv?.close());

describe.concurrent('2: a listed "." with a hostile mode and -rp', () => {
  for (const mode of [0o0000, 0o4777]) {
    const m = mode.toString(8).padStart(4, '0');
    it(`mode ${m}: the target directory and the copies keep their modes`, async () => {
      const top = await fs.mkdtemp(path.join(srv.work, `dot-${m}-`));
      const into = path.join(top, 'into');
      await fs.mkdir(into);
      await fs.chmod(into, 0o711);
      const canary = await makeCanary(into);
      // A private server per mode: the hook differs.
      const hostile = await startHostileServer({
        hooks: { readdirNames: (_p, names) => [dotEntry('.', mode), dotEntry('..', mode), ...names] },
      });
      try {
        await fs.cp(path.join(srv.root, 'src'), path.join(hostile.root, 'src'), { recursive: true });
        await fs.chmod(path.join(hostile.root, 'src', 'inner'), 0o750);
        // Into an existing directory (scp's case), and as a new target.
        const r1 = await hostile.cp(['-rp', hostile.remote('/src'), into]);
        const r2 = await hostile.cp(['-rp', hostile.remote('/src'), path.join(top, 'fresh')]);
        for (const r of [r1, r2]) {
          expect(r.code, r.stderr).toBe(0);
          expectCleanOutput(r);
        }
      } finally {
        await hostile.close();
      }
      expect(await modeOf(into)).toBe(0o711);
      for (const copy of [path.join(into, 'src'), path.join(top, 'fresh')]) {
        expect(await listTree(copy)).toEqual(['f.txt', 'inner/', 'inner/g.txt']);
        expect((await modeOf(copy)).toString(8)).toBe('755');
        expect((await modeOf(path.join(copy, 'inner'))).toString(8)).toBe('750');
      }
      await canary.check();
    });
  }
});

describe.concurrent('4: setuid/setgid modes from the server', () => {
  for (const flag of ['-p', '-rp'] as const) {
    it(`${flag}: 06755 on the server becomes 0755 locally, never setuid or setgid`, async () => {
      const top = await fs.mkdtemp(path.join(srv.work, `suid${flag}-`));
      const dst = path.join(top, 'dst');
      const canary = await makeCanary(dst);
      const r = flag === '-p'
        ? await srv.cp(['-p', srv.remote('/suid/tool'), dst])
        : await srv.cp(['-rp', srv.remote('/suid'), dst]);
      expect(r.code, r.stderr).toBe(0);
      expectCleanOutput(r);
      const files = flag === '-p' ? [dst] : [dst, path.join(dst, 'tool'), path.join(dst, 'sgid-dir')];
      for (const f of files) expect((await modeOf(f)).toString(8), f).toBe('755');
      await canary.check();
    });
  }

  it('a server that only claims 06755 (stat and listing attrs) gets the same treatment', async () => {
    const liar = await startHostileServer({
      hooks: {
        statAttrs: (_p, a) => ({ ...a, mode: (a.mode & ~0o7777) | 0o6755 }),
        readdirNames: (_p, names) => names.map((n) => ({ ...n, attrs: { ...n.attrs, mode: (n.attrs.mode & ~0o7777) | 0o6755 } })),
      },
    });
    try {
      await fs.mkdir(path.join(liar.root, 'd'));
      await fs.writeFile(path.join(liar.root, 'd', 'x'), 'x');
      const dst = path.join(liar.work, 'dst');
      const r = await liar.cp(['-rp', liar.remote('/d'), dst]);
      expect(r.code, r.stderr).toBe(0);
      for (const f of [dst, path.join(dst, 'x')]) expect((await modeOf(f)).toString(8), f).toBe('755');
    } finally {
      await liar.close();
    }
  });
});
