/**
 * CRC16-XMODEM (poly 0x1021, init 0), the hash of Redis Cluster's slots, over a byte range.
 *
 * Why not cluster-key-slot's `generate`: it applies the OSS `{...}` hash-tag rule to whatever
 * it is given, and minirs picks the tag with the database's shard_key_regex rules instead; a
 * tag that itself holds `{x}` would be hashed a second time. The tests check this function
 * against cluster-key-slot on inputs where the brace rule cannot apply.
 */
const TABLE = new Uint16Array(256);
for (let i = 0; i < 256; i++) {
  let c = i << 8;
  for (let j = 0; j < 8; j++) c = c & 0x8000 ? ((c << 1) ^ 0x1021) & 0xffff : (c << 1) & 0xffff;
  TABLE[i] = c;
}

export function crc16(buf: Uint8Array, start = 0, end = buf.length): number {
  let crc = 0;
  for (let i = start; i < end; i++) crc = ((crc << 8) & 0xffff) ^ TABLE[((crc >> 8) ^ buf[i]!) & 0xff]!;
  return crc;
}

export const SLOTS = 16384;

/** The hash slot of the tag buf[start, end). */
export function slotOfTag(buf: Uint8Array, start: number, end: number): number {
  return crc16(buf, start, end) & (SLOTS - 1);
}
