/**
 * A module type id is 64 bits: nine 6-bit characters of the type name (first character in the
 * top bits) and a 10-bit encoding version in the low bits (Redis moduleTypeNameByID).
 */
const CHARSET = 'ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_';

export interface ModuleTypeId {
  id: bigint;
  /** The module type's 9-character name, e.g. "ReJSON-RL" or "MBbloom--". */
  name: string;
  /** The module's own encoding version (low 10 bits of the id). */
  encver: number;
}

export function decodeModuleId(id: bigint): ModuleTypeId {
  let rest = id >> 10n;
  let name = '';
  for (let i = 0; i < 9; i++) {
    name = CHARSET[Number(rest & 63n)] + name;
    rest >>= 6n;
  }
  return { id, name, encver: Number(id & 1023n) };
}
