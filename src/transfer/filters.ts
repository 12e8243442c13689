/**
 * --include / --exclude rules with rsync's meaning and picomatch's glob
 * syntax. Rules are tried in the order given; the first that matches decides,
 * and a path no rule matches is included. Paths are relative to the synced
 * directory, "/"-separated, without a leading "/".
 *
 * - `name`, `*.log`: no "/" in the pattern, so it is matched against the last
 *   component, at any depth.
 * - `dir/`: a trailing "/" matches directories only.
 * - `/top`: a leading "/" anchors the pattern at the synced directory.
 * - `a/b`, `**`: a pattern with an inner "/" or a `**` is matched against the
 *   whole relative path, and also against any trailing part that starts at a
 *   component boundary (so `cache/*.tmp` matches `x/cache/y.tmp`).
 * - `*` and `?` never cross a "/", `**` does; dotfiles are matched like any
 *   other name (as rsync does).
 *
 * An excluded directory is not descended into, so nothing below it is
 * considered (an include cannot reach into an excluded directory), as rsync.
 */
import picomatch from 'picomatch';

export type FilterType = 'include' | 'exclude';

export interface FilterRule {
  type: FilterType;
  pattern: string;
}

interface CompiledRule {
  type: FilterType;
  dirOnly: boolean;
  test: (path: string, name: string) => boolean;
}

export interface Filter {
  /** true when `path` takes part in the sync. */
  includes(path: string, isDir: boolean): boolean;
  readonly rules: readonly FilterRule[];
}

// A leading "!" is a literal character in rsync, not picomatch's negation; no extglobs either.
const PM_OPTIONS: picomatch.PicomatchOptions = { dot: true, nonegate: true, noextglob: true };

function compile(rule: FilterRule): CompiledRule {
  let p = rule.pattern;
  const dirOnly = p.endsWith('/') && p.length > 1;
  if (dirOnly) p = p.replace(/\/+$/, '');
  const anchored = p.startsWith('/');
  if (anchored) p = p.replace(/^\/+/, '');
  if (p === '') throw new Error(`empty pattern in ${rule.type} rule "${rule.pattern}"`);
  if (anchored) {
    const m = picomatch(p, PM_OPTIONS);
    return { type: rule.type, dirOnly, test: (path) => m(path) };
  }
  if (p.includes('/') || p.includes('**')) {
    const m = picomatch([p, `**/${p}`], PM_OPTIONS);
    return { type: rule.type, dirOnly, test: (path) => m(path) };
  }
  const m = picomatch(p, PM_OPTIONS);
  return { type: rule.type, dirOnly, test: (_path, name) => m(name) };
}

export function compileFilter(rules: readonly FilterRule[]): Filter {
  const compiled = rules.map(compile);
  return {
    rules,
    includes(path: string, isDir: boolean): boolean {
      const name = path.slice(path.lastIndexOf('/') + 1);
      for (const r of compiled) {
        if (r.dirOnly && !isDir) continue;
        if (r.test(path, name)) return r.type === 'include';
      }
      return true;
    },
  };
}

/**
 * Rules from an --exclude-from file: one pattern per line; blank lines and
 * lines starting with "#" or ";" are ignored; a line starting with "+ " is an
 * include and "- " an explicit exclude (rsync's rule prefixes).
 */
export function parseRuleFile(text: string, defaultType: FilterType = 'exclude'): FilterRule[] {
  const rules: FilterRule[] = [];
  for (const raw of text.split(/\r?\n/)) {
    const line = raw.replace(/\s+$/, '');
    if (line === '' || line.startsWith('#') || line.startsWith(';')) continue;
    if (line.startsWith('+ ')) rules.push({ type: 'include', pattern: line.slice(2) });
    else if (line.startsWith('- ')) rules.push({ type: 'exclude', pattern: line.slice(2) });
    else rules.push({ type: defaultType, pattern: line });
  }
  return rules;
}
