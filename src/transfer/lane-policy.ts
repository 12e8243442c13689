/**
 * When another lane (SFTP session) pays for itself. A session is not free:
 * sshd starts every subsystem through the user's login shell, which can take
 * seconds where ~/.bashrc runs conda/pyenv/nvm init, and a further connection
 * costs a handshake on top. So a lane is opened only when the measured link
 * says the open channels are what limits the copy, and the work left outlasts
 * the measured cost of an open by a clear margin. Pure: the caller measures.
 */

export interface LaneSituation {
  /** Lanes open or being opened. */
  lanes: number;
  /** Most lanes the pool may have. */
  max: number;
  /** Bytes one lane keeps in flight (its channel window, as usable). */
  laneCapacity: number;
  /** Bytes the window controller wants in flight. */
  window: number;
  /** Recent throughput, bytes/s; 0 until a round was measured. */
  rate: number;
  /** Shortest request round trip seen, ms. */
  rttMs?: number;
  /** What one more session costs to start, ms (undefined: not measured yet). */
  openCostMs?: number;
  /** Bytes known to be left to copy. */
  bytesLeft: number;
  /** Files being copied now, and files known to be left (including those). */
  filesActive: number;
  filesLeft: number;
  /** Files finished per second so far; 0 until one finished. */
  fileRate: number;
}

export interface LaneDecision {
  /** Lanes the pool should have (never fewer than it has). */
  want: number;
  /** Why, for -v and --json. */
  reason: string;
}

/** The work left must outlast an open by this factor, or the lane is not opened. */
export const PAYBACK = 2;
/** The channels count as the limit once the link's bandwidth-delay product fills this share of them. */
const CHANNELS_FULL = 0.5;
/** Files in flight per lane before the server's per-request latency, not bytes, is the limit. */
export const FILES_PER_LANE = 8;

const fmtBytes = (n: number) => (n === Infinity ? 'no limit' : n >= 1024 * 1024 ? `${(n / 1024 / 1024).toFixed(1)} MiB` : `${Math.round(n / 1024)} KiB`);

export function planLanes(s: LaneSituation): LaneDecision {
  const keep = (reason: string): LaneDecision => ({ want: s.lanes, reason });
  if (s.lanes >= s.max) return keep(`at the limit of ${s.max} sessions`);
  if (s.rttMs === undefined || s.openCostMs === undefined || s.rate <= 0) return keep('link not measured yet');

  const capacity = s.lanes * s.laneCapacity;
  // Little's law: what the link holds at this rate. Round trips are the shortest seen, so
  // queueing (a full link, a busy server) does not read as distance.
  const bdp = (s.rate * s.rttMs) / 1000;
  const channelBound = s.window > capacity && bdp >= CHANNELS_FULL * capacity;
  const requestBound = s.filesActive > FILES_PER_LANE * s.lanes;
  if (!channelBound && !requestBound) {
    return keep(`channels are not the limit: ${fmtBytes(bdp)} in flight at ${(s.rate / 1e6).toFixed(0)} MB/s x ${s.rttMs.toFixed(1)} ms, ${s.lanes} session(s) carry ${fmtBytes(capacity)}`);
  }
  const secsLeft = Math.max(s.bytesLeft / s.rate, s.fileRate > 0 ? s.filesLeft / s.fileRate : 0);
  const cost = s.openCostMs / 1000;
  if (secsLeft < PAYBACK * cost) {
    return keep(`not worth a session: about ${secsLeft.toFixed(2)} s of work left, a session costs ${cost.toFixed(2)} s`);
  }
  let want = s.lanes;
  // Ahead of the window (it may double next round), as the opens take a while.
  if (channelBound) want = Math.max(want, Math.ceil((2 * s.window) / s.laneCapacity));
  if (requestBound) want = Math.max(want, Math.ceil(s.filesActive / FILES_PER_LANE));
  // Each lane carries its share of what is left only after its open: no more than that pays.
  const paying = Math.max(s.lanes + 1, Math.floor(secsLeft / (PAYBACK * cost)));
  want = Math.min(s.max, want, paying);
  const why = channelBound
    ? `the channels are the limit (${fmtBytes(bdp)} in flight fills ${fmtBytes(capacity)})`
    : `${s.filesActive} files in flight`;
  return { want, reason: `${why}; about ${secsLeft.toFixed(1)} s of work left, a session costs ${cost.toFixed(2)} s` };
}
