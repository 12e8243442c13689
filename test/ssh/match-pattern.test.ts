// OpenSSH's pattern rules (match.c), shared by Host lines and known_hosts.
import { describe, expect, it } from 'vitest';
import { matchPattern, matchPatternList } from '../../src/ssh/match-pattern.js';

describe('matchPattern', () => {
  it.each<[string, string, boolean]>([
    ['web', 'web', true],
    ['WEB', 'web', true],
    ['web1', 'web?', true],
    ['web', 'web?', false], // ? is exactly one character
    ['web12', 'web?', false],
    ['a.example.com', '*.example.com', true],
    ['example.com', '*.example.com', false],
    ['anything', '*', true],
    ['', '*', true],
    ['[127.0.0.1]:2222', '[127.0.0.1]:2222', true], // brackets are literal
    ['1', '[0-9]', false],
    ['axb', 'a.b', false], // dots are literal
    ['a(b)', 'a(b)', true],
  ])('%j ~ %j: %s', (name, pattern, want) => {
    expect(matchPattern(name, pattern)).toBe(want);
  });
});

describe('matchPatternList', () => {
  it('matches when a plain pattern does and no negated one does', () => {
    expect(matchPatternList('a.example.com', '*.example.com,!b.example.com')).toBe(true);
    expect(matchPatternList('b.example.com', '*.example.com,!b.example.com')).toBe(false);
    expect(matchPatternList('b.example.com', ['!b.example.com', '*.example.com'])).toBe(false);
  });

  it('a list of only negations matches nothing', () => {
    expect(matchPatternList('x', '!y')).toBe(false);
  });

  it('an array is not split on commas', () => {
    expect(matchPatternList('a,b', ['a,b'])).toBe(true);
    expect(matchPatternList('a', ['a,b'])).toBe(false);
  });
});
