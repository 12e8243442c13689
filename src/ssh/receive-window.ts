/**
 * A larger receive window for an SFTP channel. ssh2 grants every channel a
 * fixed 2 MiB and tops it up only once half is used, so a download on one
 * channel never has more than 1-2 MiB in flight: 10-20 MB/s at 100 ms RTT,
 * whatever the link. The window is ours to grant (RFC 4254 section 5.2), so
 * grant more and keep it topped up before ssh2's own top-up would run.
 *
 * This reaches into ssh2's channel state (incoming.window, push), which its
 * public API does not expose; test/ssh/receive-window.int.test.ts checks the
 * assumptions against the installed version.
 */
import type { SFTPWrapper } from 'ssh2';

/** What ssh2 grants a channel on its own (ssh2/lib/Channel.js MAX_WINDOW). */
export const SSH2_DEFAULT_WINDOW = 2 * 1024 * 1024;

interface ChannelState {
  incoming?: { window: number };
  outgoing?: { id: number; state: string };
  push?: (data: Buffer | null) => unknown;
  _protocol?: { channelWindowAdjust(id: number, amount: number): void };
}

/**
 * Grants `bytes` of receive window to the channel under `sftp` and keeps it
 * there. Returns the window now in force: `bytes`, or ssh2's default when the
 * channel does not look the way this code expects (then nothing is changed).
 */
export function widenReceiveWindow(sftp: SFTPWrapper, bytes: number): number {
  const ch = sftp as unknown as ChannelState;
  const { incoming, outgoing, _protocol: protocol } = ch;
  const push = ch.push;
  if (!incoming || !outgoing || !protocol || typeof push !== 'function' || typeof incoming.window !== 'number') {
    return SSH2_DEFAULT_WINDOW;
  }
  if (bytes <= SSH2_DEFAULT_WINDOW) return SSH2_DEFAULT_WINDOW;
  const topUp = () => {
    if (outgoing.state !== 'open' && outgoing.state !== 'eof') return;
    const amount = bytes - incoming.window;
    if (amount <= 0) return;
    incoming.window += amount;
    protocol.channelWindowAdjust(outgoing.id, amount);
  };
  // ssh2 lowers incoming.window, then pushes, then tops up to its own 2 MiB once
  // the window is at or below 1 MiB. Topping up here at half of ours keeps the
  // window above that, so ssh2's top-up never runs and never shrinks it.
  ch.push = function (this: unknown, data: Buffer | null) {
    const r = push.call(this, data);
    if (data !== null && incoming.window <= bytes / 2) topUp();
    return r;
  };
  topUp();
  return bytes;
}
