export { type AskTarget, askRedis } from './ask.js';
export { RequestView, readCommand, splitInlineArgs } from './command.js';
export { CommandFlag, CommandInfo, CommandTable, type KeySpec, keyPositions } from './command-table.js';
export { type FrameHandler, RespDecoder, type RespDecoderOptions } from './decoder.js';
export { isRespProtocolError, RespProtocolError } from './errors.js';
export { RespFrame } from './frame.js';
export { type PlainReply, takeReplies, toPlainReply } from './replies.js';
export { isAggregateType, isBlobType, RespType, type RespTypeByte, respTypeName } from './types.js';
export {
  Double,
  ErrorReply,
  encodeValue,
  Push,
  type RespValue,
  SimpleString,
  type ToValueOptions,
  toValue,
  VerbatimString,
  writeValue,
} from './values.js';
export { encodeCommand, RespWriter } from './writer.js';
