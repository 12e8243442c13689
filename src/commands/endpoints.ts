/**
 * Opens the endpoint for each operand: the local disk, or SFTP sessions to a
 * host shared by every operand naming the same user, host and port. Extra
 * lanes for the engine are further SFTP channels on the first connection,
 * then (when login needs no typed secret) further connections.
 */
import type { SshCliOptions } from '../ssh/config.js';
import { connectSsh, type SshConnection } from '../ssh/connect.js';
import type { Prompter } from '../ssh/prompter.js';
import { SetupTimeline, type SetupPhase } from '../ssh/timeline.js';
import { startedAt } from '../util/started.js';
import type { Endpoint } from '../transfer/endpoint.js';
import { LocalEndpoint } from '../transfer/local.js';
import { SftpEndpoint } from '../transfer/sftp.js';
import { hostKey, type Location } from './location.js';

/**
 * Channels opened on one connection before another connection is made.
 * sshd's default MaxSessions is 10; a channel costs a round trip or two, a new
 * connection a whole handshake (over a second at 100 ms RTT).
 */
const CHANNELS_PER_CONNECTION = 8;

export interface EndpointsOptions {
  cli: SshCliOptions;
  prompter: Prompter;
  trace?: boolean;
  /** Force this many SSH connections per host; undefined = auto. */
  connections?: number;
  /** Told once per host, when its first file is open: where the setup time went. */
  onSetup?: (host: string, phases: SetupPhase[]) => void;
}

type RemoteLoc = Extract<Location, { kind: 'remote' }>;

interface Slot {
  conn: SshConnection;
  /** Sessions open or being opened on it; an ended lane gives its place back. */
  channels: number;
  /** Session opens sent on it so far, to tell how many the server took before refusing one. */
  sent: number;
  /** The server refused a session on it (MaxSessions): no more are tried there. */
  full: boolean;
  reconnecting?: Promise<void>;
}

const newSlot = (conn: SshConnection): Slot => ({ conn, channels: 0, sent: 0, full: false });

/** All sessions to one host: connections, and the channels opened on each. */
class RemoteHost {
  private readonly conns: Slot[] = [];
  private readonly lanes: SftpEndpoint[] = [];
  private next = 0;
  private connecting?: Promise<Slot>;
  /** Sessions per connection: CHANNELS_PER_CONNECTION, or what the server took before refusing one. */
  private perConnection = CHANNELS_PER_CONNECTION;

  constructor(private readonly loc: RemoteLoc, private readonly o: EndpointsOptions) {}

  /** Connection attempts made after close() (or still running then) are given up. */
  private readonly abort = new AbortController();
  /** Measured costs, ms: a further connection's handshake, and a session's start (smoothed). */
  private connectMs?: number;
  private sessionMs?: number;
  private sessions = 0;
  private timeline?: SetupTimeline;

  private async connect(timeline?: SetupTimeline): Promise<SshConnection> {
    const t0 = performance.now();
    const conn = await connectSsh({
      timeline,
      alias: this.loc.host,
      user: this.loc.user,
      cli: { ...this.o.cli, port: this.loc.port ?? this.o.cli.port },
      prompter: this.o.prompter,
      traceProtocol: this.o.trace,
      signal: this.abort.signal,
    });
    const ms = performance.now() - t0;
    this.connectMs = ms;
    this.o.prompter.debug(`connection ${this.conns.length + 1} to ${conn.settings.hostName}: handshake and login took ${ms.toFixed(0)} ms`);
    if (this.abort.signal.aborted) {
      conn.end();
      throw new Error('connection no longer needed');
    }
    return conn;
  }

  private sawReply(verb: string, host: string): void {
    const t = this.timeline;
    if (!t || t.finished) return;
    t.reply(verb === 'open' ? 'open' : 'find path');
    if (verb === 'open') this.o.onSetup?.(host, t.finish());
  }

  /** What one more lane costs now: a session's start, plus a handshake when the connections are full. */
  private laneCost(): number | undefined {
    if (this.sessionMs === undefined) return undefined;
    const room = this.o.connections !== undefined || this.conns.some((c) => c.conn.alive && !c.full && c.channels < this.perConnection);
    return this.sessionMs + (room ? 0 : this.connectMs ?? 0);
  }

  private sawSessionStart(ms: number): void {
    // Smoothed, not the last: one slow start on a busy server should not rule out lanes for good.
    this.sessionMs = this.sessionMs === undefined ? ms : 0.5 * this.sessionMs + 0.5 * ms;
    this.o.prompter.debug(`SFTP session ${++this.sessions} started in ${ms.toFixed(0)} ms (channel open to VERSION)`);
  }

  async open(): Promise<SftpEndpoint> {
    // The first connection's setup, phase by phase, up to the first file's open.
    this.timeline = this.o.onSetup ? new SetupTimeline(startedAt) : undefined;
    this.conns.push(newSlot(await this.connect(this.timeline)));
    // A forced connection count opens them all now, so lanes can spread over them.
    for (let i = 1; i < (this.o.connections ?? 1); i++) this.conns.push(newSlot(await this.connect()));
    return this.session(this.conns[0]);
  }

  /** A live connection with room, its place taken at once so callers at the same moment never overfill it. */
  private reserve(): Slot | undefined {
    const slot = this.conns.find((c) => c.conn.alive && !c.full && c.channels < this.perConnection);
    if (slot) slot.channels++;
    return slot;
  }

  private async session(slot: Slot, reserved = false): Promise<SftpEndpoint> {
    if (!reserved) slot.channels++;
    const nth = ++slot.sent;
    let sftp;
    try {
      const t0 = performance.now();
      sftp = await slot.conn.openSftp();
      this.sawSessionStart(performance.now() - t0);
    } catch (err) {
      slot.channels--;
      if (slot.conn.alive) {
        // Refused on a live connection: MaxSessions. sshd answers opens in order, so
        // it took the nth - 1 sent before this one; later connections get no more.
        slot.full = true;
        this.perConnection = Math.max(1, Math.min(this.perConnection, nth - 1));
      }
      throw err;
    }
    const ep = new SftpEndpoint(sftp, {
      label: slot.conn.settings.hostName,
      openLane: () => this.openLane(),
      reopen: () => this.reopen(slot),
      laneCost: () => this.laneCost(),
      onReply: this.timeline && !this.timeline.finished ? (verb) => this.sawReply(verb, slot.conn.settings.hostName) : undefined,
    });
    // An ended lane (after a dropped link, or at the end) gives its place back.
    const end = ep.end.bind(ep);
    let ended = false;
    ep.end = () => {
      if (!ended) {
        ended = true;
        slot.channels--;
      }
      return end();
    };
    this.lanes.push(ep);
    return ep;
  }

  /** A new session for a lane whose link dropped: reconnect its connection first if it died. */
  private async reopen(slot: Slot) {
    if (!slot.conn.alive) {
      // Several lanes of one dead connection ask at once: connect once.
      slot.reconnecting ??= this.connect().then(
        (conn) => {
          slot.conn.end();
          slot.conn = conn;
          slot.sent = 0;
          slot.full = false;
        },
      ).finally(() => (slot.reconnecting = undefined));
      await slot.reconnecting;
    }
    slot.sent++;
    return slot.conn.openSftp();
  }

  private async openLane(): Promise<SftpEndpoint> {
    if (this.o.connections !== undefined) {
      // Forced: round-robin over the connections opened up front.
      return this.session(this.conns[this.next++ % this.conns.length]);
    }
    // A few tries: a server refusing every session must not get a connection per lane.
    for (let tries = 0; tries < 3; tries++) {
      const slot = this.reserve() ?? (await this.another());
      try {
        return await this.session(slot, true);
      } catch (err) {
        if (!slot.conn.alive) throw err;
        // Refused: session() marked the connection full; try where there is room.
      }
    }
    throw new Error('the server refuses further sessions');
  }

  /** A place on a further connection; lanes asking at once share one handshake. */
  private async another(): Promise<Slot> {
    // Only when it needs no password typed again.
    if (!this.conns[0].conn.keyAuth) throw new Error('no more lanes without asking for credentials again');
    this.connecting ??= this.connect()
      .then((conn) => {
        const slot = newSlot(conn);
        this.conns.push(slot);
        return slot;
      })
      .finally(() => (this.connecting = undefined));
    await this.connecting;
    // Everyone the connection woke takes a place now; whoever finds none makes another.
    return this.reserve() ?? this.another();
  }

  /**
   * End every session and connection. A connection still being made is given
   * up, not waited for: the run is over, and its handshake could take seconds.
   */
  async close(): Promise<void> {
    this.abort.abort();
    void this.connecting?.catch(() => undefined);
    await Promise.allSettled(this.lanes.map((l) => l.end()));
    for (const c of this.conns) c.conn.end();
  }
}

export class Endpoints {
  private readonly local = new LocalEndpoint();
  private readonly remotes = new Map<string, { host: RemoteHost; ep: Promise<SftpEndpoint> }>();

  constructor(private readonly o: EndpointsOptions) {}

  async get(loc: Location): Promise<Endpoint> {
    if (loc.kind === 'local') return this.local;
    const key = hostKey(loc);
    let r = this.remotes.get(key);
    if (!r) {
      const host = new RemoteHost(loc, this.o);
      r = { host, ep: host.open() };
      this.remotes.set(key, r);
    }
    return r.ep;
  }

  async closeAll(): Promise<void> {
    await Promise.allSettled([...this.remotes.values()].map(async (r) => {
      await r.ep.catch(() => undefined);
      await r.host.close();
    }));
    this.remotes.clear();
  }
}
