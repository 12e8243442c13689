// SftpEndpoint.readdir against a real sftp-server and the scriptable embedded
// one: two READDIRs in flight, CLOSE sent but not waited for. Every name comes
// once whatever order the replies take, every handle opened is closed (after
// a failed listing too), and an error after EOF does not fail a listing.
import * as fs from 'node:fs/promises';
import * as path from 'node:path';
import ssh2 from 'ssh2';
import type { Attributes } from 'ssh2';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { connectSsh, type SshConnection } from '../../src/ssh/connect.js';
import { silentPrompter } from '../../src/ssh/prompter.js';
import { SftpEndpoint } from '../../src/transfer/sftp.js';
import { startHostileServer, type HostileServer, type SftpReply, type SftpRequest } from '../support/hostile-server.js';
import { startSshd, type Sshd } from '../support/sshd.js';

const { STATUS_CODE } = ssh2.utils.sftp;
const FILE_ATTRS = { mode: 0o100644, size: 0, uid: 0, gid: 0, atime: 0, mtime: 0 } as Attributes;
const names = (n: number) => Array.from({ length: n }, (_, i) => `f${i}`);
const sorted = (xs: string[]) => [...xs].sort();

async function makeDir(dir: string, n: number): Promise<void> {
  await fs.mkdir(dir, { recursive: true });
  await Promise.all(names(n).map((f) => fs.writeFile(path.join(dir, f), '')));
}

function connect(port: number, user: string, knownHosts: string, key: string): Promise<SshConnection> {
  return connectSsh({
    alias: '127.0.0.1', user, prompter: silentPrompter,
    cli: { configFile: 'none', port, options: [`UserKnownHostsFile=${knownHosts}`, 'GlobalKnownHostsFile=none', `IdentityFile=${key}`, 'BatchMode=yes'] },
  });
}

/** Resolves once `check` holds, polling (a CLOSE is sent, not waited for). */
async function eventually(check: () => boolean, what: string): Promise<void> {
  for (let i = 0; i < 200 && !check(); i++) await new Promise((r) => setTimeout(r, 10));
  if (!check()) throw new Error(`never: ${what}`);
}

describe('readdir against OpenSSH sftp-server (100 names a batch)', () => {
  let sd: Sshd;
  let conn: SshConnection;
  beforeAll(async () => {
    sd = await startSshd();
    conn = await connect(sd.port, sd.user, sd.knownHosts, sd.clientKey);
  });
  afterAll(async () => {
    conn?.end();
    await sd?.stop();
  });

  it.each([0, 1, 98, 99, 100, 250])('a directory of %i names: each once, "." and ".." left out', async (n) => {
    const dir = path.join(sd.dir, `list-${n}`);
    await makeDir(dir, n);
    const ep = new SftpEndpoint(await conn.openSftp(), { label: 'sshd' });
    // Twice on one endpoint: the second listing goes by the batch size the first one saw.
    for (let i = 0; i < 2; i++) expect(sorted((await ep.readdir(dir)).map((e) => e.name))).toEqual(sorted(names(n)));
    await ep.end();
  });
});

describe('readdir against a scripted server', () => {
  let srv: HostileServer;
  let conn: SshConnection;
  const ops = { OPENDIR: 0, CLOSE: 0, READDIR: 0 };
  /** Handles of "/after-eof": READDIR #1 gets 100 names, #2 EOF, every later one FAILURE. */
  const afterEof = new Map<string, number>();
  let failedAfterEof = 0;
  let onReaddir: (r: SftpRequest) => boolean = () => false;
  let onReply: (r: SftpReply) => void = (r) => r.send();

  function afterEofDir(r: SftpRequest): boolean {
    if (r.op === 'OPENDIR' && r.args[0] === '/after-eof') {
      const h = Buffer.from(`after-eof-${afterEof.size}`);
      afterEof.set(h.toString('hex'), 0);
      r.sftp.handle(r.reqid, h);
      return true;
    }
    const handle = Buffer.isBuffer(r.args[0]) ? r.args[0].toString('hex') : '';
    const n = afterEof.get(handle);
    if (n === undefined) return false;
    if (r.op === 'CLOSE') r.sftp.status(r.reqid, STATUS_CODE.OK);
    else if (n === 0) r.sftp.name(r.reqid, names(100).map((filename) => ({ filename, longname: filename, attrs: FILE_ATTRS })));
    else if (n === 1) r.sftp.status(r.reqid, STATUS_CODE.EOF);
    else {
      failedAfterEof++;
      r.sftp.status(r.reqid, STATUS_CODE.FAILURE, 'no such handle');
    }
    if (r.op === 'READDIR') afterEof.set(handle, n + 1);
    return true;
  }

  beforeAll(async () => {
    srv = await startHostileServer();
    srv.hooks.onRequest = (r) => {
      if (r.op in ops) ops[r.op as keyof typeof ops]++;
      return afterEofDir(r) || (r.op === 'READDIR' && onReaddir(r));
    };
    srv.hooks.onReply = (r) => onReply(r);
    await makeDir(path.join(srv.root, 'many'), 1234);
    conn = await connect(srv.port, 'test', path.join(path.dirname(srv.root), 'known_hosts'), srv.clientKey);
  });
  afterAll(async () => {
    conn?.end();
    await srv?.close();
  });

  async function endpoint(o: { maxListEntries?: number } = {}) {
    return new SftpEndpoint(await conn.openSftp(), { label: 'scripted', ...o });
  }
  const allClosed = () => eventually(() => ops.CLOSE === ops.OPENDIR, `${ops.CLOSE} CLOSEs for ${ops.OPENDIR} OPENDIRs`);

  it('lists a directory of 13 batches whole and closes its handle', async () => {
    const ep = await endpoint();
    expect(sorted((await ep.readdir('/many')).map((e) => e.name))).toEqual(sorted(names(1234)));
    await allClosed();
    await ep.end();
  });

  it('replies out of order (every other one held back): every name, once', async () => {
    let n = 0;
    onReply = (r) => (r.op === 'READDIR' && n++ % 2 === 0 ? setTimeout(() => r.send(), 20) : r.send());
    try {
      const ep = await endpoint();
      expect(sorted((await ep.readdir('/many')).map((e) => e.name))).toEqual(sorted(names(1234)));
      await allClosed();
      await ep.end();
    } finally {
      onReply = (r) => r.send();
    }
  });

  it('a READDIR failing after EOF (the server let go of the directory) does not fail the listing', async () => {
    const ep = await endpoint();
    // A fresh endpoint keeps two READDIRs in flight after a full batch: the third one comes after EOF.
    expect((await ep.readdir('/after-eof')).length).toBe(100);
    expect(failedAfterEof).toBe(1);
    await allClosed();
    await ep.end();
  });

  it('a READDIR failing mid-listing fails it, naming the path; the handle is closed', async () => {
    let n = 0;
    onReaddir = (r) => {
      if (++n !== 3) return false;
      r.sftp.status(r.reqid, STATUS_CODE.PERMISSION_DENIED, 'denied');
      return true;
    };
    try {
      const ep = await endpoint();
      await expect(ep.readdir('/many')).rejects.toThrow(/list remote "\/many": denied/);
      await allClosed();
      await ep.end();
    } finally {
      onReaddir = () => false;
    }
  });

  it('stops at maxListEntries, asking at most one batch past it, and closes the handle', async () => {
    const ep = await endpoint({ maxListEntries: 250 });
    const before = ops.READDIR;
    await expect(ep.readdir('/many')).rejects.toThrow(/more than 250 entries/);
    expect(ops.READDIR - before).toBeLessThanOrEqual(4);
    await allClosed();
    await ep.end();
  });
});
