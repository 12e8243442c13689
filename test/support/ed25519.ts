import ssh2 from 'ssh2';

export type KeyPair = ReturnType<typeof ssh2.utils.generateKeyPairSync>;

/** ssh2's generateKeyPairSync yields a key its own parser rejects about once in 300 tries: draw again. */
export function ed25519KeyPair(comment?: string): KeyPair {
  for (;;) {
    const k = ssh2.utils.generateKeyPairSync('ed25519', comment ? { comment } : undefined);
    if (!(ssh2.utils.parseKey(k.private) instanceof Error) && !(ssh2.utils.parseKey(k.public) instanceof Error)) return k;
  }
}
