// Catalog 11: the connection cut at a seeded random byte (the fault proxy in
// front of a real sshd), downloads and uploads of a 12 MiB file (journaled:
// >= 8 MiB). With --retries 0 the run fails (exit 3) with nothing at the
// final name; the rerun completes byte-identical and, when the failed run left
// a journal, sends less than the whole file. An upload never shows its final
// remote name with less than the whole file. With the default retries one run
// rides the cut out by reconnecting.
//
// 5 seeds per direction by default; FERRY_HEAVY=1 (npm run test:heavy) runs 25.
// Downloads always leave a journal (the partial is local and can be synced
// after the cut); uploads only when a 1 s checkpoint landed before it, so they
// go through a 4 MiB/s link to give most seeds one.
import * as path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  bytesSent, expectCleanOutput, expectIdentical, expectNoFinal, jsonEvents, journalCount, makeCanary, MiB, ofType,
} from '../support/hostile-checks.js';
import { scenario, startLink, watchPath, startSourceFixture, stopSourceFixture } from '../support/hostile-link.js';
import type { Sshd } from '../support/sshd.js';

const SIZE = 12 * MiB + 4321;
const SEEDS = process.env.FERRY_HEAVY ? 25 : 5;
let sd: Sshd;
let work: string;
let src: string;
let digest: string;

beforeAll(async () => {
  ({ sd, work, src, digest } = await startSourceFixture('cut', SIZE));
});
afterAll(() => stopSourceFixture(sd, work));

const resumed = { download: 0, upload: 0 };

describe.concurrent('11: a connection cut at a seeded random byte', () => {
  for (const direction of ['download', 'upload'] as const) {
    for (let seed = 1; seed <= SEEDS; seed++) {
      it(`${direction}, seed ${seed}: --retries 0 fails cleanly; the rerun completes identically`, async () => {
        const s = await scenario(sd, work, `${direction}-${seed}`);
        const dst = path.join(s.dir, 'copy.bin');
        const canary = await makeCanary(dst);
        const operands = direction === 'download' ? [`127.0.0.1:${src}`, dst] : [src, `127.0.0.1:${dst}`];
        const link = await startLink(sd, {
          randomCut: { min: 256 * 1024, max: SIZE, direction: direction === 'download' ? 'down' : 'up' },
          seed,
          rateBytesPerSec: direction === 'upload' ? 4 * MiB : undefined,
        });
        const watch = watchPath(dst);
        try {
          const r1 = await s.cp(['--json', '--retries', '0', ...link.args, ...operands]);
          const at = `cut at byte ${link.proxy.randomCutAt}`;
          expectCleanOutput(r1);
          // A cut after the last data byte went through may still let the run finish.
          if (r1.code === 0) {
            await expectIdentical(dst, digest);
            await canary.check();
            return;
          }
          expect(r1.code, `${at}: ${r1.stderr}`).toBe(3);
          await expectNoFinal(dst);
          const journaled = (await journalCount(s.stateDir)) > 0;

          const r2 = await s.cp(['--json', '-P', String(sd.port), ...operands]);
          expect(r2.code, `${at}: ${r2.stderr}`).toBe(0);
          await expectIdentical(dst, digest);
          const [file] = ofType(jsonEvents(r2.stdout), 'file');
          if (journaled) {
            expect(file.resumedFrom as number, at).toBeGreaterThan(0);
            expect(bytesSent(r2.stdout), at).toBeLessThan(SIZE);
            resumed[direction]++;
          }
          expect(await journalCount(s.stateDir)).toBe(0);
          await canary.check();
        } finally {
          watch.stop();
          await link.close();
        }
        expect(watch.sizes.filter((n) => n !== SIZE), 'the final name showed an incomplete file').toEqual([]);
      });
    }

    it(`${direction}: with the default retries one run reconnects and completes identically`, async () => {
      const s = await scenario(sd, work, `${direction}-retry`);
      const dst = path.join(s.dir, 'copy.bin');
      const operands = direction === 'download' ? [`127.0.0.1:${src}`, dst] : [src, `127.0.0.1:${dst}`];
      const link = await startLink(sd, { cutAfterBytes: { [direction === 'download' ? 'down' : 'up']: 5 * MiB } });
      try {
        const r = await s.cp([...link.args, ...operands]);
        expect(r.code, r.stderr).toBe(0);
        expectCleanOutput(r);
        expect(r.stderr).toMatch(/reconnecting in \d+ s \(attempt 1\)/);
        expect(link.proxy.connections).toBeGreaterThanOrEqual(2);
        await expectIdentical(dst, digest);
      } finally {
        await link.close();
      }
    });
  }
});

describe('11: after all seeds', () => {
  it('runs in both directions resumed from journals (the checks above are not vacuous)', () => {
    expect(resumed.download).toBeGreaterThan(0);
    // Seeds cutting late in the 3 s upload come after a checkpoint.
    expect(resumed.upload).toBeGreaterThan(0);
  });
});
