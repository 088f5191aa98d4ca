import { createConnection, type Socket } from 'node:net';
import { createGzip, type Gzip, constants as zlibConstants } from 'node:zlib';
import { encodeCommand, RespDecoder, type RespFrame } from '@minirs/resp';
import type { Session } from '../session.js';

/**
 * Replication support for `AUTH admin <admin pass>` connections (the syncer of a destination
 * database): MINIRS.SHARDS lists the database's shards, MINIRS.LINK turns the connection into a
 * raw byte pipe to one shard's redis-server, already authenticated with the internal password,
 * over which the syncer speaks REPLCONF/PSYNC itself.
 */

const NOPERM = 'NOPERM this command is reserved for replication links (AUTH admin <admin pass>)';

/** MINIRS.SHARDS -> [[shard uid, slot_start, slot_end], ...] in slot order. */
export function minirsShards(c: Session): boolean {
  if (!c.admin) {
    c.replyError(NOPERM);
    return true;
  }
  const pools = c.endpoint.pools;
  const w = c.writer().array(pools.length);
  for (const p of pools) w.array(3).integer(p.uid).integer(p.route.slot_start).integer(p.route.slot_end);
  c.replyBytes(w.finish());
  return true;
}

/**
 * MINIRS.LINK <shard uid> [COMPRESS <1-9>] -> +OK, then raw bytes both ways between the client and
 * that shard. With COMPRESS, what the shard sends (the RDB and the stream) is gzipped, flushed per
 * chunk so the stream's latency stays low; what the client sends (REPLCONF ACKs) is not.
 */
export function minirsLink(c: Session): boolean {
  if (!c.admin) {
    c.replyError(NOPERM);
    return true;
  }
  const v = c.view;
  if (v.argc !== 2 && v.argc !== 4) {
    c.replyError("ERR wrong number of arguments for 'minirs.link' command");
    return true;
  }
  let level = 0;
  if (v.argc === 4) {
    level = v.argInt(3);
    if (v.argString(2).toUpperCase() !== 'COMPRESS' || !Number.isInteger(level) || level < 1 || level > 9) {
      c.replyError('ERR syntax: MINIRS.LINK <shard uid> [COMPRESS <level 1-9>]');
      return true;
    }
  }
  const uid = v.argInt(1);
  // After a failover the link asks for the shard it had: the master of that slot range now.
  const pool = c.endpoint.pools.find((p) => p.uid === uid) ?? c.endpoint.pools.find((p) => p.route.aliases?.includes(uid));
  if (!pool) {
    c.replyError(`ERR no shard ${v.argString(1).slice(0, 20)} in this database; MINIRS.SHARDS lists them`);
    return true;
  }
  if (c.replies.length > 0) return false; // replies to earlier commands go out first
  c.holdBarrier();
  const { host, port } = pool.route;
  const label = pool.label;
  const shard = createConnection({ host, port, localAddress: process.env.MINIRS_NODE_ADDR || undefined });
  shard.setNoDelay(true);
  const decoder = new RespDecoder();
  let settled = false;
  const timer = setTimeout(
    () => fail(`could not reach ${label} within the timeout`, true),
    c.endpoint.ctx.timeoutMs(),
  );
  // A shard that cannot be reached (restarting, its node down or cut off) is worth retrying:
  // TRYAGAIN, which replicas treat as transient; anything else is an ERR.
  const fail = (why: string, transient = false) => {
    if (settled) return;
    settled = true;
    clearTimeout(timer);
    shard.destroy();
    c.releaseBarrier();
    c.replyError(`${transient ? 'TRYAGAIN' : 'ERR'} MINIRS.LINK to ${label} failed: ${why}`);
    c.pump();
  };
  shard.on('error', (err) => fail(err.message, true));
  shard.on('close', () => fail('connection closed by the shard', true));
  const onData = (chunk: Buffer) => {
    let reply: RespFrame | undefined;
    let rest: Buffer | undefined;
    try {
      decoder.write(chunk, (f) => {
        reply = f;
        rest = decoder.takeBuffered();
      });
    } catch (err) {
      fail((err as Error).message);
      return;
    }
    if (!reply || settled) return;
    if (reply.isError) {
      fail(`shard refused the internal password: ${reply.str()}`);
      return;
    }
    settled = true;
    clearTimeout(timer);
    shard.off('data', onData);
    shard.removeAllListeners('close');
    splice(c, shard, rest ?? Buffer.alloc(0), level);
  };
  shard.on('data', onData);
  const authCmd = encodeCommand(['AUTH', c.endpoint.ctx.internalPassword]);
  shard.write(authCmd);
  c.endpoint.log.info(
    { bdb_uid: c.endpoint.uid, shard: pool.uid, client: c.remoteAddress, compression: level },
    'replication link opened',
  );
  return true;
}

/** From now on the client's socket and the shard's are one pipe. */
function splice(c: Session, shard: Socket, fromShard: Buffer, level: number): void {
  const client = c.socket;
  const ok = Buffer.from('+OK\r\n');
  // +OK must reach the client before any shard byte: write it straight, after queued output.
  c.out.flush();
  client.write(ok);
  const fromClient = c.detach();
  if (fromClient.length > 0) shard.write(fromClient);
  client.pipe(shard);
  let gzip: Gzip | undefined;
  if (level > 0) {
    gzip = createGzip({ level, flush: zlibConstants.Z_SYNC_FLUSH });
    if (fromShard.length > 0) gzip.write(fromShard);
    shard.pipe(gzip).pipe(client);
    gzip.on('error', () => closeBoth());
  } else {
    if (fromShard.length > 0) client.write(fromShard);
    shard.pipe(client);
  }
  client.resume();
  // Regenerating the admin password cuts the links that authenticated with the old one (as in
  // RS): their destinations then fail AUTH on reconnect and stop until their URI is updated.
  const adminPass = c.endpoint.config.admin_pass;
  const watch = setInterval(() => {
    if (c.endpoint.config.admin_pass === adminPass) return;
    c.endpoint.log.info(
      { bdb_uid: c.endpoint.uid, client: c.remoteAddress },
      'replication link closed: the admin password was regenerated',
    );
    closeBoth();
  }, 200);
  watch.unref();
  const closeBoth = () => {
    clearInterval(watch);
    client.destroy();
    shard.destroy();
    gzip?.destroy();
  };
  client.on('close', closeBoth);
  shard.on('close', closeBoth);
  shard.on('error', closeBoth);
}
