// Host settings from the command line and ssh_config, first value winning as
// in OpenSSH. resolveHost reads ~ through os.homedir(), i.e. $HOME, so HOME
// points at a temp dir for the whole file.
import * as fs from 'node:fs/promises';
import * as os from 'node:os';
import * as path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { UsageError } from '../../src/errors.js';
import { parseOption, resolveHost } from '../../src/ssh/config.js';

let home: string;
let cfg: string;
const savedHome = process.env.HOME;
const localUser = os.userInfo().username;

const CONFIG = `
Host web
  HostName web.internal
  Port 2200
  User deploy
  IdentityFile ~/.ssh/web_key
  IdentityFile %d/keys/%r@%h
  StrictHostKeyChecking accept-new
  UserKnownHostsFile ~/kh1 ~/kh2
  ProxyJump bastion

Host pattern-*
  HostName %h.example.net

Host badport
  Port notanumber

Host *
  Port 2999
  User fallback
  BatchMode yes
  ConnectTimeout 7
  IdentityFile ~/.ssh/default_key
`;

beforeAll(async () => {
  home = await fs.mkdtemp(path.join(os.tmpdir(), 'ferry-config-'));
  process.env.HOME = home;
  cfg = `${home}/ssh_config`;
  await fs.writeFile(cfg, CONFIG);
});
afterAll(async () => {
  process.env.HOME = savedHome;
  await fs.rm(home, { recursive: true, force: true });
});

describe('parseOption', () => {
  it.each([
    ['Port=2222', ['port', '2222']],
    ['Port 2222', ['port', '2222']],
    ['  StrictHostKeyChecking = accept-new ', ['stricthostkeychecking', 'accept-new']],
    ['UserKnownHostsFile=/a b', ['userknownhostsfile', '/a b']],
  ])('%j', (opt, want) => {
    expect(parseOption(opt)).toEqual(want);
  });

  it.each(['Port', 'Port=', '=2222', '2222=Port', ''])('%j is a usage error', (opt) => {
    expect(() => parseOption(opt)).toThrow(UsageError);
  });
});

describe('resolveHost with -F', () => {
  it('takes a Host block, expanding ~, %d, %r and %h', () => {
    const s = resolveHost('web', undefined, { configFile: cfg });
    expect(s).toMatchObject({
      alias: 'web',
      hostName: 'web.internal',
      port: 2200,
      user: 'deploy',
      strictHostKeyChecking: 'accept-new',
      userKnownHostsFiles: [`${home}/kh1`, `${home}/kh2`],
      proxyJump: 'bastion',
      batchMode: true, // from Host *: first value wins, later blocks fill gaps
      connectTimeout: 7,
    });
    expect(s.identityFiles).toEqual([`${home}/.ssh/web_key`, `${home}/keys/deploy@web.internal`, `${home}/.ssh/default_key`]);
  });

  it('falls back to Host * and expands %h in HostName', () => {
    expect(resolveHost('pattern-x', undefined, { configFile: cfg })).toMatchObject({
      hostName: 'pattern-x.example.net',
      port: 2999,
      user: 'fallback',
    });
  });

  it('-o beats the file; the first -o of a key wins', () => {
    const s = resolveHost('web', undefined, {
      configFile: cfg,
      options: ['Port=2022', 'Port=2023', 'User=ops', 'StrictHostKeyChecking=no', 'HostName=10.0.0.9'],
    });
    expect(s).toMatchObject({ port: 2022, user: 'ops', strictHostKeyChecking: 'no', hostName: '10.0.0.9' });
  });

  it('-P beats -o and the file; user@ beats -o User and the file', () => {
    const s = resolveHost('web', 'alice', { configFile: cfg, port: 2424, options: ['Port=2022', 'User=ops'] });
    expect(s).toMatchObject({ port: 2424, user: 'alice' });
    expect(s.identityFiles).toContain(`${home}/keys/alice@web.internal`);
  });

  it('-i comes first, then -o IdentityFile (all of them), then the file', () => {
    const s = resolveHost('web', undefined, {
      configFile: cfg,
      identityFiles: ['/cli/key'],
      options: ['IdentityFile=/o/one', 'IdentityFile=~/o-two'],
    });
    expect(s.identityFiles.slice(0, 4)).toEqual(['/cli/key', '/o/one', `${home}/o-two`, `${home}/.ssh/web_key`]);
  });

  it('-o UserKnownHostsFile may name several files', () => {
    const s = resolveHost('web', undefined, { configFile: cfg, options: ['UserKnownHostsFile=/a ~/b'] });
    expect(s.userKnownHostsFiles).toEqual(['/a', `${home}/b`]);
  });

  it.each<[string, string]>([
    ['yes', 'yes'],
    ['no', 'no'],
    ['off', 'no'],
    ['accept-new', 'accept-new'],
    ['ask', 'ask'],
  ])('StrictHostKeyChecking %s -> %s', (v, want) => {
    expect(resolveHost('web', undefined, { configFile: cfg, options: [`StrictHostKeyChecking=${v}`] }).strictHostKeyChecking).toBe(want);
  });

  it('an unsupported StrictHostKeyChecking value is a usage error, as in OpenSSH', () => {
    expect(() => resolveHost('web', undefined, { configFile: cfg, options: ['StrictHostKeyChecking=nonsense'] })).toThrow(UsageError);
  });

  it('a bad port in the file is a usage error', () => {
    expect(() => resolveHost('badport', undefined, { configFile: cfg })).toThrow(UsageError);
  });

  it('a missing -F file is a usage error', () => {
    expect(() => resolveHost('web', undefined, { configFile: `${home}/nope` })).toThrow(UsageError);
  });

  it('-F replaces ~/.ssh/config', async () => {
    await fs.mkdir(`${home}/.ssh`, { recursive: true });
    await fs.writeFile(`${home}/.ssh/config`, 'Host web\n  Port 1111\n');
    try {
      expect(resolveHost('web', undefined, { configFile: cfg }).port).toBe(2200);
    } finally {
      await fs.rm(`${home}/.ssh/config`);
    }
  });
});

describe('resolveHost without -F', () => {
  it('reads $HOME/.ssh/config', async () => {
    await fs.mkdir(`${home}/.ssh`, { recursive: true });
    await fs.writeFile(`${home}/.ssh/config`, 'Host myalias\n  HostName real.example\n  Port 2345\n  User bob\n');
    try {
      expect(resolveHost('myalias', undefined, {})).toMatchObject({ hostName: 'real.example', port: 2345, user: 'bob' });
    } finally {
      await fs.rm(`${home}/.ssh/config`);
    }
  });

  it("defaults: port 22, the local user, ask, and known_hosts under $HOME", () => {
    const s = resolveHost('plain.example', undefined, { options: ['GlobalKnownHostsFile=/dev/null'] });
    expect(s).toMatchObject({
      hostName: 'plain.example',
      port: 22,
      user: localUser,
      strictHostKeyChecking: 'ask',
      batchMode: false,
      userKnownHostsFiles: [`${home}/.ssh/known_hosts`, `${home}/.ssh/known_hosts2`],
      globalKnownHostsFiles: ['/dev/null'],
    });
  });
});
