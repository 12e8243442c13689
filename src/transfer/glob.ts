/**
 * Glob expansion done by ferry itself over an endpoint (readdir + picomatch),
 * never by a remote shell. As in OpenSSH, a pattern that matches nothing is
 * taken as a literal name.
 */
import picomatch from 'picomatch';
import type { Endpoint } from './endpoint.js';
import { joinPath, suspectNameReason } from './names.js';

export function hasGlobMagic(path: string): boolean {
  return picomatch.scan(path).isGlob;
}

/** Matching paths, sorted; [] when nothing matched. Names the server lists are validated. */
export async function expandGlob(ep: Endpoint, pattern: string): Promise<string[]> {
  const absolute = pattern.startsWith('/');
  const parts = pattern.split('/').filter((p) => p !== '');
  let bases = [absolute ? '/' : ''];
  for (const part of parts) {
    const next: string[] = [];
    if (!hasGlobMagic(part)) {
      for (const b of bases) next.push(b === '' ? part : joinPath(b, part));
    } else {
      const isMatch = picomatch(part, { dot: false });
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
  if (parts.some(hasGlobMagic)) {
    // Literal components after the last glob may not exist.
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
