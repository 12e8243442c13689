/**
 * New key pairs from node:crypto, converted to SSH wire format: the public
 * blob and the private fields as `openssh-key-v1` stores them.
 */
import { generateKeyPair, type JsonWebKey, type KeyObject } from 'node:crypto';
import { promisify } from 'node:util';
import { encodeMpint, encodeString } from './ssh-wire.js';

const generateKeyPairAsync = promisify(generateKeyPair);

export type KeyAlgorithm = 'ed25519' | 'ecdsa' | 'rsa';
export const KEY_ALGORITHMS: readonly KeyAlgorithm[] = ['ed25519', 'ecdsa', 'rsa'];

export const DEFAULT_BITS: Record<KeyAlgorithm, number> = { ed25519: 256, ecdsa: 256, rsa: 3072 };
export const RSA_MIN_BITS = 2048;
export const RSA_MAX_BITS = 16384;
const ECDSA_CURVES: Record<number, { jwk: string; ssh: string }> = {
  256: { jwk: 'P-256', ssh: 'nistp256' },
  384: { jwk: 'P-384', ssh: 'nistp384' },
  521: { jwk: 'P-521', ssh: 'nistp521' },
};

export interface GeneratedKey {
  /** SSH algorithm name, e.g. `ssh-ed25519`. */
  sshType: string;
  bits: number;
  publicBlob: Buffer;
  /** Type name and private fields, as stored in the private section of the key file. */
  privateFields: Buffer;
}

/** Why `bits` does not fit `algorithm`, or undefined when it does. ed25519 ignores bits, as ssh-keygen does. */
export function describeBadBits(algorithm: KeyAlgorithm, bits: number): string | undefined {
  if (algorithm === 'ecdsa' && !ECDSA_CURVES[bits]) return 'ECDSA keys are 256, 384 or 521 bits';
  if (algorithm === 'rsa' && (bits < RSA_MIN_BITS || bits > RSA_MAX_BITS)) {
    return `RSA keys are ${RSA_MIN_BITS} to ${RSA_MAX_BITS} bits`;
  }
  return undefined;
}

function b64url(field: string | undefined): Buffer {
  if (field === undefined) throw new Error('node:crypto returned an incomplete JWK');
  return Buffer.from(field, 'base64url');
}

function jwkOf(key: KeyObject): JsonWebKey {
  return key.export({ format: 'jwk' });
}

function ed25519FromJwk(jwk: JsonWebKey): GeneratedKey {
  const sshType = 'ssh-ed25519';
  const pk = b64url(jwk.x);
  const seed = b64url(jwk.d);
  return {
    sshType,
    bits: 256,
    publicBlob: Buffer.concat([encodeString(sshType), encodeString(pk)]),
    // OpenSSH stores the 64-byte "secret key": seed followed by the public key.
    privateFields: Buffer.concat([encodeString(sshType), encodeString(pk), encodeString(Buffer.concat([seed, pk]))]),
  };
}

function ecdsaFromJwk(jwk: JsonWebKey, bits: number): GeneratedKey {
  const curve = ECDSA_CURVES[bits]!.ssh;
  const sshType = `ecdsa-sha2-${curve}`;
  const point = Buffer.concat([Buffer.from([0x04]), b64url(jwk.x), b64url(jwk.y)]);
  const pub = [encodeString(sshType), encodeString(curve), encodeString(point)];
  return {
    sshType,
    bits,
    publicBlob: Buffer.concat(pub),
    privateFields: Buffer.concat([...pub, encodeMpint(b64url(jwk.d))]),
  };
}

function rsaFromJwk(jwk: JsonWebKey, bits: number): GeneratedKey {
  const sshType = 'ssh-rsa';
  const [n, e, d, p, q, iqmp] = [jwk.n, jwk.e, jwk.d, jwk.p, jwk.q, jwk.qi].map((f) => encodeMpint(b64url(f)));
  return {
    sshType,
    bits,
    publicBlob: Buffer.concat([encodeString(sshType), e!, n!]),
    privateFields: Buffer.concat([encodeString(sshType), n!, e!, d!, iqmp!, p!, q!]),
  };
}

/** A fresh key pair; `bits` must have passed `describeBadBits`. */
export async function generateKey(algorithm: KeyAlgorithm, bits = DEFAULT_BITS[algorithm]): Promise<GeneratedKey> {
  switch (algorithm) {
    case 'ed25519': {
      const { privateKey } = await generateKeyPairAsync('ed25519');
      return ed25519FromJwk(jwkOf(privateKey));
    }
    case 'ecdsa': {
      const { privateKey } = await generateKeyPairAsync('ec', { namedCurve: ECDSA_CURVES[bits]!.jwk });
      return ecdsaFromJwk(jwkOf(privateKey), bits);
    }
    case 'rsa': {
      const { privateKey } = await generateKeyPairAsync('rsa', { modulusLength: bits, publicExponent: 65537 });
      return rsaFromJwk(jwkOf(privateKey), bits);
    }
  }
}
