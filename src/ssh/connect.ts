/**
 * Open an authenticated, host-verified SSH connection (through jump hosts if
 * asked) and SFTP sessions on it. Nothing here runs a remote shell.
 */
import { connect as netConnect, type Socket } from 'node:net';
import type { Duplex } from 'node:stream';
import ssh2, { type Client, type ConnectConfig, type SFTPWrapper } from 'ssh2';
import { AuthError, ConnectionError, HostKeyError, UsageError } from '../errors.js';
import { createAuthHandler, type AuthState } from './auth.js';
import { resolveHost, type HostSettings, type SshCliOptions } from './config.js';
import { verifyHostKey } from './host-verify.js';
import type { Prompter } from './prompter.js';

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
}

/** `[user@]host[:port]` as -J and ProxyJump write it. */
export function parseJumpHop(spec: string): { alias: string; user?: string; port?: number } {
  const m = /^(?:([^@]+)@)?(\[[^\]]+\]|[^:]+)(?::(\d+))?$/.exec(spec.trim());
  if (!m) throw new UsageError(`bad jump host "${spec}"`, { hint: 'write it as [user@]host[:port], several separated by commas' });
  return { user: m[1], alias: m[2].replace(/^\[|\]$/g, ''), port: m[3] ? Number(m[3]) : undefined };
}

function tcpConnect(host: string, port: number, timeoutSec: number | undefined): Promise<Socket> {
  return new Promise((resolve, reject) => {
    const sock = netConnect({ host, port });
    // ssh2 leaves Nagle on; small SFTP requests would otherwise wait ~40 ms each.
    sock.setNoDelay(true);
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

function forwardThrough(hop: Client, host: string, port: number): Promise<Duplex> {
  return new Promise((resolve, reject) => {
    hop.forwardOut('127.0.0.1', 0, host, port, (err, stream) => {
      if (err) reject(new ConnectionError(`jump host could not reach ${host} port ${port}: ${err.message}`, { cause: err }));
      else resolve(stream);
    });
  });
}

/** Handshake, verify the host key, authenticate. */
async function handshake(s: HostSettings, sock: Duplex, o: ConnectOptions, auth: AuthState = {}): Promise<Client> {
  const client = new ssh2.Client();
  let hostKeyError: HostKeyError | undefined;
  let accepted: Buffer | undefined;
  const config: ConnectConfig = {
    sock,
    username: s.user,
    readyTimeout: (s.connectTimeout ?? 30) * 1000,
    keepaliveInterval: s.serverAliveInterval * 1000,
    keepaliveCountMax: s.serverAliveCountMax,
    authHandler: createAuthHandler(s, o.prompter, auth),
    // Called on the first key exchange and on every rekey.
    hostVerifier: (key: Buffer, verify: (ok: boolean) => void) => {
      if (accepted) {
        const same = accepted.equals(key);
        if (!same) hostKeyError = new HostKeyError(`host key of ${s.hostName} changed during the session (rekey)`);
        verify(same);
        return;
      }
      verifyHostKey(s, key, o.prompter).then(
        (r) => {
          if (r.ok) accepted = key;
          else hostKeyError = r.error;
          verify(r.ok);
        },
        (err) => {
          hostKeyError = new HostKeyError(`host key verification failed for ${s.hostName}: ${(err as Error).message}`, { cause: err });
          verify(false);
        },
      );
    },
    algorithms: {
      compress: s.compression ? ['zlib@openssh.com', 'zlib', 'none'] : ['none'],
      ...(s.ciphers ? { cipher: s.ciphers as never } : {}),
    },
    debug: o.traceProtocol ? (msg: string) => o.prompter.debug(msg) : undefined,
  };
  await new Promise<void>((resolve, reject) => {
    client.once('ready', () => resolve());
    client.once('error', (err: Error & { level?: string }) => {
      if (hostKeyError) return reject(hostKeyError);
      if (err.level === 'client-authentication') {
        return reject(new AuthError(`${s.user}@${s.hostName}: Permission denied (all authentication methods failed)`, {
          cause: err,
          hint: 'check the user name, -i identity file, or that your key is in the server\'s authorized_keys',
        }));
      }
      if (err.level === 'client-timeout') return reject(new ConnectionError(`${s.hostName}: connection timed out during handshake`, { cause: err }));
      reject(new ConnectionError(`${s.hostName} port ${s.port}: ${err.message}`, { cause: err }));
    });
    client.once('close', () => reject(hostKeyError ?? new ConnectionError(`${s.hostName} port ${s.port}: connection closed by remote host`)));
    try {
      client.connect(config);
    } catch (err) {
      reject(new UsageError(`${s.hostName}: ${(err as Error).message}`, { cause: err }));
    }
  });
  return client;
}

export async function connectSsh(o: ConnectOptions): Promise<SshConnection> {
  const s = resolveHost(o.alias, o.user, o.cli);
  if (o.cli.port !== undefined) s.port = o.cli.port;
  o.prompter.debug(`Connecting to ${s.hostName} [port ${s.port}] as ${s.user}`);

  const hops: Client[] = [];
  let sock: Duplex;
  if (s.proxyJump && s.proxyJump !== 'none') {
    let prev: Client | undefined;
    for (const spec of s.proxyJump.split(',')) {
      const hop = parseJumpHop(spec);
      const hs = resolveHost(hop.alias, hop.user, { configFile: o.cli.configFile, port: hop.port });
      const hopSock = prev ? await forwardThrough(prev, hs.hostName, hs.port) : await tcpConnect(hs.hostName, hs.port, hs.connectTimeout);
      o.prompter.debug(`Jump host ${hs.user}@${hs.hostName}:${hs.port}`);
      prev = await handshake(hs, hopSock, o);
      hops.push(prev);
    }
    sock = await forwardThrough(prev!, s.hostName, s.port);
  } else {
    sock = await tcpConnect(s.hostName, s.port, s.connectTimeout);
  }
  let client: Client;
  const auth: AuthState = {};
  try {
    client = await handshake(s, sock, o, auth);
  } catch (err) {
    for (const h of hops) h.end();
    throw err;
  }
  o.prompter.debug(`Authenticated to ${s.hostName} ([${s.hostName}]:${s.port}).`);

  let alive = true;
  client.on('close', () => (alive = false));
  // After 'ready', errors arrive as failed requests; an unhandled 'error' must not crash the run.
  client.on('error', (err) => o.prompter.debug(`${s.hostName}: ${err.message}`));
  return {
    settings: s,
    get alive() {
      return alive;
    },
    keyAuth: auth.lastMethod === 'agent' || auth.lastMethod === 'publickey',
    client,
    openSftp: () =>
      new Promise((resolve, reject) => {
        client.sftp((err, sftp) =>
          err
            ? reject(new ConnectionError(`${s.hostName}: could not start the SFTP subsystem: ${err.message}`, {
                cause: err,
                hint: 'the server must allow the sftp subsystem (Subsystem sftp in sshd_config)',
              }))
            : resolve(sftp),
        );
      }),
    end: () => {
      client.end();
      for (const h of hops.reverse()) h.end();
    },
  };
}
