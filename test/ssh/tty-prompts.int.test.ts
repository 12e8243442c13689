// Prompts on a real terminal: ferry runs under `script`, which gives it a
// pseudo-terminal; the test answers each prompt once it shows up. Covers the
// host key question (StrictHostKeyChecking=ask) and a passphrase typed with
// echo off.
import { execFile, spawn } from 'node:child_process';
import * as fs from 'node:fs/promises';
import * as path from 'node:path';
import { promisify } from 'node:util';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { knownHostsHas, makeTempDir } from '../support/cp-helpers.js';
import { ferryBin, repoRoot } from '../support/run-ferry.js';
import { startSshd, type Sshd } from '../support/sshd.js';
import { withLogins } from '../support/budget.js';

const execFileP = promisify(execFile);
const PASSPHRASE = 'typed on the terminal';

let sd: Sshd;
let work: string;
let encKey: string;

beforeAll(async () => {
  [sd, work] = await Promise.all([startSshd(), makeTempDir('tty')]);
  encKey = path.join(work, 'enc_key');
  await execFileP('ssh-keygen', ['-q', '-t', 'ed25519', '-N', PASSPHRASE, '-f', encKey]);
  await fs.writeFile(path.join(sd.dir, 'authorized_keys'), await fs.readFile(`${encKey}.pub`));
});
afterAll(async () => {
  await sd?.stop();
  await fs.rm(work, { recursive: true, force: true });
});

const quote = (s: string) => `'${s.replace(/'/g, `'\\''`)}'`;

/** Run ferry on a pseudo-terminal; each answer is typed once its prompt appears. */
function runOnTty(args: string[], answers: [RegExp, string][], env: NodeJS.ProcessEnv): Promise<{ code: number | null; output: string }> {
  const cmd = [process.execPath, ferryBin, ...args].map(quote).join(' ');
  return new Promise((resolve) => {
    const child = spawn('script', ['-q', '-e', '-c', cmd, '/dev/null'], { env, cwd: repoRoot, stdio: ['pipe', 'pipe', 'pipe'] });
    let output = '';
    let next = 0;
    const timer = setTimeout(() => child.kill('SIGKILL'), withLogins(30_000));
    let typing = false;
    const pump = () => {
      if (typing || next >= answers.length || !answers[next][0].test(output)) return;
      // Type as a person would, a moment after the prompt: the prompter turns echo off
      // just after printing the question, and typeahead before that would be echoed.
      typing = true;
      setTimeout(() => {
        child.stdin.write(answers[next++][1]);
        typing = false;
        pump();
      }, 300);
    };
    const onData = (d: Buffer) => {
      output += d.toString('utf8');
      pump();
    };
    child.stdout.on('data', onData);
    child.stderr.on('data', onData);
    child.on('close', (code) => {
      clearTimeout(timer);
      child.stdin.destroy();
      resolve({ code, output });
    });
  });
}

describe('prompts on a terminal', () => {
  it('asks about the unknown host key, then for the passphrase (not echoed); both answered', async () => {
    const dir = await fs.mkdtemp(`${work}/ask-`);
    await fs.writeFile(`${dir}/src.txt`, 'over a tty\n');
    const kh = `${dir}/known_hosts`;
    const env = { ...sd.env, TERM: 'dumb' };
    delete env.SSH_ASKPASS;
    const r = await runOnTty(
      ['cp', '-P', String(sd.port), '-o', `UserKnownHostsFile=${kh}`, '-o', 'GlobalKnownHostsFile=none', '-i', encKey, `${dir}/src.txt`, `127.0.0.1:${dir}/dst.txt`],
      [
        [/Are you sure you want to continue connecting \(yes\/no\/\[fingerprint\]\)\? $/, 'yes\r'],
        [/Enter passphrase for key '[^']+': $/, `${PASSPHRASE}\r`],
      ],
      env,
    );
    expect(r.code, r.output).toBe(0);
    expect(r.output).toContain(`The authenticity of host '[127.0.0.1]:${sd.port}`);
    expect(r.output).toContain('Permanently added');
    expect(r.output).not.toContain(PASSPHRASE);
    expect(await fs.readFile(`${dir}/dst.txt`, 'utf8')).toBe('over a tty\n');
    expect(await knownHostsHas(kh, `[127.0.0.1]:${sd.port}`)).toContain(sd.hostKeyPub.split(/\s+/)[1]);
  });

  it('answering "no" to the host key question stops the run with exit 4', async () => {
    const dir = await fs.mkdtemp(`${work}/no-`);
    await fs.writeFile(`${dir}/src.txt`, 'x\n');
    const kh = `${dir}/known_hosts`;
    const r = await runOnTty(
      ['cp', '-P', String(sd.port), '-o', `UserKnownHostsFile=${kh}`, '-o', 'GlobalKnownHostsFile=none', '-i', encKey, `${dir}/src.txt`, `127.0.0.1:${dir}/dst.txt`],
      [[/\(yes\/no\/\[fingerprint\]\)\? $/, 'no\r']],
      { ...sd.env, TERM: 'dumb' },
    );
    expect(r.code, r.output).toBe(4);
    expect(r.output).not.toMatch(/Enter passphrase/);
    expect(await fs.readdir(dir)).toEqual(['src.txt']);
  });
});
