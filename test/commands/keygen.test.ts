// `ferry keygen` end to end: the built CLI (run `npx tsc -p tsconfig.json`
// first) against the real OpenSSH ssh-keygen, all in throwaway directories.
import { ferryOnTty, hasPty } from '../support/pty.js';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { execFileSync, spawnSync } from 'node:child_process';
import { existsSync } from 'node:fs';
import { readdir, readFile, rm, stat, writeFile } from 'node:fs/promises';
import * as os from 'node:os';
import * as path from 'node:path';
import { ferryBin, repoRoot, runFerry } from '../support/run-ferry.js';
import { KEY_MATRIX, makeOpensshKey, makeTempDir, sshKeygen, sshKeygenOk } from '../keys/ssh-keygen-cli.js';

let home: string;
let env: NodeJS.ProcessEnv;
beforeAll(async () => {
  if (!existsSync(path.join(repoRoot, 'dist', 'commands', 'keygen.js'))) {
    throw new Error('dist/commands/keygen.js is missing: run `npx tsc -p tsconfig.json` before these tests');
  }
  home = await makeTempDir('ferry-keygen-home-');
  env = { HOME: home, PATH: process.env.PATH, USER: process.env.USER };
});
afterAll(async () => {
  await rm(home, { recursive: true, force: true });
});

const ferry = (args: string[]) => runFerry(['keygen', ...args], { env, timeoutMs: 60_000 });
const openssh = (args: string[]) => sshKeygenOk(args, home);
const modeOf = async (p: string) => (await stat(p)).mode & 0o777;
let seq = 0;
const freshPath = (name: string) => path.join(home, `${++seq}-${name}`);

describe('ferry keygen: new keys', () => {
  for (const { type, bits } of KEY_MATRIX) {
    it(`${type} ${bits}: files, output and fingerprints agree with ssh-keygen`, async () => {
      const file = freshPath(`${type}-${bits}`);
      const r = await ferry(['-t', type, '-b', String(bits), '-N', '', '-C', 'me@example', '-f', file]);
      expect(r.stderr).toBe('');
      expect(r.code).toBe(0);

      const pub = await readFile(`${file}.pub`, 'utf8');
      expect(await openssh(['-y', '-f', file])).toBe(pub);
      expect(pub).toMatch(/^(ssh-ed25519|ecdsa-sha2-nistp\d+|ssh-rsa) [A-Za-z0-9+/=]+ me@example\n$/);

      const lv = await openssh(['-l', '-v', '-f', file]);
      const [summary, ...box] = lv.trimEnd().split('\n');
      expect(summary).toMatch(new RegExp(`^${bits} SHA256:\\S+ me@example \\(${type === 'ed25519' ? 'ED25519' : type.toUpperCase()}\\)$`));
      expect(r.stdout).toBe(
        [
          `Generating public/private ${type} key pair.`,
          `Your identification has been saved in ${file}`,
          `Your public key has been saved in ${file}.pub`,
          'The key fingerprint is:',
          `${summary!.split(' ')[1]} me@example`,
          "The key's randomart image is:",
          ...box,
          '',
        ].join('\n'),
      );
      expect((await ferry(['-l', '-v', '-f', file])).stdout).toBe(lv);
      expect((await ferry(['-l', '-f', file])).stdout).toBe(await openssh(['-l', '-f', file]));
      expect((await ferry(['-l', '-E', 'md5', '-f', `${file}.pub`])).stdout).toBe(await openssh(['-l', '-E', 'md5', '-f', `${file}.pub`]));
      expect(await modeOf(file)).toBe(0o600);
      expect(await modeOf(`${file}.pub`)).toBe(0o644);
    });
  }

  it('defaults: ed25519 in ~/.ssh/id_ed25519 (directory made 0700), comment user@host', async () => {
    const r = await ferry(['-N', '']);
    expect(r.code).toBe(0);
    const dir = path.join(home, '.ssh');
    expect(r.stdout).toContain(`Created directory '${dir}'.\n`);
    expect(r.stdout).toContain(`Your identification has been saved in ${dir}/id_ed25519\n`);
    expect(await modeOf(dir)).toBe(0o700);
    expect(await modeOf(path.join(dir, 'id_ed25519'))).toBe(0o600);
    const pub = await readFile(path.join(dir, 'id_ed25519.pub'), 'utf8');
    expect(pub).toMatch(new RegExp(`^ssh-ed25519 \\S+ ${os.userInfo().username}@${os.hostname()}\\n$`));
  });

  it('rsa defaults to 3072 bits', async () => {
    const file = freshPath('rsa-default');
    expect((await ferry(['-t', 'rsa', '-N', '', '-q', '-f', file])).code).toBe(0);
    expect(await openssh(['-l', '-f', file])).toMatch(/^3072 SHA256:/);
  });

  it('-q prints nothing', async () => {
    const r = await ferry(['-q', '-N', '', '-f', freshPath('quiet')]);
    expect(r).toMatchObject({ code: 0, stdout: '', stderr: '' });
  });

  it('a passphrase key made by ferry opens in ssh-keygen, and only with that passphrase', async () => {
    const file = freshPath('enc');
    expect((await ferry(['-q', '-N', 'pass word', '-C', 'enc', '-f', file])).code).toBe(0);
    expect(await openssh(['-y', '-P', 'pass word', '-f', file])).toBe(await readFile(`${file}.pub`, 'utf8'));
    const wrong = await sshKeygen(['-y', '-P', 'wrong', '-f', file], home);
    expect(wrong.code).not.toBe(0);
    // ssh-keygen -l finds the comment in the .pub; without it the encrypted key has none to show.
    expect((await ferry(['-l', '-f', file])).stdout).toBe(await openssh(['-l', '-f', file]));
    await rm(`${file}.pub`);
    expect((await ferry(['-l', '-f', file])).stdout).toBe(await openssh(['-l', '-f', file]));
  });
});

describe('ferry keygen: refusing to overwrite', () => {
  it('refuses an existing key with one line naming it, exit 1, files untouched; --force replaces', async () => {
    const file = freshPath('exists');
    expect((await ferry(['-q', '-N', '', '-f', file])).code).toBe(0);
    const before = [await readFile(file, 'utf8'), await readFile(`${file}.pub`, 'utf8')];
    const r = await ferry(['-q', '-N', '', '-f', file]);
    expect(r.code).toBe(1);
    expect(r.stderr).toBe(`ferry: overwrite local "${file}": file exists; pass --force to replace it\n`);
    expect([await readFile(file, 'utf8'), await readFile(`${file}.pub`, 'utf8')]).toEqual(before);

    const forced = await ferry(['-q', '-N', '', '--force', '-f', file]);
    expect(forced.code).toBe(0);
    expect(await readFile(file, 'utf8')).not.toBe(before[0]);
    expect(await openssh(['-y', '-f', file])).toBe(await readFile(`${file}.pub`, 'utf8'));
    expect(await modeOf(file)).toBe(0o600);
  });

  it('refuses when only the .pub exists', async () => {
    const file = freshPath('pub-only');
    await writeFile(`${file}.pub`, 'someone else\n');
    const r = await ferry(['-q', '-N', '', '-f', file]);
    expect(r.code).toBe(1);
    expect(r.stderr).toContain(`"${file}.pub": file exists`);
    expect(existsSync(file)).toBe(false);
  });
});

describe('ferry keygen: usage errors (exit 2)', () => {
  it.each([
    [['-f', 'x'], /no terminal to ask for a passphrase on: give one with -N/],
    [['-t', 'rsa', '-b', '1024', '-N', ''], /RSA keys are 2048 to 16384 bits/],
    [['-t', 'ecdsa', '-b', '512', '-N', ''], /ECDSA keys are 256, 384 or 521 bits/],
    [['-t', 'dsa', '-N', ''], /invalid/],
    [['-l', '-y', '-f', 'x'], /-l and -y cannot be combined/],
    [['-l'], /-l needs the key file: -f FILE/],
    [['-E', 'sha1', '-l', '-f', 'x'], /must be sha256 or md5/],
  ])('%j', async (args, message) => {
    const before = await readdir(home);
    const r = await ferry(args as string[]);
    expect(r.code).toBe(2);
    expect(r.stderr).toMatch(message);
    expect(await readdir(home)).toEqual(before);
  });
});

describe('ferry keygen -y / -l / -p on existing keys', () => {
  it('-y opens a key made by ssh-keygen -N pass, with -P; without it and without a terminal, exit 2', async () => {
    for (const { type, bits } of [KEY_MATRIX[0], KEY_MATRIX[2], KEY_MATRIX[4]]) {
      const file = await makeOpensshKey(home, `${++seq}-theirs-${type}`, { type, bits, passphrase: 'pass' });
      const y = await ferry(['-y', '-P', 'pass', '-f', file]);
      expect(y.code).toBe(0);
      expect(y.stdout).toBe(await readFile(`${file}.pub`, 'utf8'));
      expect(y.stdout).toBe(await openssh(['-y', '-P', 'pass', '-f', file]));
    }
    const file = await makeOpensshKey(home, `${++seq}-theirs`, { type: 'ed25519', passphrase: 'pass' });
    const noPass = await ferry(['-y', '-f', file]);
    expect(noPass.code).toBe(2);
    expect(noPass.stderr).toMatch(/is encrypted; give its passphrase with -P/);
    const wrong = await ferry(['-y', '-P', 'nope', '-f', file]);
    expect(wrong.code).toBe(1);
    expect(wrong.stderr).toBe(`ferry: decrypt local "${file}": incorrect passphrase\n`);
  });

  it('-l on a missing or non-key file: exit 1 with the path', async () => {
    const missing = path.join(home, 'nope');
    const r = await ferry(['-l', '-f', missing]);
    expect(r.code).toBe(1);
    expect(r.stderr).toBe(`ferry: read local "${missing}": no such file or directory\n`);
    const junk = freshPath('junk');
    await writeFile(junk, 'hello\n');
    const j = await ferry(['-l', '-f', junk]);
    expect(j.code).toBe(1);
    expect(j.stderr).toMatch(/not a public key file/);
  });

  it('-p changes the passphrase of an ssh-keygen key; OpenSSH takes the new one only', async () => {
    const file = await makeOpensshKey(home, `${++seq}-change`, { type: 'ecdsa', bits: 256, passphrase: 'old', comment: 'chg' });
    const fp = await openssh(['-l', '-f', file]);
    const r = await ferry(['-p', '-P', 'old', '-N', 'new', '-f', file]);
    expect(r.code).toBe(0);
    expect(r.stdout).toBe("Key has comment 'chg'\nYour identification has been saved with the new passphrase.\n");
    expect(await openssh(['-y', '-P', 'new', '-f', file])).toBe(await readFile(`${file}.pub`, 'utf8'));
    expect((await sshKeygen(['-y', '-P', 'old', '-f', file], home)).code).not.toBe(0);
    expect(await openssh(['-l', '-f', file])).toBe(fp);
    expect(await modeOf(file)).toBe(0o600);

    // Remove the passphrase; ssh-keygen then reads it with none.
    expect((await ferry(['-p', '-P', 'new', '-N', '', '-f', file])).code).toBe(0);
    expect(await openssh(['-y', '-f', file])).toBe(await readFile(`${file}.pub`, 'utf8'));
    expect(await readdir(path.dirname(file))).not.toContainEqual(expect.stringContaining('ferry-tmp'));

    const noNew = await ferry(['-p', '-f', file]);
    expect(noNew.code).toBe(2);
  });
});

// A pseudo-terminal via python3's pty module: answers each prompt in turn.
const hasPython = hasPty;

function onTerminal(answers: string[], args: string[]): { code: number; out: string } {
  return ferryOnTty(['keygen', ...args], answers, env);
}

describe.skipIf(!hasPython)('ferry keygen at a terminal', () => {
  it('asks for the passphrase twice without echo, again on a mismatch', () => {
    const file = freshPath('tty');
    const r = onTerminal(['first', 'other', 'sesame', 'sesame'], ['-C', 'tty', '-f', file]);
    expect(r.code).toBe(0);
    expect(r.out).toContain('Enter passphrase (empty for no passphrase): \nEnter same passphrase again: \n');
    expect(r.out).toContain('Passphrases do not match.  Try again.\n');
    expect(r.out).not.toMatch(/first|other|sesame/);
    expect(execFileSync('ssh-keygen', ['-y', '-P', 'sesame', '-f', file], { env, encoding: 'utf8' })).toMatch(/ tty\n$/);
  });

  it('asks before overwriting; "n" keeps the old key, "y" replaces it', async () => {
    const file = freshPath('tty-overwrite');
    expect((await ferry(['-q', '-N', '', '-f', file])).code).toBe(0);
    const old = await readFile(file, 'utf8');
    const no = onTerminal(['n'], ['-N', '', '-f', file]);
    expect(no.out).toContain(`${file} already exists.\nOverwrite (y/n)? `);
    expect(no.code).toBe(1);
    expect(await readFile(file, 'utf8')).toBe(old);
    const yes = onTerminal(['y'], ['-N', '', '-f', file]);
    expect(yes.code).toBe(0);
    expect(await readFile(file, 'utf8')).not.toBe(old);
  });

  it('-y and -p ask for the old passphrase', async () => {
    const file = await makeOpensshKey(home, `${++seq}-tty-y`, { type: 'ed25519', passphrase: 'old' });
    const y = onTerminal(['old'], ['-y', '-f', file]);
    expect(y.code).toBe(0);
    expect(y.out).toBe(`Enter passphrase: \n${await readFile(`${file}.pub`, 'utf8')}`);
    const p = onTerminal(['old', 'new', 'new'], ['-p', '-f', file]);
    expect(p.code).toBe(0);
    expect(p.out).toContain('Enter old passphrase: \n');
    expect(p.out).toContain('Enter new passphrase (empty for no passphrase): \nEnter same passphrase again: \n');
    expect(await openssh(['-y', '-P', 'new', '-f', file])).toBe(await readFile(`${file}.pub`, 'utf8'));
  });
});
