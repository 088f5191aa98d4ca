// The command table is a library (it lives in @minirs/resp, shared with the syncer's routing).
export { CommandFlag, CommandInfo, CommandTable, type KeySpec, keyPositions } from '@minirs/resp';
