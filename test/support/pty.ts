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

// A conversation with an interactive program (a shell) on a pty: each step
// writes its keys, then waits until the output since those keys matches
// `expect` (a Python regular expression), or without one, for timeoutS. The
// whole output comes back, and which step, if any, waited in vain.
const PTY_CONVERSATION = `
import fcntl, json, os, pty, re, select, struct, sys, termios, time
steps = json.loads(sys.argv[1])
pid, fd = pty.fork()
if pid == 0:
    os.execvp(sys.argv[2], sys.argv[2:])
# Wide enough that readline never scrolls a long command line sideways.
fcntl.ioctl(fd, termios.TIOCSWINSZ, struct.pack('HHHH', 50, 1000, 0, 0))
out = b''
def pump(until):
    global out
    while time.time() < until:
        if not select.select([fd], [], [], 0.05)[0]:
            continue
        try:
            chunk = os.read(fd, 4096)
        except OSError:
            return False
        if not chunk:
            return False
        out += chunk
        return True
    return True
failed = None
for i, step in enumerate(steps):
    mark = len(out)
    os.write(fd, step['send'].encode())
    until = time.time() + step['timeout']
    if not step['expect']:
        while pump(until) and time.time() < until:
            pass
        continue
    rx = re.compile(step['expect'].encode(), re.S)
    while not rx.search(out, mark):
        if time.time() >= until or not pump(until):
            failed = i
            break
    if failed is not None:
        break
os.kill(pid, 9)
os.waitpid(pid, 0)
sys.stdout.write(json.dumps({'out': out.decode('utf-8', 'replace'), 'failed': failed}))
`;

export interface TtyStep {
  send: string;
  /** Python regex the output after `send` must match before the next step; none: just wait timeoutS. */
  expect?: string;
  timeoutS?: number;
}

export function converseOnTty(argv: string[], steps: TtyStep[], env: NodeJS.ProcessEnv, cwd?: string): { out: string; failed: number | null } {
  const py = steps.map((s) => ({ send: s.send, expect: s.expect ?? '', timeout: s.timeoutS ?? withLogins(10_000, 1) / 1000 }));
  const stdout = execFileSync('python3', ['-c', PTY_CONVERSATION, JSON.stringify(py), ...argv], {
    env, cwd, encoding: 'utf8', timeout: steps.length * withLogins(12_000, 1) + 10_000,
  });
  return JSON.parse(stdout) as { out: string; failed: number | null };
}
