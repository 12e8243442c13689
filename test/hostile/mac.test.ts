// Catalog 13: one flipped byte on the wire (the fault proxy XORs a byte of the
// encrypted stream). SSH's integrity check refuses it: with --retries 0 the
// run stops (exit 3) saying so, nothing is at the final name, and the rerun
// resumes and completes byte-identical. With the default retries the same
// run reconnects and completes.
import * as path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  bytesSent, expectCleanOutput, expectIdentical, expectNoFinal, jsonEvents, journalCount, makeCanary, MiB, ofType,
} from '../support/hostile-checks.js';
import { scenario, startLink, watchPath, startSourceFixture, stopSourceFixture } from '../support/hostile-link.js';
import type { Sshd } from '../support/sshd.js';

const SIZE = 12 * MiB;
let sd: Sshd;
let work: string;
let src: string;
let digest: string;

beforeAll(async () => {
  ({ sd, work, src, digest } = await startSourceFixture('mac', SIZE));
});
afterAll(() => stopSourceFixture(sd, work));

describe.concurrent('13: a flipped byte on the wire', () => {
  for (const at of [5_000_000, 9_000_123]) {
    it(`download, byte ${at} flipped: MAC error, exit 3, no final file; the rerun resumes and is identical`, async () => {
      const s = await scenario(sd, work, `down-${at}`);
      const dst = path.join(s.dir, 'copy.bin');
      const canary = await makeCanary(dst);
      const link = await startLink(sd, { flipByteAt: { down: at } });
      try {
        const r = await s.cp(['--retries', '0', ...link.args, `127.0.0.1:${src}`, dst]);
        expect(r.code, r.stderr).toBe(3);
        expectCleanOutput(r);
        expect(r.stderr).toMatch(/connection lost: corrupted data refused \(MAC check failed/);
      } finally {
        await link.close();
      }
      await expectNoFinal(dst);
      expect(await journalCount(s.stateDir)).toBe(1);
      const again = await s.cp(['--json', '-P', String(sd.port), `127.0.0.1:${src}`, dst]);
      expect(again.code, again.stderr).toBe(0);
      expect(ofType(jsonEvents(again.stdout), 'file')[0].resumedFrom as number).toBeGreaterThan(0);
      expect(bytesSent(again.stdout)).toBeLessThan(SIZE);
      await expectIdentical(dst, digest);
      await canary.check();
    });
  }

  it('upload, a byte flipped on the way to the server: exit 3, the final remote name never appears; the rerun is identical', async () => {
    const s = await scenario(sd, work, 'up');
    const dst = path.join(s.dir, 'copy.bin');
    const link = await startLink(sd, { flipByteAt: { up: 5_000_000 } });
    const watch = watchPath(dst);
    try {
      const r = await s.cp(['--retries', '0', ...link.args, src, `127.0.0.1:${dst}`]);
      // sshd finds the bad MAC and hangs up (a reset, or just a close): ferry sees the connection go.
      expect(r.code, r.stderr).toBe(3);
      expectCleanOutput(r);
      expect(r.stderr).toMatch(/connection lost|No response from server/);
      await expectNoFinal(dst);
      const again = await s.cp(['-P', String(sd.port), src, `127.0.0.1:${dst}`]);
      expect(again.code, again.stderr).toBe(0);
      await expectIdentical(dst, digest);
    } finally {
      watch.stop();
      await link.close();
    }
    expect(watch.sizes.filter((n) => n !== SIZE)).toEqual([]);
  });

  it('download with the default retries: one run reconnects past the bad byte and completes identically', async () => {
    const s = await scenario(sd, work, 'retry');
    const dst = path.join(s.dir, 'copy.bin');
    const link = await startLink(sd, { flipByteAt: { down: 5_000_000 } });
    try {
      const r = await s.cp([...link.args, `127.0.0.1:${src}`, dst]);
      expect(r.code, r.stderr).toBe(0);
      expect(r.stderr).toMatch(/MAC check failed.*reconnecting/);
      await expectIdentical(dst, digest);
    } finally {
      await link.close();
    }
  });
});
