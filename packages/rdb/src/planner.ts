import { CommandConverter, type RedisCommand } from './commands.js';
import { DumpBuilder, dumpableFor } from './dump.js';
import { printableKey, RdbError, RdbErrorCodes } from './errors.js';
import type { RdbEvent, RdbKeyInfo } from './events.js';

export interface RestorePlannerOptions {
  /** RDB version the destination loads (rdbVersionForRedis(INFO redis_version)). */
  targetRdbVersion: number;
  /**
   * 'auto' (default): RESTORE with a DUMP payload while the value stays under maxPayloadBytes and
   * the target can load it, else plain commands; strings without TTL or access data use SET.
   * 'restore' / 'commands' force one way (restore still falls back where it cannot work).
   */
  mode?: 'auto' | 'restore' | 'commands';
  /** A value whose payload would exceed this is rebuilt with commands instead (default 8 MiB). */
  maxPayloadBytes?: number;
  /** Elements per command on the command path (default 1000). */
  maxElementsPerCommand?: number;
  /** Emit SELECT when the db changes (default false: the caller routes dbs itself). */
  selectDb?: boolean;
  /**
   * Skip keys whose expire time is before this clock, as redis-server does when loading an RDB
   * as a master (default: keep them; RESTORE ... ABSTTL of a past time creates nothing anyway).
   */
  now?: () => number;
  /**
   * Maps a key's expire time (ms since the epoch, the source's clock) to the one to load, before
   * the `now` check. A replica loading a snapshot late (a slow full sync) uses it so that a key
   * whose TTL ran out during the transfer is still there for the stream's PERSIST or SET to
   * rescue, or for the source's own DEL to remove.
   */
  mapExpireAt?: (expireAt: number, key: Buffer) => number;
  /** Module keys: 'error' (default) throws MINIRS_ERR_RDB_UNSUPPORTED; 'skip' counts them. */
  modules?: 'error' | 'skip';
  /** Called for each aspect the command path cannot reproduce exactly. */
  onLoss?: (key: RdbKeyInfo, what: string) => void;
}

export interface RestorePlannerStats {
  keys: number;
  restored: number;
  converted: number;
  expiredSkipped: number;
  modulesSkipped: { key: string; db: number; module: string }[];
  functions: number;
}

type KeyPlan =
  | { kind: 'skip' }
  | { kind: 'dump'; builder: DumpBuilder; held: RdbEvent[] }
  | { kind: 'convert'; converter: CommandConverter };

/**
 * Turns parser events into the commands that rebuild the data on a target: RESTORE with a DUMP
 * payload (REPLACE, ABSTTL on RDB 9+ targets, IDLETIME/FREQ when the RDB has them) where it
 * can, plain commands (CommandConverter) where it cannot, FUNCTION LOAD REPLACE for function
 * libraries. Feed every event in order; send the returned commands in order.
 *
 * Memory: for a value on the RESTORE path the payload (and its chunks, to fall back) is held
 * until the key ends, at most about maxPayloadBytes; past that the held chunks become commands
 * and the rest of the key streams through.
 */
export class RestorePlanner {
  private readonly opts: Required<Omit<RestorePlannerOptions, 'now' | 'onLoss' | 'mapExpireAt'>> &
    Pick<RestorePlannerOptions, 'now' | 'onLoss' | 'mapExpireAt'>;
  private plan: KeyPlan | null = null;
  private db = -1;
  readonly stats: RestorePlannerStats = {
    keys: 0,
    restored: 0,
    converted: 0,
    expiredSkipped: 0,
    modulesSkipped: [],
    functions: 0,
  };

  constructor(opts: RestorePlannerOptions) {
    this.opts = {
      mode: 'auto',
      maxPayloadBytes: 8 * 1024 * 1024,
      maxElementsPerCommand: 1000,
      selectDb: false,
      modules: 'error',
      ...opts,
    };
  }

  push(ev: RdbEvent): RedisCommand[] {
    switch (ev.kind) {
      case 'function':
        this.stats.functions++;
        return [['FUNCTION', 'LOAD', 'REPLACE', ev.code]];
      case 'keyStart':
        return this.keyStart(ev.key, ev);
      case 'chunk':
        return this.keyEvent(ev);
      case 'keyEnd': {
        const out = this.keyEvent(ev);
        this.plan = null;
        return out;
      }
      default:
        return [];
    }
  }

  private converter(key: RdbKeyInfo): CommandConverter {
    return new CommandConverter(key, {
      targetRdbVersion: this.opts.targetRdbVersion,
      maxElementsPerCommand: this.opts.maxElementsPerCommand,
      onLoss: this.opts.onLoss,
    });
  }

  private keyStart(sourceKey: RdbKeyInfo, ev: RdbEvent): RedisCommand[] {
    this.stats.keys++;
    const map = this.opts.mapExpireAt;
    const key =
      map && sourceKey.expireAt !== null
        ? { ...sourceKey, expireAt: map(sourceKey.expireAt, sourceKey.key) }
        : sourceKey;
    const now = this.opts.now?.();
    if (now !== undefined && key.expireAt !== null && key.expireAt < now) {
      this.stats.expiredSkipped++;
      this.plan = { kind: 'skip' };
      return [];
    }
    if (key.type === 'module') {
      const module = key.module?.name ?? '?';
      if (this.opts.modules === 'skip') {
        this.stats.modulesSkipped.push({ key: printableKey(key.key), db: key.db, module });
        this.plan = { kind: 'skip' };
        return [];
      }
      throw new RdbError(
        RdbErrorCodes.UNSUPPORTED,
        `key '${printableKey(key.key)}' in db ${key.db} holds module type '${module}', which minirs cannot restore`,
        { key: printableKey(key.key), module, offset: key.offset },
      );
    }
    const out: RedisCommand[] = [];
    if (this.opts.selectDb && key.db !== this.db) {
      out.push(['SELECT', String(key.db)]);
      this.db = key.db;
    }
    const mode = this.opts.mode;
    const simpleString =
      key.type === 'string' && key.expireAt === null && key.idle === null && key.freq === null;
    // Simple strings (most keys of most datasets) become SET without the dumpability check.
    if (
      mode === 'commands' ||
      (mode === 'auto' && simpleString) ||
      !dumpableFor(key, this.opts.targetRdbVersion).ok
    ) {
      this.plan = { kind: 'convert', converter: this.converter(key) };
      this.stats.converted++;
      out.push(...this.plan.converter.add(ev));
      return out;
    }
    const builder = new DumpBuilder(
      key,
      this.opts.targetRdbVersion,
      (ev as { raw?: Buffer }).raw !== undefined,
    );
    builder.add(ev);
    this.plan = { kind: 'dump', builder, held: [ev] };
    return out;
  }

  private keyEvent(ev: RdbEvent): RedisCommand[] {
    const plan = this.plan;
    if (!plan || plan.kind === 'skip') return [];
    if (plan.kind === 'convert') return plan.converter.add(ev);
    plan.builder.add(ev);
    plan.held.push(ev);
    if (plan.builder.bytes > this.opts.maxPayloadBytes)
      return this.switchToCommands(plan.builder.key, plan.held);
    if (ev.kind !== 'keyEnd') return [];
    const res = plan.builder.finish();
    if (res.kind === 'convert') return this.switchToCommands(plan.builder.key, plan.held);
    this.stats.restored++;
    return [this.restoreCommand(plan.builder.key, res.payload)];
  }

  private switchToCommands(key: RdbKeyInfo, held: RdbEvent[]): RedisCommand[] {
    const converter = this.converter(key);
    this.plan = { kind: 'convert', converter };
    this.stats.converted++;
    const out: RedisCommand[] = [];
    for (const h of held) out.push(...converter.add(h));
    return out;
  }

  private restoreCommand(key: RdbKeyInfo, payload: Buffer): RedisCommand {
    const absTtl = this.opts.targetRdbVersion >= 9;
    let ttl = '0';
    if (key.expireAt !== null) {
      // Before Redis 5.0 RESTORE takes a relative TTL only; 1 ms at least, or it means "none".
      ttl = absTtl ? String(key.expireAt) : String(Math.max(1, key.expireAt - Date.now()));
    }
    const cmd: RedisCommand = ['RESTORE', key.key, ttl, payload, 'REPLACE'];
    if (absTtl && key.expireAt !== null) cmd.push('ABSTTL');
    if (absTtl && key.idle !== null) cmd.push('IDLETIME', String(key.idle));
    else if (absTtl && key.freq !== null) cmd.push('FREQ', String(key.freq));
    return cmd;
  }
}
