// SSH_ASKPASS as OpenSSH uses it: when (SSH_ASKPASS_REQUIRE, DISPLAY, a
// terminal), and how (prompt in argv[1], answer on stdout, nothing secret in
// argv or error messages). The askpass programs are real shell scripts.
import * as fs from 'node:fs/promises';
import * as os from 'node:os';
import * as path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { askpassProgram, runAskpass, withAskpass } from '../../src/ssh/askpass.js';
import { silentPrompter } from '../../src/ssh/prompter.js';

let dir: string;
let script: string;
let failing: string;

beforeAll(async () => {
  dir = await fs.mkdtemp(path.join(os.tmpdir(), 'ferry-askpass-'));
  script = path.join(dir, 'askpass.sh');
  // Records its arguments, answers with a fixed secret (and a second line that must be ignored).
  await fs.writeFile(script, `#!/bin/sh\nprintf '%s\\n' "$@" > "${dir}/argv"\nprintf 's3cret-answer\\nsecond line\\n'\n`, { mode: 0o755 });
  failing = path.join(dir, 'cancel.sh');
  await fs.writeFile(failing, '#!/bin/sh\nprintf "leaked-secret"\nexit 1\n', { mode: 0o755 });
});
afterAll(async () => {
  await fs.rm(dir, { recursive: true, force: true });
});

describe('askpassProgram', () => {
  it.each<[NodeJS.ProcessEnv, boolean, boolean]>([
    [{}, false, false],
    [{ SSH_ASKPASS: '/a' }, false, false], // no display
    [{ SSH_ASKPASS: '/a', DISPLAY: ':0' }, false, true], // no terminal, a display: OpenSSH's default
    [{ SSH_ASKPASS: '/a', DISPLAY: ':0' }, true, false], // a terminal wins by default
    [{ SSH_ASKPASS: '/a', SSH_ASKPASS_REQUIRE: 'force' }, true, true],
    [{ SSH_ASKPASS: '/a', SSH_ASKPASS_REQUIRE: 'prefer' }, true, false],
    [{ SSH_ASKPASS: '/a', SSH_ASKPASS_REQUIRE: 'prefer', DISPLAY: ':0' }, true, true],
    [{ SSH_ASKPASS: '/a', SSH_ASKPASS_REQUIRE: 'never', DISPLAY: ':0' }, false, false],
    [{ SSH_ASKPASS_REQUIRE: 'force' }, false, false],
  ])('%j, tty %s: %s', (env, tty, want) => {
    expect(askpassProgram(env, tty)).toBe(want ? '/a' : undefined);
  });
});

describe('runAskpass', () => {
  it('passes the prompt as argv[1] and reads the first line of stdout', async () => {
    expect(await runAskpass(script, "Enter passphrase for key '/k': ")).toBe('s3cret-answer');
    expect(await fs.readFile(`${dir}/argv`, 'utf8')).toBe("Enter passphrase for key '/k': \n");
  });

  it('a non-zero exit is a refusal whose message holds nothing the program printed', async () => {
    const err = await runAskpass(failing, 'Password: ').catch((e: Error) => e);
    expect(err).toBeInstanceOf(Error);
    expect((err as Error).message).toMatch(/exited with status 1/);
    expect((err as Error).message).not.toContain('leaked-secret');
  });

  it('a missing program is a clear error', async () => {
    await expect(runAskpass(`${dir}/nope`, 'x')).rejects.toThrow(/can't run askpass program/);
  });
});

describe('withAskpass', () => {
  it('makes a prompter that can ask, through the program', async () => {
    const p = withAskpass(silentPrompter, { batch: false, env: { SSH_ASKPASS: script, SSH_ASKPASS_REQUIRE: 'force', PATH: process.env.PATH } });
    expect(p.interactive).toBe(true);
    expect(await p.ask('Password: ', { secret: true })).toBe('s3cret-answer');
  });

  it('BatchMode never asks, askpass or not', () => {
    const p = withAskpass(silentPrompter, { batch: true, env: { SSH_ASKPASS: script, SSH_ASKPASS_REQUIRE: 'force' } });
    expect(p).toBe(silentPrompter);
    expect(p.interactive).toBe(false);
  });
});
