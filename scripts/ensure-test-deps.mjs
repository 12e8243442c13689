#!/usr/bin/env node
// `npm test`'s pretest: the suite drives a real OpenSSH sshd, sftp-server and
// the OpenSSH client tools, so a fresh machine must get them before vitest
// starts rather than fail 29 files with "sshd exited". As root with apt-get we
// install them (the README's quick start stays two commands); otherwise we
// stop at once with one line saying what to install.
// Plain Node on purpose: it runs before anything is built.
import { spawnSync } from 'node:child_process';
import { accessSync, constants, mkdirSync } from 'node:fs';
import { delimiter, join } from 'node:path';

// What test/ runs, and the Debian package that provides it.
const NEEDS = [
  { name: 'sshd', path: '/usr/sbin/sshd', pkg: 'openssh-server' }, // test/support/sshd.ts: absolute path, sshd re-execs itself
  { name: 'sftp-server', path: '/usr/lib/openssh/sftp-server', pkg: 'openssh-sftp-server' },
  ...['ssh', 'sftp', 'ssh-keygen', 'ssh-agent', 'ssh-add'].map((name) => ({ name, pkg: 'openssh-client' })),
];

// Tests that need these skip without them; when apt-get runs anyway they come
// along (one install, a few MB), so a fresh machine runs the pty tests (keygen
// and login prompts, bash and zsh completion, the progress display in tmux) too.
const WANTS = [
  { name: 'python3', pkg: 'python3' }, // test/support/pty.ts drives a pty with python3's pty module
  { name: 'zsh', pkg: 'zsh' }, // test/commands/completion.test.ts
  { name: 'tmux', pkg: 'tmux' }, // test/commands/cp-progress.test.ts: the display in a small real pane
];

const say = (line) => process.stderr.write(`ferry pretest: ${line}\n`);

function onPath(cmd) {
  for (const dir of (process.env.PATH ?? '').split(delimiter)) {
    if (!dir) continue;
    try {
      accessSync(join(dir, cmd), constants.X_OK);
      return true;
    } catch {}
  }
  return false;
}

const present = (n) => {
  if (!n.path) return onPath(n.name);
  try {
    accessSync(n.path, constants.X_OK);
    return true;
  } catch {
    return false;
  }
};

const missing = () => NEEDS.filter((n) => !present(n));
const isRoot = process.getuid?.() === 0;

function run(cmd, args) {
  const r = spawnSync(cmd, args, {
    stdio: ['ignore', 'pipe', 'pipe'],
    encoding: 'utf8',
    env: { ...process.env, DEBIAN_FRONTEND: 'noninteractive' },
  });
  if (r.status !== 0) {
    // apt's own output only when it failed: a green run stays one line.
    process.stderr.write(`${r.stdout ?? ''}${r.stderr ?? ''}`.split('\n').slice(-15).join('\n') + '\n');
    say(`\`${cmd} ${args.join(' ')}\` failed (${r.error?.message ?? `exit ${r.status}`})`);
    process.exit(1);
  }
}

let gone = missing();
if (gone.length > 0) {
  const pkgs = [...new Set(gone.map((n) => n.pkg))];
  // openssh-server alone would pull in the others, but naming them keeps the line honest.
  if (pkgs.includes('openssh-server')) pkgs.push('openssh-sftp-server', 'openssh-client');
  const names = gone.map((n) => n.name).join(', ');
  if (!isRoot || !onPath('apt-get')) {
    const list = [...new Set(pkgs)].join(' ');
    say(`missing ${names}: install ${list} (Debian/Ubuntu: sudo apt-get install ${list}), then run npm test again`);
    process.exit(1);
  }
  const list = [...new Set([...pkgs, ...WANTS.filter((w) => !onPath(w.name)).map((w) => w.pkg)])].join(' ');
  say(`missing ${names}: installing ${list} with apt-get (root, non-interactive)`);
  run('apt-get', ['update', '-q']);
  run('apt-get', ['install', '-y', '-q', '--no-install-recommends', ...list.split(' ')]);
  gone = missing();
  if (gone.length > 0) {
    say(`still missing after apt-get install: ${gone.map((n) => n.path ?? n.name).join(', ')}`);
    process.exit(1);
  }
}

// The OpenSSH tools are there, but a pty, tmux or zsh test would skip: as root
// with apt-get, bring what is missing, so no test is skipped on a machine that can
// run it (a skip never counts as a pass).
const unwanted = WANTS.filter((w) => !onPath(w.name));
if (unwanted.length > 0 && isRoot && onPath('apt-get')) {
  const list = unwanted.map((w) => w.pkg);
  say(`installing ${list.join(' ')} for the terminal tests with apt-get (root, non-interactive)`);
  run('apt-get', ['update', '-q']);
  run('apt-get', ['install', '-y', '-q', '--no-install-recommends', ...list]);
}

// sshd's privilege-separation directory normally comes from systemd-tmpfiles,
// which containers do not run. Only root can create it, and only root needs it.
if (isRoot) mkdirSync('/run/sshd', { recursive: true, mode: 0o755 });
