import { describe, expect, it } from 'vitest';
import { quoteFor, splitShellLine, trimForBash } from '../../src/cli/shell-words.js';

describe('splitShellLine', () => {
  it('splits on blanks and keeps the word under the cursor, empty after a space', () => {
    const l = splitShellLine('ferry cp  -r ');
    expect(l.words.map((w) => w.value)).toEqual(['ferry', 'cp', '-r']);
    expect(l.current).toEqual({ raw: '', value: '' });
    expect(l.open).toBe('none');
  });

  it('removes backslashes, single and double quotes as sh does', () => {
    const l = splitShellLine(`ferry cp a\\ b 'c d'\\''e' "f \\"g\\" \\$h \\x" h:/x\\ y`);
    expect(l.words.map((w) => w.value)).toEqual(['ferry', 'cp', 'a b', "c d'e", 'f "g" $h \\x']);
    expect(l.current).toEqual({ raw: 'h:/x\\ y', value: 'h:/x y' });
  });

  it('reports the quote still open at the cursor', () => {
    expect(splitShellLine(`ferry cp 'h:/a b`)).toMatchObject({ open: "'", current: { raw: "'h:/a b", value: 'h:/a b' } });
    expect(splitShellLine('ferry cp "h:/a b')).toMatchObject({ open: '"', current: { value: 'h:/a b' } });
    expect(splitShellLine("ferry cp 'a'b")).toMatchObject({ open: 'none', current: { value: 'ab' } });
  });
});

describe('quoteFor', () => {
  it('escapes what the shell would split or expand, and keeps ~/ and host: readable', () => {
    expect(quoteFor("h:/d/it's a $x*[1].txt", 'none')).toBe("h:/d/it\\'s\\ a\\ \\$x\\*\\[1\\].txt");
    expect(quoteFor('~/a b', 'none', { keepTilde: true })).toBe('~/a\\ b');
    expect(quoteFor('~/a', 'none')).toBe('\\~/a');
  });

  it('continues a quote the word began in', () => {
    expect(quoteFor("h:/it's", "'")).toBe("'h:/it'\\''s");
    expect(quoteFor('h:/"a" $b `c` \\', '"')).toBe('"h:/\\"a\\" \\$b \\`c\\` \\\\');
  });

  it('round-trips through splitShellLine for awkward names', () => {
    for (const name of ['a b', "it's", 'x"y', 'tab\there', 'back\\slash', 'glob*?[]', '$(rm -rf)', '!bang', '#hash']) {
      for (const style of ['none', "'", '"'] as const) {
        const q = quoteFor(`h:/${name}`, style);
        const closed = style === 'none' ? q : `${q}${style}`;
        expect(splitShellLine(`ferry cp ${closed} `).words[2]?.value, `${style} ${JSON.stringify(name)}`).toBe(`h:/${name}`);
      }
    }
  });
});

describe('trimForBash', () => {
  const WB = '"\'><=;|&(:';
  it('cuts a candidate after the last word break bash sees in the typed word', () => {
    expect(trimForBash('host:/var/log/', 'host:/var/lo', WB)).toBe('/var/log/');
    expect(trimForBash('u@[::1]:/x', 'u@[::1]:/', WB)).toBe('/x');
    expect(trimForBash('--opt=value', '--opt=va', WB)).toBe('value');
  });

  it('ignores breaks that are escaped or quoted', () => {
    expect(trimForBash('a\\:b', 'a\\:', WB)).toBe('a\\:b');
    expect(trimForBash("'h:/a b", "'h:/a", WB)).toBe("'h:/a b");
    expect(trimForBash('plain', 'pl', WB)).toBe('plain');
  });
});
