// The reply guard's packet framing against a stand-in for ssh2's SFTP object:
// replies split at every byte boundary, several per chunk, and the two
// violations it exists for (a reply to no outstanding request, DATA longer
// than the READ). The end-to-end cases are in test/hostile/read-protocol.test.ts.
import { describe, expect, it } from 'vitest';
import type { SFTPWrapper } from 'ssh2';
import { guardReplies } from '../../src/transfer/sftp-guard.js';

const STATUS = 101;
const DATA = 103;

function packet(type: number, id: number, body: Buffer): Buffer {
  const head = Buffer.alloc(9);
  head.writeUInt32BE(5 + body.length, 0);
  head[4] = type;
  head.writeUInt32BE(id, 5);
  return Buffer.concat([head, body]);
}
const status = (id: number) => packet(STATUS, id, Buffer.from([0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0]));
function data(id: number, n: number): Buffer {
  const len = Buffer.alloc(4);
  len.writeUInt32BE(n);
  return packet(DATA, id, Buffer.concat([len, Buffer.alloc(n, 7)]));
}

/** Parses whole packets like ssh2 does, answering (and forgetting) the requests they name. */
function fakeSftp(outstanding: Record<number, { readLen?: number }>) {
  const answered: number[] = [];
  const failed: string[] = [];
  let destroyed = false;
  let buf = Buffer.alloc(0);
  const requests: Record<number, { cb: (err?: Error) => void; buffer?: Buffer }> = {};
  for (const [id, r] of Object.entries(outstanding)) {
    requests[Number(id)] = { cb: (err) => (err ? failed.push(`${id}: ${err.message}`) : undefined), buffer: r.readLen ? Buffer.alloc(r.readLen) : undefined };
  }
  const sftp = {
    _requests: requests,
    push(chunk: Buffer | null) {
      if (chunk === null) return;
      buf = Buffer.concat([buf, chunk]);
      while (buf.length >= 4 && buf.length >= 4 + buf.readUInt32BE(0)) {
        const id = buf.readUInt32BE(5);
        const req = sftp._requests[id];
        delete sftp._requests[id];
        if (req) answered.push(id);
        buf = buf.subarray(4 + buf.readUInt32BE(0));
      }
    },
    destroy() {
      destroyed = true;
    },
  };
  return { sftp, answered, failed, destroyed: () => destroyed };
}

describe('guardReplies', () => {
  const stream = Buffer.concat([status(1), data(2, 300), status(3), data(4, 0)]);

  it('passes well-formed replies through whole, however the stream is split', () => {
    for (let cut = 1; cut < stream.length; cut++) {
      const f = fakeSftp({ 1: {}, 2: { readLen: 300 }, 3: {}, 4: { readLen: 10 } });
      const violations: string[] = [];
      guardReplies(f.sftp as unknown as SFTPWrapper, (v) => violations.push(v));
      // Two pieces at `cut`, then byte by byte for the tail.
      f.sftp.push(stream.subarray(0, cut));
      for (let i = cut; i < stream.length; i++) f.sftp.push(stream.subarray(i, i + 1));
      expect(violations, `cut at ${cut}`).toEqual([]);
      expect(f.answered, `cut at ${cut}`).toEqual([1, 2, 3, 4]);
    }
  });

  it('a duplicate reply in the same chunk as the first is a violation: pending requests fail, the channel closes', () => {
    const f = fakeSftp({ 1: {}, 2: {} });
    const violations: string[] = [];
    guardReplies(f.sftp as unknown as SFTPWrapper, (v) => violations.push(v));
    f.sftp.push(Buffer.concat([status(1), status(1), status(2)]));
    expect(f.answered).toEqual([1]);
    expect(violations).toEqual(['reply (type 101) to request id 1, which is not outstanding (a duplicate or an id never sent)']);
    expect(f.failed).toEqual(['2: protocol violation: reply (type 101) to request id 1, which is not outstanding (a duplicate or an id never sent)']);
    expect(f.destroyed()).toBe(true);
    // Nothing more is handed on.
    f.sftp.push(status(2));
    expect(f.answered).toEqual([1]);
  });

  it('DATA longer than the READ asked for is a violation before ssh2 sees it', () => {
    const f = fakeSftp({ 5: { readLen: 100 } });
    const violations: string[] = [];
    guardReplies(f.sftp as unknown as SFTPWrapper, (v) => violations.push(v));
    f.sftp.push(data(5, 101));
    expect(violations).toEqual(['101 bytes of data in reply to a read of 100']);
    expect(f.answered).toEqual([]);
  });
});
