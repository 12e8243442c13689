// `ferry cp alias:path` resolves the alias the way `ssh alias` would (HostName,
// Port, User, IdentityFile from -F or ~/.ssh/config), and `ferry ssh-config`
// prints what was resolved. Malformed configs are usage errors (exit 2).
import * as fs from 'node:fs/promises';
import * as path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { makeKey, makeTempDir } from '../support/cp-helpers.js';
import { runFerry } from '../support/run-ferry.js';
import { startSshd, type Sshd } from '../support/sshd.js';

let sd: Sshd;
let work: string;
let aliasKey: string; // the only key the server accepts

beforeAll(async () => {
  [sd, work] = await Promise.all([startSshd(), makeTempDir('cp-ssh-config')]);
  const k = await makeKey(work, 'alias_key');
  aliasKey = k.key;
  await fs.writeFile(path.join(sd.dir, 'authorized_keys'), `${k.pub}\n`);
});
afterAll(async () => {
  await sd?.stop();
  await fs.rm(work, { recursive: true, force: true });
});

async function writeConfig(dir: string, text: string): Promise<string> {
  const cfg = path.join(dir, 'ssh_config');
  await fs.writeFile(cfg, text);
  return cfg;
}

const aliasBlock = () => [
  'Host backup',
  '  HostName 127.0.0.1',
  `  Port ${sd.port}`,
  `  User ${sd.user}`,
  `  IdentityFile ${aliasKey}`,
  '  IdentitiesOnly yes',
  '',
].join('\n');

describe.concurrent('cp with a Host alias', () => {
  it('-F: HostName, Port, User and IdentityFile come from the alias (upload and download)', async () => {
    const dir = await fs.mkdtemp(`${work}/alias-`);
    const cfg = await writeConfig(dir, aliasBlock());
    await fs.writeFile(`${dir}/src.txt`, 'alias payload\n');
    const up = await runFerry(['cp', '-F', cfg, `${dir}/src.txt`, `backup:${dir}/up.txt`], { env: sd.env });
    expect(up.code, up.stderr).toBe(0);
    const down = await runFerry(['cp', '-F', cfg, `backup:${dir}/up.txt`, `${dir}/down.txt`], { env: sd.env });
    expect(down.code, down.stderr).toBe(0);
    expect(await fs.readFile(`${dir}/down.txt`, 'utf8')).toBe('alias payload\n');
  });

  it('~/.ssh/config is read when there is no -F, through an Include', async () => {
    const dir = await fs.mkdtemp(`${work}/home-config-`);
    const home = path.join(dir, 'home');
    await fs.mkdir(`${home}/.ssh/config.d`, { recursive: true });
    await fs.copyFile(sd.knownHosts, `${home}/.ssh/known_hosts`);
    await fs.writeFile(`${home}/.ssh/config`, 'Include config.d/*\n');
    await fs.writeFile(`${home}/.ssh/config.d/backup`, aliasBlock());
    await fs.writeFile(`${dir}/src.txt`, 'home config\n');
    const r = await runFerry(['cp', `${dir}/src.txt`, `backup:${dir}/dst.txt`], { env: { ...sd.env, HOME: home } });
    expect(r.code, r.stderr).toBe(0);
    expect(await fs.readFile(`${dir}/dst.txt`, 'utf8')).toBe('home config\n');
  });

  it('a malformed config stops cp with exit 2, naming file and line', async () => {
    const dir = await fs.mkdtemp(`${work}/malformed-`);
    const cfg = await writeConfig(dir, `${aliasBlock()}Host other\n  Port "2222\n`);
    await fs.writeFile(`${dir}/src.txt`, 'x\n');
    const r = await runFerry(['cp', '-F', cfg, `${dir}/src.txt`, `backup:${dir}/dst.txt`], { env: sd.env });
    expect(r.code, r.stderr).toBe(2);
    expect(r.stderr).toContain(`${cfg} line 8: unterminated quote`);
  });

  it('ProxyCommand is refused with a hint rather than silently ignored', async () => {
    const dir = await fs.mkdtemp(`${work}/proxycommand-`);
    const cfg = await writeConfig(dir, `Host backup\n  ProxyCommand nc %h %p\n${aliasBlock()}`);
    await fs.writeFile(`${dir}/src.txt`, 'x\n');
    const r = await runFerry(['cp', '-F', cfg, `${dir}/src.txt`, `backup:${dir}/dst.txt`], { env: sd.env });
    expect(r.code, r.stderr).toBe(2);
    expect(r.stderr).toContain('ProxyCommand is not supported');
    expect(r.stderr).toContain('ProxyJump');
  });
});

describe.concurrent('ferry ssh-config', () => {
  it('prints the resolved settings as lower-case "keyword value" lines', async () => {
    const dir = await fs.mkdtemp(`${work}/show-`);
    const cfg = await writeConfig(dir, `${aliasBlock()}Host *\n  StrictHostKeyChecking accept-new\n  ProxyJump bastion:2200\n`);
    const r = await runFerry(['ssh-config', '-F', cfg, '-o', 'Compression=yes', 'backup'], { env: sd.env });
    expect(r.code, r.stderr).toBe(0);
    const lines = r.stdout.split('\n');
    for (const want of ['host backup', 'hostname 127.0.0.1', `port ${sd.port}`, `user ${sd.user}`, `identityfile ${aliasKey}`,
      'identitiesonly yes', 'stricthostkeychecking accept-new', 'compression yes', 'proxyjump bastion:2200', 'batchmode no']) {
      expect(lines).toContain(want);
    }
    expect(lines.every((l) => l === '' || /^[a-z]+ \S/.test(l))).toBe(true);
  });

  it('user@host and -P override the file; -v tells which files and blocks were read', async () => {
    const dir = await fs.mkdtemp(`${work}/show-v-`);
    const cfg = await writeConfig(dir, `${aliasBlock()}Match exec "false"\n  Port 1\n`);
    const r = await runFerry(['ssh-config', '-v', '-F', cfg, '-P', '2022', 'alice@backup'], { env: sd.env });
    expect(r.code, r.stderr).toBe(0);
    expect(r.stdout).toContain('user alice\n');
    expect(r.stdout).toContain('port 2022\n');
    expect(r.stderr).toContain(`Reading configuration data ${cfg}`);
    expect(r.stderr).toContain(`${cfg} line 1: Applying options for backup`);
    expect(r.stderr).toContain('Match exec is not supported by ferry');
  });

  it('a malformed config is exit 2 naming file and line', async () => {
    const dir = await fs.mkdtemp(`${work}/show-bad-`);
    const cfg = await writeConfig(dir, 'Host x\n  Port twenty\n');
    const r = await runFerry(['ssh-config', '-F', cfg, 'x'], { env: sd.env });
    expect(r.code, r.stderr).toBe(2);
    expect(r.stderr).toContain(`${cfg} line 2: bad number "twenty" for port`);
    expect(r.stdout).toBe('');
  });
});
