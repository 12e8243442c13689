/**
 * Where a copy's setup goes: process start to the first data request, phase
 * by phase, with the round trips each one waited for. Phases end at protocol
 * milestones read from ssh2's debug stream (the only place its handshake
 * steps show), so nothing in ssh2 is patched to measure them. A round trip is
 * counted each time the client, having sent something, next hears from the
 * server: the turns a phase took, whatever the link's latency.
 */

export interface SetupPhase {
  name: string;
  /** Duration of the phase, ms. */
  ms: number;
  /** Turns from sending to receiving within the phase. */
  roundTrips: number;
}

/** The milestone that ends each protocol phase, in order. */
const MILESTONES: [phase: string, ends: RegExp][] = [
  ['tcp', /^Socket connected/],
  ['ident', /^Remote ident:/],
  ['key exchange', /^Handshake completed/],
  ['auth', /USERAUTH_SUCCESS/],
  ['channel', /CHANNEL_OPEN_CONFIRMATION/],
  ['subsystem', /CHANNEL_SUCCESS/],
  ['sftp init', /Received VERSION/],
];

const UNAWAITED = /GLOBAL_REQUEST|REQUEST_SUCCESS|REQUEST_FAILURE|Received DEBUG|Debug output|EXT_INFO|WINDOW_ADJUST/;

export class SetupTimeline {
  private readonly phases: SetupPhase[] = [];
  private last: number;
  private next = 0;
  private turns = 0;
  private sending = false;
  private done = false;

  /**
   * `startedAt` is when ferry's own code began (performance.now(), which
   * counts from process start): the first phase is Node's start-up.
   */
  constructor(startedAt: number) {
    this.phases.push({ name: 'process start', ms: startedAt, roundTrips: 0 });
    this.last = startedAt;
  }

  /** The client starts connecting: ferry's own start-up ends here. */
  connecting(now = performance.now()): void {
    if (this.phases.length === 1) this.end('ferry start-up', now);
  }

  /** One line of ssh2's debug output, as it happens. */
  feed(msg: string, now = performance.now()): void {
    if (this.done || this.next >= MILESTONES.length) return;
    // Messages nobody waits for (the server's host-key announcement, debug text, window
    // top-ups, and ssh2's unanswered proof request) neither start nor end a wait.
    if (UNAWAITED.test(msg)) return this.milestone(msg, now);
    if (msg.startsWith('Outbound:') || msg.startsWith('Local ident')) this.sending = true;
    else if (this.sending && (msg.startsWith('Inbound:') || msg.startsWith('Received') || msg.startsWith('Remote ident') || msg.startsWith('SFTP: Inbound'))) {
      this.sending = false;
      this.turns++;
    }
    // TCP's handshake is one round trip, and ssh2 says nothing while it runs.
    if (this.next === 0 && MILESTONES[0][1].test(msg)) this.turns = 1;
    this.milestone(msg, now);
  }

  private milestone(msg: string, now: number): void {
    // Milestones can arrive in one burst (a pipelined server): close every phase they end.
    for (let i = this.next; i < MILESTONES.length; i++) {
      if (!MILESTONES[i][1].test(msg)) continue;
      for (; this.next <= i; this.next++) this.end(MILESTONES[this.next][0], now);
      break;
    }
  }

  /** A request after SFTP started (finding the path, opening the file) got its reply. */
  reply(phase: string, now = performance.now()): void {
    if (this.done || this.next < MILESTONES.length) return;
    if (this.phases.some((p) => p.name === phase)) return;
    this.turns = 1;
    this.end(phase, now);
  }

  /** No more phases: the first data request is going out. */
  finish(): SetupPhase[] {
    this.done = true;
    return this.phases;
  }

  get finished(): boolean {
    return this.done;
  }

  private end(name: string, now: number): void {
    this.phases.push({ name, ms: Math.max(0, now - this.last), roundTrips: this.turns });
    this.last = now;
    this.turns = 0;
  }
}

/** One line for -v: the totals, then each phase's milliseconds and (round trips). */
export function formatTimeline(phases: SetupPhase[]): string {
  const total = phases.reduce((s, p) => s + p.ms, 0);
  const rtts = phases.reduce((s, p) => s + p.roundTrips, 0);
  const parts = phases.map((p) => `${p.name} ${p.ms.toFixed(0)}${p.roundTrips ? ` (${p.roundTrips})` : ''}`);
  return `${total.toFixed(0)} ms, ${rtts} round trips: ${parts.join(', ')}`;
}
