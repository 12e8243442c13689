// Catalog 3: terminal control sequences from the server (CVE-2019-6109/6110:
// escape codes in names hiding what happened) in file names, long names,
// SSH_FXP_STATUS messages and the authentication banner. Whatever ferry
// prints shows them escaped, on stderr, stdout, with -v and in --json (which
// must still carry the exact names).
import { randomBytes } from 'node:crypto';
import * as fs from 'node:fs/promises';
import * as path from 'node:path';
import ssh2 from 'ssh2';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { escapeForTerminal } from '../../src/util/escape.js';
import { expectCleanOutput, expectIdentical, jsonEvents, makeCanary, ofType, sha256 } from '../support/hostile-checks.js';
import { startHostileServer, type HostileServer } from '../support/hostile-server.js';

const { STATUS_CODE } = ssh2.utils.sftp;

const TITLE = '\x1b]0;x\x07';
const ERASE = '\x1b[2K\r';
const CSI = '\u009b31m';
const EVIL = `before ${TITLE} ${ERASE} ${CSI} after`;
const NAMES = [`n1-${TITLE}.txt`, `n2-${ERASE}.txt`, `n3-${CSI}.txt`, `long-${'y'.repeat(200)}${TITLE}${ERASE}${CSI}.txt`];
const FAILING = `fail-${TITLE}${ERASE}${CSI}.txt`;

let srv: HostileServer;
const digests = new Map<string, string>();

beforeAll(async () => {
  srv = await startHostileServer({
    banner: `Welcome ${EVIL}\nsecond line ${TITLE}`,
    hooks: {
      // Long names (ls -l lines) full of escapes: ferry must never print them raw.
      readdirNames: (_p, names) => names.map((n) => ({ ...n, longname: `-rw-r--r-- 1 0 0 1 Jan 1 1970 ${EVIL} ${n.filename}` })),
      onRequest: (r) => {
        const target = String(r.args[0] ?? '');
        if (r.op === 'OPEN' && (target.includes('fail-') || target.includes('refused'))) {
          r.sftp.status(r.reqid, STATUS_CODE.FAILURE, EVIL);
          return true;
        }
      },
    },
  });
  await fs.mkdir(path.join(srv.root, 'src'));
  for (const n of [...NAMES, FAILING]) {
    const data = randomBytes(10_000);
    await fs.writeFile(path.join(srv.root, 'src', n), data);
    digests.set(n, sha256(data));
  }
});
afterAll(() => srv?.close());

async function target(name: string) {
  const dst = path.join(await fs.mkdtemp(path.join(srv.work, `${name}-`)), 'dst');
  return { dst, canary: await makeCanary(dst) };
}

async function expectCopies(dst: string) {
  for (const n of NAMES) await expectIdentical(path.join(dst, n), digests.get(n)!);
}

describe.concurrent('3: control sequences from the server are shown escaped', () => {
  it('stderr: the banner, the failing name and its STATUS message, escaped; the rest copied under their exact names', async () => {
    const { dst, canary } = await target('plain');
    const r = await srv.cp(['-r', srv.remote('/src'), dst]);
    expect(r.code, r.stderr).toBe(1);
    expectCleanOutput(r);
    expect(r.stderr).toContain(`Welcome ${escapeForTerminal(EVIL)}\nsecond line ${escapeForTerminal(TITLE)}`);
    expect(r.stderr).toContain(escapeForTerminal(`${FAILING}": ${EVIL}`));
    expect(r.stderr).toContain('\\x1b]0;x\\x07');
    expect(r.stderr).toContain('\\x1b[2K\\r');
    expect(r.stderr).toContain('\\x9b31m');
    expect(r.stderr).not.toContain('-rw-r--r--'); // long names are never shown
    await expectCopies(dst);
    await canary.check();
  });

  it('--json: every line parses, names and messages are exact, no raw control byte on stdout', async () => {
    const { dst } = await target('json');
    const r = await srv.cp(['-r', '--json', srv.remote('/src'), dst]);
    expect(r.code, r.stderr).toBe(1);
    expectCleanOutput(r);
    // C1 controls are escaped too (JSON.stringify alone leaves U+009B raw).
    expect(r.stdout).toContain('\\u009b31m');
    const evs = jsonEvents(r.stdout);
    const copied = ofType(evs, 'file').map((e) => path.basename(String(e.dst))).sort();
    expect(copied).toEqual([...NAMES].sort());
    const [err] = ofType(evs, 'error');
    expect(err.message).toContain(`${FAILING}": ${EVIL}`);
    await expectCopies(dst);
  });

  it('-v: debug output escaped too', async () => {
    const { dst } = await target('verbose');
    const r = await srv.cp(['-r', '-v', srv.remote('/src'), dst]);
    expect(r.code, r.stderr).toBe(1);
    expectCleanOutput(r);
    expect(r.stderr).toMatch(/^debug1: /m);
    await expectCopies(dst);
  });

  it('-q: no banner, the error still shown (escaped)', async () => {
    const { dst } = await target('quiet');
    const r = await srv.cp(['-r', '-q', srv.remote('/src'), dst]);
    expect(r.code, r.stderr).toBe(1);
    expectCleanOutput(r);
    expect(r.stderr).not.toContain('Welcome');
    expect(r.stderr).toContain(escapeForTerminal(EVIL));
    await expectCopies(dst);
  });

  it('upload: a STATUS message for a control-named target is shown escaped', async () => {
    const local = path.join(await fs.mkdtemp(path.join(srv.work, 'up-')), `refused-${TITLE}${CSI}.txt`);
    await fs.writeFile(local, 'x');
    await fs.mkdir(path.join(srv.root, 'up'), { recursive: true });
    const r = await srv.cp([local, srv.remote('/up/')]);
    expect(r.code, r.stderr).toBe(1);
    expectCleanOutput(r);
    expect(r.stderr).toContain(escapeForTerminal(`refused-${TITLE}${CSI}.txt": ${EVIL}`));
    expect(await fs.readdir(path.join(srv.root, 'up'))).toEqual([]);
  });
});
