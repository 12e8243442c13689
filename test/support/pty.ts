// Runs bin/ferry on a real pseudo-terminal (python3's pty), typing answers at
// each prompt, so tests see what a person at a terminal sees: prompts, echo off,
// and, for progress displays, every byte drawn on a terminal of a known size.
import { execFile, execFileSync, spawnSync } from 'node:child_process';
import { withLogins } from './budget.js';
import { ferryBin } from './run-ferry.js';

// The window size is set on the slave side before exec, as a terminal emulator
// does: without it the pty is 0x0 and programs fall back to guesses.
const PTY_DRIVER = `
import fcntl, os, pty, select, struct, sys, termios, time
answers = sys.argv[1].split('|') if sys.argv[1] else []
cols, rows, raw, limit = int(sys.argv[2]), int(sys.argv[3]), sys.argv[4] == 'raw', float(sys.argv[5])
pid, fd = pty.fork()
if pid == 0:
    fcntl.ioctl(0, termios.TIOCSWINSZ, struct.pack('HHHH', rows, cols, 0, 0))
    os.execvp(sys.argv[6], sys.argv[6:])
out = b''
deadline = time.time() + limit
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
if raw:
    sys.stdout.buffer.write(out)
else:
    sys.stdout.write(out.decode().replace('\\r\\n', '\\n'))
sys.exit(os.waitstatus_to_exitcode(status))
`;

export const hasPty = spawnSync('python3', ['-c', 'import pty'], { stdio: 'ignore' }).status === 0;

/** `ferry ...args` at a terminal; each answer is typed when a prompt (": " or "? ") appears. */
export function ferryOnTty(args: string[], answers: string[], env: NodeJS.ProcessEnv): { code: number; out: string } {
  try {
    const deadlineMs = withLogins(50_000);
    const out = execFileSync('python3', ['-c', PTY_DRIVER, answers.join('|'), '80', '24', 'text', String(deadlineMs / 1000), process.execPath, ferryBin, ...args], {
      env,
      encoding: 'utf8',
      timeout: deadlineMs + 10_000,
    });
    return { code: 0, out };
  } catch (err) {
    const e = err as { status: number; stdout: string };
    return { code: e.status, out: e.stdout };
  }
}

export interface TerminalRun {
  code: number | null;
  /** Every byte ferry wrote to the terminal, escape sequences and all (the pty turns \n into \r\n). */
  raw: string;
}

/**
 * `ferry ...args` on a cols x rows terminal, nothing typed; resolves with the
 * raw output once ferry exits. Asynchronous, so the test process keeps serving
 * while ferry runs.
 */
export function ferryOnTerminal(args: string[], o: { env: NodeJS.ProcessEnv; cols: number; rows: number; timeoutMs?: number }): Promise<TerminalRun> {
  const limitSec = (o.timeoutMs ?? withLogins(60_000)) / 1000;
  return new Promise((resolve) => {
    execFile(
      'python3',
      ['-c', PTY_DRIVER, '', String(o.cols), String(o.rows), 'raw', String(limitSec), process.execPath, ferryBin, ...args],
      { env: o.env, encoding: 'buffer', maxBuffer: 64 * 1024 * 1024, timeout: Math.ceil((limitSec + 10) * 1000) },
      (err, stdout) => {
        const code = err ? ((err as { code?: unknown }).code as number | null) ?? null : 0;
        resolve({ code: typeof code === 'number' ? code : null, raw: stdout.toString('utf8') });
      },
    );
  });
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
