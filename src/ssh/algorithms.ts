/**
 * OpenSSH's algorithm list syntax (Ciphers, KexAlgorithms, HostKeyAlgorithms,
 * MACs) mapped onto what ssh2 implements: a plain list replaces the default,
 * `+list` appends to it, `-list` removes from it, `^list` puts in front of it;
 * `*` and `?` patterns expand over the supported algorithms, as
 * kex_assemble_names() does. Names ssh2 does not implement are dropped.
 */
import { createRequire } from 'node:module';

interface Ssh2Constants {
  DEFAULT_CIPHER: string[];
  SUPPORTED_CIPHER: string[];
  DEFAULT_KEX: string[];
  SUPPORTED_KEX: string[];
  DEFAULT_SERVER_HOST_KEY: string[];
  SUPPORTED_SERVER_HOST_KEY: string[];
  DEFAULT_MAC: string[];
  SUPPORTED_MAC: string[];
}

// ssh2 exports no constants; its package has no "exports" map, so the file is reachable.
const C = createRequire(import.meta.url)('ssh2/lib/protocol/constants.js') as Ssh2Constants;

/** The keys of ssh2's `algorithms` option. */
export type AlgorithmKind = 'cipher' | 'kex' | 'serverHostKey' | 'hmac';

export const ALGORITHM_KEYWORDS: Record<AlgorithmKind, string> = {
  cipher: 'ciphers',
  kex: 'kexalgorithms',
  serverHostKey: 'hostkeyalgorithms',
  hmac: 'macs',
};

/**
 * ssh2's cipher order with chacha20-poly1305 moved up to follow AES-GCM.
 * ssh2 offers the CTR ciphers (each with a separate HMAC) before it, so a
 * server without AES-GCM (Dropbear as Debian and OpenWrt build it) settles on
 * aes128-ctr + hmac-sha2-256, which Dropbear computes in software: a 48 MiB
 * upload took 2.1 s that way and 0.64 s with chacha20-poly1305 (which OpenSSH's
 * own client offers first). GCM stays first, as with AES-NI at both ends
 * (OpenSSH on x86 and arm64) it is the cheapest.
 */
function aeadFirst(ciphers: readonly string[]): string[] {
  const chacha = ciphers.filter((c) => c.startsWith('chacha20-poly1305'));
  const rest = ciphers.filter((c) => !chacha.includes(c));
  const afterGcm = rest.filter((c) => c.includes('-gcm')).length;
  return [...rest.slice(0, afterGcm), ...chacha, ...rest.slice(afterGcm)];
}

const TABLE: Record<AlgorithmKind, { defaults: readonly string[]; supported: readonly string[] }> = {
  cipher: { defaults: aeadFirst(C.DEFAULT_CIPHER), supported: C.SUPPORTED_CIPHER },
  kex: { defaults: C.DEFAULT_KEX, supported: C.SUPPORTED_KEX },
  serverHostKey: { defaults: C.DEFAULT_SERVER_HOST_KEY, supported: C.SUPPORTED_SERVER_HOST_KEY },
  hmac: { defaults: C.DEFAULT_MAC, supported: C.SUPPORTED_MAC },
};

export function defaultAlgorithms(kind: AlgorithmKind): string[] {
  return [...TABLE[kind].defaults];
}

export function supportedAlgorithms(kind: AlgorithmKind): string[] {
  return [...TABLE[kind].supported];
}

/** Algorithm names are case-sensitive, unlike host names. */
function globMatches(name: string, pattern: string): boolean {
  const re = pattern.replace(/[.+^${}()|[\]\\]/g, '\\$&').replace(/\*/g, '.*').replace(/\?/g, '.');
  return new RegExp(`^${re}$`).test(name);
}

export interface AssembledAlgorithms {
  list: string[];
  /** Names or patterns in the spec that match nothing ssh2 implements. */
  unsupported: string[];
}

/** Turn one Ciphers/KexAlgorithms/... value into the list ssh2 should offer. */
export function assembleAlgorithms(kind: AlgorithmKind, spec: string): AssembledAlgorithms {
  const { defaults, supported } = TABLE[kind];
  const prefix = /^[+\-^]/.test(spec) ? spec[0] : '';
  const items = spec.slice(prefix.length).split(',').map((s) => s.trim()).filter(Boolean);
  let wanted: string[];
  switch (prefix) {
    case '+':
      wanted = [...defaults, ...items];
      break;
    case '^':
      wanted = [...items, ...defaults];
      break;
    case '-':
      wanted = defaults.filter((a) => !items.some((p) => globMatches(a, p)));
      break;
    default:
      wanted = items;
  }
  const list: string[] = [];
  const unsupported: string[] = [];
  for (const item of wanted) {
    const hits = supported.filter((a) => globMatches(a, item));
    if (hits.length === 0 && prefix !== '-') unsupported.push(item);
    for (const a of hits) if (!list.includes(a)) list.push(a);
  }
  return { list, unsupported };
}

/** The host key algorithms that can present a key of this type (as stored in known_hosts). */
export function hostKeyAlgorithmsForKeyType(keyType: string): string[] {
  if (keyType === 'ssh-rsa') return ['rsa-sha2-512', 'rsa-sha2-256', 'ssh-rsa'];
  return [keyType];
}
