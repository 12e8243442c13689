// A scriptable hostile SFTP server for CLI tests: the embedded ssh2 server
// (src/embedded) over a temp root, with a throwaway host key pinned in a
// throwaway known_hosts and a client key, so `bin/ferry cp` can be pointed at
// it with hooks that lie about names, sizes, data, statuses and reply order.
// Everything lives under one temp dir that close() removes.
import { ed25519KeyPair, type KeyPair } from './ed25519.js';
import * as fs from 'node:fs/promises';
import * as os from 'node:os';
import * as path from 'node:path';
import { startEmbeddedServer, type SftpHooks } from '../../src/embedded/sftp-server.js';
import { runFerry, type RunFerryOptions, type RunFerryResult } from './run-ferry.js';

export type { SftpHooks, SftpReply, SftpRequest } from '../../src/embedded/sftp-server.js';

export interface HostileServerOptions {
  hooks?: Partial<SftpHooks>;
  /** SSH authentication banner text. */
  banner?: string;
}

export interface HostileServer {
  host: string;
  port: number;
  /** Served as "/" to the client. */
  root: string;
  /** Scratch space beside the root (local sources and targets, state). */
  work: string;
  /** HOME and FERRY_STATE_DIR of the test, no agent. */
  env: NodeJS.ProcessEnv;
  /** The private key the server lets in (OpenSSH format). */
  clientKey: string;
  stateDir: string;
  /** `host:path` for a path inside the root ("/x" is root/x). */
  remote(p: string): string;
  /** Hooks can be swapped between runs (e.g. a fixed server for the rerun). */
  hooks: Partial<SftpHooks>;
  /** `ferry cp` with the options reaching this server. */
  cp(args: string[], o?: Partial<RunFerryOptions>): Promise<RunFerryResult>;
  /** `ferry sync` with the options reaching this server. */
  sync(args: string[], o?: Partial<RunFerryOptions>): Promise<RunFerryResult>;
  close(): Promise<void>;
}


// One key pair each for all servers of a test file: generating is cheap, but not free.
let keys: { host: KeyPair; client: KeyPair } | undefined;


export async function startHostileServer(o: HostileServerOptions = {}): Promise<HostileServer> {
  keys ??= { host: ed25519KeyPair(), client: ed25519KeyPair() };
  const dir = await fs.mkdtemp(path.join(os.tmpdir(), 'ferry-hostile-'));
  try {
    return await start(dir, keys, o);
  } catch (err) {
    await fs.rm(dir, { recursive: true, force: true });
    throw err;
  }
}

async function start(dir: string, keys: { host: KeyPair; client: KeyPair }, o: HostileServerOptions): Promise<HostileServer> {
  const root = path.join(dir, 'root');
  const work = path.join(dir, 'work');
  const home = path.join(dir, 'home');
  const stateDir = path.join(dir, 'state');
  await Promise.all([fs.mkdir(root), fs.mkdir(work), fs.mkdir(home)]);
  const key = path.join(dir, 'client_key');
  await fs.writeFile(key, keys.client.private, { mode: 0o600 });
  // A live object: tests may change the hooks between runs.
  const hooks: Partial<SftpHooks> = { ...o.hooks };
  const live: Partial<SftpHooks> = {
    onRequest: (r) => hooks.onRequest?.(r),
    readdirNames: (p, n) => (hooks.readdirNames ? hooks.readdirNames(p, n) : n),
    onRead: (p, off, d) => (hooks.onRead ? hooks.onRead(p, off, d) : d),
    onWrite: (p, off, d) => (hooks.onWrite ? hooks.onWrite(p, off, d) : d),
    statAttrs: (p, a) => (hooks.statAttrs ? hooks.statAttrs(p, a) : a),
    onReply: (r) => (hooks.onReply ? hooks.onReply(r) : r.send()),
  };
  const server = await startEmbeddedServer({
    root, hostKey: keys.host.private, authorizedKey: keys.client.public, hooks: live, banner: o.banner,
  });
  const knownHosts = path.join(dir, 'known_hosts');
  await fs.writeFile(knownHosts, `[${server.host}]:${server.port} ${keys.host.public.split(' ').slice(0, 2).join(' ')}\n`);
  const env: NodeJS.ProcessEnv = { ...process.env, HOME: home, FERRY_STATE_DIR: stateDir };
  delete env.SSH_AUTH_SOCK;
  const sshArgs = ['-F', '/dev/null', '-i', key, '-o', `UserKnownHostsFile=${knownHosts}`, '-o', 'GlobalKnownHostsFile=/dev/null',
    '-B', '-P', String(server.port)];
  return {
    host: server.host,
    port: server.port,
    root,
    work,
    env,
    clientKey: key,
    stateDir,
    hooks,
    remote: (p) => `${server.host}:${p}`,
    cp: (args, ro = {}) => runFerry(['cp', ...sshArgs, ...args], { env, cwd: work, ...ro }),
    sync: (args, ro = {}) => runFerry(['sync', ...sshArgs, ...args], { env, cwd: work, ...ro }),
    close: async () => {
      await server.close();
      await fs.rm(dir, { recursive: true, force: true });
    },
  };
}

/**
 * A suite's servers: serve() starts one with the given hooks, closeAll()
 * (for afterAll) closes every one it started.
 */
export function hostileServers() {
  const started: HostileServer[] = [];
  return {
    async serve(hooks: Partial<SftpHooks> = {}): Promise<HostileServer> {
      const srv = await startHostileServer({ hooks });
      started.push(srv);
      return srv;
    },
    closeAll: async (): Promise<void> => {
      await Promise.all(started.map((s) => s.close()));
    },
  };
}
