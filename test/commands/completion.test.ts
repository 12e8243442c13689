// Shell completion in a real bash on a pty: the script `ferry completion bash`
// prints is sourced, a line is typed with TAB, and the completed line is run
// through printf '<%s>' to show the exact words the shell will pass. Remote
// paths come from the test sshd over SFTP, as a user's TAB would get them.
import { spawnSync } from 'node:child_process';
import { mkdir, mkdtemp, readFile, rm, symlink, writeFile, appendFile } from 'node:fs/promises';
import * as net from 'node:net';
import { tmpdir } from 'node:os';
import * as path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { withLogins } from '../support/budget.js';
import { converseOnTty, hasPty } from '../support/pty.js';
import { ferryBin, runFerry } from '../support/run-ferry.js';
import { startSshd, type Sshd } from '../support/sshd.js';

const hasBash = spawnSync('bash', ['-c', 'true']).status === 0;
const hasZsh = spawnSync('zsh', ['-c', 'true']).status === 0;
const KEY = 'ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIOMqqnkVzrm0SdG6UOoqKLsabgH5C9okWi0dh2l9GKJl';
const QUOTED_NAME = "file with space'quote.txt";
const GLOB_NAME = 'glob[1]*.txt';

let sd: Sshd;
let work: string;
let remoteDir: string;
let env: NodeJS.ProcessEnv;

beforeAll(async () => {
  sd = await startSshd();
  work = await mkdtemp(path.join(tmpdir(), 'ferry-completion-'));
  // The sshd runs as this user on this machine, so its files are ours to lay out.
  remoteDir = path.join(work, 'remote');
  await mkdir(path.join(remoteDir, 'sub dir'), { recursive: true });
  await writeFile(path.join(remoteDir, QUOTED_NAME), 'q\n');
  await writeFile(path.join(remoteDir, GLOB_NAME), 'g\n');
  await writeFile(path.join(remoteDir, '.hidden'), 'h\n');
  await symlink(path.join(remoteDir, 'sub dir'), path.join(remoteDir, 'link to dir'));
  await mkdir(path.join(work, 'cwd', 'out'), { recursive: true });
  await writeFile(path.join(work, 'cwd', 'local file.txt'), 'l\n');
  await mkdir(path.join(work, 'bin'));
  await symlink(ferryBin, path.join(work, 'bin', 'ferry'));
  await writeFile(path.join(sd.home, '.ssh', 'config'), 'Host web-alias *.wild !neg\n  HostName 127.0.0.1\nHost other-alias\n');
  await appendFile(sd.knownHosts, `plainhost.example ${KEY}\n|1|F1E1KeoE/eEWhi10WpGv4OdiO6Y=|3988QV0VE8wmZL7suNrYQLITLCg= ${KEY}\n`);
  await writeFile(path.join(work, 'bashrc'), "PS1='READY$ '\nsource <(ferry completion bash)\n");
  // A plain prompt: no PROMPT_SP padding or bracketed-paste codes around it.
  await mkdir(path.join(work, 'zdot'));
  await writeFile(path.join(work, 'zdot', '.zshrc'), [
    "PS1='READY$ '", 'bindkey -e', 'unsetopt PROMPT_SP', 'unset zle_bracketed_paste',
    'autoload -Uz compinit && compinit -u -D', 'source <(ferry completion zsh)', '',
  ].join('\n'));
  env = {
    ...sd.env,
    PATH: `${path.join(work, 'bin')}:${path.dirname(process.execPath)}:/usr/bin:/bin`,
    TERM: 'dumb', INPUTRC: '/dev/null', FERRY_STATE_DIR: path.join(work, 'state'),
  };
});
afterAll(async () => {
  await sd?.stop();
  if (work) await rm(work, { recursive: true, force: true });
});

type Shell = 'bash' | 'zsh';
const shellArgv = (shell: Shell) => (shell === 'bash' ? ['bash', '--rcfile', path.join(work, 'bashrc'), '--noprofile', '-i'] : ['zsh', '-i']);

/** Type `typed` (with its TABs) at a prompt; the completed words as the shell splits them. */
function complete(typed: string, waitFor: string, shell: Shell = 'bash'): { words: string; screen: string } {
  const r = converseOnTty(shellArgv(shell), [
    { send: '', expect: 'READY\\$ $' },
    { send: typed, expect: waitFor },
    // Ctrl-A: to the start of the line, where printf shows each word in <>.
    { send: "\x01printf '<%s>' \r", expect: '<ferry>.*READY\\$ $' },
  ], { ...env, ZDOTDIR: path.join(work, 'zdot') }, path.join(work, 'cwd'));
  const words = /((?:<[^>]*>)+)\r?READY\$ $/s.exec(r.out)?.[1] ?? '';
  return { words, screen: r.out };
}

const rx = (s: string) => s.replace(/[.*+?^${}()|[\]\\]/g, '\\$&');

describe.skipIf(!hasPty || !hasBash)('ferry completion bash, typed in a real bash', () => {
  it('subcommands and options', () => {
    expect(complete('ferry sy\t', 'ferry sync $').words).toBe('<ferry><sync>');
    expect(complete('ferry cp --no-re\t', '--no-resume $').words).toBe('<ferry><cp><--no-resume>');
  });

  it('local paths, escaped', () => {
    const r = complete('ferry cp loc\t', rx('local\\ file.txt '));
    expect(r.words, r.screen).toBe('<ferry><cp><local file.txt>');
  });

  it('host aliases from ssh_config (no patterns) and plain known_hosts names', async () => {
    const alias = complete('ferry cp web\t', 'web-alias:$');
    expect(alias.words, alias.screen).toBe('<ferry><cp><web-alias:>');
    const plain = complete('ferry copy-id plainh\t', 'plainhost.example $');
    expect(plain.words, plain.screen).toBe('<ferry><copy-id><plainhost.example>');
    const all = await runFerry(['__complete', 'bash', '--', 'ferry copy-id '], { env });
    expect(all.stdout.split('\n').slice(1).filter(Boolean).sort()).toEqual(['127.0.0.1', 'other-alias', 'plainhost.example', 'web-alias']);
  });

  it('a remote file name with a space and a quote, over SFTP', () => {
    const r = complete(`ferry cp -P ${sd.port} 127.0.0.1:${remoteDir}/fi\t`, rx("quote.txt ") + '$');
    expect(r.words, r.screen).toBe(`<ferry><cp><-P><${sd.port}><127.0.0.1:${remoteDir}/${QUOTED_NAME}>`);
  });

  it('the same inside a quote the user opened', () => {
    const r = complete(`ferry cp -P ${sd.port} '127.0.0.1:${remoteDir}/fi\t`, rx("quote.txt'") + '.?$');
    expect(r.words, r.screen).toBe(`<ferry><cp><-P><${sd.port}><127.0.0.1:${remoteDir}/${QUOTED_NAME}>`);
  });

  it('a remote directory ends in / with the cursor left on the word', () => {
    const r = complete(`ferry cp -P ${sd.port} -r 127.0.0.1:${remoteDir}/su\t`, rx('sub\\ dir/') + '$');
    expect(r.words, r.screen).toBe(`<ferry><cp><-P><${sd.port}><-r><127.0.0.1:${remoteDir}/sub dir/>`);
  });

  it('a name with glob characters is escaped for cp, and the completed command copies that file', async () => {
    const typed = `ferry cp -q -P ${sd.port} 127.0.0.1:${remoteDir}/gl\t`;
    const r = converseOnTty(['bash', '--rcfile', path.join(work, 'bashrc'), '--noprofile', '-i'], [
      { send: '', expect: 'READY\\$ $' },
      { send: typed, expect: rx('.txt ') + '$' },
      { send: 'out/\r', expect: 'READY\\$ $', timeoutS: withLogins(30_000) / 1000 },
    ], env, path.join(work, 'cwd'));
    expect(r.failed, r.out).toBeNull();
    expect(await readFile(path.join(work, 'cwd', 'out', GLOB_NAME), 'utf8')).toBe('g\n');
  });
});

// zsh's own matching and quoting (compadd) on ferry's plain answers. zsh
// echoes what it completes with redraws, so the words are checked, not the screen.
describe.skipIf(!hasPty || !hasZsh)('ferry completion zsh, typed in a real zsh', () => {
  it('subcommands, local paths and host aliases', () => {
    expect(complete('ferry sy\t', 'sync', 'zsh').words).toBe('<ferry><sync>');
    expect(complete('ferry cp loc\t', 'txt', 'zsh').words).toBe('<ferry><cp><local file.txt>');
    expect(complete('ferry cp web\t', 'alias:', 'zsh').words).toBe('<ferry><cp><web-alias:>');
  });

  it('a remote file name with a space and a quote, escaped and quoted', () => {
    const want = `<ferry><cp><-P><${sd.port}><127.0.0.1:${remoteDir}/${QUOTED_NAME}>`;
    const plain = complete(`ferry cp -P ${sd.port} 127.0.0.1:${remoteDir}/fi\t`, 'quote', 'zsh');
    expect(plain.words, plain.screen).toBe(want);
    const quoted = complete(`ferry cp -P ${sd.port} "127.0.0.1:${remoteDir}/fi\t`, 'quote', 'zsh');
    expect(quoted.words, quoted.screen).toBe(want);
  });

  it('a remote directory ends in / with no space after it', () => {
    const r = complete(`ferry cp -P ${sd.port} 127.0.0.1:${remoteDir}/su\tx`, 'dir/x', 'zsh');
    expect(r.words, r.screen).toBe(`<ferry><cp><-P><${sd.port}><127.0.0.1:${remoteDir}/sub dir/x>`);
  });
});

describe('ferry __complete, the answers behind the scripts', () => {
  it('never asks about an unknown host key: BatchMode, no answer, exit 0', async () => {
    const t0 = Date.now();
    const r = await runFerry(['__complete', 'bash', '--', `ferry cp -P ${sd.port} 127.0.0.1:${remoteDir}/`], { env: { ...env, HOME: work } });
    expect(r.code).toBe(0);
    expect(r.stdout).toBe('space\n');
    expect(r.stderr).toBe('');
    expect(Date.now() - t0).toBeLessThan(withLogins(3_500, 1));
  });

  it('gives up after 3 s on a server that never answers, with no answer', async () => {
    const silent = net.createServer(() => undefined);
    await new Promise<void>((resolve) => silent.listen(0, '127.0.0.1', resolve));
    const port = (silent.address() as net.AddressInfo).port;
    try {
      const t0 = Date.now();
      const r = await runFerry(['__complete', 'bash', '--', `ferry cp -P ${port} 127.0.0.1:/tmp/`], { env });
      const elapsed = Date.now() - t0;
      expect(r.code).toBe(0);
      expect(r.stdout).toBe('');
      expect(elapsed).toBeGreaterThanOrEqual(2_900);
      expect(elapsed).toBeLessThan(6_000);
    } finally {
      silent.close();
    }
  });

  it('zsh gets plain values tagged more/done (a link to a directory is one), hidden files only when asked for', async () => {
    const r = await runFerry(['__complete', 'zsh', '--', 'ferry', 'cp', '-P', String(sd.port), `127.0.0.1:${remoteDir}/`], { env });
    expect(r.stdout.split('\n').filter(Boolean)).toEqual([
      `127.0.0.1:${remoteDir}/${QUOTED_NAME}\tdone`,
      `127.0.0.1:${remoteDir}/glob\\[1]\\*.txt\tdone`,
      `127.0.0.1:${remoteDir}/link to dir/\tmore`,
      `127.0.0.1:${remoteDir}/sub dir/\tmore`,
    ]);
    const hidden = await runFerry(['__complete', 'zsh', '--', 'ferry', 'sync', '-P', String(sd.port), `127.0.0.1:${remoteDir}/.`], { env });
    expect(hidden.stdout).toBe(`127.0.0.1:${remoteDir}/.hidden\tdone\n`);
  });

  it('completion prints each script; an unknown shell is a usage error', async () => {
    const bash = await runFerry(['completion', 'bash'], { env });
    expect(bash.stdout).toContain('complete -F _ferry_complete ferry');
    expect(spawnSync('bash', ['-n'], { input: bash.stdout }).status).toBe(0);
    const zsh = await runFerry(['completion', 'zsh'], { env });
    expect(zsh.stdout).toContain('compdef _ferry ferry');
    if (hasZsh) expect(spawnSync('zsh', ['-n'], { input: zsh.stdout }).status).toBe(0);
    expect((await runFerry(['__complete', 'bash', '--', 'ferry completion '], { env })).stdout).toBe('space\nbash\nzsh\n');
    const fish = await runFerry(['completion', 'fish'], { env });
    expect(fish.code).toBe(2);
    expect(fish.stderr).toMatch(/^ferry: no completion for shell "fish"/);
  });
});
