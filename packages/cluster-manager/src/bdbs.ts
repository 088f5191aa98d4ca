import {
  type BdbCreateRequest,
  type BdbState,
  ErrorCodes,
  MinirsError,
  randomPassword,
  type ShardPersistence,
  type ShardState,
} from '@minirs/common';
import {
  DEFAULT_MEMORY,
  DEFAULT_SHARD_KEY_REGEX,
  validateName,
  validatePersistence,
  validateShardKeyRegex,
  validateShards,
  validateTls,
} from './bdb-validate.js';
import type { ClusterManager } from './manager.js';
import { pickDbPort, pickShardPort } from './ports.js';
import { replicaPatch } from './replica.js';
import { checkReplicationPossible, planSlaves, replicationField } from './replication.js';
import { unsupportedField } from './rs-errors.js';
import type { BdbUpdateRequest } from './schemas.js';
import { setReplication } from './slaves.js';

/**
 * Databases: create (plan, then commit; one at a time), update (plan, then apply to the running
 * shards), delete, flush and reset_admin_pass. A plan validates completely and changes nothing,
 * which is what `dry_run` answers.
 */

const SLOTS = 16384;

export function slotRange(index: number, count: number): [number, number] {
  return [Math.floor((index * SLOTS) / count), Math.floor(((index + 1) * SLOTS) / count) - 1];
}

/** The persistence a bdb's shards run with (state written before the fields existed: none). */
export function persistenceOf(b: BdbState): ShardPersistence {
  return {
    data_persistence: b.data_persistence ?? 'disabled',
    aof_policy: b.aof_policy ?? 'appendfsync-every-sec',
    snapshot_policy: b.snapshot_policy ?? [],
  };
}

export class Bdbs {
  /** Creates run one at a time: a plan picks free ports and uids that a parallel one would pick too. */
  private createQueue: Promise<unknown> = Promise.resolve();

  constructor(private readonly mgr: ClusterManager) {}

  /**
   * Validates a create request completely and builds the bdb and shards it would make, changing
   * nothing (dry_run answers from this); create commits it.
   */
  async plan(body: BdbCreateRequest): Promise<{ bdb: BdbState; shards: ShardState[] }> {
    validateName(body.name);
    if (body.uid !== undefined && this.mgr.bdb(body.uid)) {
      throw new MinirsError(
        ErrorCodes.CONFLICT,
        `database uid ${body.uid} is already in use; omit uid or pick a free one`,
        {
          field: 'uid',
        },
      );
    }
    if (this.mgr.state.bdbs.some((b) => b.name === body.name)) {
      throw new MinirsError(
        ErrorCodes.CONFLICT,
        `a database named "${body.name}" already exists; pick another name`,
        {
          field: 'name',
        },
      );
    }
    const shards = body.shards_count ?? 1;
    const memory = body.memory_size ?? DEFAULT_MEMORY;
    validateShards(shards, memory, body.sharding);
    const rules = body.shard_key_regex ?? DEFAULT_SHARD_KEY_REGEX;
    validateShardKeyRegex(rules);
    validateTls(body);
    const persistence = validatePersistence(body, undefined);
    const port = await pickDbPort(this.mgr.state, body.port);
    const nodes = this.mgr.state.cluster.nodes;
    // Allocate shard ports before touching the state, so a failure leaves nothing behind.
    const uidBase = this.mgr.state.next_shard_uid;
    const bdbUid = body.uid ?? this.nextFreeUid();
    const newShards: ShardState[] = [];
    for (let i = 0; i < shards; i++) {
      const node = nodes[(i + bdbUid - 1) % nodes.length]!;
      const [slot_start, slot_end] = slotRange(i, shards);
      newShards.push({
        uid: uidBase + i,
        bdb_uid: bdbUid,
        node_uid: node.uid,
        addr: node.addr,
        port: await pickShardPort(this.mgr.state, node.addr, new Set(newShards.map((x) => x.port))),
        slot_start,
        slot_end,
        role: 'master',
        status: 'starting',
        restarts: 0,
        last_event: 'created',
        last_event_time: new Date().toISOString(),
      });
    }
    const replication = replicationField(body) ?? false;
    if (replication) {
      checkReplicationPossible(nodes);
      newShards.push(
        ...(await planSlaves(newShards, nodes, uidBase + shards, (addr, taken) =>
          pickShardPort(this.mgr.state, addr, taken),
        )),
      );
    }
    const now = new Date().toISOString();
    const c = this.mgr.state.cluster;
    const bdb: BdbState = {
      uid: bdbUid,
      name: body.name,
      port,
      memory_size: memory,
      shards_count: shards,
      sharding: shards > 1 || body.sharding === true,
      shard_key_regex: rules,
      hash_slots_policy: '16k',
      authentication_redis_pass: body.authentication_redis_pass ?? '',
      authentication_admin_pass: randomPassword(40),
      endpoints: [
        {
          addr: [...new Set(nodes.map((n) => n.addr))],
          port,
          dns_name: `redis-${port}.${c.name}.minirs.local`,
        },
      ],
      status: 'pending',
      tls_mode: body.tls_mode ?? 'disabled',
      enforce_client_authentication: body.enforce_client_authentication ?? 'enabled',
      authentication_ssl_client_certs: body.authentication_ssl_client_certs ?? [],
      replica_sync: 'disabled',
      replica_sources: [],
      ...persistence,
      sync_epoch: 0,
      created_time: now,
      shard_list: newShards.map((s) => s.uid),
      ...(replication ? { replication: true } : {}),
    };
    // Replica Of settings are validated before anything exists, so a bad source creates nothing.
    if (body.replica_sources !== undefined || body.replica_sync !== undefined) {
      Object.assign(
        bdb,
        replicaPatch(this.mgr.state, bdb, {
          replica_sources: body.replica_sources,
          replica_sync: body.replica_sync,
        }),
      );
    }
    return { bdb, shards: newShards };
  }

  private nextFreeUid(): number {
    let uid = this.mgr.state.next_bdb_uid;
    while (this.mgr.bdb(uid)) uid++;
    return uid;
  }

  create(body: BdbCreateRequest): Promise<BdbState> {
    const run = this.createQueue.then(() => this.createNow(body));
    this.createQueue = run.catch(() => {});
    return run;
  }

  private async createNow(body: BdbCreateRequest): Promise<BdbState> {
    this.mgr.log.info({ name: body.name }, 'database create requested');
    const { bdb, shards: newShards } = await this.plan(body);
    const bdbUid = bdb.uid;
    if (this.mgr.bdb(bdbUid) || this.mgr.state.bdbs.some((b) => b.name === bdb.name)) {
      // Another create won the race while ports were probed.
      throw new MinirsError(
        ErrorCodes.CONFLICT,
        `database ${bdb.name} (uid ${bdbUid}) was just created by another request`,
      );
    }
    this.mgr.store.update((s) => {
      s.bdbs.push(bdb);
      s.shards.push(...newShards);
      s.next_bdb_uid = Math.max(s.next_bdb_uid, bdbUid + 1);
      s.next_shard_uid = newShards[newShards.length - 1]!.uid + 1;
    });
    this.mgr.pushProxyConfig();
    for (const sh of newShards) {
      this.mgr.procs
        .ensureShard(sh.uid)
        .catch((err) => this.mgr.log.error({ shard: sh.uid, err }, 'shard start failed'));
    }
    void this.activateWhenShardsUp(bdbUid);
    if (bdb.replica_sources.length > 0) void this.mgr.replicaOf.applyReplicaOf(bdbUid);
    return this.mgr.bdb(bdbUid)!;
  }

  /** Resolves once the bdb is active (or rejects when its creation failed or it was deleted). */
  async whenActive(uid: number, timeoutMs = 60_000): Promise<void> {
    const deadline = Date.now() + timeoutMs;
    for (;;) {
      const b = this.mgr.bdb(uid);
      if (!b) throw new Error(`database ${uid} was deleted before it became active`);
      if (b.status === 'active') return;
      if (b.status === 'creation-failed')
        throw new Error(`database ${uid}: a shard did not start; see the shard logs`);
      if (Date.now() > deadline)
        throw new Error(`database ${uid} is still ${b.status} after ${timeoutMs} ms`);
      await new Promise((r) => setTimeout(r, 50));
    }
  }

  /**
   * Validates an update and returns the bdb fields it changes, changing nothing (dry_run answers
   * from this); update applies it.
   */
  planUpdate(uid: number, body: BdbUpdateRequest): Partial<BdbState> {
    const b = this.mgr.requireBdb(uid);
    if (body.shards_count !== undefined && body.shards_count !== b.shards_count) {
      throw unsupportedField(
        'shards_count',
        `changing shards_count of an existing database (resharding, ${b.shards_count} -> ${String(body.shards_count)}) is not implemented by minirs; create a new database with the shard count you need`,
      );
    }
    const patch: Partial<BdbState> = {};
    if (body.name !== undefined && body.name !== b.name) {
      validateName(body.name);
      if (this.mgr.state.bdbs.some((x) => x.name === body.name)) {
        throw new MinirsError(ErrorCodes.CONFLICT, `a database named "${body.name}" already exists`, {
          field: 'name',
        });
      }
      patch.name = body.name;
    }
    if (body.memory_size !== undefined) {
      validateShards(b.shards_count, body.memory_size, b.sharding);
      patch.memory_size = body.memory_size;
    }
    if (body.shard_key_regex !== undefined) {
      validateShardKeyRegex(body.shard_key_regex);
      patch.shard_key_regex = body.shard_key_regex;
    }
    if (body.authentication_redis_pass !== undefined)
      patch.authentication_redis_pass = body.authentication_redis_pass;
    if (body.tls_mode !== undefined) patch.tls_mode = body.tls_mode;
    if (body.enforce_client_authentication !== undefined) {
      patch.enforce_client_authentication = body.enforce_client_authentication;
    }
    if (body.authentication_ssl_client_certs !== undefined) {
      patch.authentication_ssl_client_certs = body.authentication_ssl_client_certs;
      validateTls(patch);
    }
    if (
      body.data_persistence !== undefined ||
      body.aof_policy !== undefined ||
      body.snapshot_policy !== undefined
    ) {
      Object.assign(patch, validatePersistence(body, b));
    }
    if (body.replica_sources !== undefined || body.replica_sync !== undefined) {
      Object.assign(patch, replicaPatch(this.mgr.state, b, body));
    }
    const replication = replicationField(body);
    if (replication !== undefined && replication !== (b.replication ?? false)) {
      if (replication) checkReplicationPossible(this.mgr.state.cluster.nodes);
      patch.replication = replication;
    }
    return patch;
  }

  /**
   * Applies an update; `applied` settles once every running shard took the new memory limit and
   * persistence (what the update's action waits for).
   */
  async update(uid: number, body: BdbUpdateRequest): Promise<{ bdb: BdbState; applied: Promise<unknown> }> {
    const b = this.mgr.requireBdb(uid);
    const patch = this.planUpdate(uid, body);
    this.mgr.store.update((s) => Object.assign(s.bdbs.find((x) => x.uid === uid)!, patch));
    const jobs: Promise<unknown>[] = [];
    const persistenceChanged =
      patch.data_persistence !== undefined ||
      patch.aof_policy !== undefined ||
      patch.snapshot_policy !== undefined;
    if (patch.memory_size !== undefined || persistenceChanged) {
      const per = Math.floor((patch.memory_size ?? b.memory_size) / b.shards_count);
      const persistence = persistenceOf(this.mgr.bdb(uid)!);
      for (const su of b.shard_list) {
        this.mgr.procs.refreshShardSpec(su);
        const conn = this.mgr.procs.shardConn(su);
        if (!conn) continue; // a shard that is down starts with the new config
        if (patch.memory_size !== undefined) jobs.push(conn.request('set-maxmemory', { bytes: per }));
        if (persistenceChanged) jobs.push(conn.request('set-persistence', persistence));
      }
    }
    if (patch.replication !== undefined) jobs.push(setReplication(this.mgr, uid, patch.replication));
    this.mgr.pushProxyConfig();
    void this.mgr.replicaOf.applyReplicaOf(uid);
    const applied = Promise.all(jobs);
    applied.catch((err) => this.mgr.log.warn({ bdb: uid, err }, 'a shard did not take the updated settings'));
    return { bdb: this.mgr.bdb(uid)!, applied };
  }

  async delete(uid: number): Promise<void> {
    const b = this.mgr.requireBdb(uid);
    this.mgr.store.update((s) => {
      s.bdbs.find((x) => x.uid === uid)!.status = 'delete-pending';
    });
    this.mgr.pushProxyConfig();
    await this.mgr.replicaOf.applyReplicaOf(uid);
    await Promise.all(b.shard_list.map((su) => this.mgr.procs.discardShard(su)));
    this.mgr.store.update((s) => {
      s.bdbs = s.bdbs.filter((x) => x.uid !== uid);
      s.shards = s.shards.filter((x) => x.bdb_uid !== uid);
    });
    this.mgr.pushProxyConfig();
  }

  async flush(uid: number): Promise<void> {
    const b = this.mgr.requireBdb(uid);
    const masters = b.shard_list.filter((su) => this.mgr.shard(su)?.role !== 'slave');
    await Promise.all(
      masters.map((su) => {
        const conn = this.mgr.procs.shardConn(su);
        if (!conn)
          throw new MinirsError(
            ErrorCodes.CONFLICT,
            `shard ${su} of database ${uid} is not running; retry shortly`,
          );
        return conn.request('flush');
      }),
    );
  }

  resetAdminPass(uid: number): BdbState {
    this.mgr.requireBdb(uid);
    this.mgr.store.update((s) => {
      s.bdbs.find((x) => x.uid === uid)!.authentication_admin_pass = randomPassword(40);
    });
    this.mgr.pushProxyConfig();
    return this.mgr.bdb(uid)!;
  }

  async activateWhenShardsUp(bdbUid: number): Promise<void> {
    const b = this.mgr.bdb(bdbUid);
    if (!b) return;
    const ok = await Promise.all(b.shard_list.map((u) => this.mgr.procs.waitShardActive(u, 60_000)));
    // Active means clients are served: every node's proxy listens on the endpoint and has a
    // ready link to every shard (a proxy that is down does not hold the database back for
    // more than a few seconds).
    const up = await this.mgr.procs.waitEndpoints(bdbUid, b.port, 5_000);
    if (!up) this.mgr.log.warn({ bdb: bdbUid, port: b.port }, 'not every proxy reported the endpoint ready');
    if (!this.mgr.bdb(bdbUid)) return;
    this.mgr.store.update((s) => {
      const x = s.bdbs.find((y) => y.uid === bdbUid);
      if (x) x.status = ok.every(Boolean) ? 'active' : 'creation-failed';
    });
    this.mgr.pushProxyConfig();
  }
}
