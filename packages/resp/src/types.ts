/**
 * RESP type bytes. RESP2 has the first five; RESP3 adds the rest. A frame's `type` is the byte
 * itself, so a switch on it costs nothing and a dump of `String.fromCharCode(type)` is readable.
 */
export const RespType = {
  SimpleString: 0x2b, // +
  Error: 0x2d, // -
  Integer: 0x3a, // :
  BulkString: 0x24, // $
  Array: 0x2a, // *
  Null: 0x5f, // _
  Double: 0x2c, // ,
  Boolean: 0x23, // #
  BigNumber: 0x28, // (
  BlobError: 0x21, // !
  VerbatimString: 0x3d, // =
  Map: 0x25, // %
  Set: 0x7e, // ~
  Push: 0x3e, // >
  Attribute: 0x7c, // |
  /** Not a protocol byte: a request written as a plain line ("PING\r\n"), see RespDecoder `requests`. */
  Inline: 0x00,
} as const;

export type RespTypeByte = (typeof RespType)[keyof typeof RespType];

export function respTypeName(type: number): string {
  switch (type) {
    case RespType.SimpleString:
      return 'simple string';
    case RespType.Error:
      return 'error';
    case RespType.Integer:
      return 'integer';
    case RespType.BulkString:
      return 'bulk string';
    case RespType.Array:
      return 'array';
    case RespType.Null:
      return 'null';
    case RespType.Double:
      return 'double';
    case RespType.Boolean:
      return 'boolean';
    case RespType.BigNumber:
      return 'big number';
    case RespType.BlobError:
      return 'blob error';
    case RespType.VerbatimString:
      return 'verbatim string';
    case RespType.Map:
      return 'map';
    case RespType.Set:
      return 'set';
    case RespType.Push:
      return 'push';
    case RespType.Attribute:
      return 'attribute';
    case RespType.Inline:
      return 'inline command';
    default:
      return `unknown type 0x${type.toString(16).padStart(2, '0')}`;
  }
}

/** Aggregates whose header counts elements (maps and attributes count pairs). */
export function isAggregateType(type: number): boolean {
  return (
    type === RespType.Array ||
    type === RespType.Map ||
    type === RespType.Set ||
    type === RespType.Push ||
    type === RespType.Attribute
  );
}

/** Types whose header is a byte length followed by that many bytes and CRLF. */
export function isBlobType(type: number): boolean {
  return type === RespType.BulkString || type === RespType.BlobError || type === RespType.VerbatimString;
}
