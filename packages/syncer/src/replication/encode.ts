export type Arg = string | Buffer | number;

/** A command as a RESP multibulk, the form Redis expects from a replica. */
export function encodeCommand(args: readonly Arg[]): Buffer {
  const parts: Buffer[] = [Buffer.from(`*${args.length}\r\n`)];
  for (const a of args) {
    const b = Buffer.isBuffer(a) ? a : Buffer.from(String(a));
    parts.push(Buffer.from(`$${b.length}\r\n`), b, CRLF);
  }
  return Buffer.concat(parts);
}

const CRLF = Buffer.from('\r\n');

/** `REPLCONF ACK <offset>`, sent every ack interval and on GETACK. */
export function encodeAck(offset: number): Buffer {
  const n = String(offset);
  return Buffer.from(`*3\r\n$8\r\nREPLCONF\r\n$3\r\nACK\r\n$${n.length}\r\n${n}\r\n`, 'latin1');
}
