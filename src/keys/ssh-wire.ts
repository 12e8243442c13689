/** SSH wire encoding (RFC 4251 §5): uint32, string, mpint. Pure. */

export function encodeUint32(n: number): Buffer {
  const b = Buffer.alloc(4);
  b.writeUInt32BE(n >>> 0, 0);
  return b;
}

export function encodeString(data: Buffer | string): Buffer {
  const body = typeof data === 'string' ? Buffer.from(data, 'utf8') : data;
  return Buffer.concat([encodeUint32(body.length), body]);
}

/** A non-negative big-endian integer as an mpint: minimal, with a 0x00 if the top bit is set. */
export function encodeMpint(unsigned: Buffer): Buffer {
  let start = 0;
  while (start < unsigned.length && unsigned[start] === 0) start++;
  let body = unsigned.subarray(start);
  if (body.length > 0 && (body[0]! & 0x80) !== 0) body = Buffer.concat([Buffer.from([0]), body]);
  return encodeString(body);
}

export class WireFormatError extends Error {}

/** Reads wire fields in order; any overrun is a WireFormatError, never a bad slice. */
export class WireReader {
  private pos = 0;
  constructor(private readonly buf: Buffer) {}

  get offset(): number {
    return this.pos;
  }

  get remaining(): number {
    return this.buf.length - this.pos;
  }

  uint32(): number {
    if (this.remaining < 4) throw new WireFormatError('truncated uint32');
    const n = this.buf.readUInt32BE(this.pos);
    this.pos += 4;
    return n;
  }

  bytes(n: number): Buffer {
    if (n > this.remaining) throw new WireFormatError('truncated data');
    const b = this.buf.subarray(this.pos, this.pos + n);
    this.pos += n;
    return b;
  }

  string(): Buffer {
    return this.bytes(this.uint32());
  }

  text(): string {
    return this.string().toString('utf8');
  }

  /** An mpint as its unsigned magnitude (keys never hold negative numbers). */
  mpint(): Buffer {
    const body = this.string();
    if (body.length > 0 && (body[0]! & 0x80) !== 0) throw new WireFormatError('negative mpint');
    let start = 0;
    while (start < body.length && body[start] === 0) start++;
    return body.subarray(start);
  }

  /** The raw bytes from `from` up to the current position (default), e.g. one encoded field. */
  slice(from: number, to: number = this.pos): Buffer {
    return this.buf.subarray(from, to);
  }

  rest(): Buffer {
    return this.bytes(this.remaining);
  }
}

/** Number of significant bits in an unsigned big-endian integer. */
export function bitLength(unsigned: Buffer): number {
  let i = 0;
  while (i < unsigned.length && unsigned[i] === 0) i++;
  if (i === unsigned.length) return 0;
  return (unsigned.length - i - 1) * 8 + (32 - Math.clz32(unsigned[i]!));
}
