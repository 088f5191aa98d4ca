// The RESP codec is @minirs/resp's; re-exported for the link runner's raw writes.
export { encodeCommand, ErrorReply } from '@minirs/resp';
export type { ReplicationPosition } from './applied-tracker.js';
export { argIs, type ReplicationCommand } from './command.js';
export { CommandStreamReader } from './command-stream-reader.js';
export type { FullSyncEnd, FullSyncStart, PartialSync, ReplicationConsumer } from './consumer.js';
export { errorFromReply, errorFromSocket, ReplicationError } from './errors.js';
export type { Arg, HandshakeSession, Reply } from './handshake-io.js';
export {
  type LinkState,
  ReplicationLink,
  type ReplicationLinkEvents,
  type ReplicationLinkOptions,
  type RetryPolicy,
} from './link.js';
export { type RdbPreamble, RdbAuxScanner } from './rdb-aux-scanner.js';
export { EOF_MARK_BYTES, type RdbTransferHeader, RdbTransferReader } from './rdb-transfer-reader.js';
export {
  readInfoFields,
  readReplicationInfo,
  ReplicationInfoProbe,
  type ReplicationInfo,
  type ReplicationInfoOptions,
} from './replication-info.js';
export {
  type SocketFactory,
  type TcpTarget,
  type TlsTarget,
  tcpSocketFactory,
  tlsSocketFactory,
} from './socket-factory.js';
