import { rng } from '@minirs/harness';
import { encodeCommand } from '@minirs/resp';

/**
 * Seeded random pipelines for the pipelined differential test: transactions (MULTI/EXEC,
 * DISCARD, WATCH/UNWATCH, with errors inside: unknown commands, wrong arity, WRONGTYPE at
 * EXEC, nested MULTI, WATCH inside MULTI; EXEC/DISCARD without MULTI), plain commands and
 * fan-out commands (DEL/MGET/MSET/EXISTS across shards), written as one byte stream that mixes
 * RESP multibulk and inline commands.
 *
 * Transactions use the keys of one hash tag, so a sharded database must run them exactly as
 * Redis does. A step marked `crossSlot` names keys of two slots where RS refuses that
 * (inside a transaction, or a multi-key command other than the fan-out ones): a sharded
 * database answers it with CROSSSLOT (and then EXEC with EXECABORT). The reference for a
 * sharded database is redis-server running the same stream with each such step replaced by
 * an unknown command (which Redis refuses with no effect and which aborts a transaction the
 * same way), its reply then expected to be the CROSSSLOT error.
 */

export interface MixStep {
  args: string[];
  inline: boolean;
  crossSlot?: boolean;
}

export const CROSSSLOT_REPLY = "-CROSSSLOT Keys in request don't hash to the same slot\r\n";
/** What the reference runs in place of a crossSlot step. */
export const CROSSSLOT_STAND_IN = ['MINIRS.TEST.CROSSSLOT'];

const TAGS = ['a', 'b', 'c', 'd', 'e', 'f'];
const KINDS = ['n', 'l', 'h', 's', 'str'] as const;

export function generateMix(seed: number, steps: number): MixStep[] {
  const r = rng(seed);
  const pick = <T>(xs: readonly T[]): T => xs[Math.floor(r() * xs.length)]!;
  const chance = (p: number) => r() < p;
  let value = 0;
  const v = () => `v${value++}`;
  const key = (tag = pick(TAGS), kind: string = pick(KINDS)) => `{${tag}}:${kind}`;
  const plainKey = () => (chance(0.5) ? `k${Math.floor(r() * 8)}` : key());
  const out: MixStep[] = [];
  const add = (args: string[], crossSlot = false) =>
    out.push({ args, inline: chance(0.3), ...(crossSlot ? { crossSlot } : {}) });

  /** A command on the keys of one tag (any type, so WRONGTYPE happens at EXEC too). */
  const onTag = (tag: string): string[] => {
    const k = (kind: string) => key(tag, kind);
    switch (Math.floor(r() * 14)) {
      case 0:
        return ['INCR', k(pick(['n', 'n', 'n', 'l']))];
      case 1:
        return ['INCRBY', k('n'), String(1 + Math.floor(r() * 5))];
      case 2:
        return ['LPUSH', k(pick(['l', 'l', 'l', 'n'])), v()];
      case 3:
        return ['LRANGE', k('l'), '0', '-1'];
      case 4:
        return ['HSET', k('h'), `f${Math.floor(r() * 3)}`, v()];
      case 5:
        return ['HGETALL', k('h')];
      case 6:
        return ['SADD', k('s'), `m${Math.floor(r() * 4)}`];
      case 7:
        return ['SCARD', k('s')];
      case 8:
        return ['SET', k('str'), v()];
      case 9:
        return ['APPEND', k('str'), v()];
      case 10:
        return ['GET', k(pick(['str', 'n', 'l']))];
      case 11:
        return ['DEL', k(pick(KINDS)), k(pick(KINDS))];
      case 12:
        return ['MGET', k('str'), k('n')];
      default:
        return ['EXISTS', k(pick(KINDS))];
    }
  };

  const transaction = () => {
    const tag = pick(TAGS);
    const watched = chance(0.35);
    if (watched) add(['WATCH', key(tag)]);
    if (watched && chance(0.3)) add(onTag(tag)); // touches (maybe) the watched key: EXEC may be nil
    if (watched && chance(0.15)) add(['WATCH', key(pick(TAGS.filter((t) => t !== tag)))], true);
    add(['MULTI']);
    const n = 1 + Math.floor(r() * 5);
    for (let i = 0; i < n; i++) {
      const x = r();
      if (x < 0.06) add(['NOSUCHCMD', v()]);
      else if (x < 0.1) add(['GET']);
      else if (x < 0.13) add(['SET', key(tag, 'str')]);
      else if (x < 0.16) add(['MULTI']);
      else if (x < 0.19) add(['WATCH', key(tag)]);
      else if (x < 0.24) add([pick(['PING', 'ECHO']), v()].slice(0, chance(0.5) ? 1 : 2));
      else if (x < 0.27) add(['MGET', key(tag, 'n'), key(pick(TAGS.filter((t) => t !== tag)), 'n')], true);
      else if (x < 0.3) add(['UNWATCH']);
      else add(onTag(tag));
    }
    add([chance(0.85) ? 'EXEC' : 'DISCARD']);
  };

  const plain = () => {
    const x = r();
    if (x < 0.1) {
      const keys = Array.from({ length: 2 + Math.floor(r() * 4) }, () => plainKey());
      add([pick(['DEL', 'EXISTS', 'MGET']), ...keys]);
    } else if (x < 0.15) {
      const args = ['MSET'];
      for (let i = 0, m = 1 + Math.floor(r() * 4); i < m; i++)
        args.push(chance(0.5) ? `k${i}` : key(pick(TAGS), 'str'), v());
      add(args);
    } else if (x < 0.18) add(['DBSIZE']);
    else if (x < 0.21) add(['SUNIONSTORE', key('a', 's'), key('a', 's'), key('b', 's')], true);
    else if (x < 0.24) add([pick(['EXEC', 'DISCARD', 'UNWATCH'])]);
    else if (x < 0.3) add(['SET', `k${Math.floor(r() * 8)}`, v()]);
    else if (x < 0.35) add(['INCR', `k${Math.floor(r() * 8)}`]);
    else add(onTag(pick(TAGS)));
  };

  add(['FLUSHALL']);
  while (out.length < steps) {
    if (chance(0.45)) transaction();
    else plain();
  }
  return out;
}

/** The byte stream of the steps (the reference of a sharded db swaps crossSlot steps). */
export function encodeMix(steps: MixStep[], standIns = false): Buffer {
  return Buffer.concat(
    steps.map((s) => {
      const args = standIns && s.crossSlot ? CROSSSLOT_STAND_IN : s.args;
      return s.inline ? Buffer.from(`${args.join(' ')}\r\n`) : encodeCommand(args);
    }),
  );
}

/** Offsets to cut `length` bytes at, every `size` bytes. */
export function cutsEvery(length: number, size: number): number[] {
  const cuts: number[] = [];
  for (let at = size; at < length; at += size) cuts.push(at);
  return cuts;
}
