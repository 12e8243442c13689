/**
 * Opens the endpoint for each operand: the local disk, or SFTP sessions to a
 * host shared by every operand naming the same user, host and port. Extra
 * lanes for the engine are further SFTP channels on the first connection,
 * then (when login needs no typed secret) further connections.
 */
import type { SshCliOptions } from '../ssh/config.js';
import { connectSsh, type SshConnection } from '../ssh/connect.js';
import type { Prompter } from '../ssh/prompter.js';
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
}

type RemoteLoc = Extract<Location, { kind: 'remote' }>;

interface Slot {
  conn: SshConnection;
  /** Sessions opened or being opened on it. */
  channels: number;
  /** Of those, the ones the server accepted. */
  accepted: number;
  reconnecting?: Promise<void>;
}

/** All sessions to one host: connections, and the channels opened on each. */
class RemoteHost {
  private readonly conns: Slot[] = [];
  private readonly lanes: SftpEndpoint[] = [];
  private next = 0;
  private connecting?: Promise<Slot>;
  /** Sessions per connection: CHANNELS_PER_CONNECTION, or fewer once the server refused one. */
  private perConnection = CHANNELS_PER_CONNECTION;

  constructor(private readonly loc: RemoteLoc, private readonly o: EndpointsOptions) {}

  private connect(): Promise<SshConnection> {
    return connectSsh({
      alias: this.loc.host,
      user: this.loc.user,
      cli: { ...this.o.cli, port: this.loc.port ?? this.o.cli.port },
      prompter: this.o.prompter,
      traceProtocol: this.o.trace,
    });
  }

  async open(): Promise<SftpEndpoint> {
    const conn = await this.connect();
    this.conns.push({ conn, channels: 0, accepted: 0 });
    // A forced connection count opens them all now, so lanes can spread over them.
    for (let i = 1; i < (this.o.connections ?? 1); i++) this.conns.push({ conn: await this.connect(), channels: 0, accepted: 0 });
    return this.session(this.conns[0]);
  }

  private async session(slot: Slot): Promise<SftpEndpoint> {
    slot.channels++;
    try {
      const ep = new SftpEndpoint(await slot.conn.openSftp(), {
        label: slot.conn.settings.hostName,
        openLane: () => this.openLane(),
        reopen: () => this.reopen(slot),
      });
      this.lanes.push(ep);
      slot.accepted++;
      return ep;
    } catch (err) {
      slot.channels--;
      throw err;
    }
  }

  /** A new session for a lane whose link dropped: reconnect its connection first if it died. */
  private async reopen(slot: Slot) {
    if (!slot.conn.alive) {
      // Several lanes of one dead connection ask at once: connect once.
      slot.reconnecting ??= this.connect().then(
        (conn) => {
          slot.conn.end();
          slot.conn = conn;
        },
      ).finally(() => (slot.reconnecting = undefined));
      await slot.reconnecting;
    }
    return slot.conn.openSftp();
  }

  private async openLane(): Promise<SftpEndpoint> {
    if (this.o.connections !== undefined) {
      // Forced: round-robin over the connections opened up front.
      return this.session(this.conns[this.next++ % this.conns.length]);
    }
    // A few tries: a server refusing every session must not get a connection per lane.
    for (let tries = 0; tries < 3; tries++) {
      const slot = this.conns.find((c) => c.channels < this.perConnection) ?? (await this.another());
      try {
        return await this.session(slot);
      } catch (err) {
        if (!slot.conn.alive) throw err;
        // The server allows fewer sessions per connection (MaxSessions): this one is
        // full, and so will the next ones be at what it accepted.
        this.perConnection = Math.max(1, Math.min(this.perConnection, slot.accepted));
        slot.channels = CHANNELS_PER_CONNECTION;
      }
    }
    throw new Error('the server refuses further sessions');
  }

  /** A further connection, shared by the lanes asking at once. */
  private async another(): Promise<Slot> {
    // Only when it needs no password typed again.
    if (!this.conns[0].conn.keyAuth) throw new Error('no more lanes without asking for credentials again');
    this.connecting ??= this.connect()
      .then((conn) => {
        const slot: Slot = { conn, channels: 0, accepted: 0 };
        this.conns.push(slot);
        return slot;
      })
      .finally(() => (this.connecting = undefined));
    const slot = await this.connecting;
    // Others sharing the connection may have filled it: then find room, or make another.
    return slot.channels < this.perConnection ? slot : (this.conns.find((c) => c.channels < this.perConnection) ?? this.another());
  }

  async close(): Promise<void> {
    await this.connecting?.catch(() => undefined);
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
