/**
 * Starting an SFTP session in fewer round trips than ssh2 takes.
 *
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
  outgoing?: { id: number };
  _init?: () => void;
  emit(event: string, ...args: unknown[]): boolean;
  on(event: string, fn: (...args: unknown[]) => void): unknown;
  listenerCount(event: string): number;
  push(data: Buffer | null): unknown;
}

interface ClientInternals {
  _protocol?: { subsystem?: (chan: number, name: string, wantReply?: boolean) => void };
  _chanMgr?: { _channels?: Record<number, unknown> };
}

function sftpClass(): { prototype: SftpInternals } | undefined {
  try {
    const require = createRequire(import.meta.url);
    return (require('ssh2/lib/protocol/SFTP.js') as { SFTP?: { prototype: SftpInternals } }).SFTP;
  } catch {
    return undefined; // another ssh2 layout: keep its own behaviour
  }
}

let patched = false;

export function readyAtVersion(): void {
  if (patched) return;
  patched = true;
  const proto = sftpClass()?.prototype;
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

/**
 * ssh2 sends the SFTP INIT only after the server confirmed the subsystem
 * request: a round trip. sshd (as any server handling messages in order)
 * hands data that follows the request to the subsystem once it runs, so the
 * INIT goes out right behind the request. Should a server answer VERSION
 * before its confirmation, the session's 'ready' is held until ssh2 listens
 * for it.
 */
export function initWithSubsystem(client: unknown): void {
  const c = client as ClientInternals;
  const proto = c._protocol;
  const SFTP = sftpClass();
  if (!proto || typeof proto.subsystem !== 'function' || !SFTP || !c._chanMgr?._channels) return;
  const subsystem = proto.subsystem.bind(proto);
  proto.subsystem = (chan, name, wantReply) => {
    subsystem(chan, name, wantReply);
    if (name !== 'sftp') return;
    const session = Object.values(c._chanMgr?._channels ?? {}).find(
      (ch): ch is SftpInternals => ch instanceof (SFTP as unknown as new () => SftpInternals) && (ch as SftpInternals).outgoing?.id === chan,
    );
    if (!session || typeof session._init !== 'function') return;
    holdReadyUntilHeard(session);
    session._init();
  };
}

function holdReadyUntilHeard(s: SftpInternals): void {
  const emit = s.emit.bind(s);
  const on = s.on.bind(s);
  let held = false;
  s.emit = (event: string, ...args: unknown[]) => {
    if (event === 'ready' && s.listenerCount('ready') === 0) {
      held = true;
      return false;
    }
    return emit(event, ...args);
  };
  s.on = (event: string, fn: (...args: unknown[]) => void) => {
    const r = on(event, fn);
    if (event === 'ready' && held) {
      held = false;
      process.nextTick(() => emit('ready'));
    }
    return r;
  };
}
