// Catalog 6, 7, 8: READ replies a server gets wrong.
// 6: more bytes than asked: a protocol error (exit 3), nothing written
//    outside the requested range, nothing at the final name.
// 7: short reads of random length: the rest is asked for again; identical.
// 8: replies out of order: identical; duplicated or under an id never sent:
//    a clean protocol error (exit 3), never a corrupt file and never a hang
//    (ssh2 drops such replies silently, so the request they should have
//    answered would wait forever: see src/transfer/sftp-guard.ts).
import { randomBytes } from 'node:crypto';
import * as fs from 'node:fs/promises';
import * as path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { mulberry32 } from '../support/fault-proxy.js';
import {
  expectCleanOutput, expectIdentical, expectNoFinal, exists, makeCanary, MiB, partialOf, sha256,
} from '../support/hostile-checks.js';
import { startHostileServer, type HostileServer, type SftpHooks, type SftpReply } from '../support/hostile-server.js';

const SIZE = 3 * MiB + 12_345;
let source: Buffer;
let digest: string;
const servers: HostileServer[] = [];

beforeAll(() => {
  source = randomBytes(SIZE);
  digest = sha256(source);
});
afterAll(async () => {
  await Promise.all(servers.map((s) => s.close()));
});

async function serve(hooks: Partial<SftpHooks>) {
  const srv = await startHostileServer({ hooks });
  servers.push(srv);
  await fs.writeFile(path.join(srv.root, 'f.bin'), source);
  const dst = path.join(srv.work, 'out', 'f.bin');
  await fs.mkdir(path.dirname(dst));
  return { srv, dst, canary: await makeCanary(dst) };
}

/** Whatever a failed run left in the partial is a piece of the source (or a hole), never more. */
async function expectPartialWithinSource(dst: string) {
  const part = partialOf(dst);
  if (!(await exists(part))) return;
  const got = await fs.readFile(part);
  expect(got.length).toBeLessThanOrEqual(SIZE);
  for (let i = 0; i < got.length; i += 4096) {
    const piece = got.subarray(i, i + 4096);
    if (piece.some((b) => b !== 0)) expect(piece.equals(source.subarray(i, i + piece.length)), `partial differs at ${i}`).toBe(true);
  }
}

describe.concurrent('6: READ answered with more bytes than asked', () => {
  for (const at of [1, 20]) {
    it(`on READ #${at}: protocol error, exit 3, nothing at the final name, nothing beyond the request`, async () => {
      let reads = 0;
      const { srv, dst, canary } = await serve({
        onRead: (_p, _off, data) => (++reads === at ? Buffer.concat([data, Buffer.alloc(4096, 0x41)]) : data),
      });
      const r = await srv.cp([srv.remote('/f.bin'), dst], { timeoutMs: 20_000 });
      expect(r.code, r.stderr).toBe(3);
      expectCleanOutput(r);
      expect(r.stderr).toMatch(/protocol error: read remote "\/f\.bin".*bytes of data in reply to a read of \d+/);
      await expectNoFinal(dst);
      await expectPartialWithinSource(dst);
      await canary.check();
    });
  }
});

describe.concurrent('6: a reply too big for any SFTP packet', () => {
  it('300 KiB in one DATA reply: ssh2 refuses the packet; a protocol error (exit 3), not a crash', async () => {
    let reads = 0;
    const { srv, dst, canary } = await serve({
      onRead: (_p, _off, data) => (++reads === 5 ? Buffer.alloc(300 * 1024, 0x42) : data),
    });
    const r = await srv.cp([srv.remote('/f.bin'), dst], { timeoutMs: 20_000 });
    expect(r.code, r.stderr).toBe(3);
    expectCleanOutput(r);
    expect(r.stderr).toMatch(/^ferry: protocol error: read remote "\/f\.bin".*(exceeds max length|bytes of data in reply)/m);
    expect(r.stderr).not.toMatch(/\n\s+at /); // no stack trace
    await expectNoFinal(dst);
    await expectPartialWithinSource(dst);
    await canary.check();
  });
});

describe.concurrent('7: short reads of random length', () => {
  for (const seed of [1, 2, 3]) {
    it(`seed ${seed}: the remainder is asked for again and the copy is identical`, async () => {
      const rand = mulberry32(seed);
      let short = 0;
      const { srv, dst, canary } = await serve({
        onRead: (_p, _off, data) => {
          if (data.length < 2 || rand() < 0.3) return data;
          short++;
          return data.subarray(0, 1 + Math.floor(rand() * (data.length - 1)));
        },
      });
      const r = await srv.cp([srv.remote('/f.bin'), dst]);
      expect(r.code, r.stderr).toBe(0);
      expectCleanOutput(r);
      expect(short).toBeGreaterThan(10);
      await expectIdentical(dst, digest);
      await canary.check();
    });
  }
});

/** Holds READ data replies and sends them in batches, last first; a timer flushes stragglers. */
function reverseBatches(size: number): Partial<SftpHooks> {
  let held: SftpReply[] = [];
  let timer: NodeJS.Timeout | undefined;
  const flush = () => {
    clearTimeout(timer);
    timer = undefined;
    const out = held.reverse();
    held = [];
    for (const r of out) r.send();
  };
  return {
    onReply: (r) => {
      if (r.op !== 'READ' || r.kind !== 'data') return r.send();
      held.push(r);
      if (held.length >= size) flush();
      else timer ??= setTimeout(flush, 5);
    },
  };
}

describe.concurrent('8: replies out of order, duplicated, or under an unknown id', () => {
  it('out of order (batches of 5 replies, last first): identical', async () => {
    const { srv, dst, canary } = await serve(reverseBatches(5));
    const r = await srv.cp([srv.remote('/f.bin'), dst]);
    expect(r.code, r.stderr).toBe(0);
    expectCleanOutput(r);
    await expectIdentical(dst, digest);
    await canary.check();
  });

  it('upload, WRITE statuses out of order: identical', async () => {
    let held: SftpReply[] = [];
    const { srv, canary } = await serve({
      onReply: (r) => {
        if (r.op !== 'WRITE') return r.send();
        held.push(r);
        if (held.length >= 4) {
          const out = held.reverse();
          held = [];
          out.forEach((x) => x.send());
        } else setTimeout(() => held.includes(r) && (held = held.filter((x) => x !== r), r.send()), 5);
      },
    });
    const local = path.join(srv.work, 'up.bin');
    await fs.writeFile(local, source);
    const r = await srv.cp([local, srv.remote('/up.bin')]);
    expect(r.code, r.stderr).toBe(0);
    await expectIdentical(path.join(srv.root, 'up.bin'), digest);
    await canary.check();
  });

  const broken: [string, (n: number) => Partial<SftpHooks>][] = [
    ['the 10th READ reply sent twice', () => {
      let n = 0;
      return { onReply: (r) => (r.op === 'READ' && ++n === 10 ? (r.send(), r.send()) : r.send()) };
    }],
    ['the 10th READ reply under an id never sent', () => {
      let n = 0;
      return { onReply: (r) => (r.op === 'READ' && ++n === 10 ? r.send(r.reqid + 100_000) : r.send()) };
    }],
    ['the 10th READ reply under the id of a request answered long ago', () => {
      let n = 0;
      let first: number | undefined;
      return {
        onReply: (r) => {
          if (r.op === 'READ') first ??= r.reqid;
          return r.op === 'READ' && ++n === 10 ? r.send(first) : r.send();
        },
      };
    }],
  ];
  for (const [what, hooks] of broken) {
    it(`${what}: a clean protocol error (exit 3) within seconds, no final file`, async () => {
      const { srv, dst, canary } = await serve(hooks(0));
      const t0 = Date.now();
      const r = await srv.cp([srv.remote('/f.bin'), dst], { timeoutMs: 20_000 });
      expect(r.code, r.stderr).toBe(3);
      expect(Date.now() - t0).toBeLessThan(10_000);
      expectCleanOutput(r);
      expect(r.stderr).toMatch(/protocol error: read remote "\/f\.bin".*not outstanding/);
      await expectNoFinal(dst);
      await expectPartialWithinSource(dst);
      await canary.check();
    });
  }

  it('upload, a WRITE status sent twice: protocol error, the final remote name never appears', async () => {
    let n = 0;
    const { srv, canary } = await serve({ onReply: (r) => (r.op === 'WRITE' && ++n === 10 ? (r.send(), r.send()) : r.send()) });
    const local = path.join(srv.work, 'up.bin');
    await fs.writeFile(local, source);
    const r = await srv.cp([local, srv.remote('/up.bin')], { timeoutMs: 20_000 });
    expect(r.code, r.stderr).toBe(3);
    expectCleanOutput(r);
    expect(r.stderr).toMatch(/protocol error: write remote "\/up\.bin".*not outstanding/);
    await expectNoFinal(path.join(srv.root, 'up.bin'));
    await canary.check();
  });
});
