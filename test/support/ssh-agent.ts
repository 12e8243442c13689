// Starts a real OpenSSH ssh-agent on a socket of the test's own, so agent
// authentication is exercised against the agent users run. Always stop() it.
import { execFile } from 'node:child_process';
import * as path from 'node:path';
import { promisify } from 'node:util';

const execFileP = promisify(execFile);

export interface SshAgent {
  sock: string;
  pid: number;
  /** ssh-add KEY (an unencrypted key). */
  add(key: string): Promise<void>;
  stop(): Promise<void>;
}

/** Is process `pid` still running? */
export function alive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch {
    return false;
  }
}

const running = new Set<number>();
let hooked = false;

/** `ssh-agent -a DIR/agent.sock`; the agent forks, so it is tracked by its pid. */
export async function startSshAgent(dir: string): Promise<SshAgent> {
  const sock = path.join(dir, 'agent.sock');
  const { stdout } = await execFileP('ssh-agent', ['-s', '-a', sock]);
  const m = /SSH_AGENT_PID=(\d+)/.exec(stdout);
  if (!m) throw new Error(`ssh-agent printed no pid: ${stdout}`);
  const pid = Number(m[1]);
  running.add(pid);
  if (!hooked) {
    hooked = true;
    // A crashed run must not leave agents behind.
    process.once('exit', () => running.forEach((p) => alive(p) && process.kill(p, 'SIGKILL')));
  }
  return {
    sock,
    pid,
    async add(key) {
      await execFileP('ssh-add', ['-q', key], { env: { ...process.env, SSH_AUTH_SOCK: sock } });
    },
    async stop() {
      if (!running.delete(pid)) return;
      if (alive(pid)) process.kill(pid, 'SIGTERM');
      for (let i = 0; i < 100 && alive(pid); i++) await new Promise((r) => setTimeout(r, 20));
      if (alive(pid)) process.kill(pid, 'SIGKILL');
    },
  };
}
