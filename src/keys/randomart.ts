/**
 * OpenSSH's "drunken bishop" randomart (sshkey.c, fingerprint_randomart),
 * byte for byte: a 17x9 field walked two bits at a time from the digest.
 */
import { createHash } from 'node:crypto';
import { keyTypeLabel, keyTypeOfBlob } from './fingerprint.js';
import { keyBits } from './key-types.js';

const FLD_BASE = 8;
const FLD_Y = FLD_BASE + 1;
const FLD_X = FLD_BASE * 2 + 1;
const AUGMENT = ' .o+=*BOX@%&#/^SE';
const LAST = AUGMENT.length - 1;

export type FingerprintHash = 'sha256' | 'md5';

/** ssh-keygen's label, snprintf'd into a 17-byte buffer: at most 16 characters. */
function fitLabel(text: string): string {
  return text.slice(0, FLD_X - 1);
}

function border(label: string): string {
  const left = Math.floor((FLD_X - label.length) / 2);
  return `+${'-'.repeat(left)}${label}${'-'.repeat(FLD_X - left - label.length)}+`;
}

/** The box for a raw digest; `typeLabel` like `ED25519`, `hashName` like `SHA256`. No trailing newline. */
export function drawRandomart(digest: Buffer, opts: { typeLabel: string; bits: number; hashName: string }): string {
  const field = Array.from({ length: FLD_X }, () => new Array<number>(FLD_Y).fill(0));
  let x = Math.floor(FLD_X / 2);
  let y = Math.floor(FLD_Y / 2);
  for (const byte of digest) {
    let input = byte;
    for (let b = 0; b < 4; b++) {
      x = Math.min(Math.max(x + (input & 1 ? 1 : -1), 0), FLD_X - 1);
      y = Math.min(Math.max(y + (input & 2 ? 1 : -1), 0), FLD_Y - 1);
      if (field[x]![y]! < LAST - 2) field[x]![y]!++;
      input >>= 2;
    }
  }
  field[Math.floor(FLD_X / 2)]![Math.floor(FLD_Y / 2)] = LAST - 1;
  field[x]![y] = LAST;

  // "[type bits]", or "[type]" when that would not fit the 17-byte buffer.
  let title = `[${opts.typeLabel} ${opts.bits}]`;
  if (title.length > FLD_X) title = `[${opts.typeLabel}]`;
  const lines = [border(fitLabel(title))];
  for (let row = 0; row < FLD_Y; row++) {
    let line = '|';
    for (let col = 0; col < FLD_X; col++) line += AUGMENT[Math.min(field[col]![row]!, LAST)];
    lines.push(line + '|');
  }
  lines.push(border(fitLabel(`[${opts.hashName}]`)));
  return lines.join('\n');
}

/** The randomart `ssh-keygen -lv -E <hash>` prints for a public key blob. */
export function randomartForKey(publicBlob: Buffer, hash: FingerprintHash = 'sha256'): string {
  return drawRandomart(createHash(hash).update(publicBlob).digest(), {
    typeLabel: keyTypeLabel(keyTypeOfBlob(publicBlob)),
    bits: keyBits(publicBlob),
    hashName: hash === 'sha256' ? 'SHA256' : 'MD5',
  });
}
