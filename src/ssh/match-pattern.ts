/**
 * OpenSSH's pattern matching (match.c), shared by ssh_config `Host` lines and
 * known_hosts host fields: `*` matches any run of characters, `?` exactly
 * one, everything else is literal (so `[host]:port` needs no escaping).
 * Host names are compared case-insensitively, as OpenSSH lowercases them.
 */

const cache = new Map<string, RegExp>();

function toRegExp(pattern: string): RegExp {
  let re = cache.get(pattern);
  if (!re) {
    const body = pattern.replace(/[.+^${}()|[\]\\]/g, '\\$&').replace(/\*/g, '.*').replace(/\?/g, '.');
    re = new RegExp(`^${body}$`, 'is');
    if (cache.size > 1000) cache.clear();
    cache.set(pattern, re);
  }
  return re;
}

/** One pattern, no negation: match_pattern(). */
export function matchPattern(name: string, pattern: string): boolean {
  return toRegExp(pattern).test(name);
}

/**
 * A pattern list (comma-separated string, or already split): true when some
 * plain pattern matches and no `!pattern` does, as match_pattern_list().
 */
export function matchPatternList(name: string, patterns: string | readonly string[]): boolean {
  const list = typeof patterns === 'string' ? patterns.split(',') : patterns;
  let matched = false;
  for (const raw of list) {
    const negated = raw.startsWith('!');
    const p = negated ? raw.slice(1) : raw;
    if (p === '' || !matchPattern(name, p)) continue;
    if (negated) return false;
    matched = true;
  }
  return matched;
}
