// Runs bin/ferry on a real pseudo-terminal (python3's pty), typing answers at
// each prompt, so tests see what a person at a terminal sees: prompts, echo off.
import { execFileSync, spawnSync } from 'node:child_process';
import { withLogins } from './budget.js';
import { ferryBin } from './run-ferry.js';

const PTY_DRIVER = `
import os, pty, select, sys, time
answers = sys.argv[1].split('|') if sys.argv[1] else []
pid, fd = pty.fork()
if pid == 0:
    os.execvp(sys.argv[2], sys.argv[2:])
out = b''
deadline = time.time() + float(os.environ.get('PTY_DEADLINE_S', '50'))
while time.time() < deadline:
    if not select.select([fd], [], [], 0.1)[0]:
        continue
    try:
        chunk = os.read(fd, 4096)
    except OSError:
        break
    if not chunk:
        break
    out += chunk
    if answers and out.endswith((b': ', b'? ')):
        time.sleep(0.05)
        os.write(fd, (answers.pop(0) + '\\r').encode())
_, status = os.waitpid(pid, 0)
sys.stdout.write(out.decode().replace('\\r\\n', '\\n'))
sys.exit(os.waitstatus_to_exitcode(status))
`;

export const hasPty = spawnSync('python3', ['-c', 'import pty'], { stdio: 'ignore' }).status === 0;

/** `ferry ...args` at a terminal; each answer is typed when a prompt (": " or "? ") appears. */
export function ferryOnTty(args: string[], answers: string[], env: NodeJS.ProcessEnv): { code: number; out: string } {
  try {
    const deadlineMs = withLogins(50_000);
    const out = execFileSync('python3', ['-c', PTY_DRIVER, answers.join('|'), process.execPath, ferryBin, ...args], {
      env: { ...env, PTY_DEADLINE_S: String(deadlineMs / 1000) },
      encoding: 'utf8',
      timeout: deadlineMs + 10_000,
    });
    return { code: 0, out };
  } catch (err) {
    const e = err as { status: number; stdout: string };
    return { code: e.status, out: e.stdout };
  }
}
