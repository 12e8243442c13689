// How an upload finishes its partial file: -p's attributes (FSETSTAT), the
// size check (FSTAT) and the CLOSE go on the handle back to back, one round
// trip, and only then the rename. A server failing any of them leaves nothing
// under the final name and says which; one without FSETSTAT/FSTAT
// (SSH_FX_OP_UNSUPPORTED) gets the path forms after the close.
import * as fs from 'node:fs/promises';
import * as path from 'node:path';
import ssh2 from 'ssh2';
import type { SFTPWrapper } from 'ssh2';
import { afterAll, describe, expect, it } from 'vitest';
import { expectCleanOutput, expectIdentical, expectNoFinal, jsonEvents, ofType, sha256 } from '../support/hostile-checks.js';
import { hostileServers, type SftpRequest } from '../support/hostile-server.js';

const { STATUS_CODE } = ssh2.utils.sftp;
const { serve, closeAll } = hostileServers();
afterAll(closeAll);

const DATA = Buffer.from('x'.repeat(1500));
const MTIME = new Date('2003-04-05T06:07:08Z');
const HANDLE_OPS = ['FSETSTAT', 'FSTAT', 'CLOSE'] as const;

/** A source file with a mode and mtime for -p to carry. */
async function source(dir: string): Promise<string> {
  const src = path.join(dir, 'small.txt');
  await fs.writeFile(src, DATA);
  await fs.chmod(src, 0o640);
  await fs.utimes(src, MTIME, MTIME);
  return src;
}

/** Requests as they arrive (ssh2 emits them on arrival; the server handles them one at a time, later). */
class Arrivals {
  readonly log: { op: string; handle?: Buffer }[] = [];
  private readonly watched = new WeakSet<SFTPWrapper>();
  private readonly waiters: (() => void)[] = [];

  watch(sftp: SFTPWrapper): void {
    if (this.watched.has(sftp)) return;
    this.watched.add(sftp);
    for (const op of [...HANDLE_OPS, 'WRITE', 'RENAME', 'EXTENDED']) {
      (sftp as unknown as NodeJS.EventEmitter).on(op, (_id: number, arg: unknown) => {
        this.log.push({ op, handle: Buffer.isBuffer(arg) ? arg : undefined });
        for (const w of this.waiters.splice(0)) w();
      });
    }
  }

  has(op: string, handle: Buffer): boolean {
    return this.log.some((a) => a.op === op && a.handle?.equals(handle));
  }

  /** Until a CLOSE of `handle` arrived, or `ms` passed: did it? */
  async closeOf(handle: Buffer, ms: number): Promise<boolean> {
    const deadline = Date.now() + ms;
    while (!this.has('CLOSE', handle) && Date.now() < deadline) {
      await new Promise<void>((r) => {
        this.waiters.push(r);
        setTimeout(r, 50);
      });
    }
    return this.has('CLOSE', handle);
  }
}

describe.concurrent('the finish of an upload', () => {
  it('FSETSTAT and FSTAT are sent with the CLOSE, unanswered until it arrives: one round trip, then the rename', async () => {
    const arrivals = new Arrivals();
    /** For each of FSETSTAT and FSTAT: had the CLOSE of its handle arrived before it was answered? */
    const closeBeforeReply: Record<string, boolean> = {};
    const srv = await serve({
      onRequest: async (r: SftpRequest) => {
        arrivals.watch(r.sftp);
        if (r.op !== 'FSETSTAT' && r.op !== 'FSTAT') return false;
        // Answered only once the CLOSE is here: a client that waited for this reply first never sends it.
        closeBeforeReply[r.op] = await arrivals.closeOf(r.args[0] as Buffer, 3000);
        return false;
      },
    });
    const src = await source(srv.work);
    const r = await srv.cp(['-p', src, srv.remote('/small.txt')]);
    expect(r.code, r.stderr).toBe(0);
    expectCleanOutput(r);
    expect(closeBeforeReply).toEqual({ FSETSTAT: true, FSTAT: true });
    // On one handle, in this order, after the write; the rename last.
    const ops = arrivals.log.map((a) => a.op);
    expect(ops).toEqual(['WRITE', 'FSETSTAT', 'FSTAT', 'CLOSE', 'RENAME']);
    const handles = arrivals.log.slice(0, 4).map((a) => a.handle!.toString('hex'));
    expect(new Set(handles).size).toBe(1);
    const dst = path.join(srv.root, 'small.txt');
    await expectIdentical(dst, sha256(DATA));
    const st = await fs.stat(dst);
    expect(st.mode & 0o777).toBe(0o640);
    expect(Math.floor(st.mtimeMs / 1000)).toBe(MTIME.getTime() / 1000);
  });

  for (const op of HANDLE_OPS) {
    it(`the server fails ${op}: exit 1 naming the file, nothing under the final name`, async () => {
      const srv = await serve({
        onRequest: (r) => {
          if (r.op !== op) return false;
          r.sftp.status(r.reqid, STATUS_CODE.FAILURE, `${op} refused (injected)`);
          return true;
        },
      });
      const src = await source(srv.work);
      const r = await srv.cp(['-p', '--json', src, srv.remote('/small.txt')]);
      expect(r.code, r.stderr).toBe(1);
      expectCleanOutput(r);
      const verb = { FSETSTAT: 'set attributes of', FSTAT: 'stat', CLOSE: 'close' }[op];
      expect(ofType(jsonEvents(r.stdout), 'error').map((e) => e.message)).toEqual([`${verb} remote "/small.txt": ${op} refused (injected)`]);
      await expectNoFinal(path.join(srv.root, 'small.txt'));
    });
  }

  it('FSTAT reports a size the file does not have: exit 1, nothing under the final name', async () => {
    const srv = await serve({ statAttrs: (p, a) => (p === '/.small.txt.ferry-part' ? { ...a, size: 10 } : a) });
    const src = await source(srv.work);
    const r = await srv.cp(['--json', src, srv.remote('/small.txt')]);
    expect(r.code, r.stderr).toBe(1);
    expect(ofType(jsonEvents(r.stdout), 'error').map((e) => e.message)).toEqual([`write remote "/small.txt": size is 10 after the copy, expected ${DATA.length}`]);
    await expectNoFinal(path.join(srv.root, 'small.txt'));
  });

  it('a server without FSETSTAT and FSTAT (OP_UNSUPPORTED): SETSTAT and STAT by path, the copy is complete', async () => {
    const byPath: string[] = [];
    const srv = await serve({
      onRequest: (r) => {
        if (r.op === 'STAT' || r.op === 'SETSTAT') byPath.push(`${r.op} ${String(r.args[0])}`);
        if (r.op !== 'FSETSTAT' && r.op !== 'FSTAT') return false;
        r.sftp.status(r.reqid, STATUS_CODE.OP_UNSUPPORTED, 'not here');
        return true;
      },
    });
    const src = await source(srv.work);
    const r = await srv.cp(['-p', src, srv.remote('/small.txt')]);
    expect(r.code, r.stderr).toBe(0);
    expect(byPath).toEqual(expect.arrayContaining(['STAT /.small.txt.ferry-part', 'SETSTAT /.small.txt.ferry-part']));
    const dst = path.join(srv.root, 'small.txt');
    await expectIdentical(dst, sha256(DATA));
    const st = await fs.stat(dst);
    expect(st.mode & 0o777).toBe(0o640);
    expect(Math.floor(st.mtimeMs / 1000)).toBe(MTIME.getTime() / 1000);
  });
});
