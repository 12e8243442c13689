// Self-test for the sshd harness, using the stock OpenSSH clients so a harness
// bug can't hide behind a ferry bug (or vice versa).
import { spawnSync } from 'node:child_process';
import { existsSync, readFileSync } from 'node:fs';
import * as net from 'node:net';
import { describe, it, expect, beforeAll, afterAll } from 'vitest';
import { alive } from './ssh-agent.js';
import { startSshd, sshdLog, sha256File, freePort, type Sshd } from './sshd.js';

function sshOpts(sd: Sshd): string[] {
  return [
    '-F', '/dev/null',
    '-o', 'BatchMode=yes',
    '-o', `UserKnownHostsFile=${sd.knownHosts}`,
    '-o', 'GlobalKnownHostsFile=/dev/null',
    '-o', 'StrictHostKeyChecking=yes',
    '-i', sd.clientKey,
  ];
}

function ssh(sd: Sshd) {
  return spawnSync('ssh', [...sshOpts(sd), '-p', String(sd.port), `${sd.user}@${sd.host}`, 'true'], {
    env: sd.env, encoding: 'utf8', timeout: 20_000,
  });
}

function sftpLs(sd: Sshd, dir: string) {
  const host = sd.host.includes(':') ? `[${sd.host}]` : sd.host;
  return spawnSync('sftp', [...sshOpts(sd), '-P', String(sd.port), '-b', '-', `${sd.user}@${host}`], {
    env: sd.env, encoding: 'utf8', input: `ls -1 ${dir}\n`, timeout: 20_000,
  });
}

async function ipv6LoopbackWorks(): Promise<boolean> {
  return new Promise((resolve) => {
    const srv = net.createServer();
    srv.once('error', () => resolve(false));
    srv.listen(0, '::1', () => srv.close(() => resolve(true)));
  });
}
const hasIpv6 = await ipv6LoopbackWorks();

function describeHarness(listen: '127.0.0.1' | '::1') {
  let sd: Sshd;
  beforeAll(async () => {
    sd = await startSshd({ listen });
  });
  afterAll(async () => {
    await sd?.stop();
  });

  it('pins the host key and authorizes the client key', () => {
    expect(sd.host).toBe(listen);
    expect(readFileSync(sd.knownHosts, 'utf8')).toBe(
      `[${listen}]:${sd.port} ${sd.hostKeyPub.split(' ').slice(0, 2).join(' ')}\n`,
    );
    expect(sd.env.HOME).toBe(sd.home);
    expect(sd.env.SSH_AUTH_SOCK).toBeUndefined();
    expect(readFileSync(`${sd.dir}/sshd.pid`, 'utf8').trim()).toBe(String(sd.pid));
  });

  it('accepts ssh login with the generated key', () => {
    const r = ssh(sd);
    expect(r.status, `${r.stderr}\n--- sshd log ---\n${sshdLog(sd)}`).toBe(0);
  });

  it('serves sftp', () => {
    const r = sftpLs(sd, sd.dir);
    expect(r.status, `${r.stderr}\n--- sshd log ---\n${sshdLog(sd)}`).toBe(0);
    expect(r.stdout).toContain('sshd_config');
  });

  it('stop() kills sshd, removes its dirs, and is idempotent', async () => {
    const { pid, dir, home } = sd;
    expect(alive(pid)).toBe(true);
    await Promise.all([sd.stop(), sd.stop()]);
    await sd.stop();
    expect(alive(pid)).toBe(false);
    expect(existsSync(dir)).toBe(false);
    expect(existsSync(home)).toBe(false);
  });
}

describe('sshd harness on 127.0.0.1', () => describeHarness('127.0.0.1'));

describe.skipIf(!hasIpv6)('sshd harness on ::1 (skipped: IPv6 loopback unavailable on this machine)', () =>
  describeHarness('::1'),
);

describe('sshd harness options', () => {
  it('passes sftpServerArgs through (-P denies requests even for root)', async () => {
    const sd = await startSshd({ sftpServerArgs: ['-P', 'opendir'] });
    try {
      const r = sftpLs(sd, sd.dir);
      expect(r.status, r.stderr).not.toBe(0);
      expect(r.stderr).toMatch(/denied|failure/i);
    } finally {
      await sd.stop();
    }
  });

  it('lets extraConfig override harness defaults (sshd keeps the first value)', async () => {
    const sd = await startSshd({ extraConfig: ['PubkeyAuthentication no'] });
    try {
      expect(ssh(sd).status).not.toBe(0);
    } finally {
      await sd.stop();
    }
  });

  it('runs several sshds side by side on distinct ports', async () => {
    const sds = await Promise.all([startSshd(), startSshd(), startSshd()]);
    try {
      expect(new Set(sds.map((s) => s.port)).size).toBe(3);
      for (const s of sds) expect(ssh(s).status).toBe(0);
    } finally {
      await Promise.all(sds.map((s) => s.stop()));
    }
  });

  it('rejects sftp-server args the shell would mangle', async () => {
    await expect(startSshd({ sftpServerArgs: ['-P', 'open; rm -rf /'] })).rejects.toThrow(/unsafe/);
  });

  it('freePort and sha256File work', async () => {
    expect(await freePort()).toBeGreaterThan(0);
    // sha256 of the empty file
    expect(await sha256File('/dev/null')).toBe('e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855');
  });
});
