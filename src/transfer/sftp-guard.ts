/**
 * A look at every reply of one SFTP session before ssh2 parses it. ssh2
 * silently drops a reply whose request id is not outstanding (a duplicate, or
 * an id never sent, after which the request it should have answered waits
 * forever) and silently cuts a DATA reply longer than the READ asked for.
 * Either means the server is broken or hostile, and OpenSSH's sftp stops on
 * both; so does this: every pending request fails with a "protocol violation"
 * error and the channel is closed.
 *
 * It reads only packet headers (length, type, request id, and a DATA reply's
 * length), and hands ssh2 everything before a header's last byte first, so
 * the check sees exactly the requests still outstanding at that packet.
 */
import type { SFTPWrapper } from 'ssh2';

const SSH_FXP_VERSION = 2;
const SSH_FXP_DATA = 103;

interface PendingRequest {
  cb?: (err?: Error) => void;
  /** Set by ssh2 for READ requests: where the reply goes, as long as was asked. */
  buffer?: Buffer;
}

/** The parts of ssh2's SFTP object this relies on (ssh2 1.x). */
interface SftpInternals {
  push(data: Buffer | null): void;
  _requests: Record<number, PendingRequest>;
  destroy(): void;
}

export function guardReplies(sftp: SFTPWrapper, onViolation: (reason: string) => void): void {
  const s = sftp as unknown as SftpInternals;
  if (typeof s.push !== 'function' || typeof s._requests !== 'object') return; // not the ssh2 we know
  const push = s.push.bind(s);
  const head = Buffer.alloc(13);
  let pos = 0; // bytes of the current packet seen
  let total = 0; // its length on the wire (0 until the length field is in)
  let checked = false;
  let broken = false;

  const check = (): string | null => {
    const type = head[4];
    if (type === SSH_FXP_VERSION) return null;
    const id = head.readUInt32BE(5);
    const req = s._requests[id];
    if (!req) return `reply (type ${type}) to request id ${id}, which is not outstanding (a duplicate or an id never sent)`;
    if (type === SSH_FXP_DATA && req.buffer && pos >= 13) {
      const len = head.readUInt32BE(9);
      if (len > req.buffer.length) return `${len} bytes of data in reply to a read of ${req.buffer.length}`;
    }
    return null;
  };

  const fail = (reason: string) => {
    broken = true;
    onViolation(reason);
    const err = new Error(`protocol violation: ${reason}`);
    const pending = s._requests;
    s._requests = {};
    for (const req of Object.values(pending)) req.cb?.(err);
    s.destroy();
  };

  s.push = (data: Buffer | null) => {
    if (data === null) return push(null);
    if (broken) return;
    let from = 0;
    let p = 0;
    while (p < data.length) {
      if (!checked) {
        head[pos++] = data[p++];
        if (pos === 4) {
          total = 4 + head.readUInt32BE(0);
          if (total < 9) {
            // Too short to name a request: ssh2 rejects it as malformed and ends the session.
            s.push = push;
            return push(data.subarray(from));
          }
        }
        if (pos < 5) continue;
        if (pos === Math.min(total, head[4] === SSH_FXP_DATA ? 13 : 9)) {
          checked = true;
          // Earlier packets first (all but this header's last byte, so this one is not complete yet).
          push(data.subarray(from, p - 1));
          from = p - 1;
          const why = check();
          if (why) return fail(why);
        }
      } else {
        const n = Math.min(total - pos, data.length - p);
        p += n;
        pos += n;
      }
      if (checked && pos >= total) {
        pos = 0;
        total = 0;
        checked = false;
      }
    }
    push(data.subarray(from));
  };
}
