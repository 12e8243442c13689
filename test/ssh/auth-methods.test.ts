// Password and keyboard-interactive logins, their order (PreferredAuthentications),
// NumberOfPasswordPrompts and BatchMode, against ssh2's own Server on port 0
// with a scripted server side (the test sshd allows neither method).
import { execFile } from 'node:child_process';
import * as fs from 'node:fs/promises';
import type { AddressInfo } from 'node:net';
import * as os from 'node:os';
import * as path from 'node:path';
import { promisify } from 'node:util';
import ssh2 from 'ssh2';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { AuthError } from '../../src/errors.js';
import { connectSsh } from '../../src/ssh/connect.js';
import { scriptedPrompter } from '../support/prompter.js';

const execFileP = promisify(execFile);
const PASSWORD = 'pw-4-test';
const CODE = 'otp-1234';

let dir: string;
let server: ssh2.Server;
let port: number;
let kh: string;
const savedHome = process.env.HOME;

beforeAll(async () => {
  dir = await fs.mkdtemp(path.join(os.tmpdir(), 'ferry-auth-methods-'));
  process.env.HOME = dir; // no identity files, no ~/.ssh/config
  await execFileP('ssh-keygen', ['-q', '-t', 'ed25519', '-N', '', '-f', `${dir}/host`]);
  server = new ssh2.Server({ hostKeys: [await fs.readFile(`${dir}/host`)] }, (client) => {
    client.on('authentication', (ctx) => {
      // The username picks which methods the server allows.
      const allowed = ctx.username === 'kbd' ? ['keyboard-interactive'] : ctx.username === 'pass' ? ['password'] : ['keyboard-interactive', 'password'];
      if (ctx.method === 'password' && allowed.includes('password') && ctx.password === PASSWORD) return ctx.accept();
      if (ctx.method === 'keyboard-interactive' && allowed.includes('keyboard-interactive')) {
        return ctx.prompt([{ prompt: 'Verification code: ', echo: false }], 'Second factor', (answers) => {
          if (answers[0] === CODE) ctx.accept();
          else ctx.reject(allowed);
        });
      }
      ctx.reject(allowed);
    });
    client.on('ready', () => client.end());
    client.on('error', () => undefined);
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  port = (server.address() as AddressInfo).port;
  kh = `${dir}/known_hosts`;
  const [t, b64] = (await fs.readFile(`${dir}/host.pub`, 'utf8')).split(/\s+/);
  await fs.writeFile(kh, `[127.0.0.1]:${port} ${t} ${b64}\n`);
});
afterAll(async () => {
  process.env.HOME = savedHome;
  await new Promise((r) => server?.close(r));
  await fs.rm(dir, { recursive: true, force: true });
});

const scripted = scriptedPrompter;

async function login(user: string, options: string[], p: ReturnType<typeof scripted>) {
  const conn = await connectSsh({
    alias: '127.0.0.1',
    user,
    cli: { configFile: 'none', port, options: [`UserKnownHostsFile=${kh}`, 'GlobalKnownHostsFile=none', 'StrictHostKeyChecking=yes', ...options] },
    prompter: p.prompter,
    traceProtocol: true,
  });
  conn.end();
  return conn;
}

describe('password and keyboard-interactive', () => {
  it('password: asked as OpenSSH asks, and the login is not a key login', async () => {
    const p = scripted([PASSWORD]);
    const conn = await login('pass', [], p);
    expect(p.asked).toEqual([`pass@127.0.0.1's password: `]);
    expect(conn.keyAuth).toBe(false);
  });

  it('keyboard-interactive: the server\'s prompts are shown and answered', async () => {
    const p = scripted([CODE]);
    await login('kbd', [], p);
    expect(p.asked).toEqual(['Verification code: ']);
    expect(p.output).toContain('Second factor');
  });

  it('default order: keyboard-interactive before password; PreferredAuthentications reverses it', async () => {
    const p1 = scripted([CODE]);
    await login('both', [], p1);
    expect(p1.asked).toEqual(['Verification code: ']);
    const p2 = scripted([PASSWORD]);
    await login('both', ['PreferredAuthentications=password,keyboard-interactive'], p2);
    expect(p2.asked).toEqual([`both@127.0.0.1's password: `]);
  });

  it('a wrong password is asked again up to NumberOfPasswordPrompts, then exit-4 AuthError', async () => {
    const p = scripted(['nope1', 'nope2', PASSWORD]);
    await expect(login('pass', ['NumberOfPasswordPrompts=2'], p)).rejects.toBeInstanceOf(AuthError);
    expect(p.asked).toHaveLength(2);
  });

  it('BatchMode, or no terminal, fails fast without asking', async () => {
    const batch = scripted([PASSWORD]);
    await expect(login('both', ['BatchMode=yes'], batch)).rejects.toBeInstanceOf(AuthError);
    expect(batch.asked).toEqual([]);
    const noTty = scripted([PASSWORD], false);
    await expect(login('both', [], noTty)).rejects.toBeInstanceOf(AuthError);
    expect(noTty.asked).toEqual([]);
  });

  it('PasswordAuthentication=no and KbdInteractiveAuthentication=no ask nothing', async () => {
    const p = scripted([PASSWORD, CODE]);
    await expect(login('both', ['PasswordAuthentication=no', 'KbdInteractiveAuthentication=no'], p)).rejects.toBeInstanceOf(AuthError);
    expect(p.asked).toEqual([]);
  });

  it('secrets never reach -v output, even the protocol trace', async () => {
    const p = scripted([CODE, PASSWORD]);
    await login('both', [], p);
    const p2 = scripted([PASSWORD]);
    await login('pass', [], p2);
    const all = [...p.output, ...p2.output].join('\n');
    expect(all.length).toBeGreaterThan(0);
    expect(all).not.toContain(PASSWORD);
    expect(all).not.toContain(CODE);
  });
});
