// How long a test step may take, from what it costs on this machine rather
// than one fixed figure. Each SSH session a ferry run opens makes sshd start
// the user's login shell, and bash sources ~/.bashrc for sshd's sessions: 5 ms
// on a bare machine, 0.5-3 s where it runs `pyenv init` or conda. A fixed 30 s
// per run is then either far too long (a hang costs 30 s) or too short (twelve
// lanes at 3 s each). So a step's budget is its own work plus the measured
// login cost of every session it may open.
import { spawnSync } from 'node:child_process';
import * as os from 'node:os';

/** Sessions a single `ferry` run may open: 12 lanes, a second connection's first, reconnects. */
export const SESSIONS_PER_RUN = 16;
const ENV_KEY = 'FERRY_TEST_SESSION_MS';

/**
 * One session's login-shell cost in ms: the user's shell started as sshd
 * starts it for the sftp subsystem (`shell -c ...`, SSH_CLIENT set, no SHLVL,
 * the passwd home), the slower of two runs. Measured once per `vitest run`
 * (vitest.config.ts) and handed to the workers in FERRY_TEST_SESSION_MS.
 */
export function sessionCostMs(): number {
  const known = Number(process.env[ENV_KEY]);
  if (Number.isFinite(known) && known >= 0 && process.env[ENV_KEY] !== '') return known;
  const { shell, homedir, username } = os.userInfo();
  const env = {
    HOME: homedir, USER: username, LOGNAME: username, SHELL: shell ?? '/bin/sh',
    PATH: '/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin', // sshd's default
    SSH_CLIENT: '127.0.0.1 40000 22', SSH_CONNECTION: '127.0.0.1 40000 127.0.0.1 22',
  };
  let worst = 0;
  for (let i = 0; i < 2; i++) {
    const t0 = performance.now();
    spawnSync(shell ?? '/bin/sh', ['-c', 'true'], { env, stdio: 'ignore', timeout: 20_000 });
    worst = Math.max(worst, performance.now() - t0);
  }
  const ms = Math.ceil(worst);
  process.env[ENV_KEY] = String(ms);
  return ms;
}

/** `workMs` (what the step itself should take on a loaded 2-core machine) plus `sessions` logins. */
export function withLogins(workMs: number, sessions = SESSIONS_PER_RUN): number {
  return workMs + sessions * sessionCostMs();
}
