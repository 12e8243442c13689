// scp's operand syntax, parsed without touching the network.
import { describe, expect, it } from 'vitest';
import { UsageError } from '../../src/errors.js';
import { hostKey, parseLocation, type Location } from '../../src/commands/location.js';

const remote = (raw: string) => {
  const l = parseLocation(raw);
  if (l.kind !== 'remote') throw new Error(`${raw} parsed as local`);
  return l;
};

describe('parseLocation: local paths', () => {
  it.each(['file', '/abs/path', './a:b', 'dir/a:b', '/x/host:y', ':leading-colon', ':', '::1:/x', '[::1]', 'a b'])('%s is local', (raw) => {
    expect(parseLocation(raw)).toEqual({ kind: 'local', path: raw, raw });
  });
});

describe('parseLocation: host:path', () => {
  it.each<[string, Partial<Location>]>([
    ['host:path', { host: 'host', user: undefined, path: 'path' }],
    ['host:/abs/path', { host: 'host', path: '/abs/path' }],
    ['user@host:path', { host: 'host', user: 'user', path: 'path' }],
    ['a@b@host:x', { host: 'host', user: 'a@b', path: 'x' }],
    ['host:a:b', { host: 'host', path: 'a:b' }],
    ['host:', { host: 'host', path: '.' }],
    ['host:~', { host: 'host', path: '.' }],
    ['host:~/', { host: 'host', path: '.' }],
    ['host:~/x/y', { host: 'host', path: 'x/y' }],
    ['host:$(touch pwned)', { host: 'host', path: '$(touch pwned)' }],
    ['[::1]:path', { host: '::1', path: 'path' }],
    ['user@[::1]:/p', { host: '::1', user: 'user', path: '/p' }],
    ['[fe80::1%eth0]:', { host: 'fe80::1%eth0', path: '.' }],
  ])('%s', (raw, want) => {
    const l = remote(raw);
    expect(l).toMatchObject({ kind: 'remote', raw, ...want });
    expect(l.port).toBeUndefined();
  });

  it.each([[''], ['@host:x'], ['[]:x']])('%j is a usage error', (raw) => {
    expect(() => parseLocation(raw)).toThrow(UsageError);
  });
});

describe('parseLocation: scp:// URIs', () => {
  it.each<[string, Partial<Location>]>([
    ['scp://host', { host: 'host', path: '.', port: undefined, user: undefined }],
    ['scp://host/', { host: 'host', path: '.' }],
    ['scp://user@host:2222/rel/path', { host: 'host', user: 'user', port: 2222, path: 'rel/path' }],
    ['scp://host:2222//abs/path', { host: 'host', port: 2222, path: '/abs/path' }],
    ['scp://[::1]:2222/x', { host: '::1', port: 2222, path: 'x' }],
    ['scp://host/a%20b', { host: 'host', path: 'a b' }],
    ['scp://me%40corp@host/x', { host: 'host', user: 'me@corp', path: 'x' }],
  ])('%s', (raw, want) => {
    expect(remote(raw)).toMatchObject({ kind: 'remote', raw, ...want });
  });

  it.each(['scp://', 'scp:///x', 'scp://[]/x', 'scp://host:0/x', 'scp://host:70000/x', 'scp://user;fingerprint=SHA256:x@host/x'])(
    '%s is a usage error',
    (raw) => {
      expect(() => parseLocation(raw)).toThrow(UsageError);
    },
  );
});

describe('hostKey', () => {
  it('shares a connection only for the same user, host and port', () => {
    const k = (raw: string) => hostKey(remote(raw));
    expect(k('u@h:a')).toBe(k('u@h:b'));
    expect(k('scp://u@h:22/a')).toBe(k('scp://u@h:22/b'));
    expect(k('u@h:a')).not.toBe(k('v@h:a'));
    expect(k('u@h:a')).not.toBe(k('u@g:a'));
    expect(k('scp://u@h:22/a')).not.toBe(k('scp://u@h:23/a'));
  });
});
