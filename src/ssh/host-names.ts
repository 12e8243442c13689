/**
 * Host names worth offering for completion: `Host` aliases from ssh_config
 * (Include followed) and plain known_hosts entries. Patterns (`*`, `?`,
 * `!`) name no single host, and hashed known_hosts entries are hashed so
 * nobody can list them, so both are left out.
 */
import { readFileSync } from 'node:fs';
import { homedir } from 'node:os';
import { includeFiles, parseConfigText } from './config-file.js';
import { parseKnownHosts } from './known-hosts.js';

const isPattern = (h: string) => /[*?!]/.test(h) || h === '';
const MAX_INCLUDE_DEPTH = 16;

function readOrEmpty(file: string): string {
  try {
    return readFileSync(file, 'utf8');
  } catch {
    return '';
  }
}

/** `Host` names in one config file and what it includes; a broken file offers what it had so far. */
function configAliases(file: string, home: string, system: boolean, out: Set<string>, depth = 0): void {
  let lines;
  try {
    lines = parseConfigText(readOrEmpty(file), file);
  } catch {
    return; // Completion offers what it can; `ferry cp` reports the broken line.
  }
  for (const l of lines) {
    if (l.keyword === 'host') for (const h of l.args) if (!isPattern(h)) out.add(h);
    if (l.keyword === 'include' && depth < MAX_INCLUDE_DEPTH) {
      for (const pattern of l.args) {
        for (const f of includeFiles(pattern, home, system)) configAliases(f, home, system, out, depth + 1);
      }
    }
  }
}

/** The host names in known_hosts lines: `[host]:port` gives `host`. */
function knownHostNames(file: string, out: Set<string>): void {
  for (const e of parseKnownHosts(readOrEmpty(file), file)) {
    if (e.marker) continue;
    for (let h of e.hosts.split(',')) {
      if (h.startsWith('|')) continue;
      const bracketed = /^\[([^\]]+)\](?::\d+)?$/.exec(h);
      if (bracketed) h = bracketed[1];
      if (!isPattern(h)) out.add(h);
    }
  }
}

export interface HostNameSources {
  /** -F: the one config file to read instead of ~/.ssh/config and /etc/ssh/ssh_config ("none": none). */
  configFile?: string;
  home?: string;
}

/** Sorted, de-duplicated host names from ssh_config and known_hosts. */
export function listHostNames(o: HostNameSources = {}): string[] {
  const home = o.home ?? homedir();
  const out = new Set<string>();
  if (o.configFile !== 'none') {
    if (o.configFile) configAliases(o.configFile, home, false, out);
    else {
      configAliases(`${home}/.ssh/config`, home, false, out);
      configAliases('/etc/ssh/ssh_config', home, true, out);
    }
  }
  for (const f of [`${home}/.ssh/known_hosts`, `${home}/.ssh/known_hosts2`, '/etc/ssh/ssh_known_hosts', '/etc/ssh/ssh_known_hosts2']) {
    knownHostNames(f, out);
  }
  return [...out].sort();
}
