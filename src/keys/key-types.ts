/**
 * What ferry knows about each SSH key type: how big it is, and how its private
 * fields are laid out in an `openssh-key-v1` file (so the comment after them
 * can be found and the public key rebuilt from them). Pure.
 */
import { bitLength, encodeString, WireFormatError, WireReader } from './ssh-wire.js';
import { keyTypeOfBlob } from './fingerprint.js';

export class UnsupportedKeyTypeError extends Error {}

const ECDSA_CURVES: Record<string, number> = { nistp256: 256, nistp384: 384, nistp521: 521 };

/** The size `ssh-keygen -l` prints: 256 for ed25519, the curve for ECDSA, modulus bits for RSA/DSA. */
export function keyBits(publicBlob: Buffer): number {
  const r = new WireReader(publicBlob);
  const type = r.text();
  if (type === 'ssh-ed25519' || type === 'sk-ssh-ed25519@openssh.com') {
    if (r.string().length !== 32) throw new WireFormatError('bad ed25519 public key length');
    return 256;
  }
  if (type.startsWith('ecdsa-sha2-') || type.startsWith('sk-ecdsa-sha2-')) {
    const bits = ECDSA_CURVES[r.text()];
    if (bits === undefined) throw new UnsupportedKeyTypeError(`unknown ECDSA curve in ${type} key`);
    return bits;
  }
  if (type === 'ssh-rsa') {
    r.mpint(); // e
    return bitLength(r.mpint());
  }
  if (type === 'ssh-dss') return bitLength(r.mpint());
  throw new UnsupportedKeyTypeError(`unsupported key type ${type}`);
}

interface FieldSpec {
  /** Field kinds in private-section order. */
  fields: Array<'string' | 'mpint' | 'byte'>;
  /** Indices of the fields that make up the public blob, in public order. */
  publicFields: number[];
}

const PRIVATE_LAYOUTS: Record<string, FieldSpec> = {
  'ssh-ed25519': { fields: ['string', 'string'], publicFields: [0] },
  // n, e, d, iqmp, p, q; the public blob is e, n.
  'ssh-rsa': { fields: ['mpint', 'mpint', 'mpint', 'mpint', 'mpint', 'mpint'], publicFields: [1, 0] },
  'ssh-dss': { fields: ['mpint', 'mpint', 'mpint', 'mpint', 'mpint'], publicFields: [0, 1, 2, 3] },
  'sk-ssh-ed25519@openssh.com': { fields: ['string', 'string', 'byte', 'string', 'string'], publicFields: [0, 1] },
};
const ECDSA_LAYOUT: FieldSpec = { fields: ['string', 'string', 'mpint'], publicFields: [0, 1] };
const SK_ECDSA_LAYOUT: FieldSpec = { fields: ['string', 'string', 'string', 'byte', 'string', 'string'], publicFields: [0, 1, 2] };

function layoutFor(type: string): FieldSpec {
  const layout = PRIVATE_LAYOUTS[type];
  if (layout) return layout;
  if (/^ecdsa-sha2-nistp(256|384|521)$/.test(type)) return ECDSA_LAYOUT;
  if (/^sk-ecdsa-sha2-nistp256@openssh\.com$/.test(type)) return SK_ECDSA_LAYOUT;
  throw new UnsupportedKeyTypeError(`unsupported key type ${type}`);
}

/**
 * Consumes one private key (type name and fields) from `r` and returns its
 * type, the raw private bytes, and the public blob rebuilt from them.
 */
export function readPrivateKeyFields(r: WireReader): { type: string; privateFields: Buffer; publicBlob: Buffer } {
  const begin = r.offset;
  const type = r.text();
  const raw: Buffer[] = [];
  for (const kind of layoutFor(type).fields) {
    const at = r.offset;
    if (kind === 'byte') r.bytes(1);
    else if (kind === 'mpint') r.mpint();
    else r.string();
    raw.push(r.slice(at));
  }
  const end = r.offset;
  const publicBlob = Buffer.concat([encodeString(type), ...layoutFor(type).publicFields.map((i) => raw[i]!)]);
  return { type, privateFields: r.slice(begin, end), publicBlob };
}

/** The key type of a public blob, after checking it parses as that type. */
export function checkPublicBlob(blob: Buffer): string {
  const type = keyTypeOfBlob(blob);
  try {
    keyBits(blob);
  } catch (err) {
    if (err instanceof UnsupportedKeyTypeError) throw err;
    throw new WireFormatError(`malformed ${type} public key`);
  }
  return type;
}
