// Catalog 15 and 26: key exchange.
// 15: sshd with RekeyLimit 1M rekeys dozens of times during 32 MiB each way:
//     the copies are identical and -vvv shows the host key checked again at
//     every rekey (one check per key exchange after each connection's first) (a key that changes at a rekey is refused: unit-tested in
//     test/ssh/host-verify.test.ts).
// 26: a server offering only weak algorithms (aes128-cbc,
//     diffie-hellman-group1-sha1, hmac-sha1) is refused with "no matching";
//     against a normal sshd -v shows strict key exchange (the Terrapin fix).
import { randomBytes } from 'node:crypto';
import * as fs from 'node:fs/promises';
import * as os from 'node:os';
import * as path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { expectCleanOutput, expectIdentical, expectNoFinal, MiB, sha256 } from '../support/hostile-checks.js';
import { scenario } from '../support/hostile-link.js';
import { startSshd, type Sshd } from '../support/sshd.js';

const SIZE = 32 * MiB;
let rekeying: Sshd;
let weak: Sshd;
let work: string;
let src: string;
let digest: string;

beforeAll(async () => {
  [rekeying, weak, work] = await Promise.all([
    startSshd({ extraConfig: ['RekeyLimit 1M'] }),
    startSshd({ extraConfig: ['Ciphers aes128-cbc', 'KexAlgorithms diffie-hellman-group1-sha1', 'MACs hmac-sha1'] }),
    fs.mkdtemp(path.join(os.tmpdir(), 'ferry-hostile-rekey-')),
  ]);
  src = path.join(work, 'src.bin');
  const data = randomBytes(SIZE);
  await fs.writeFile(src, data);
  digest = sha256(data);
});
afterAll(async () => {
  await Promise.all([rekeying?.stop(), weak?.stop()]);
  if (work) await fs.rm(work, { recursive: true, force: true });
});

const count = (stderr: string, re: RegExp) => stderr.split('\n').filter((l) => re.test(l)).length;

describe.concurrent('15: RekeyLimit 1M during 32 MiB', () => {
  for (const direction of ['download', 'upload'] as const) {
    it(`${direction}: identical, the host key re-checked at every rekey`, async () => {
      const s = await scenario(rekeying, work, direction);
      const dst = path.join(s.dir, 'copy.bin');
      const operands = direction === 'download' ? [`127.0.0.1:${src}`, dst] : [src, `127.0.0.1:${dst}`];
      // -vvv: ssh2's own trace shows every key exchange, ferry's line every host key check after the first.
      const r = await s.cp(['-vvv', '-P', String(rekeying.port), ...operands]);
      expect(r.code, r.stderr.slice(-2000)).toBe(0);
      expectCleanOutput(r);
      await expectIdentical(dst, digest);
      const exchanges = count(r.stderr, /^debug1: Handshake completed$/);
      const connections = count(r.stderr, /^debug1: Authenticated to 127\.0\.0\.1 /);
      const rechecks = count(r.stderr, /^debug1: Rekey: the host key of 127\.0\.0\.1 is unchanged$/);
      expect(connections).toBeGreaterThanOrEqual(1);
      expect(rechecks, 'sshd rekeyed (RekeyLimit 1M)').toBeGreaterThanOrEqual(8);
      expect(rechecks, 'every rekey re-checked the host key').toBe(exchanges - connections);
      expect(r.stderr).not.toMatch(/changed during the session/);
    });
  }
});

describe.concurrent('26: algorithms', () => {
  it('a server with only aes128-cbc, diffie-hellman-group1-sha1 and hmac-sha1 is refused: "no matching", exit 3, nothing copied', async () => {
    const s = await scenario(weak, work, 'weak');
    const dst = path.join(s.dir, 'copy.bin');
    const r = await s.cp(['-P', String(weak.port), `127.0.0.1:${src}`, dst]);
    expect(r.code, r.stderr).toBe(3);
    expectCleanOutput(r);
    expect(r.stderr).toMatch(/no matching (key exchange algorithm|C->S cipher|S->C cipher)/);
    expect(r.stderr).toContain('hint:');
    await expectNoFinal(dst);
    expect((await fs.readdir(s.dir)).filter((n) => n !== 'state')).toEqual([]);
  });

  it('a normal sshd: -v shows strict key exchange and the algorithms agreed on', async () => {
    const s = await scenario(rekeying, work, 'strict');
    const small = path.join(s.dir, 'small.txt');
    await fs.writeFile(small, 'x\n');
    const r = await s.cp(['-v', '-P', String(rekeying.port), small, `127.0.0.1:${small}.copy`]);
    expect(r.code, r.stderr).toBe(0);
    expect(r.stderr).toMatch(/^debug1: kex: \S+, host key ssh-ed25519, cipher \S+.*; strict key exchange: yes$/m);
  });
});
