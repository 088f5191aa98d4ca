import type { CorruptFn, RdbByteReader } from './byte-reader.js';
import { ModuleOpcode } from './constants.js';

/**
 * Walks a module value (or a module AUX payload) by the opcodes Redis writes around each field,
 * up to its EOF opcode, without understanding it: minirs cannot load module data, but with
 * `modules: 'skip'` it can go past it and count it. Resumable: it checkpoints after every field,
 * so a NEED_MORE mid-value resumes at the next field.
 */
export function skipModuleValue(r: RdbByteReader, corrupt: CorruptFn): void {
  for (;;) {
    const at = r.at;
    const op = r.len();
    switch (op) {
      case ModuleOpcode.EOF:
        r.checkpoint();
        return;
      case ModuleOpcode.SINT:
      case ModuleOpcode.UINT:
        r.lenBig();
        break;
      case ModuleOpcode.FLOAT:
        r.bytes(4);
        break;
      case ModuleOpcode.DOUBLE:
        r.bytes(8);
        break;
      case ModuleOpcode.STRING:
        r.str();
        break;
      default:
        throw corrupt(`unknown module value opcode ${op}`, at);
    }
    r.checkpoint();
  }
}
