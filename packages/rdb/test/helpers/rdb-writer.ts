import { Crc64, encodeLength } from '../../src/index.js';

/**
 * Test-only RDB writer, for formats no redis-server on this machine writes (RDB 11 and 12:
 * set listpacks, stream v3, hash field TTLs, SLOT_INFO) and for module data.
 */
export type El = Buffer | string | number | bigint;

const buf = (e: Buffer | string) => (Buffer.isBuffer(e) ? e : Buffer.from(e));

export function u64le(n: number | bigint): Buffer {
  const b = Buffer.alloc(8);
  b.writeBigInt64LE(BigInt(n));
  return b;
}

function lpBacklen(size: number): Buffer {
  const bytes: number[] = [];
  let v = size;
  // 7-bit groups, most significant first; every byte but the first has the high bit set.
  do {
    bytes.unshift(v & 0x7f);
    v >>= 7;
  } while (v > 0);
  return Buffer.from(bytes.map((b, i) => (i === 0 ? b : b | 0x80)));
}

function lpEntry(e: El): Buffer {
  let enc: Buffer;
  if (typeof e === 'number' || typeof e === 'bigint') {
    const v = BigInt(e);
    if (v >= 0n && v <= 127n) enc = Buffer.from([Number(v)]);
    else if (v >= -4096n && v <= 4095n) {
      const u = Number(v < 0n ? v + 8192n : v);
      enc = Buffer.from([0xc0 | (u >> 8), u & 0xff]);
    } else if (v >= -32768n && v <= 32767n) {
      enc = Buffer.alloc(3);
      enc[0] = 0xf1;
      enc.writeInt16LE(Number(v), 1);
    } else if (v >= -8388608n && v <= 8388607n) {
      enc = Buffer.alloc(4);
      enc[0] = 0xf2;
      enc.writeIntLE(Number(v), 1, 3);
    } else if (v >= -2147483648n && v <= 2147483647n) {
      enc = Buffer.alloc(5);
      enc[0] = 0xf3;
      enc.writeInt32LE(Number(v), 1);
    } else {
      enc = Buffer.alloc(9);
      enc[0] = 0xf4;
      enc.writeBigInt64LE(v, 1);
    }
  } else {
    const s = buf(e);
    if (s.length < 64) enc = Buffer.concat([Buffer.from([0x80 | s.length]), s]);
    else if (s.length < 4096)
      enc = Buffer.concat([Buffer.from([0xe0 | (s.length >> 8), s.length & 0xff]), s]);
    else {
      const h = Buffer.alloc(5);
      h[0] = 0xf0;
      h.writeUInt32LE(s.length, 1);
      enc = Buffer.concat([h, s]);
    }
  }
  return Buffer.concat([enc, lpBacklen(enc.length)]);
}

export function listpack(elements: El[]): Buffer {
  const body = Buffer.concat(elements.map(lpEntry));
  const out = Buffer.alloc(6 + body.length + 1);
  out.writeUInt32LE(out.length, 0);
  out.writeUInt16LE(Math.min(elements.length, 0xffff), 4);
  body.copy(out, 6);
  out[out.length - 1] = 0xff;
  return out;
}

function zlEntry(e: El, prevlen: number): Buffer {
  const prev = prevlen < 254 ? Buffer.from([prevlen]) : Buffer.concat([Buffer.from([0xfe]), u32(prevlen)]);
  let enc: Buffer;
  if (typeof e === 'number' || typeof e === 'bigint') {
    const v = BigInt(e);
    if (v >= 0n && v <= 12n) enc = Buffer.from([0xf1 + Number(v)]);
    else if (v >= -128n && v <= 127n) enc = Buffer.from([0xfe, Number(v) & 0xff]);
    else if (v >= -32768n && v <= 32767n) {
      enc = Buffer.alloc(3);
      enc[0] = 0xc0;
      enc.writeInt16LE(Number(v), 1);
    } else if (v >= -8388608n && v <= 8388607n) {
      enc = Buffer.alloc(4);
      enc[0] = 0xf0;
      enc.writeIntLE(Number(v), 1, 3);
    } else if (v >= -2147483648n && v <= 2147483647n) {
      enc = Buffer.alloc(5);
      enc[0] = 0xd0;
      enc.writeInt32LE(Number(v), 1);
    } else {
      enc = Buffer.alloc(9);
      enc[0] = 0xe0;
      enc.writeBigInt64LE(v, 1);
    }
  } else {
    const s = buf(e);
    if (s.length < 64) enc = Buffer.concat([Buffer.from([s.length]), s]);
    else if (s.length < 16384)
      enc = Buffer.concat([Buffer.from([0x40 | (s.length >> 8), s.length & 0xff]), s]);
    else {
      const h = Buffer.alloc(5);
      h[0] = 0x80;
      h.writeUInt32BE(s.length, 1);
      enc = Buffer.concat([h, s]);
    }
  }
  return Buffer.concat([prev, enc]);
}

function u32(n: number): Buffer {
  const b = Buffer.alloc(4);
  b.writeUInt32LE(n);
  return b;
}

export function ziplist(elements: El[]): Buffer {
  const entries: Buffer[] = [];
  let prev = 0;
  for (const e of elements) {
    const entry = zlEntry(e, prev);
    entries.push(entry);
    prev = entry.length;
  }
  const body = Buffer.concat(entries);
  const out = Buffer.alloc(10 + body.length + 1);
  out.writeUInt32LE(out.length, 0);
  out.writeUInt32LE(10 + body.length - prev, 4);
  out.writeUInt16LE(elements.length, 8);
  body.copy(out, 10);
  out[out.length - 1] = 0xff;
  return out;
}

const CHARSET = 'ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_';
export function moduleId(name: string, encver: number): bigint {
  let id = 0n;
  for (const ch of name) id = (id << 6n) | BigInt(CHARSET.indexOf(ch));
  return (id << 10n) | BigInt(encver);
}

export class RdbWriter {
  private parts: Buffer[] = [];

  constructor(version: number) {
    this.raw(Buffer.from(`REDIS${String(version).padStart(4, '0')}`));
  }

  raw(b: Buffer): this {
    this.parts.push(b);
    return this;
  }
  byte(n: number): this {
    return this.raw(Buffer.from([n]));
  }
  len(n: number | bigint): this {
    return this.raw(encodeLength(n));
  }
  str(s: Buffer | string): this {
    const b = buf(s);
    return this.len(b.length).raw(b);
  }
  ms(n: number): this {
    return this.raw(u64le(n));
  }
  aux(k: string, v: string): this {
    return this.byte(250).str(k).str(v);
  }
  key(type: number, name: string): this {
    return this.byte(type).str(name);
  }
  streamId(ms: number, seq: number): this {
    return this.len(ms).len(seq);
  }
  rawId(ms: number, seq: number): this {
    const b = Buffer.alloc(16);
    b.writeBigUInt64BE(BigInt(ms), 0);
    b.writeBigUInt64BE(BigInt(seq), 8);
    return this.raw(b);
  }
  end(checksum = true): Buffer {
    this.byte(255);
    const body = Buffer.concat(this.parts);
    if (!checksum) return body;
    return Buffer.concat([body, new Crc64().update(body).digestBytes()]);
  }
}
