/** The one-line key summaries ssh-keygen prints. Pure. */
import { keyTypeLabel, keyTypeOfBlob, md5Fingerprint, sha256Fingerprint } from './fingerprint.js';
import { keyBits } from './key-types.js';
import type { FingerprintHash } from './randomart.js';

export function fingerprintOf(publicBlob: Buffer, hash: FingerprintHash = 'sha256'): string {
  return hash === 'md5' ? md5Fingerprint(publicBlob) : sha256Fingerprint(publicBlob);
}

/** `256 SHA256:... comment (ED25519)`, as `ssh-keygen -l` prints it. */
export function describeKey(publicBlob: Buffer, comment: string | undefined, hash: FingerprintHash = 'sha256'): string {
  const label = keyTypeLabel(keyTypeOfBlob(publicBlob));
  return `${keyBits(publicBlob)} ${fingerprintOf(publicBlob, hash)} ${comment ?? 'no comment'} (${label})`;
}
