import { createHash } from 'node:crypto';

/**
 * The differential script: a few hundred commands over every data type, run against a plain
 * redis-server and against minirs databases; the replies must match byte for byte, except
 * where RS documents a difference. Flags say which:
 * - sorted: KEYS and other replies whose order differs across shards: compared as sorted lists.
 * - crossslot: keys in different slots; a sharded database answers CROSSSLOT instead.
 * - ignore: run it, do not compare (HELLO carries the connection id).
 */
export type Flag = 'sorted' | 'crossslot' | 'ignore';
export type Step = [args: (string | number)[], flag?: Flag];

const EXPIRE_AT = 4102444800; // 2100-01-01: EXPIRETIME/TTL-free, deterministic.

export function differentialScript(): Step[] {
  const s: Step[] = [];
  const add = (args: (string | number)[], flag?: Flag) => s.push([args, flag]);

  // Strings and numbers.
  add(['FLUSHDB']);
  add(['SET', 'str:a', 'hello']);
  add(['GET', 'str:a']);
  add(['APPEND', 'str:a', ' world']);
  add(['STRLEN', 'str:a']);
  add(['GETRANGE', 'str:a', 0, 4]);
  add(['SETRANGE', 'str:a', 6, 'WORLD']);
  add(['GET', 'str:a']);
  add(['SET', 'str:a', 'x', 'NX']);
  add(['SET', 'str:b', 'y', 'XX']);
  add(['SET', 'str:b', 'y', 'NX', 'GET']);
  add(['SETNX', 'str:c', 'z']);
  add(['GETSET', 'str:c', 'zz']);
  add(['GETDEL', 'str:c']);
  add(['GET', 'str:c']);
  add(['SET', 'n', '10']);
  for (let i = 0; i < 10; i++) add(['INCR', 'n']);
  add(['INCRBY', 'n', 100]);
  add(['DECR', 'n']);
  add(['DECRBY', 'n', 7]);
  add(['INCRBYFLOAT', 'f', '1.5']);
  add(['INCRBYFLOAT', 'f', '-0.25']);
  add(['INCR', 'str:a']);
  add(['SET', 'e', 'v', 'EXAT', EXPIRE_AT]);
  add(['EXPIRETIME', 'e']);
  add(['PERSIST', 'e']);
  add(['TTL', 'e']);
  add(['EXPIREAT', 'e', EXPIRE_AT]);
  add(['PEXPIRETIME', 'e']);
  add(['GETEX', 'e', 'PERSIST']);
  add(['TTL', 'missing']);
  add(['MSET', '{m}1', 'a', '{m}2', 'b', '{m}3', 'c']);
  add(['MGET', '{m}1', '{m}2', '{m}3', '{m}4']);
  add(['MSETNX', '{m}4', 'd', '{m}5', 'e']);
  add(['MSETNX', '{m}1', 'd', '{m}6', 'e']);
  add(['MSET', 'x1', '1', 'x2', '2', 'x3', '3', 'x4', '4']);
  add(['MGET', 'x1', 'x2', 'x3', 'x4', 'x5']);
  add(['EXISTS', 'x1', 'x2', 'x1', 'nope']);
  add(['TOUCH', 'x1', 'x2', 'x3']);
  add(['MSETNX', 'y1', '1', 'y2', '2'], 'crossslot');
  add(['DEL', 'y1', 'y2'], 'ignore');
  add(['LCS', '{m}1', '{m}2']);
  add(['SET', 'bits', '']);
  add(['SETBIT', 'bits', 7, 1]);
  add(['SETBIT', 'bits', 100, 1]);
  add(['GETBIT', 'bits', 7]);
  add(['BITCOUNT', 'bits']);
  add(['BITPOS', 'bits', 1]);
  add(['BITFIELD', 'bits', 'INCRBY', 'u8', 0, 5, 'GET', 'u8', 0]);
  add(['SET', '{b}1', 'abc']);
  add(['SET', '{b}2', 'abd']);
  add(['BITOP', 'XOR', '{b}3', '{b}1', '{b}2']);
  add(['GET', '{b}3']);
  add(['BITOP', 'AND', 'bdest', '{b}1', '{b}2'], 'crossslot');
  add(['DEL', 'bdest'], 'ignore');
  add(['TYPE', 'str:a']);
  add(['RENAME', 'no-such-key', 'str:renamed'], 'crossslot');
  add(['RENAME', '{r}a', '{r}b']);
  add(['SET', '{r}a', '1']);
  add(['RENAME', '{r}a', '{r}b']);
  add(['RENAMENX', '{r}b', '{r}c']);
  add(['COPY', '{r}c', '{r}d']);
  add(['GET', '{r}d']);
  add(['OBJECT', 'ENCODING', 'n']);
  add(['DUMP', 'n']);

  // Lists.
  add(['RPUSH', 'list', 'a', 'b', 'c', 'd', 'e']);
  add(['LPUSH', 'list', 'z']);
  add(['LRANGE', 'list', 0, -1]);
  add(['LLEN', 'list']);
  add(['LINDEX', 'list', 2]);
  add(['LSET', 'list', 0, 'Z']);
  add(['LINSERT', 'list', 'BEFORE', 'c', 'bb']);
  add(['LREM', 'list', 1, 'bb']);
  add(['LPOS', 'list', 'c']);
  add(['LTRIM', 'list', 0, 4]);
  add(['LPOP', 'list']);
  add(['RPOP', 'list', 2]);
  add(['LRANGE', 'list', 0, -1]);
  add(['RPUSH', '{l}src', '1', '2', '3']);
  add(['LMOVE', '{l}src', '{l}dst', 'LEFT', 'RIGHT']);
  add(['RPOPLPUSH', '{l}src', '{l}dst']);
  add(['LMPOP', 2, '{l}src', '{l}dst', 'LEFT', 'COUNT', 2]);
  add(['BLPOP', '{l}dst', '{l}src', 1]);
  add(['BLPOP', 'emptylist', 0.01]);
  add(['BRPOP', '{l}src', '{l}dst', 0.01]);
  add(['LMOVE', 'nolist', 'otherlist', 'LEFT', 'LEFT'], 'crossslot');
  add(['LPUSHX', 'nolist', 'a']);
  add(['LRANGE', 'nolist', 0, -1]);

  // Hashes.
  add(['HSET', 'hash', 'f1', 'v1', 'f2', 'v2', 'n', '5']);
  add(['HGET', 'hash', 'f1']);
  add(['HMGET', 'hash', 'f1', 'f2', 'nope']);
  add(['HGETALL', 'hash']);
  add(['HKEYS', 'hash']);
  add(['HVALS', 'hash']);
  add(['HLEN', 'hash']);
  add(['HEXISTS', 'hash', 'f1']);
  add(['HINCRBY', 'hash', 'n', 10]);
  add(['HINCRBYFLOAT', 'hash', 'n', '0.5']);
  add(['HSETNX', 'hash', 'f1', 'x']);
  add(['HSTRLEN', 'hash', 'f2']);
  add(['HDEL', 'hash', 'f2', 'nope']);
  add(['HSCAN', 'hash', 0]);
  add(['HRANDFIELD', 'hash', -5, 'WITHVALUES'], 'ignore');
  add(['HGETALL', 'nohash']);
  for (let i = 0; i < 20; i++) add(['HSET', 'bighash', `field${i}`, `value${i}`]);
  add(['HLEN', 'bighash']);
  add(['OBJECT', 'ENCODING', 'bighash']);

  // Sets.
  add(['SADD', 'set', 'a', 'b', 'c', '1', '2']);
  add(['SCARD', 'set']);
  add(['SISMEMBER', 'set', 'a']);
  add(['SMISMEMBER', 'set', 'a', 'zz']);
  add(['SMEMBERS', 'set'], 'sorted');
  add(['SREM', 'set', 'c']);
  add(['SADD', '{s}1', 'a', 'b', 'c']);
  add(['SADD', '{s}2', 'b', 'c', 'd']);
  add(['SINTER', '{s}1', '{s}2'], 'sorted');
  add(['SUNION', '{s}1', '{s}2'], 'sorted');
  add(['SDIFF', '{s}1', '{s}2'], 'sorted');
  add(['SINTERCARD', 2, '{s}1', '{s}2']);
  add(['SINTERSTORE', '{s}3', '{s}1', '{s}2']);
  add(['SMEMBERS', '{s}3'], 'sorted');
  add(['SMOVE', '{s}1', '{s}2', 'a']);
  add(['SUNIONSTORE', 'sdest', '{s}1', 'set'], 'crossslot');
  add(['DEL', 'sdest'], 'ignore');
  add(['SINTER', 'set', '{s}1'], 'crossslot');
  add(['SRANDMEMBER', 'set', 0]);
  add(['SSCAN', '{s}2', 0, 'COUNT', 100], 'sorted');

  // Sorted sets.
  add(['ZADD', 'z', 1, 'a', 2, 'b', 3, 'c', 4, 'd']);
  add(['ZADD', 'z', 'XX', 'CH', 10, 'a']);
  add(['ZADD', 'z', 'INCR', 1, 'b']);
  add(['ZSCORE', 'z', 'b']);
  add(['ZMSCORE', 'z', 'a', 'nope']);
  add(['ZRANGE', 'z', 0, -1, 'WITHSCORES']);
  add(['ZRANGE', 'z', '(1', '+inf', 'BYSCORE', 'LIMIT', 0, 2]);
  add(['ZREVRANGE', 'z', 0, 1]);
  add(['ZRANGEBYSCORE', 'z', '-inf', 3]);
  add(['ZRANGEBYLEX', 'z', '-', '+']);
  add(['ZRANK', 'z', 'c']);
  add(['ZREVRANK', 'z', 'c']);
  add(['ZCARD', 'z']);
  add(['ZCOUNT', 'z', 0, 5]);
  add(['ZINCRBY', 'z', 2.5, 'c']);
  add(['ZREM', 'z', 'd']);
  add(['ZPOPMIN', 'z']);
  add(['ZPOPMAX', 'z', 1]);
  add(['BZPOPMIN', 'z', 0.01]);
  add(['BZPOPMAX', 'zempty', 0.01]);
  add(['ZADD', '{z}1', 1, 'a', 2, 'b']);
  add(['ZADD', '{z}2', 3, 'b', 4, 'c']);
  add(['ZUNIONSTORE', '{z}3', 2, '{z}1', '{z}2', 'WEIGHTS', 1, 2]);
  add(['ZRANGE', '{z}3', 0, -1, 'WITHSCORES']);
  add(['ZINTER', 2, '{z}1', '{z}2', 'WITHSCORES']);
  add(['ZDIFF', 2, '{z}1', '{z}2']);
  add(['ZINTERCARD', 2, '{z}1', '{z}2']);
  add(['ZRANGESTORE', '{z}4', '{z}3', 0, 1]);
  add(['ZMPOP', 2, '{z}1', '{z}2', 'MIN', 'COUNT', 1]);
  add(['ZUNIONSTORE', 'zz', 2, '{z}1', 'z'], 'crossslot');
  add(['DEL', 'zz'], 'ignore');
  add(['ZSCAN', '{z}3', 0]);

  // Streams.
  add(['XADD', 'stream', '1-1', 'f', 'v1']);
  add(['XADD', 'stream', '1-2', 'f', 'v2']);
  add(['XADD', 'stream', '2-0', 'f', 'v3', 'g', 'w']);
  add(['XLEN', 'stream']);
  add(['XRANGE', 'stream', '-', '+']);
  add(['XREVRANGE', 'stream', '+', '-', 'COUNT', 1]);
  add(['XREAD', 'COUNT', 2, 'STREAMS', 'stream', '0']);
  add(['XGROUP', 'CREATE', 'stream', 'grp', '0']);
  add(['XREADGROUP', 'GROUP', 'grp', 'c1', 'COUNT', 2, 'STREAMS', 'stream', '>']);
  add(['XPENDING', 'stream', 'grp']);
  add(['XACK', 'stream', 'grp', '1-1']);
  add(['XCLAIM', 'stream', 'grp', 'c2', 0, '1-2', 'JUSTID']);
  add(['XINFO', 'GROUPS', 'stream'], 'ignore');
  add(['XTRIM', 'stream', 'MAXLEN', 2]);
  add(['XDEL', 'stream', '2-0']);
  add(['XRANGE', 'stream', '-', '+']);
  add(['XADD', '{x}1', '1-0', 'a', '1']);
  add(['XADD', '{x}2', '1-0', 'b', '2']);
  add(['XREAD', 'STREAMS', '{x}1', '{x}2', '0', '0']);
  add(['XREAD', 'BLOCK', 10, 'STREAMS', '{x}1', '$']);
  add(['XREAD', 'STREAMS', 'stream', '{x}1', '0', '0'], 'crossslot');

  // HyperLogLog and geo.
  add(['PFADD', '{h}1', 'a', 'b', 'c']);
  add(['PFADD', '{h}2', 'c', 'd']);
  add(['PFCOUNT', '{h}1']);
  add(['PFMERGE', '{h}3', '{h}1', '{h}2']);
  add(['PFCOUNT', '{h}3']);
  add(['PFCOUNT', '{h}1', 'hll-other'], 'crossslot');
  add(['GEOADD', 'geo', '13.361389', '38.115556', 'Palermo', '15.087269', '37.502669', 'Catania']);
  add(['GEODIST', 'geo', 'Palermo', 'Catania', 'km']);
  add(['GEOPOS', 'geo', 'Palermo']);
  add(['GEOSEARCH', 'geo', 'FROMLONLAT', 15, 37, 'BYRADIUS', 200, 'km', 'ASC']);
  add(['GEOHASH', 'geo', 'Catania']);

  // Keys, expiry, scripts, transactions and errors.
  add(['DEL', 'x1', 'x2', '{m}1', 'nope']);
  add(['UNLINK', 'x3', 'x4']);
  add(['KEYS', '{m}*'], 'sorted');
  add(['KEYS', '*'], 'sorted');
  add(['DBSIZE']);
  add(['EXPIRE', 'n', 1000, 'NX']);
  add(['EXPIRE', 'n', 1000, 'NX']);
  add(['PERSIST', 'n']);
  add(['EVAL', "return redis.call('GET', KEYS[1])", 1, 'n']);
  add(['EVAL', 'return {1,2,{3,"x"},false}', 0]);
  add(['EVAL', "return redis.call('MGET', KEYS[1], KEYS[2])", 2, '{m}2', '{m}3']);
  add(['EVAL', 'return 1', 2, 'n', 'f'], 'crossslot');
  const script = 'return ARGV[1]';
  const sha = createHash('sha1').update(script).digest('hex');
  add(['SCRIPT', 'LOAD', script]);
  add(['EVALSHA', sha, 0, 'via-sha']);
  add(['SCRIPT', 'EXISTS', sha, '0'.repeat(40)]);
  add(['MULTI']);
  add(['INCR', '{t}c']);
  add(['INCR', '{t}c']);
  add(['GET', '{t}c']);
  add(['EXEC']);
  add(['MULTI']);
  add(['SET', '{t}a', '1']);
  add(['DISCARD']);
  add(['GET', '{t}a']);
  add(['EXEC']);
  add(['WATCH', '{t}c']);
  add(['MULTI']);
  add(['INCR', '{t}c']);
  add(['EXEC']);
  add(['UNWATCH']);
  add(['NOSUCHCOMMAND', 'x']);
  add(['GET']);
  add(['SET', 'k']);
  add(['LPUSH', 'str:b', 'x']);
  add(['HGET', 'list', 'f']);
  add(['INCR', 'hash']);
  add(['ECHO', 'bye']);
  add(['PING']);
  add(['PING', 'msg']);
  add(['SELECT', 0]);

  // The same kinds of replies in RESP3.
  add(['HELLO', 3], 'ignore');
  add(['HGETALL', 'hash']);
  add(['ZSCORE', '{z}3', 'b']);
  add(['ZRANGE', '{z}3', 0, -1, 'WITHSCORES']);
  add(['SMEMBERS', '{s}2'], 'sorted');
  add(['GET', 'missing']);
  add(['XINFO', 'STREAM', '{x}1'], 'ignore');
  add(['EVAL', 'return {1,2,{3,"x"},false}', 0]);
  add(['EVAL', "return redis.setresp(3) and redis.call('HGETALL', KEYS[1])", 1, 'hash']);
  add(['CONFIG', 'GET', 'hash-max-listpack-entries']);
  add(['MGET', '{m}2', '{m}3', 'missing']);
  add(['MGET', 'x1', 'str:b', 'missing', 'n']);
  add(['EXISTS', 'hash', 'z', 'list', 'nope']);
  add(['DEL', 'hash', 'z', 'list', 'nope']);
  add(['DBSIZE']);
  add(['KEYS', '*'], 'sorted');
  add(['HELLO', 2], 'ignore');
  add(['FLUSHALL']);
  add(['DBSIZE']);
  return s;
}
