import { describe, expect, it } from 'vitest';
import { parseDestination } from '../../src/commands/copy-id.js';
import { UsageError } from '../../src/errors.js';

describe('copy-id destination', () => {
  it('takes [user@]host and ssh://[user@]host[:port], as ssh does', () => {
    expect(parseDestination('host')).toEqual({ user: undefined, host: 'host', port: undefined });
    expect(parseDestination('me@host')).toEqual({ user: 'me', host: 'host', port: undefined });
    expect(parseDestination('a@b@host')).toEqual({ user: 'a@b', host: 'host', port: undefined });
    expect(parseDestination('me@[::1]')).toEqual({ user: 'me', host: '::1', port: undefined });
    expect(parseDestination('ssh://me@host:2222')).toEqual({ user: 'me', host: 'host', port: 2222 });
    // ssh-copy-id drops a trailing colon.
    expect(parseDestination('me@host:')).toEqual({ user: 'me', host: 'host', port: undefined });
  });

  it('refuses an empty user or host, blanks, and option-like names', () => {
    for (const bad of ['', '@host', 'me@', 'me@ho st', '-oProxyCommand=x', 'ssh://me@host:0', 'ssh://me@host/path']) {
      expect(() => parseDestination(bad), bad).toThrow(UsageError);
    }
  });
});
