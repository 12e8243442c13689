/**
 * Open an authenticated, host-verified SSH connection (through jump hosts if
 * asked) and SFTP sessions on it. Nothing here runs a remote shell.
 */
import { connect as netConnect, type Socket } from 'node:net';
import type { Duplex } from 'node:stream';
import ssh2, { type Client, type ConnectConfig, type SFTPWrapper } from 'ssh2';
import { AuthError, ConnectionError, HostKeyError, UsageError } from '../errors.js';
import { withAskpass } from './askpass.js';
import { createAuthHandler, type AuthState } from './auth.js';
import { parseJumpHop, resolveHost, type HostSettings, type SshCliOptions } from './config.js';
import { createHostVerifier, preferredHostKeyAlgorithms } from './host-verify.js';
import { defaultAlgorithms } from './algorithms.js';
import type { Prompter } from './prompter.js';
import { widenReceiveWindow } from './receive-window.js';
import { cutAuthRoundTrips } from './round-trips.js';
import { initWithSubsystem, readyAtVersion } from './sftp-ready.js';
import type { SetupTimeline } from './timeline.js';

export { parseJumpHop };

export interface SshConnection {
  readonly settings: HostSettings;
  /** True when login needed no typed secret, so more connections can be opened silently. */
  readonly keyAuth: boolean;
  /** False once the connection has closed. */
  readonly alive: boolean;
  readonly client: Client;
  openSftp(): Promise<SFTPWrapper>;
  end(): void;
}

export interface ConnectOptions {
  alias: string;
  user?: string;
  cli: SshCliOptions;
  prompter: Prompter;
  /** Pass ssh2's own protocol trace to prompter.debug (-vvv). */
  traceProtocol?: boolean;
  /** Give up the connection attempt (the run no longer needs it): the socket is destroyed. */
  signal?: AbortSignal;
  /** Record this connection's setup phases (up to its first SFTP session's VERSION). */
  timeline?: SetupTimeline;
}

/** Until the server's host key arrives, ConnectTimeout (or this) applies. */
const DEFAULT_CONNECT_TIMEOUT_SEC = 30;
/** After that, authentication gets this long, not counting time spent at prompts. */
const AUTH_TIMEOUT_SEC = 60;
const MAX_JUMP_DEPTH = 8;
/**
 * Receive window of each SFTP channel: one channel then carries a download at
 * 125 MB/s over a 100 ms round trip. Replies only ever answer our requests, so
 * the transfer window, not this, bounds the memory they take.
 */
const RECEIVE_WINDOW = 16 * 1024 * 1024;

/**
 * ssh2 writes every SSH packet with its own socket write. A burst of SFTP
 * requests (dozens of READs, or the opens, writes and closes of many small
 * files, each issued from its own promise continuation) then costs a syscall
 * each; corking until this turn of the event loop has run every callback and
 * continuation (setImmediate, not nextTick, which fires before the promise
 * continuations) sends them in one writev, with Nagle still off. A sync of
 * 5,000 small files spent more CPU in writev than anywhere else.
 */
function coalesceWrites(sock: Socket): void {
  const write = sock.write.bind(sock) as (...args: unknown[]) => boolean;
  let corked = false;
  sock.write = ((...args: unknown[]) => {
    if (!corked) {
      corked = true;
      sock.cork();
      setImmediate(() => {
        corked = false;
        sock.uncork();
      });
    }
    return write(...args);
  }) as Socket['write'];
}

function tcpConnect(host: string, port: number, timeoutSec: number | undefined): Promise<Socket> {
  return new Promise((resolve, reject) => {
    const sock = netConnect({ host, port });
    // ssh2 leaves Nagle on; small SFTP requests would otherwise wait ~40 ms each.
    sock.setNoDelay(true);
    coalesceWrites(sock);
    // Without ConnectTimeout the system's TCP timeout applies, as in OpenSSH.
    const timer = timeoutSec ? setTimeout(() => {
      sock.destroy();
      reject(new ConnectionError(`connect to host ${host} port ${port}: Connection timed out`));
    }, timeoutSec * 1000) : undefined;
    sock.once('connect', () => {
      clearTimeout(timer);
      resolve(sock);
    });
    sock.once('error', (err: NodeJS.ErrnoException) => {
      clearTimeout(timer);
      const reason = err.code === 'ECONNREFUSED' ? 'Connection refused' : err.code === 'ENOTFOUND' || err.code === 'EAI_AGAIN' ? 'Could not resolve hostname' : err.message;
      reject(new ConnectionError(`connect to host ${host} port ${port}: ${reason}`, { cause: err, hint: err.code === 'ECONNREFUSED' ? 'is sshd running there, and is the port right (-P)?' : undefined }));
    });
  });
}

function forwardThrough(hop: Client, hopName: string, host: string, port: number): Promise<Duplex> {
  return new Promise((resolve, reject) => {
    hop.forwardOut('127.0.0.1', 0, host, port, (err, stream) => {
      if (err) {
        reject(new ConnectionError(`jump host ${hopName} could not reach ${host} port ${port}: ${err.message}`, {
          cause: err,
          hint: 'the jump host\'s sshd must allow TCP forwarding (AllowTcpForwarding yes)',
        }));
      } else resolve(stream);
    });
  });
}

/** A timer that does not run while the user is being asked something. */
function pausableTimer(onExpire: () => void) {
  let timer: NodeJS.Timeout | undefined;
  let remaining = 0;
  let startedAt = 0;
  let paused = 0;
  const arm = () => {
    startedAt = Date.now();
    timer = setTimeout(onExpire, remaining);
  };
  return {
    start(ms: number) {
      clearTimeout(timer);
      remaining = ms;
      if (paused === 0) arm();
    },
    pause() {
      if (paused++ === 0 && timer) {
        clearTimeout(timer);
        timer = undefined;
        remaining -= Date.now() - startedAt;
      }
    },
    resume() {
      if (--paused === 0 && remaining > 0) arm();
    },
    stop() {
      clearTimeout(timer);
      remaining = 0;
    },
  };
}

function pausingPrompter(p: Prompter, t: { pause(): void; resume(): void }): Prompter {
  return {
    interactive: p.interactive,
    async ask(question, opts) {
      t.pause();
      try {
        return await p.ask(question, opts);
      } finally {
        t.resume();
      }
    },
    warn: (text) => p.warn(text),
    debug: (text) => p.debug(text),
  };
}

/** Handshake, verify the host key (before any authentication), authenticate. */
async function handshake(s: HostSettings, sock: Duplex, o: ConnectOptions, auth: AuthState = {}, timeline?: SetupTimeline): Promise<Client> {
  const client = new ssh2.Client();
  let timeoutError: ConnectionError | undefined;
  const timer = pausableTimer(() => {
    timeoutError ??= new ConnectionError(`${s.hostName} port ${s.port}: connection timed out during the SSH handshake`);
    client.end();
    sock.destroy();
  });
  const prompter = pausingPrompter(withAskpass(o.prompter, { batch: s.batchMode }), timer);
  const verifier = createHostVerifier(s, prompter);
  verifier.onFirstKey = () => timer.start(AUTH_TIMEOUT_SEC * 1000);
  const serverHostKey = await preferredHostKeyAlgorithms(s);
  const { cipher, kex, hmac } = s.algorithms;
  const config: ConnectConfig = {
    sock,
    username: s.user,
    readyTimeout: 0,
    keepaliveInterval: s.serverAliveInterval * 1000,
    keepaliveCountMax: s.serverAliveCountMax,
    authHandler: createAuthHandler(s, prompter, auth),
    hostVerifier: verifier.hostVerifier,
    algorithms: {
      compress: s.compression ? ['zlib@openssh.com', 'zlib', 'none'] : ['none'],
      // ssh2's typings list only the names it knows; ours come from the same table.
      // Ours when none is configured: ssh2's own order costs Dropbear servers two thirds of their speed.
      cipher: (cipher ?? defaultAlgorithms('cipher')) as never,
      ...(kex ? { kex: kex as never } : {}),
      ...(hmac ? { hmac: hmac as never } : {}),
      ...(serverHostKey ? { serverHostKey: serverHostKey as never } : {}),
    },
    debug: protocolDebug(o, timeline),
  };
  // The server's pre-login banner (sshd's Banner), shown as OpenSSH does; the prompter escapes it.
  client.on('banner', (message: string) => prompter.warn(message.replace(/\r\n/g, '\n').replace(/\n$/, '')));
  client.once('handshake', (n: ssh2.NegotiatedAlgorithms) => {
    // Strict key exchange (the Terrapin fix) is ssh2's own decision; -v shows whether both sides agreed to it.
    const strict = (client as unknown as { _protocol?: { _strictMode?: boolean } })._protocol?._strictMode === true;
    const mac = n.sc.mac && !/gcm|poly1305/.test(n.sc.cipher) ? `, MAC ${n.sc.mac}` : '';
    prompter.debug(`kex: ${n.kex}, host key ${n.serverHostKey}, cipher ${n.sc.cipher}${mac}; strict key exchange: ${strict ? 'yes' : 'no'}`);
  });
  timer.start((s.connectTimeout ?? DEFAULT_CONNECT_TIMEOUT_SEC) * 1000);
  try {
    await new Promise<void>((resolve, reject) => {
      client.once('ready', () => resolve());
      client.on('error', (err: Error & { level?: string }) => {
        // An agent that cannot be reached or refuses to sign: ssh2 goes on with the next method.
        if (err.level === 'agent') return prompter.debug(`agent: ${err.message}`);
        if (verifier.error) return reject(verifier.error);
        if (timeoutError) return reject(timeoutError);
        if (err.level === 'client-authentication') {
          return reject(new AuthError(`${s.user}@${s.hostName}: Permission denied (all authentication methods failed)`, {
            cause: err,
            hint: s.batchMode
              ? 'BatchMode is on, so nothing was asked: use a key (-i, an agent) the server accepts'
              : 'check the user name, -i identity file, or that your key is in the server\'s authorized_keys',
          }));
        }
        if (err.level === 'handshake' && /no matching/i.test(err.message)) {
          return reject(new ConnectionError(`${s.hostName} port ${s.port}: ${err.message}`, {
            cause: err,
            hint: 'check Ciphers, KexAlgorithms, HostKeyAlgorithms and MACs (ferry ssh-config HOST shows them)',
          }));
        }
        reject(new ConnectionError(`${s.hostName} port ${s.port}: ${err.message}`, { cause: err }));
      });
      client.once('close', () => reject(verifier.error ?? timeoutError ?? new ConnectionError(`${s.hostName} port ${s.port}: connection closed by remote host`)));
      try {
        client.connect(config);
        cutAuthRoundTrips(client, () => auth.agent, (m) => prompter.debug(m));
        initWithSubsystem(client);
      } catch (err) {
        reject(new UsageError(`${s.hostName}: ${(err as Error).message}`, { cause: err }));
      }
    });
  } catch (err) {
    client.end();
    throw err;
  } finally {
    timer.stop();
  }
  // After 'ready', errors arrive as failed requests; an unhandled 'error' must not crash the run.
  client.removeAllListeners('error');
  client.on('error', (err) => o.prompter.debug(`${s.hostName}: ${err.message}`));
  if (verifier.error instanceof HostKeyError) throw verifier.error;
  return client;
}

/**
 * ssh2's debug stream, for -vvv and for the setup timeline. The timeline
 * needs it only until the first SFTP session starts; untraced, it is then
 * switched off (see quietDebug) so the data phase pays for no messages.
 */
function protocolDebug(o: ConnectOptions, timeline?: SetupTimeline): ((msg: string) => void) | undefined {
  if (!o.traceProtocol && !timeline) return undefined;
  return (msg: string) => {
    if (timeline && !timeline.finished) timeline.feed(msg);
    if (o.traceProtocol) o.prompter.debug(msg);
  };
}

/** Stop ssh2 formatting a debug message per packet once the timeline has what it needs. */
function quietDebug(client: Client, sftp: SFTPWrapper): void {
  const proto = (client as unknown as { _protocol?: { _debug?: unknown } })._protocol;
  if (proto) proto._debug = undefined;
  (sftp as unknown as { _debug?: unknown })._debug = undefined;
}

function endAll(hops: Client[]): void {
  for (const h of [...hops].reverse()) h.end();
}

/**
 * A byte stream to the host: TCP, or a direct-tcpip channel through the last
 * jump host. As OpenSSH runs `ssh -J earlier -W host:port last`, the last
 * hop is reached through the earlier ones, and the first through whatever
 * its own config says.
 */
async function openTransport(s: HostSettings, o: ConnectOptions, depth: number): Promise<{ sock: Duplex; hops: Client[] }> {
  if (!s.proxyJump) return { sock: await tcpConnect(s.hostName, s.port, s.connectTimeout), hops: [] };
  if (depth >= MAX_JUMP_DEPTH) {
    throw new UsageError(`ProxyJump: more than ${MAX_JUMP_DEPTH} jump hosts`, { hint: 'does a jump host\'s own ProxyJump lead back to itself? Give it "ProxyJump none"' });
  }
  const specs = s.proxyJump.split(',');
  const last = parseJumpHop(specs[specs.length - 1]);
  const earlier = specs.slice(0, -1).join(',');
  const hs = resolveHost(last.alias, last.user, {
    configFile: o.cli.configFile,
    port: last.port,
    jump: earlier || undefined,
    options: s.batchMode ? ['BatchMode=yes'] : [],
  }, { debug: (m) => o.prompter.debug(m) });
  const inner = await openTransport(hs, o, depth + 1);
  o.prompter.debug(`Jump host ${hs.user}@${hs.hostName} port ${hs.port}, on to ${s.hostName} port ${s.port}`);
  let hop: Client;
  try {
    hop = await handshake(hs, inner.sock, o);
  } catch (err) {
    endAll(inner.hops);
    throw err;
  }
  const hops = [...inner.hops, hop];
  try {
    return { sock: await forwardThrough(hop, `${hs.hostName}:${hs.port}`, s.hostName, s.port), hops };
  } catch (err) {
    endAll(hops);
    throw err;
  }
}

export async function connectSsh(o: ConnectOptions): Promise<SshConnection> {
  readyAtVersion();
  const s = resolveHost(o.alias, o.user, o.cli, { debug: (m) => o.prompter.debug(m) });
  o.prompter.debug(`Connecting to ${s.hostName} [port ${s.port}] as ${s.user}`);
  const cancelled = () => new ConnectionError(`${s.hostName}: connection no longer needed`);
  if (o.signal?.aborted) throw cancelled();
  o.timeline?.connecting();
  const { sock, hops } = await openTransport(s, o, 0);
  // Through jump hosts this phase is the whole way to the host's port.
  o.timeline?.feed('Socket connected');
  let client: Client;
  const auth: AuthState = {};
  const onAbort = () => {
    sock.destroy();
    endAll(hops);
  };
  // Given up while TCP connected: no handshake on a socket that is about to go.
  if (o.signal?.aborted) {
    onAbort();
    throw cancelled();
  }
  o.signal?.addEventListener('abort', onAbort, { once: true });
  try {
    client = await handshake(s, sock, o, auth, o.timeline);
  } catch (err) {
    endAll(hops);
    throw o.signal?.aborted ? cancelled() : err;
  } finally {
    o.signal?.removeEventListener('abort', onAbort);
  }
  o.prompter.debug(`Authenticated to ${s.hostName} ([${s.hostName}]:${s.port}) using ${auth.lastMethod === 'agent' ? 'publickey' : auth.lastMethod}.`);

  let alive = true;
  // ssh2 may never answer a session opened as the link dies: the close settles it.
  const opening = new Set<() => void>();
  client.on('close', () => {
    alive = false;
    endAll(hops);
    for (const fail of opening) fail();
    opening.clear();
  });
  return {
    settings: s,
    get alive() {
      return alive;
    },
    keyAuth: auth.lastMethod === 'agent' || auth.lastMethod === 'publickey',
    client,
    openSftp: () =>
      new Promise((resolve, reject) => {
        const onClose = () => reject(new ConnectionError(`${s.hostName}: the connection closed while starting SFTP`));
        if (!alive) return onClose();
        opening.add(onClose);
        try {
          client.sftp((err, sftp) => {
            opening.delete(onClose);
            if (err) {
              reject(new ConnectionError(`${s.hostName}: could not start the SFTP subsystem: ${err.message}`, {
                cause: err,
                hint: 'the server must allow the sftp subsystem (Subsystem sftp in sshd_config)',
              }));
            } else {
              widenReceiveWindow(sftp, RECEIVE_WINDOW);
              if (!o.traceProtocol) quietDebug(client, sftp);
              resolve(sftp);
            }
          });
        } catch (err) {
          // "Not connected": the socket ended and 'close' has not fired yet.
          opening.delete(onClose);
          reject(new ConnectionError(`${s.hostName}: connection lost: ${(err as Error).message}`, { cause: err }));
        }
      }),
    end: () => {
      client.end();
      endAll(hops);
    },
  };
}
