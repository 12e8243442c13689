// ProxyJump through real sshds: `bastion` forwards (the default), `target`
// does not. Each hop's host key is checked against known_hosts, and the
// connection to the next hop is carried in the previous hop's direct-tcpip
// channel. Both servers accept the bastion user's key.
import * as fs from 'node:fs/promises';
import * as path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { knownHostsLine, makeTempDir } from '../support/cp-helpers.js';
import { runFerry } from '../support/run-ferry.js';
import { sshdLog, startSshd, type Sshd } from '../support/sshd.js';

let bastion: Sshd;
let target: Sshd;
let work: string;
let env: NodeJS.ProcessEnv;

beforeAll(async () => {
  [bastion, target, work] = await Promise.all([
    startSshd(),
    startSshd({ extraConfig: ['AllowTcpForwarding no'] }),
    makeTempDir('proxy-jump'),
  ]);
  // One user (the bastion's HOME) who may log in to both and knows both host keys.
  await fs.appendFile(path.join(target.dir, 'authorized_keys'), await fs.readFile(`${bastion.clientKey}.pub`));
  await fs.writeFile(bastion.knownHosts, `${knownHostsLine(bastion)}\n${knownHostsLine(target)}\n`);
  env = bastion.env;
});
afterAll(async () => {
  await Promise.all([bastion?.stop(), target?.stop()]);
  await fs.rm(work, { recursive: true, force: true });
});

async function caseDir(name: string) {
  const dir = await fs.mkdtemp(`${work}/${name}-`);
  await fs.writeFile(`${dir}/src.txt`, `via ${name}\n`);
  return dir;
}

const hop = (sd: Sshd) => `${sd.user}@127.0.0.1:${sd.port}`;

describe.concurrent('ProxyJump', () => {
  it('-J reaches the target through the bastion, verifying both host keys', async () => {
    const dir = await caseDir('dash-j');
    const r = await runFerry(['cp', '-v', '-o', 'StrictHostKeyChecking=yes', '-J', hop(bastion), '-P', String(target.port), `${dir}/src.txt`, `127.0.0.1:${dir}/dst.txt`], { env });
    expect(r.code, r.stderr).toBe(0);
    expect(await fs.readFile(`${dir}/dst.txt`, 'utf8')).toBe('via dash-j\n');
    expect(r.stderr).toContain(`Jump host ${bastion.user}@127.0.0.1 port ${bastion.port}`);
    expect(r.stderr).toMatch(new RegExp(`Host '\\[127\\.0\\.0\\.1\\]:${bastion.port}' is known`));
    expect(r.stderr).toMatch(new RegExp(`Host '\\[127\\.0\\.0\\.1\\]:${target.port}' is known`));
    // The bastion opened the forwarded channel; the target saw a login.
    expect(sshdLog(bastion)).toMatch(/direct-tcpip|Accepted publickey/);
    expect(sshdLog(target)).toContain('Accepted publickey');
  });

  it('a chain of hops (-J a,b) goes through each in turn', async () => {
    const dir = await caseDir('chain');
    const r = await runFerry(['cp', '-v', '-J', `${hop(bastion)},${hop(bastion)}`, '-P', String(target.port), `${dir}/src.txt`, `127.0.0.1:${dir}/dst.txt`], { env });
    expect(r.code, r.stderr).toBe(0);
    expect(r.stderr.split(`Jump host ${bastion.user}@127.0.0.1 port ${bastion.port}`).length - 1).toBe(2);
  });

  it('ProxyJump from a -F config, with a Host alias for the bastion', async () => {
    const dir = await caseDir('config');
    const cfg = path.join(dir, 'config');
    await fs.writeFile(cfg, [
      'Host target', '  HostName 127.0.0.1', `  Port ${target.port}`, '  ProxyJump jumpbox',
      'Host jumpbox', '  HostName 127.0.0.1', `  Port ${bastion.port}`, `  User ${bastion.user}`, '  ProxyJump none', '',
    ].join('\n'));
    const r = await runFerry(['cp', '-F', cfg, `${dir}/src.txt`, `target:${dir}/dst.txt`], { env });
    expect(r.code, r.stderr).toBe(0);
    expect(await fs.readFile(`${dir}/dst.txt`, 'utf8')).toBe('via config\n');
  });

  it('an unknown jump host key stops the run (exit 4) naming the jump host', async () => {
    const dir = await caseDir('unknown-hop');
    const kh = path.join(dir, 'kh');
    await fs.writeFile(kh, `${knownHostsLine(target)}\n`);
    const cfg = path.join(dir, 'config');
    await fs.writeFile(cfg, `Host *\n  UserKnownHostsFile ${kh}\n  GlobalKnownHostsFile none\n  StrictHostKeyChecking yes\n`);
    const r = await runFerry(['cp', '-F', cfg, '-J', hop(bastion), '-P', String(target.port), `${dir}/src.txt`, `127.0.0.1:${dir}/dst.txt`], { env });
    expect(r.code, r.stderr).toBe(4);
    expect(r.stderr).toContain(`[127.0.0.1]:${bastion.port}`);
    expect(await fs.readdir(dir)).toEqual(['config', 'kh', 'src.txt']);
  });

  it('an unknown target key stops the run (exit 4) after the hop is verified', async () => {
    const dir = await caseDir('unknown-target');
    const kh = path.join(dir, 'kh');
    await fs.writeFile(kh, `${knownHostsLine(bastion)}\n`);
    const cfg = path.join(dir, 'config');
    await fs.writeFile(cfg, `Host *\n  UserKnownHostsFile ${kh}\n  GlobalKnownHostsFile none\n  StrictHostKeyChecking yes\n`);
    const r = await runFerry(['cp', '-F', cfg, '-J', hop(bastion), '-P', String(target.port), `${dir}/src.txt`, `127.0.0.1:${dir}/dst.txt`], { env });
    expect(r.code, r.stderr).toBe(4);
    expect(r.stderr).toContain(`[127.0.0.1]:${target.port}`);
  });

  it('a jump host that does not forward: exit 3 with a hint', async () => {
    const dir = await caseDir('no-forwarding');
    const r = await runFerry(['cp', '-J', hop(target), '-P', String(bastion.port), `${dir}/src.txt`, `127.0.0.1:${dir}/dst.txt`], { env });
    expect(r.code, r.stderr).toBe(3);
    expect(r.stderr).toMatch(/could not reach 127\.0\.0\.1 port \d+/);
    expect(r.stderr).toContain('AllowTcpForwarding');
  });
});
