// Lanes against a real sshd that allows only two sessions per connection
// (MaxSessions 2): channels past that are refused, so ferry must carry on over
// a further connection, not give up on parallelism or fail the copy.
import { randomBytes } from 'node:crypto';
import { rm, writeFile } from 'node:fs/promises';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { makeTempDir } from '../support/cp-helpers.js';
import { startLink } from '../support/hostile-link.js';
import { runFerry } from '../support/run-ferry.js';
import { sha256File, sshdLog, startSshd, type Sshd } from '../support/sshd.js';

let sd: Sshd;
let work: string;
beforeAll(async () => {
  [sd, work] = await Promise.all([startSshd({ extraConfig: ['MaxSessions 2'] }), makeTempDir('lanes')]);
});
afterAll(async () => {
  await sd?.stop();
  await rm(work, { recursive: true, force: true });
});

const logins = () => (sshdLog(sd).match(/Accepted publickey/g) ?? []).length;

describe('lanes past MaxSessions', () => {
  it('a big upload opens lanes on a second connection when the first refuses more sessions', async () => {
    const src = `${work}/big.bin`;
    await writeFile(src, randomBytes(48 * 1024 * 1024 + 5));
    const before = logins();
    // 300 ms away, one channel carries about 5 MB/s: lanes pay, and the copy outlasts
    // a second handshake even on a loaded machine.
    const link = await startLink(sd, { delayMs: { up: 150, down: 150 } });
    const r = await runFerry(['cp', '--json', '-B', ...link.args, src, `127.0.0.1:${work}/up.bin`], { env: sd.env, timeoutMs: 60_000 }).finally(() => link.close());
    expect(r.code, r.stderr).toBe(0);
    const lanes = r.stdout.split('\n').filter(Boolean).map((l) => JSON.parse(l)).filter((e) => e.event === 'lanes').map((e) => e.lanes as number);
    expect(Math.max(...lanes)).toBeGreaterThan(2);
    expect(logins() - before).toBeGreaterThan(1);
    expect(await sha256File(`${work}/up.bin`)).toBe(await sha256File(src));
  });
});
