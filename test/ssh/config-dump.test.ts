// `ferry ssh-config HOST` must agree with OpenSSH's own `ssh -G HOST` on the
// keywords ferry honours: the real ssh binary is the oracle.
import { execFile } from 'node:child_process';
import * as fs from 'node:fs/promises';
import * as os from 'node:os';
import * as path from 'node:path';
import { promisify } from 'node:util';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { resolveHost } from '../../src/ssh/config.js';
import { dumpHostSettings } from '../../src/ssh/config-dump.js';

const execFileP = promisify(execFile);

/** Keywords compared with ssh -G; algorithm lists differ by design (ssh2's set vs OpenSSH's). */
const COMPARED = [
  'host', 'user', 'hostname', 'port', 'batchmode', 'compression', 'hashknownhosts', 'identitiesonly',
  'kbdinteractiveauthentication', 'passwordauthentication', 'pubkeyauthentication', 'stricthostkeychecking',
  'numberofpasswordprompts', 'serveralivecountmax', 'serveraliveinterval', 'hostkeyalias', 'identityagent',
  'preferredauthentications', 'globalknownhostsfile', 'userknownhostsfile', 'connecttimeout', 'proxyjump',
];

let dir: string;
let cfg: string;

beforeAll(async () => {
  dir = await fs.mkdtemp(path.join(os.tmpdir(), 'ferry-ssh-g-'));
  const inc = path.join(dir, 'included.conf');
  await fs.writeFile(inc, 'Host inc\n  HostName 10.1.2.3\n  Port 2022\n  ServerAliveInterval 1m\n');
  cfg = path.join(dir, 'config');
  await fs.writeFile(cfg, `
Host web
  HostName %h.internal
  Port 2200
  User deploy
  IdentityFile ~/.ssh/web_key
  IdentityFile %d/keys/%r@%h
  StrictHostKeyChecking accept-new
  UserKnownHostsFile ~/kh1 /abs/kh2
  ProxyJump bastion,other:2222
  Ciphers aes256-ctr,aes128-ctr

Host *.corp !bad.corp
  User corp
  HashKnownHosts yes
  ConnectTimeout 1m
  ServerAliveInterval 30
  ServerAliveCountMax 5

Host bad.corp
  StrictHostKeyChecking no
  IdentityAgent none
  IdentitiesOnly yes

Match host *.internal
  Compression yes
  BatchMode yes

Host db?
  ProxyJump none
  PreferredAuthentications password,publickey
  PubkeyAuthentication no
  PasswordAuthentication no
  KbdInteractiveAuthentication no
  NumberOfPasswordPrompts 1
  HostKeyAlias dbkey
  IdentityAgent /run/agent.sock

Include ${inc}

Host *
  User fallback
  StrictHostKeyChecking off
  GlobalKnownHostsFile /etc/ssh/ssh_known_hosts
`);
});
afterAll(async () => {
  await fs.rm(dir, { recursive: true, force: true });
});

/** `keyword -> values` from `keyword value` lines; ~ paths normalised to "HOME". */
function collect(lines: [string, string][], home: string): Map<string, string[]> {
  const m = new Map<string, string[]>();
  for (const [k, v] of lines) m.set(k, [...(m.get(k) ?? []), v.split(home).join('HOME')]);
  return m;
}

async function sshG(dest: string, opts: string[]): Promise<Map<string, string[]>> {
  const { stdout } = await execFileP('ssh', ['-G', '-F', cfg, ...opts.flatMap((o) => ['-o', o]), dest], { env: { ...process.env } });
  const lines = stdout.split('\n').filter(Boolean).map((l): [string, string] => {
    const i = l.indexOf(' ');
    return [l.slice(0, i), l.slice(i + 1)];
  });
  return collect(lines, os.userInfo().homedir);
}

function ferryG(dest: string, opts: string[]): Map<string, string[]> {
  const at = dest.lastIndexOf('@');
  const s = resolveHost(at < 0 ? dest : dest.slice(at + 1), at < 0 ? undefined : dest.slice(0, at), { configFile: cfg, options: opts });
  return collect(dumpHostSettings(s), os.homedir());
}

describe('ferry ssh-config agrees with ssh -G', () => {
  it.each<[string, string[]]>([
    ['web', []],
    ['ops@web', ['Port=2', 'StrictHostKeyChecking=yes']],
    ['a.corp', []],
    ['bad.corp', []],
    ['db1', []],
    ['db12', []],
    ['inc', []],
    ['other', ['ProxyJump=j1,j2:22', 'UserKnownHostsFile=none', 'IdentityAgent=SSH_AUTH_SOCK']],
  ])('%s %j', async (dest, opts) => {
    const [theirs, ours] = [await sshG(dest, opts), ferryG(dest, opts)];
    for (const k of COMPARED) expect({ [k]: ours.get(k) }).toEqual({ [k]: theirs.get(k) });
    // Identity files as written (ssh -G prints them unexpanded), when configured.
    if (theirs.get('identityfile')?.some((f) => !/\/id_[a-z0-9_]+$/.test(f))) expect(ours.get('identityfile')).toEqual(theirs.get('identityfile'));
    // A plain Ciphers list of algorithms both implement comes out the same.
    if (dest.endsWith('web')) expect(ours.get('ciphers')).toEqual(theirs.get('ciphers'));
  });
});
