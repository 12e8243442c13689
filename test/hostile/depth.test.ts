// Catalog 5: a server that never stops listing.
// - An endless tree (every directory holds another): the copy stops at
//   MAX_DEPTH (64) with an error naming where, quickly, the rest copied.
// - An endless listing (READDIR never says EOF): the listing fails past
//   MAX_LIST_ENTRIES instead of gathering entries until memory runs out (the
//   run gets a 400 MB heap: without the cap it dies of it), and other files
//   are still copied.
// - A listing of empty batches forever ends at the first empty one.
import * as fs from 'node:fs/promises';
import * as path from 'node:path';
import ssh2 from 'ssh2';
import type { Attributes, FileEntry } from 'ssh2';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { MAX_LIST_ENTRIES } from '../../src/transfer/sftp.js';
import { MAX_DEPTH } from '../../src/transfer/transfer.js';
import { expectCleanOutput, makeCanary } from '../support/hostile-checks.js';
import { startHostileServer, type HostileServer, type SftpRequest } from '../support/hostile-server.js';
import { listTree } from '../support/cp-helpers.js';

const { STATUS_CODE } = ssh2.utils.sftp;
const DIR = 0o040755;
const FILE = 0o100644;

const attrs = (mode: number): Attributes => ({ mode, uid: 0, gid: 0, size: 0, atime: 1_700_000_000, mtime: 1_700_000_000 } as Attributes);
const entry = (filename: string, mode: number): FileEntry => ({ filename, longname: filename, attrs: attrs(mode) });

/**
 * Serves a virtual directory tree under `prefix` (nothing on disk): stat says
 * directory for every path below it, and each READDIR batch comes from
 * `batch(handleState)`; undefined means EOF.
 */
function virtualTree(prefix: string, batch: (state: { calls: number; path: string }) => FileEntry[] | undefined) {
  const handles = new Map<string, { calls: number; path: string }>();
  let next = 0;
  const inside = (p: unknown) => typeof p === 'string' && (p === prefix || p.startsWith(`${prefix}/`));
  return (r: SftpRequest): boolean => {
    const [arg] = r.args;
    switch (r.op) {
      case 'STAT':
      case 'LSTAT':
        if (!inside(arg)) return false;
        r.sftp.attrs(r.reqid, attrs(DIR));
        return true;
      case 'OPENDIR': {
        if (!inside(arg)) return false;
        const h = `${prefix}#${next++}`; // unique per tree; 4-byte handles are the server's own
        handles.set(h, { calls: 0, path: String(arg) });
        r.sftp.handle(r.reqid, Buffer.from(h));
        return true;
      }
      case 'READDIR':
      case 'CLOSE': {
        const h = (arg as Buffer).toString();
        const state = handles.get(h);
        if (!state) return false;
        if (r.op === 'CLOSE') {
          handles.delete(h);
          r.sftp.status(r.reqid, STATUS_CODE.OK);
          return true;
        }
        state.calls++;
        const names = batch(state);
        if (names) r.sftp.name(r.reqid, names);
        else r.sftp.status(r.reqid, STATUS_CODE.EOF);
        return true;
      }
      default:
        return false;
    }
  };
}

let srv: HostileServer;
let listed = 0;
beforeAll(async () => {
  srv = await startHostileServer();
  const endless = virtualTree('/endless', (s) => (s.calls === 1 ? [entry('d', DIR)] : undefined));
  // 2000 new names per batch, never EOF.
  const wide = virtualTree('/wide', (s) => {
    listed += 2000;
    return Array.from({ length: 2000 }, (_, i) => entry(`f${s.calls}-${i}`, FILE));
  });
  const empties = virtualTree('/empties', () => []);
  srv.hooks.onRequest = (r) => endless(r) || wide(r) || empties(r);
  await fs.mkdir(path.join(srv.root, 'real'));
  await fs.writeFile(path.join(srv.root, 'real', 'ok.txt'), 'ok\n');
});
afterAll(() => srv?.close());

describe.concurrent('5: endless trees and listings', () => {
  it(`an endless tree stops at depth ${MAX_DEPTH} with an error; the other source is copied`, async () => {
    const top = await fs.mkdtemp(path.join(srv.work, 'deep-'));
    const canary = await makeCanary(path.join(top, 'dst'));
    await fs.mkdir(path.join(top, 'dst'));
    const t0 = Date.now();
    const r = await srv.cp(['-r', srv.remote('/endless'), srv.remote('/real'), path.join(top, 'dst')], { timeoutMs: 30_000 });
    expect(Date.now() - t0).toBeLessThan(20_000);
    expect(r.code, r.stderr).toBe(1);
    expectCleanOutput(r);
    expect(r.stderr).toMatch(new RegExp(`copy remote "/endless(/d){${MAX_DEPTH}}": directory tree deeper than ${MAX_DEPTH} levels`));
    const tree = await listTree(path.join(top, 'dst'));
    expect(tree).toContain('real/ok.txt');
    expect(Math.max(...tree.map((p) => p.split('/').length - 1))).toBe(MAX_DEPTH);
    await canary.check();
  });

  it(`an endless listing fails past ${MAX_LIST_ENTRIES} entries, in bounded memory; the other source is copied`, async () => {
    const top = await fs.mkdtemp(path.join(srv.work, 'wide-'));
    await fs.mkdir(path.join(top, 'dst'));
    const before = listed;
    const r = await srv.cp(['-r', srv.remote('/wide'), srv.remote('/real'), path.join(top, 'dst')], {
      timeoutMs: 60_000,
      env: { ...srv.env, NODE_OPTIONS: '--max-old-space-size=400' },
    });
    expect(r.code, r.stderr).toBe(1);
    expectCleanOutput(r);
    expect(r.stderr).toContain(`list remote "/wide": more than ${MAX_LIST_ENTRIES} entries`);
    // It stopped asking soon after the cap.
    expect(listed - before).toBeLessThan(MAX_LIST_ENTRIES + 10_000);
    // A directory is created only once it was listed: no empty copy of the endless one.
    expect(await listTree(path.join(top, 'dst'))).toEqual(['real/', 'real/ok.txt']);
  });

  it('a listing of empty batches ends at the first one', async () => {
    const dst = path.join(await fs.mkdtemp(path.join(srv.work, 'empty-')), 'dst');
    const r = await srv.cp(['-r', srv.remote('/empties'), dst], { timeoutMs: 20_000 });
    expect(r.code, r.stderr).toBe(0);
    expect(await listTree(dst)).toEqual([]);
  });
});
