// Catalog 14: a link that stalls (the proxy stops forwarding, sockets stay
// open, so TCP never reports anything). With -o ServerAliveInterval=1
// -o ServerAliveCountMax=2 and --retries 0 the keepalives notice within a few
// seconds: exit 3 naming the cause, nothing at the final name, and the rerun
// resumes and completes identically. Without keepalives ferry would wait for
// the system's TCP timeout, as ssh does.
import * as path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  bytesSent, expectCleanOutput, expectIdentical, expectNoFinal, jsonEvents, journalCount, makeCanary, MiB, ofType,
} from '../support/hostile-checks.js';
import { scenario, startLink, startSourceFixture, stopSourceFixture } from '../support/hostile-link.js';
import type { Sshd } from '../support/sshd.js';

const SIZE = 12 * MiB + 99;
const KEEPALIVE = ['-o', 'ServerAliveInterval=1', '-o', 'ServerAliveCountMax=2'];
let sd: Sshd;
let work: string;
let src: string;
let digest: string;

beforeAll(async () => {
  ({ sd, work, src, digest } = await startSourceFixture('stall', SIZE));
});
afterAll(() => stopSourceFixture(sd, work));

describe.concurrent('14: a stalled link', () => {
  for (const direction of ['download', 'upload'] as const) {
    it(`${direction}: keepalives detect it, exit 3 within seconds, no final file; the rerun completes identically`, async () => {
      const s = await scenario(sd, work, direction);
      const dst = path.join(s.dir, 'copy.bin');
      const canary = await makeCanary(dst);
      const operands = direction === 'download' ? [`127.0.0.1:${src}`, dst] : [src, `127.0.0.1:${dst}`];
      const link = await startLink(sd, { stallAfterBytes: { [direction === 'download' ? 'down' : 'up']: 5 * MiB } });
      const t0 = Date.now();
      try {
        const r = await s.cp(['--retries', '0', ...KEEPALIVE, ...link.args, ...operands]);
        expect(r.code, r.stderr).toBe(3);
        expect(Date.now() - t0).toBeLessThan(15_000);
        expectCleanOutput(r);
        expect(r.stderr).toMatch(/connection lost: Keepalive timeout/);
      } finally {
        await link.close();
      }
      await expectNoFinal(dst);
      // A download's partial is local: it is synced and journaled after the stall.
      // An upload's can only be synced over the link, so it resumes from the last checkpoint, if any.
      const journaled = (await journalCount(s.stateDir)) > 0;
      if (direction === 'download') expect(journaled).toBe(true);

      const again = await s.cp(['--json', '-P', String(sd.port), ...operands]);
      expect(again.code, again.stderr).toBe(0);
      await expectIdentical(dst, digest);
      if (journaled) {
        expect(ofType(jsonEvents(again.stdout), 'file')[0].resumedFrom as number).toBeGreaterThan(0);
        expect(bytesSent(again.stdout)).toBeLessThan(SIZE);
      }
      await canary.check();
    });
  }
});
