// --include/--exclude rules: rsync's meaning (first match wins, "dir/",
// anchoring, basename vs path patterns) with picomatch's glob syntax.
import { describe, expect, it } from 'vitest';
import { compileFilter, parseRuleFile, type FilterRule } from '../../src/transfer/filters.js';

const ex = (pattern: string): FilterRule => ({ type: 'exclude', pattern });
const inc = (pattern: string): FilterRule => ({ type: 'include', pattern });

/** Which of `paths` (dirs end in "/") a walk keeps: an excluded directory hides its subtree. */
function kept(rules: FilterRule[], paths: string[]): string[] {
  const f = compileFilter(rules);
  const excludedDirs: string[] = [];
  const out: string[] = [];
  for (const raw of paths) {
    const isDir = raw.endsWith('/');
    const p = raw.replace(/\/$/, '');
    if (excludedDirs.some((d) => p.startsWith(`${d}/`))) continue;
    if (f.includes(p, isDir)) out.push(raw);
    else if (isDir) excludedDirs.push(p);
  }
  return out;
}

describe('compileFilter', () => {
  it('includes everything without rules', () => {
    expect(compileFilter([]).includes('a/b/c', false)).toBe(true);
  });

  it('a pattern without "/" matches the last component at any depth', () => {
    const f = compileFilter([ex('*.log')]);
    expect(f.includes('x.log', false)).toBe(false);
    expect(f.includes('a/b/x.log', false)).toBe(false);
    expect(f.includes('a/x.log.gz', false)).toBe(true);
    expect(f.includes('logs', true)).toBe(true);
  });

  it('"*" matches dotfiles (as rsync) but never crosses "/"', () => {
    const f = compileFilter([ex('*.tmp')]);
    expect(f.includes('.hidden.tmp', false)).toBe(false);
    expect(compileFilter([ex('a/*')]).includes('a/b/c', false)).toBe(true);
    expect(compileFilter([ex('a/*')]).includes('a/b', false)).toBe(false);
  });

  it('a trailing "/" matches directories only', () => {
    const f = compileFilter([ex('cache/')]);
    expect(f.includes('cache', true)).toBe(false);
    expect(f.includes('x/cache', true)).toBe(false);
    expect(f.includes('cache', false)).toBe(true);
  });

  it('a leading "/" anchors at the root', () => {
    const f = compileFilter([ex('/build')]);
    expect(f.includes('build', true)).toBe(false);
    expect(f.includes('src/build', true)).toBe(true);
  });

  it('a pattern with an inner "/" matches the path, at any component boundary', () => {
    const f = compileFilter([ex('cache/*.tmp')]);
    expect(f.includes('cache/a.tmp', false)).toBe(false);
    expect(f.includes('x/cache/a.tmp', false)).toBe(false);
    expect(f.includes('xcache/a.tmp', false)).toBe(true);
    expect(f.includes('cache/sub/a.tmp', false)).toBe(true);
  });

  it('"**" crosses directories', () => {
    const f = compileFilter([ex('docs/**/*.pdf')]);
    expect(f.includes('docs/a.pdf', false)).toBe(false);
    expect(f.includes('docs/x/y/a.pdf', false)).toBe(false);
    expect(f.includes('docs/x/y/a.txt', false)).toBe(true);
  });

  it('the first matching rule wins', () => {
    const f = compileFilter([inc('keep.log'), ex('*.log')]);
    expect(f.includes('a/keep.log', false)).toBe(true);
    expect(f.includes('a/drop.log', false)).toBe(false);
    const g = compileFilter([ex('*.log'), inc('keep.log')]);
    expect(g.includes('a/keep.log', false)).toBe(false);
  });

  it('a leading "!" is a literal character, not a negation', () => {
    const f = compileFilter([ex('!important')]);
    expect(f.includes('!important', false)).toBe(false);
    expect(f.includes('other', false)).toBe(true);
  });

  it('rejects an empty pattern', () => {
    expect(() => compileFilter([ex('/')])).toThrow(/empty pattern/);
  });
});

describe('rules over a nested tree (rsync semantics)', () => {
  const tree = [
    'README.md', 'build/', 'build/out.o', 'logs/', 'logs/a.log', 'logs/keep/', 'logs/keep/b.log',
    'src/', 'src/main.ts', 'src/debug.log', 'src/cache/', 'src/cache/x.bin', 'src/deep/', 'src/deep/cache',
  ];

  it('excludes by name, by directory and anchored', () => {
    expect(kept([ex('*.log'), ex('cache/'), ex('/build')], tree)).toEqual([
      'README.md', 'logs/', 'logs/keep/', 'src/', 'src/main.ts', 'src/deep/', 'src/deep/cache',
    ]);
  });

  it('include-only: the include rules plus "*/" then exclude "*" (as with rsync)', () => {
    expect(kept([inc('*/'), inc('*.log'), ex('*')], tree)).toEqual([
      'build/', 'logs/', 'logs/a.log', 'logs/keep/', 'logs/keep/b.log', 'src/', 'src/debug.log', 'src/cache/', 'src/deep/',
    ]);
  });

  it('an excluded directory is not entered, even for an include that would match inside it', () => {
    expect(kept([ex('logs/'), inc('b.log')], tree)).not.toContain('logs/keep/b.log');
  });
});

describe('parseRuleFile', () => {
  it('reads one pattern per line, skips comments and blanks, honours "+ " and "- "', () => {
    expect(parseRuleFile('# comment\n; also\n\n*.tmp\n+ keep.tmp\n- /build/  \r\n')).toEqual([
      ex('*.tmp'), inc('keep.tmp'), ex('/build/'),
    ]);
  });
});
