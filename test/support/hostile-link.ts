// A real sshd behind the fault proxy, for the broken-link cases of the
// hostile catalog: each case gets its own proxy (own cut/stall/flip) in front
// of one shared sshd, and ferry arguments that reach sshd through it with the
// host key still checked (HostKeyAlias names sshd's own known_hosts entry).
import { randomBytes } from 'node:crypto';
import * as fs from 'node:fs/promises';
import * as os from 'node:os';
import * as path from 'node:path';
import { sha256 } from './hostile-checks.js';
import { startFaultProxy, type FaultProxy, type ProxyOptions } from './fault-proxy.js';
import { runFerry, type RunFerryOptions, type RunFerryResult } from './run-ferry.js';
import { startSshd, type Sshd } from './sshd.js';

export interface Link {
  proxy: FaultProxy;
  /** `ferry cp` options reaching sshd through the proxy. */
  args: string[];
  close(): Promise<void>;
}

export async function startLink(sd: Sshd, faults: Omit<ProxyOptions, 'target'>): Promise<Link> {
  const proxy = await startFaultProxy({ target: { host: sd.host, port: sd.port }, ...faults });
  return {
    proxy,
    args: ['-P', String(proxy.port), '-o', `HostKeyAlias=[${sd.host}]:${sd.port}`],
    close: () => proxy.close(),
  };
}

/** A scratch dir with its own ferry state dir, so journals of parallel cases never mix. */
export async function scenario(sd: Sshd, work: string, name: string) {
  const dir = await fs.mkdtemp(path.join(work, `${name}-`));
  const stateDir = path.join(dir, 'state');
  const env = { ...sd.env, FERRY_STATE_DIR: stateDir };
  const cp = (args: string[], o: Partial<RunFerryOptions> = {}): Promise<RunFerryResult> =>
    runFerry(['cp', ...args], { env, cwd: dir, timeoutMs: 60_000, ...o });
  return { dir, stateDir, env, cp };
}

/**
 * Watches a path while a run goes on: every time it exists, its size is
 * recorded. An upload must never show its final name with anything but the
 * whole file.
 */
export function watchPath(file: string, everyMs = 5) {
  const sizes: number[] = [];
  const timer = setInterval(() => {
    fs.stat(file).then((st) => sizes.push(st.size), () => undefined);
  }, everyMs);
  return {
    sizes,
    stop: () => clearInterval(timer),
  };
}

export interface SourceFixture {
  sd: Sshd;
  work: string;
  /** A random file of the requested size in `work`. */
  src: string;
  digest: string;
}

/** One sshd and one random source file per test file (call from beforeAll; stop with stopSourceFixture). */
export async function startSourceFixture(name: string, size: number): Promise<SourceFixture> {
  const [sd, work] = await Promise.all([startSshd(), fs.mkdtemp(path.join(os.tmpdir(), `ferry-hostile-${name}-`))]);
  const src = path.join(work, 'src.bin');
  const data = randomBytes(size);
  await fs.writeFile(src, data);
  return { sd, work, src, digest: sha256(data) };
}

export async function stopSourceFixture(sd: Sshd | undefined, work: string | undefined): Promise<void> {
  await sd?.stop();
  if (work) await fs.rm(work, { recursive: true, force: true });
}
