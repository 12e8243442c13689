/**
 * The resolved settings as `ssh -G` prints them: lower-case `keyword value`
 * lines, in OpenSSH's spelling of values, limited to what ferry honours. The
 * algorithm lists are what ferry will offer (ssh2's set), so they differ from
 * OpenSSH's where the two implement different algorithms.
 */
import { defaultAlgorithms, type AlgorithmKind } from './algorithms.js';
import type { HostSettings } from './config.js';

const yesNo = (b: boolean) => (b ? 'yes' : 'no');

const STRICT: Record<HostSettings['strictHostKeyChecking'], string> = { yes: 'true', no: 'false', ask: 'ask', 'accept-new': 'accept-new' };

function algorithms(s: HostSettings, kind: AlgorithmKind): string {
  return (s.algorithms[kind] ?? defaultAlgorithms(kind)).join(',');
}

/** `[keyword, value]` pairs; repeated keywords (identityfile) appear once per value. */
export function dumpHostSettings(s: HostSettings): [string, string][] {
  const out: [string, string][] = [
    ['host', s.alias],
    ['user', s.user],
    ['hostname', s.hostName],
    ['port', String(s.port)],
    ['batchmode', yesNo(s.batchMode)],
    ['compression', yesNo(s.compression)],
    ['hashknownhosts', yesNo(s.hashKnownHosts)],
    ['identitiesonly', yesNo(s.identitiesOnly)],
    ['kbdinteractiveauthentication', yesNo(s.kbdInteractiveAuthentication)],
    ['passwordauthentication', yesNo(s.passwordAuthentication)],
    ['pubkeyauthentication', String(s.pubkeyAuthentication)],
    ['stricthostkeychecking', STRICT[s.strictHostKeyChecking]],
    ['numberofpasswordprompts', String(s.numberOfPasswordPrompts)],
    ['serveralivecountmax', String(s.serverAliveCountMax)],
    ['serveraliveinterval', String(s.serverAliveInterval)],
    ['ciphers', algorithms(s, 'cipher')],
    ['hostkeyalgorithms', algorithms(s, 'serverHostKey')],
    ['kexalgorithms', algorithms(s, 'kex')],
    ['macs', algorithms(s, 'hmac')],
  ];
  if (s.hostKeyAlias !== undefined) out.push(['hostkeyalias', s.hostKeyAlias]);
  if (s.identityAgent !== undefined) out.push(['identityagent', s.identityAgent]);
  if (s.preferredAuthentications) out.push(['preferredauthentications', s.preferredAuthentications.join(',')]);
  for (const f of s.identityFileSpecs) out.push(['identityfile', f]);
  out.push(['globalknownhostsfile', s.globalKnownHostsFiles.join(' ') || 'none']);
  out.push(['userknownhostsfile', s.userKnownHostsFiles.join(' ') || 'none']);
  out.push(['connecttimeout', s.connectTimeout === undefined ? 'none' : String(s.connectTimeout)]);
  if (s.proxyJump) out.push(['proxyjump', s.proxyJump]);
  return out;
}

export function formatHostSettings(s: HostSettings): string {
  return dumpHostSettings(s).map(([k, v]) => `${k} ${v}\n`).join('');
}
