// In-process SSH server that only speaks SFTP, serving a local directory as "/".
// Used by `npm run demo` (try ferry without a real server) and by tests, which
// can pass `hooks` to make it misbehave on purpose.
//
// We own the TCP listener and hand sockets to ssh2 with Server.injectSocket():
// that lets us disable Nagle before the SSH handshake starts (ssh2 leaves it on)
// and destroy stragglers on close() without reaching into ssh2 internals.
import { timingSafeEqual } from 'node:crypto';
import { realpath, stat } from 'node:fs/promises';
import * as net from 'node:net';
import ssh2 from 'ssh2';
import type { AuthContext, Connection, ParsedKey, SFTPWrapper } from 'ssh2';
import { SftpSession, type SftpHooks } from './sftp-handlers.js';

export type { SftpHooks, SftpOp, SftpReply, SftpRequest } from './sftp-handlers.js';

export interface EmbeddedServerOptions {
  /** Directory served; client paths are confined to it ("/" maps here). */
  root: string;
  /** PEM/OpenSSH private host key. */
  hostKey: Buffer | string;
  /** One OpenSSH public key line; the only key allowed to log in. */
  authorizedKey: string;
  /** Required user name; any name is accepted when omitted. */
  username?: string;
  /** Listen address, default 127.0.0.1. */
  host?: string;
  /** Listen port, default 0 (ephemeral). */
  port?: number;
  /** Per-request overrides, for tests that need a misbehaving server. */
  hooks?: Partial<SftpHooks>;
  /** Text sent as the SSH authentication banner (SSH_MSG_USERAUTH_BANNER), as sshd's Banner. */
  banner?: string;
}

export interface EmbeddedServer {
  host: string;
  port: number;
  close(): Promise<void>;
}

/** How long close() waits for clients to hang up after DISCONNECT before cutting sockets. */
const CLOSE_GRACE_MS = 500;

export async function startEmbeddedServer(opts: EmbeddedServerOptions): Promise<EmbeddedServer> {
  const root = await realpath(opts.root);
  if (!(await stat(root)).isDirectory()) throw new Error(`not a directory: ${opts.root}`);
  const allowedKey = parseAuthorizedKey(opts.authorizedKey);
  const hooks = opts.hooks ?? {};
  const host = opts.host ?? '127.0.0.1';

  const connections = new Set<Connection>();
  const config = { hostKeys: [opts.hostKey], ident: 'ferry-embedded', ...(opts.banner !== undefined ? { banner: opts.banner } : {}) };
  const ssh = new ssh2.Server(config, (conn) => {
    connections.add(conn);
    conn.on('close', () => connections.delete(conn));
    conn.on('error', () => {}); // a broken connection just closes; nothing to report
    conn.on('authentication', (ctx) => authenticate(ctx, allowedKey, opts.username));
    conn.on('ready', () => {
      conn.on('session', (acceptSession) => {
        const session = acceptSession();
        // Only the sftp subsystem has a listener; ssh2 rejects exec/shell/pty/etc.
        session.on('sftp', (acceptSftp) => {
          new SftpSession(acceptSftp() as SFTPWrapper, root, hooks, () => conn.end());
        });
      });
    });
  });

  const sockets = new Set<net.Socket>();
  const tcp = net.createServer((socket) => {
    socket.setNoDelay(true);
    sockets.add(socket);
    socket.on('close', () => sockets.delete(socket));
    ssh.injectSocket(socket);
  });
  await listen(tcp, opts.port ?? 0, host);
  const { port } = tcp.address() as net.AddressInfo;

  let closing: Promise<void> | undefined;
  const close = (): Promise<void> => {
    closing ??= new Promise<void>((resolve) => {
      tcp.close(() => resolve()); // fires once every accepted socket has closed
      for (const conn of connections) conn.end();
      setTimeout(() => sockets.forEach((s) => s.destroy()), CLOSE_GRACE_MS).unref();
    });
    return closing;
  };
  return { host, port, close };
}

function listen(server: net.Server, port: number, host: string): Promise<void> {
  return new Promise((resolve, reject) => {
    server.once('error', reject);
    server.listen(port, host, () => {
      server.off('error', reject);
      resolve();
    });
  });
}

function parseAuthorizedKey(line: string): ParsedKey {
  const parsed = ssh2.utils.parseKey(line.trim());
  if (parsed instanceof Error) throw new Error(`invalid authorizedKey: ${parsed.message}`);
  return parsed;
}

function sameBytes(a: Buffer, b: Buffer): boolean {
  return a.length === b.length && timingSafeEqual(a, b);
}

/**
 * publickey only. Without a signature the client is merely asking whether the
 * key would do ("PK_OK"); with one, the signature over the session blob must
 * verify against the authorized key.
 */
function authenticate(ctx: AuthContext, allowed: ParsedKey, username: string | undefined): void {
  if (ctx.method !== 'publickey' || (username !== undefined && ctx.username !== username)) {
    return ctx.reject(['publickey']);
  }
  if (!sameBytes(ctx.key.data, allowed.getPublicSSH())) return ctx.reject(['publickey']);
  if (!ctx.signature) return ctx.accept();
  const valid = ctx.blob !== undefined && allowed.verify(ctx.blob, ctx.signature, ctx.hashAlgo) === true;
  return valid ? ctx.accept() : ctx.reject(['publickey']);
}
