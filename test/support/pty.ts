// Runs bin/ferry on a real pseudo-terminal (python3's pty), typing answers at
// each prompt, so tests see what a person at a terminal sees: prompts, echo off,
// and, for progress displays, every byte drawn on a terminal of a known size.
import { execFile, execFileSync, spawnSync } from 'node:child_process';
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
    const out = execFileSync('python3', ['-c', PTY_DRIVER, answers.join('|'), '80', '24', 'text', '50', process.execPath, ferryBin, ...args], {
      env,
      encoding: 'utf8',
      timeout: 60_000,
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
  const limitSec = (o.timeoutMs ?? 60_000) / 1000;
  return new Promise((resolve) => {
    execFile(
      'python3',
      ['-c', PTY_DRIVER, '', String(o.cols), String(o.rows), 'raw', String(limitSec), process.execPath, ferryBin, ...args],
      { env: o.env, encoding: 'buffer', maxBuffer: 64 * 1024 * 1024, timeout: (limitSec + 10) * 1000 },
      (err, stdout) => {
        const code = err ? ((err as { code?: unknown }).code as number | null) ?? null : 0;
        resolve({ code: typeof code === 'number' ? code : null, raw: stdout.toString('utf8') });
      },
    );
  });
}
