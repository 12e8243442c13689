/**
 * Glob expansion done by ferry itself over an endpoint (readdir + match),
 * never by a remote shell. The syntax is OpenSSH's (glob(3) as scp calls it,
 * without GLOB_BRACE): `*`, `?`, `[...]` with `!` negation and ranges, and
 * backslash escapes. Everything else, parentheses, braces and a leading `!`
 * included, is literal, so "file (1).pdf" never matches "file 1.pdf". As in
 * OpenSSH, a pattern that matches nothing is taken as a literal name.
 */
import type { Endpoint } from './endpoint.js';
import { joinPath, suspectNameReason } from './names.js';

/** Index of the `]` closing the class opened at `open`, or -1 (then the `[` is literal). */
function classEnd(p: string[], open: number): number {
  let i = open + 1;
  if (p[i] === '!') i++;
  if (p[i] === ']') i++; // A leading `]` is a member, as in glob(3).
  for (; i < p.length; i++) {
    if (p[i] === ']') return i;
    if (p[i] === '/') return -1;
  }
  return -1;
}

export function hasGlobMagic(path: string): boolean {
  const p = Array.from(path);
  for (let i = 0; i < p.length; i++) {
    if (p[i] === '\\') i++;
    else if (p[i] === '*' || p[i] === '?' || (p[i] === '[' && classEnd(p, i) > 0)) return true;
  }
  return false;
}

const escapeOutside = (c: string) => c.replace(/[\\^$.*+?()[\]{}|/]/, '\\$&');
const escapeInside = (c: string) => c.replace(/[\\\]^-]/, '\\$&');
const unescape = (s: string) => s.replace(/\\(.)/gsu, '$1');

function classRegExp(m: string[]): string {
  const negate = m[0] === '!';
  let out = '';
  for (let i = negate ? 1 : 0; i < m.length; i++) {
    let c = m[i];
    if (c === '\\' && i + 1 < m.length) c = m[++i];
    if (m[i + 1] === '-' && i + 2 < m.length) {
      let d = m[i + 2];
      i += 2;
      if (d === '\\' && i + 1 < m.length) d = m[++i];
      // A reversed range matches nothing in glob(3); in a RegExp it would throw.
      if (c.codePointAt(0)! <= d.codePointAt(0)!) out += `${escapeInside(c)}-${escapeInside(d)}`;
    } else {
      out += escapeInside(c);
    }
  }
  return `[${negate ? '^' : ''}${out}]`;
}

/** A matcher for one path component. Wildcards never match a leading dot. */
function componentMatcher(pattern: string): (name: string) => boolean {
  const p = Array.from(pattern);
  let re = '';
  for (let i = 0; i < p.length; i++) {
    const c = p[i];
    const end = c === '[' ? classEnd(p, i) : -1;
    if (c === '\\' && i + 1 < p.length) re += escapeOutside(p[++i]);
    else if (c === '*') re += '.*';
    else if (c === '?') re += '.';
    else if (end > 0) {
      re += classRegExp(p.slice(i + 1, end));
      i = end;
    } else re += escapeOutside(c);
  }
  const rx = new RegExp(`^${re}$`, 'su');
  const dotExplicit = p[0] === '.' || (p[0] === '\\' && p[1] === '.');
  return (name) => (dotExplicit || !name.startsWith('.')) && rx.test(name);
}

/** Matching paths, sorted; [] when nothing matched. Names the server lists are validated. */
export async function expandGlob(ep: Endpoint, pattern: string): Promise<string[]> {
  const absolute = pattern.startsWith('/');
  const parts = pattern.split('/').filter((p) => p !== '');
  let lastMagic = -1;
  parts.forEach((part, i) => {
    if (hasGlobMagic(part)) lastMagic = i;
  });
  let bases = [absolute ? '/' : ''];
  for (const part of parts) {
    const next: string[] = [];
    if (!hasGlobMagic(part)) {
      const name = unescape(part);
      for (const b of bases) next.push(b === '' ? name : joinPath(b, name));
    } else {
      const isMatch = componentMatcher(part);
      for (const b of bases) {
        let entries;
        try {
          entries = await ep.readdir(b === '' ? '.' : b);
        } catch {
          continue; // Not a directory or unreadable: contributes no matches, as glob(3).
        }
        for (const e of entries) {
          if (suspectNameReason(e.name) === null && isMatch(e.name)) next.push(b === '' ? e.name : joinPath(b, e.name));
        }
      }
    }
    bases = next;
    if (bases.length === 0) return [];
  }
  if (lastMagic < parts.length - 1) {
    // Literal components after the last wildcard may not exist; listed names do.
    const found: string[] = [];
    for (const b of bases) {
      try {
        await ep.lstat(b);
        found.push(b);
      } catch {
        /* not there */
      }
    }
    bases = found;
  }
  return bases.sort();
}
