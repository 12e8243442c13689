/**
 * An SFTP session is usable once the server's VERSION arrives. ssh2 first
 * asks limits@openssh.com and reports the session ready only when that
 * answer is back: a round trip before the first request can go out. Replies
 * come in request order, so the limits are known before the answer to any
 * request sent after them; ferry reads them only when it sizes its first
 * chunk (after a stat), so the session can be used at VERSION.
 *
 * ssh2 has no option for this: its SFTP class is patched once, here, to say
 * 'ready' at VERSION when it has sent the limits request. Its own 'ready'
 * after the limits reply then reaches no listener (client.sftp() listens for
 * the first one only).
 */
import { createRequire } from 'node:module';

interface SftpInternals {
  _version: number;
  _extensions?: Record<string, string>;
  emit(event: string): boolean;
  push(data: Buffer | null): unknown;
}

let patched = false;

export function readyAtVersion(): void {
  if (patched) return;
  patched = true;
  const require = createRequire(import.meta.url);
  let proto: SftpInternals | undefined;
  try {
    proto = (require('ssh2/lib/protocol/SFTP.js') as { SFTP?: { prototype: SftpInternals } }).SFTP?.prototype;
  } catch {
    return; // another ssh2 layout: keep its own behaviour
  }
  if (!proto || typeof proto.push !== 'function') return;
  const push = proto.push;
  const early = new WeakSet<object>();
  proto.push = function (this: SftpInternals, data: Buffer | null) {
    const result = push.call(this, data);
    if (this._version !== -1 && this._extensions?.['limits@openssh.com'] === '1' && !early.has(this)) {
      early.add(this);
      this.emit('ready');
    }
    return result;
  };
}
