// The progress display as a person sees it: `ferry cp -r` of a big, a middle
// and a tiny file on a real terminal (a pty of a known size) against the real
// sshd, rate-capped so the lines live for a few seconds, every byte replayed
// through a terminal emulator. When the run ends, each file is one final
// line and nothing else is left, on the screen or in its scrollback (issue 11:
// a small tmux pane kept a frozen "a.bin 4% ... ETA 00:49" above them).
import { execFile, spawnSync } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import * as fs from 'node:fs/promises';
import { promisify } from 'node:util';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { makeTempDir } from '../support/cp-helpers.js';
import { ferryOnTerminal, hasPty } from '../support/pty.js';
import { ferryBin } from '../support/run-ferry.js';
import { replay } from '../support/screen.js';
import { sha256File, startSshd, type Sshd } from '../support/sshd.js';

const execFileP = promisify(execFile);
const hasTmux = spawnSync('tmux', ['-V'], { stdio: 'ignore' }).status === 0;

let sd: Sshd;
let work: string;
const MiB = 1024 * 1024;

beforeAll(async () => {
  [sd, work] = await Promise.all([startSshd(), makeTempDir('progress')]);
  await fs.mkdir(`${work}/src`);
  await fs.writeFile(`${work}/src/a.bin`, randomBytes(4 * MiB));
  await fs.writeFile(`${work}/src/b.bin`, randomBytes(2 * MiB));
  await fs.writeFile(`${work}/src/tiny.txt`, 'hi\n');
});
afterAll(async () => {
  await sd?.stop();
  await fs.rm(work, { recursive: true, force: true });
});

/** A done line as ferry leaves it: name, 100%, size, average rate, elapsed. */
const doneLine = (name: string, size: string) => new RegExp(`^${name.replace('.', '\\.')}\\s+100%\\s+${size.replace('.', '\\.')}\\s+\\S+/s \\d\\d:\\d\\d$`);

describe.runIf(hasPty)('cp progress on a terminal', () => {
  // 100x30: a roomy terminal; 100x3: a small tmux pane, shorter than the display;
  // 50x10: narrower than a full line, so the bar has to go.
  for (const [cols, rows] of [[100, 30], [100, 3], [50, 10]] as const) {
    it(`ends with one line per file and nothing stale on ${cols}x${rows}`, async () => {
      const dst = `${work}/dst-${cols}x${rows}`;
      await fs.mkdir(dst);
      // 24,000 Kbit/s = 3 MB/s: the 6 MiB take about two seconds, ten frames.
      const r = await ferryOnTerminal(['cp', '-r', '-l', '24000', '-P', String(sd.port), `${work}/src`, `127.0.0.1:${dst}/`], { env: sd.env, cols, rows });
      const screen = await replay(r.raw, cols, rows);
      const shown = screen.all.join('\n');
      expect(r.code, shown).toBe(0);
      // The display really drew live lines in between (else this test would prove nothing).
      expect(r.raw).toMatch(/ETA \d\d:\d\d/);
      const lines = [...screen.all].sort();
      expect(lines, shown).toHaveLength(3);
      expect(lines[0], shown).toMatch(doneLine('a.bin', '4.0MiB'));
      expect(lines[1], shown).toMatch(doneLine('b.bin', '2.0MiB'));
      expect(lines[2], shown).toMatch(doneLine('tiny.txt', '3B'));
      expect(screen.cursorVisible).toBe(true);
      for (const f of ['a.bin', 'b.bin', 'tiny.txt']) expect(await sha256File(`${dst}/src/${f}`)).toBe(await sha256File(`${work}/src/${f}`));
    });
  }

  it('-v decisions print between the lines, never through them', async () => {
    const dst = `${work}/dst-verbose`;
    await fs.mkdir(dst);
    const r = await ferryOnTerminal(['cp', '-v', '-r', '-l', '24000', '-P', String(sd.port), `${work}/src`, `127.0.0.1:${dst}/`], { env: sd.env, cols: 250, rows: 10 });
    // Wide enough that no debug line wraps: a wrapped row would read as a torn one.
    const screen = await replay(r.raw, 250, 10);
    expect(r.code).toBe(0);
    const shown = screen.all.join('\n');
    // Every row is a whole line of one kind: a debug line, or a file's final line.
    for (const line of screen.all) expect(line, shown).toMatch(/^debug1: |^(a\.bin|b\.bin|tiny\.txt)\s+100%/);
    expect(screen.all.filter((l) => /\s100%\s/.test(l))).toHaveLength(3);
  });

  // xterm.js is not tmux: tmux takes an erase-below from the top-left corner for
  // a clear screen and scrolls the screen into its history first (scroll-on-clear),
  // which a headless emulator does not do. So the small pane is also tried in tmux itself.
  it.runIf(hasTmux)('ends clean in a real 100x3 tmux pane, history included', async () => {
    const dst = `${work}/dst-tmux`;
    await fs.mkdir(dst);
    const sock = `${work}/tmux.sock`;
    const conf = `${work}/tmux.conf`;
    await fs.writeFile(conf, 'set -g remain-on-exit on\nset -g history-limit 1000\n');
    const quote = (a: string) => `'${a.replace(/'/g, `'\\''`)}'`;
    const status = `${work}/tmux.status`;
    // The exit status through the shell: tmux 3.3 sometimes marks the pane dead without
    // one (pane_dead_status empty), whatever ran in it.
    const cmd = `${[process.execPath, ferryBin, 'cp', '-r', '-l', '24000', '-P', String(sd.port), `${work}/src`, `127.0.0.1:${dst}/`].map(quote).join(' ')}; echo $? > ${quote(status)}`;
    const tmux = (...args: string[]) => execFileP('tmux', ['-S', sock, ...args], { env: sd.env });
    await tmux('-f', conf, 'new-session', '-d', '-x', '100', '-y', '3', cmd);
    try {
      let code = '';
      let dead = '';
      for (let i = 0; i < 300 && !(code && dead.startsWith('1')); i++) {
        await new Promise((r) => setTimeout(r, 100));
        code = (await fs.readFile(status, 'utf8').catch(() => '')).trim();
        dead = (await tmux('display-message', '-p', '#{pane_dead}')).stdout.trim();
      }
      expect(code).toBe('0');
      expect(dead).toBe('1');
      const captured = (await tmux('capture-pane', '-p', '-S', '-')).stdout;
      const lines = captured.split('\n').map((l) => l.trimEnd()).filter((l) => l !== '' && !/^Pane is dead/.test(l)).sort();
      expect(lines, captured).toHaveLength(3);
      expect(lines[0], captured).toMatch(doneLine('a.bin', '4.0MiB'));
      expect(lines[1], captured).toMatch(doneLine('b.bin', '2.0MiB'));
      expect(lines[2], captured).toMatch(doneLine('tiny.txt', '3B'));
    } finally {
      await tmux('kill-server').catch(() => undefined);
    }
  });
});
