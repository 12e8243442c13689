// The one validation point for names from the other side, and POSIX path helpers.
import { describe, expect, it } from 'vitest';
import { baseName, dirName, joinPath, partialName, suspectNameReason } from '../../src/transfer/names.js';

describe('suspectNameReason', () => {
  it.each(['', '.', '..', 'a/b', '../x', '/', 'a\0b', 'a\\b', 'C:\\x'])('refuses %j', (name) => {
    expect(suspectNameReason(name)).toEqual(expect.any(String));
  });
  it.each(['ok.txt', '...', '.hidden', '..x', 'with space', '$(touch pwned)', 'ünï', 'new\nline', '-rf'])(
    'accepts %j',
    (name) => {
      expect(suspectNameReason(name)).toBeNull();
    },
  );
});

describe('joinPath', () => {
  it.each([
    ['', 'x', 'x'],
    ['.', 'x', 'x'],
    ['/', 'x', '/x'],
    ['a', 'x', 'a/x'],
    ['a/', 'x', 'a/x'],
    ['/abs/dir', 'x y', '/abs/dir/x y'],
  ])('joinPath(%j, %j) = %j', (dir, name, want) => {
    expect(joinPath(dir, name)).toBe(want);
  });
});

describe('baseName and dirName', () => {
  it.each([
    ['a', 'a', '.'],
    ['a/b', 'b', 'a'],
    ['a/b/', 'b', 'a'],
    ['a//', 'a', '.'],
    ['/a', 'a', '/'],
    ['/a/b/c', 'c', '/a/b'],
    ['/', '/', '.'],
    ['', '', '.'],
  ])('%j -> base %j, dir %j', (path, base, dir) => {
    expect(baseName(path)).toBe(base);
    expect(dirName(path)).toBe(dir);
  });
});

describe('partialName', () => {
  it.each([
    ['file.txt', '.file.txt.ferry-part'],
    ['dir/file.txt', 'dir/.file.txt.ferry-part'],
    ['/abs/x', '/abs/.x.ferry-part'],
    ['/x', '/.x.ferry-part'],
    ['d/with space', 'd/.with space.ferry-part'],
  ])('%j -> %j (hidden, beside the target)', (path, want) => {
    expect(partialName(path)).toBe(want);
  });

  it('is stable, so a rerun finds the same partial', () => {
    expect(partialName('a/b')).toBe(partialName('a/b'));
  });
});
