// Redis Cluster's CRC16 slot hash is a library (it lives in @minirs/common).
export { crc16, SLOTS, slotOfTag } from '@minirs/common';
