// Types for the `bcrypt-pbkdf` package (ssh2 uses it too); it ships none.
declare module 'bcrypt-pbkdf' {
  /** Fills `key` with `keylen` derived bytes; returns 0 on success, -1 on bad arguments. */
  export function pbkdf(
    pass: Uint8Array,
    passlen: number,
    salt: Uint8Array,
    saltlen: number,
    key: Uint8Array,
    keylen: number,
    rounds: number,
  ): number;
  const bcryptPbkdf: { pbkdf: typeof pbkdf };
  export default bcryptPbkdf;
}
