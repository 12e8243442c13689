// ssh_config reading as OpenSSH's readconf.c does it: Include, Match,
// negation, first value wins, -o on top, tokens, and malformed lines named by
// file and line. HOME points at a temp dir, so ~ is that dir.
import * as fs from 'node:fs/promises';
import { existsSync, readFileSync } from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { UsageError } from '../../src/errors.js';
import { resolveHost, type SshCliOptions } from '../../src/ssh/config.js';
import { includeFiles } from '../../src/ssh/config-file.js';

let home: string;
const savedHome = process.env.HOME;

beforeAll(async () => {
  home = await fs.mkdtemp(path.join(os.tmpdir(), 'ferry-config-file-'));
  process.env.HOME = home;
  await fs.mkdir(`${home}/.ssh/conf.d`, { recursive: true });
});
afterAll(async () => {
  process.env.HOME = savedHome;
  await fs.rm(home, { recursive: true, force: true });
});

let n = 0;
/** Write a config file under HOME and return its path. */
async function config(text: string, name = `cfg${n++}`): Promise<string> {
  const file = path.join(home, name);
  await fs.mkdir(path.dirname(file), { recursive: true });
  await fs.writeFile(file, text);
  return file;
}

function resolve(alias: string, cfg: string, more: SshCliOptions = {}, user?: string) {
  const notes: string[] = [];
  const s = resolveHost(alias, user, { configFile: cfg, ...more }, { debug: (m) => notes.push(m) });
  return { s, notes };
}

function errorOf(fn: () => unknown): UsageError {
  try {
    fn();
  } catch (err) {
    expect(err).toBeInstanceOf(UsageError);
    return err as UsageError;
  }
  throw new Error('expected a UsageError');
}

describe('Host patterns and first value wins', () => {
  it('the first matching block that sets a keyword wins; later blocks fill gaps', async () => {
    const cfg = await config('Host web\n  Port 2200\nHost *\n  Port 22\n  User fallback\n');
    expect(resolve('web', cfg).s).toMatchObject({ port: 2200, user: 'fallback' });
    expect(resolve('other', cfg).s).toMatchObject({ port: 22, user: 'fallback' });
  });

  it('top-level lines before any Host apply to every host', async () => {
    const cfg = await config('User top\nHost web\n  User web\n');
    expect(resolve('web', cfg).s.user).toBe('top');
  });

  it('! excludes a host from a block, whatever else on the line matches', async () => {
    const cfg = await config('Host *.corp !bad.corp\n  Port 1\nHost *\n  Port 2\n');
    expect(resolve('good.corp', cfg).s.port).toBe(1);
    expect(resolve('bad.corp', cfg).s.port).toBe(2);
  });

  it('? is exactly one character; patterns ignore case', async () => {
    const cfg = await config('Host db?\n  Port 3\nHost *\n  Port 4\n');
    expect(resolve('db1', cfg).s.port).toBe(3);
    expect(resolve('db', cfg).s.port).toBe(4);
    expect(resolve('db12', cfg).s.port).toBe(4);
    expect(resolve('DB1', cfg).s.port).toBe(3);
  });

  it('Host matches the name typed, not the HostName', async () => {
    const cfg = await config('Host alias\n  HostName real.example\nHost real.example\n  Port 5\n');
    expect(resolve('alias', cfg).s).toMatchObject({ hostName: 'real.example', port: 22 });
  });

  it('unknown keywords are ignored, as are keywords ferry does not use', async () => {
    const cfg = await config('Host *\n  FooBarBaz 1\n  GSSAPIAuthentication yes\n  SendEnv LANG LC_*\n  Port 6\n');
    expect(resolve('x', cfg).s.port).toBe(6);
  });

  it('"Key=Value" and quoted values are read as OpenSSH reads them', async () => {
    const cfg = await config('Host=x\n  Port=7\n  IdentityFile "~/with space/key"\n');
    expect(resolve('x', cfg).s).toMatchObject({ port: 7, identityFiles: [`${home}/with space/key`] });
  });
});

describe('-o and the other command-line options', () => {
  it('-o beats the file; -P and user@ beat -o; -J beats ProxyJump', async () => {
    const cfg = await config('Host web\n  Port 2200\n  User deploy\n  ProxyJump bastion\n');
    expect(resolve('web', cfg, { options: ['Port=1', 'User=ops'] }).s).toMatchObject({ port: 1, user: 'ops' });
    expect(resolve('web', cfg, { options: ['Port=1'], port: 9 }, 'me').s).toMatchObject({ port: 9, user: 'me' });
    expect(resolve('web', cfg, { jump: 'other:2' }).s.proxyJump).toBe('other:2');
    expect(resolve('web', cfg, { options: ['ProxyJump=none'] }).s.proxyJump).toBeUndefined();
  });

  it('an -o keyword ferry does not use is ignored, with a -v note', () => {
    const { s, notes } = resolve('x', 'none', { options: ['ForwardAgent=yes', 'Port=5'] });
    expect(s.port).toBe(5);
    expect(notes).toContain('-o ForwardAgent=yes: ferry does not use forwardagent; ignored');
  });

  it('-o Host, Match and Include are refused', () => {
    for (const o of ['Host=x', 'Match=all', 'Include=/etc/passwd']) {
      expect(errorOf(() => resolveHost('x', undefined, { configFile: 'none', options: [o] })).message).toContain(`-o ${o}`);
    }
  });

  it('-c and -C set Ciphers and Compression first', async () => {
    const cfg = await config('Host *\n  Ciphers aes128-ctr\n  Compression no\n');
    const { s } = resolve('x', cfg, { cipher: 'aes256-ctr', compression: true });
    expect(s).toMatchObject({ ciphers: ['aes256-ctr'], compression: true });
  });

  it('-F none reads no file at all', () => {
    expect(resolveHost('x', undefined, { configFile: 'none' })).toMatchObject({ hostName: 'x', port: 22, hashKnownHosts: false });
  });
});

describe('Match', () => {
  it('Match host compares against the HostName set so far', async () => {
    const cfg = await config('Host alias\n  HostName %h.internal\nMatch host *.internal\n  User matched\n');
    expect(resolve('alias', cfg).s).toMatchObject({ hostName: 'alias.internal', user: 'matched' });
    expect(resolve('alias.internal', cfg).s.user).toBe('matched');
    expect(resolve('other', cfg).s.user).not.toBe('matched');
  });

  it('Match all, and negated criteria', async () => {
    const cfg = await config('Match !host web\n  Port 10\nMatch all\n  Port 11\n');
    expect(resolve('db', cfg).s.port).toBe(10);
    expect(resolve('web', cfg).s.port).toBe(11);
  });

  it('every criterion on the line must match', async () => {
    const cfg = await config('Match host web all\n  Port 12\nMatch host web !host w*\n  Port 13\n');
    expect(resolve('web', cfg).s.port).toBe(12);
  });

  it('other criteria never match, exec is never run, and -v says so', async () => {
    const marker = `${home}/exec-ran`;
    const cfg = await config(`Match exec "touch ${marker}"\n  Port 14\nMatch user root\n  Port 15\nMatch originalhost x\n  Port 16\n`);
    const { s, notes } = resolve('x', cfg);
    expect(s.port).toBe(22);
    expect(existsSync(marker)).toBe(false);
    expect(notes.filter((m) => /not supported/.test(m))).toHaveLength(3);
    expect(notes.join('\n')).toContain(`${cfg} line 1: Match exec`);
  });
});

describe('Include', () => {
  it('relative globs are read from ~/.ssh, in sorted order, in place', async () => {
    await fs.writeFile(`${home}/.ssh/conf.d/b.conf`, 'Host inc\n  Port 21\n  User b\n');
    await fs.writeFile(`${home}/.ssh/conf.d/a.conf`, 'Host inc\n  User a\n');
    await fs.writeFile(`${home}/.ssh/conf.d/skip.txt`, 'Host inc\n  User skip\n');
    const cfg = await config('Include conf.d/*.conf\nHost inc\n  Port 20\n  HostName inc.example\n');
    expect(resolve('inc', cfg).s).toMatchObject({ user: 'a', port: 21, hostName: 'inc.example' });
  });

  it('globs as glob(3): * ? [set] [!set] within a component, dot files only for a leading dot, files only, sorted', async () => {
    const d = path.join(home, '.ssh', 'globs');
    await fs.mkdir(path.join(d, 'dir.conf'), { recursive: true });
    for (const f of ['b.conf', 'a.conf', '.hidden.conf', 'c.txt', 'ab.conf']) await fs.writeFile(path.join(d, f), '');
    const names = (pattern: string) => includeFiles(pattern, home, false).map((f) => path.relative(d, f));
    expect(names('globs/*.conf')).toEqual(['a.conf', 'ab.conf', 'b.conf']);
    expect(names('globs/?.conf')).toEqual(['a.conf', 'b.conf']);
    expect(names('globs/[!a].conf')).toEqual(['b.conf']);
    expect(names('globs/.*')).toEqual(['.hidden.conf']);
    expect(names(`${home}/.ssh/g*/a*.conf`)).toEqual(['a.conf', 'ab.conf']);
    expect(names('~/.ssh/globs/c.txt')).toEqual(['c.txt']);
    expect(names('globs/none-*')).toEqual([]);
  });

  it('absolute and ~ paths work; a pattern matching nothing is no error', async () => {
    const abs = await config('Host abs\n  Port 22022\n', 'extra/abs.conf');
    const cfg = await config(`Include ${abs} ~/nothing-here/*.conf\n`);
    const { s, notes } = resolve('abs', cfg);
    expect(s.port).toBe(22022);
    expect(notes.some((m) => m.includes('matches no files'))).toBe(true);
  });

  it('inside a Host block it applies only to that host, and the block goes on after it', async () => {
    const inc = await config('Port 23\nHost *\n  User from-include\n', 'extra/in-block.conf');
    const cfg = await config(`Host only\n  Include ${inc}\n  Compression yes\nHost *\n  User last\n`);
    expect(resolve('only', cfg).s).toMatchObject({ port: 23, user: 'from-include', compression: true });
    // Not even the include's own "Host *" applies for a host the outer block excludes.
    expect(resolve('other', cfg).s).toMatchObject({ port: 22, user: 'last', compression: false });
  });

  it('an Include loop is an error, not a hang', async () => {
    const cfg = path.join(home, 'loop.conf');
    await fs.writeFile(cfg, `Include ${cfg}\n`);
    expect(errorOf(() => resolve('x', cfg)).message).toMatch(/nested too deeply/);
  });
});

describe('tokens', () => {
  it('HostName expands %h; IdentityFile ~ %d %u %r %h %%', async () => {
    const cfg = await config('Host t\n  HostName %h.example\n  User remote\n  IdentityFile ~/.ssh/%h_%r\n  IdentityFile %d/%u/100%%\n');
    const { s } = resolve('t', cfg);
    expect(s.hostName).toBe('t.example');
    expect(s.identityFiles).toEqual([`${home}/.ssh/t.example_remote`, `${home}/${os.userInfo().username}/100%`]);
    expect(s.identityFileSpecs).toEqual(['~/.ssh/%h_%r', '%d/%u/100%%']);
  });

  it('${VAR} is expanded; an unset one or an unknown %token is an error naming the line', async () => {
    process.env.FERRY_TEST_KEYDIR = '/keys';
    const cfg = await config('Host v\n  IdentityFile ${FERRY_TEST_KEYDIR}/k\nHost unset\n  IdentityFile ${FERRY_NOT_SET_ANYWHERE}/k\nHost bad\n  IdentityFile ~/%Q\n');
    expect(resolve('v', cfg).s.identityFiles).toEqual(['/keys/k']);
    expect(errorOf(() => resolve('unset', cfg)).message).toContain(`${cfg} line 4`);
    expect(errorOf(() => resolve('bad', cfg)).message).toMatch(/line 6: unknown token %Q/);
  });

  it('-i comes first, then -o IdentityFile, then the files; none configured means OpenSSH\'s defaults', async () => {
    const cfg = await config('Host *\n  IdentityFile /file/key\n');
    expect(resolve('x', cfg, { identityFiles: ['/cli/key'], options: ['IdentityFile=/o/key'] }).s.identityFiles).toEqual(['/cli/key', '/o/key', '/file/key']);
    const none = resolveHost('x', undefined, { configFile: 'none' });
    expect(none.identityFilesExplicit).toBe(false);
    expect(none.identityFiles).toContain(`${home}/.ssh/id_ed25519`);
    expect(none.identityFileSpecs).toContain('~/.ssh/id_ed25519');
  });
});

describe('values', () => {
  it('IdentitiesOnly and IdentityAgent (none, SSH_AUTH_SOCK, $VAR, path)', async () => {
    const cfg = await config('Host a\n  IdentityAgent none\nHost b\n  IdentityAgent SSH_AUTH_SOCK\nHost c\n  IdentityAgent $MY_SOCK\n' +
      'Host d\n  IdentityAgent ~/agent.sock\n  IdentitiesOnly yes\n');
    expect(resolve('a', cfg).s.identityAgent).toBe('none');
    expect(resolve('b', cfg).s.identityAgent).toBe('SSH_AUTH_SOCK');
    expect(resolve('c', cfg).s.identityAgent).toBe('$MY_SOCK');
    expect(resolve('d', cfg).s).toMatchObject({ identityAgent: `${home}/agent.sock`, identitiesOnly: true });
    expect(resolve('e', cfg).s).toMatchObject({ identityAgent: undefined, identitiesOnly: false });
  });

  it('ProxyJump chains and none; ProxyCommand is refused unless none', async () => {
    const cfg = await config('Host j\n  ProxyJump u@b1:2201,ssh://b2\nHost n\n  ProxyJump none\n  ProxyCommand nc %h %p\n' +
      'Host c\n  ProxyCommand nc %h %p\nHost cn\n  ProxyCommand none\nHost bad\n  ProxyJump a:b:c\n');
    expect(resolve('j', cfg).s.proxyJump).toBe('u@b1:2201,ssh://b2');
    expect(resolve('n', cfg).s.proxyJump).toBeUndefined();
    expect(errorOf(() => resolve('c', cfg)).message).toMatch(/line 7: ProxyCommand is not supported/);
    expect(resolve('cn', cfg).s.proxyJump).toBeUndefined();
    expect(errorOf(() => resolve('bad', cfg)).message).toContain('line 11: bad jump host "a:b:c"');
  });

  it('StrictHostKeyChecking, known_hosts files (several, none), HashKnownHosts, BatchMode', async () => {
    const cfg = await config('Host *\n  StrictHostKeyChecking off\n  UserKnownHostsFile ~/kh1 /abs/kh2\n  GlobalKnownHostsFile none\n' +
      '  HashKnownHosts yes\n  BatchMode yes\n  HostKeyAlias alias-key\n');
    expect(resolve('x', cfg).s).toMatchObject({
      strictHostKeyChecking: 'no', userKnownHostsFiles: [`${home}/kh1`, '/abs/kh2'], globalKnownHostsFiles: [],
      hashKnownHosts: true, batchMode: true, hostKeyAlias: 'alias-key',
    });
    expect(resolve('x', cfg, { options: ['UserKnownHostsFile=none', 'StrictHostKeyChecking=accept-new'] }).s)
      .toMatchObject({ userKnownHostsFiles: [], strictHostKeyChecking: 'accept-new' });
  });

  it('times, keepalives and auth settings', async () => {
    const cfg = await config('Host *\n  ConnectTimeout 1m30s\n  ServerAliveInterval 15\n  ServerAliveCountMax 2\n' +
      '  PreferredAuthentications keyboard-interactive,publickey\n  PubkeyAuthentication host-bound\n' +
      '  PasswordAuthentication no\n  KbdInteractiveAuthentication no\n  NumberOfPasswordPrompts 1\n');
    expect(resolve('x', cfg).s).toMatchObject({
      connectTimeout: 90, serverAliveInterval: 15, serverAliveCountMax: 2,
      preferredAuthentications: ['keyboard-interactive', 'publickey'], pubkeyAuthentication: true,
      passwordAuthentication: false, kbdInteractiveAuthentication: false, numberOfPasswordPrompts: 1,
    });
    expect(resolve('x', cfg, { options: ['ConnectTimeout=none', 'PubkeyAuthentication=no'] }).s)
      .toMatchObject({ connectTimeout: undefined, pubkeyAuthentication: false });
  });

  it('Ciphers, KexAlgorithms, HostKeyAlgorithms and MACs in OpenSSH list syntax', async () => {
    const cfg = await config('Host none\n  Ciphers bogus-cipher\n' +
      'Host *\n  Ciphers aes256-ctr,aes128-ctr\n  KexAlgorithms -ecdh-*\n  HostKeyAlgorithms ^ssh-ed25519\n  MACs hmac-sha2-256\n');
    const { s } = resolve('x', cfg);
    expect(s.algorithms.cipher).toEqual(['aes256-ctr', 'aes128-ctr']);
    expect(s.algorithms.kex!.some((k) => k.startsWith('ecdh-'))).toBe(false);
    expect(s.algorithms.serverHostKey![0]).toBe('ssh-ed25519');
    expect(s.algorithms.hmac).toEqual(['hmac-sha2-256']);
    expect(errorOf(() => resolve('none', cfg)).message).toMatch(/line 2: none of the ciphers/);
  });
});

describe('malformed files', () => {
  it.each<[string, string, RegExp]>([
    ['Host *\n  Port 22\n  HostName "unterminated\n', 'x', /line 3: unterminated quote/],
    ['Host *\nMatch host\n  Port 1\n', 'x', /line 2: .*missing/i],
    ['Host\n', 'x', /line 1: /],
    ['Host *\n  Port abc\n', 'x', /line 2: bad number "abc" for port/],
    ['Host *\n  BatchMode maybe\n', 'x', /line 2: unsupported value "maybe" for batchmode/],
    ['Host *\n  StrictHostKeyChecking sometimes\n', 'x', /line 2: unsupported value "sometimes"/],
    ['Host *\n  ConnectTimeout soon\n', 'x', /line 2: bad time value/],
    ['\n\n# comment\nHost *\n  HostName\n', 'x', /line 5: hostname: missing argument/],
  ])('%j is an error naming file and line', async (text, alias, want) => {
    const cfg = await config(text);
    const err = errorOf(() => resolve(alias, cfg));
    expect(err.message).toContain(cfg);
    expect(err.message).toMatch(want);
  });

  it('a syntax error anywhere in the file stops it, even in a block that does not apply', async () => {
    const cfg = await config('Host web\n  Port 1\nHost other\n  User "oops\n');
    expect(errorOf(() => resolve('web', cfg)).message).toContain(`${cfg} line 4`);
  });

  it('a bad -o value names the option', () => {
    expect(errorOf(() => resolveHost('x', undefined, { configFile: 'none', options: ['Port=http'] })).message)
      .toBe('command-line option -o Port=http: bad number "http" for port (1-65535)');
  });
});

describe('without -F: ~/.ssh/config, then /etc/ssh/ssh_config', () => {
  const system = existsSync('/etc/ssh/ssh_config') ? readFileSync('/etc/ssh/ssh_config', 'utf8') : '';
  it.runIf(/^\s*HashKnownHosts\s+yes/im.test(system))('the user file wins over the system file', async () => {
    await fs.writeFile(`${home}/.ssh/config`, 'Host userwins\n  HashKnownHosts no\n');
    try {
      expect(resolveHost('userwins', undefined, {}).hashKnownHosts).toBe(false);
      expect(resolveHost('other', undefined, {}).hashKnownHosts).toBe(true);
    } finally {
      await fs.rm(`${home}/.ssh/config`);
    }
  });
});
