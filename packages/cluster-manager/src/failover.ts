/**
 * (minirs) High availability of replicated databases: the manager probes every shard over TCP,
 * fails over a master it cannot reach (promoting its slave, fencing the old one), runs the
 * coordinated failovers the REST API asks for, and re-replicates a lost slave on another node.
 *
 * Size (~570 lines): the probe loop, the failover decision and its steps share one controller's
 * state (probe results, fences, the records it persists); replication.ts holds the
 * replication plan (which node a slave goes to, who is whose slave).
 */
import { ErrorCodes, type FailoverRecord, MinirsError, type ShardState } from '@minirs/common';
import { askRedis, isBlobType } from '@minirs/resp';
import type { ClusterManager } from './manager.js';
import { reReplicationNode, shardReplication, slaveOf } from './replication.js';

/** How often the manager probes every shard of a replicated database over TCP. */
export const PROBE_INTERVAL_MS = 250;
const PROBE_TIMEOUT_MS = 1000;
/**
 * A master the manager cannot reach for this long (partition, frozen node) is failed over. It is
 * longer than a fenced master takes to refuse writes once cut off from its slave
 * (min-replicas-max-lag 2 s, counted in whole seconds by a 1 s cron: at most ~4 s), so the old
 * and the new master never take writes at the same time.
 */
export const UNREACHABLE_MS = 6000;
/**
 * A slave is promotable when its link to the master was up this recently before the loss, and
 * its TCP probe answered within SLAVE_REACHABLE_MS. Generous on purpose: stats and probes arrive
 * late on a loaded machine, and a master that is not failed over restarts in place, empty
 * (without persistence), which its slave then copies: a slave a few seconds stale loses less.
 */
const LINK_FRESH_MS = 10_000;
const SLAVE_REACHABLE_MS = 8000;
/** A slave not seen in sync (or not reachable) for this long no longer fences its master. */
const FENCE_STALE_MS = 3000;
const MAX_FAILOVERS = 50;
/**
 * A master whose slave's node has been down this long gets a new slave on a live third node
 * (re-replication); a shorter outage (a restart, a brief crash) is left to the node coming back.
 */
export const REREPLICATE_AFTER_MS = 10_000;
/**
 * The manager lowers a master's fence only when its TCP probe answered this recently: the control
 * channel (a unix socket) is never partitioned, the network is, and a master cut off with its
 * slave must stay fenced (its slave looks lost only after FENCE_STALE_MS, longer than this).
 */
const FENCE_LOWER_REACH_MS = 1500;

/** Does redis-server at host:port answer (any reply to AUTH + PING) within timeoutMs? */
export async function probeRedis(
  host: string,
  port: number,
  password: string,
  timeoutMs: number,
): Promise<boolean> {
  return 'replies' in (await askRedis({ host, port, password }, [['PING']], timeoutMs));
}

/** Is the redis-server at host:port a slave whose link to its master is up (INFO replication)? */
export async function slaveLinkUp(
  host: string,
  port: number,
  password: string,
  timeoutMs: number,
): Promise<boolean> {
  const r = await askRedis({ host, port, password }, [['INFO', 'replication']], timeoutMs);
  if (!('replies' in r) || r.replies.some((f) => f.isError)) return false;
  const info = r.replies[1]!.str('latin1');
  return !/role:master/.test(info) && /master_link_status:up/.test(info);
}

/**
 * One command (after AUTH) to the redis-server at host:port; its reply as latin1 text: a bulk
 * string's content ('' for a null), a simple string or an error as its line ('+OK', '-ERR ...'),
 * or undefined on a timeout or a closed connection.
 */
export async function redisReply(
  host: string,
  port: number,
  password: string,
  args: string[],
  timeoutMs: number,
): Promise<string | undefined> {
  const r = await askRedis({ host, port, password }, [args], timeoutMs);
  if (!('replies' in r)) return undefined;
  const f = r.replies[1]!;
  if (f.isNull) return '';
  if (isBlobType(f.type)) return f.str('latin1');
  const line = f.raw().toString('latin1');
  return line.slice(0, line.indexOf('\r\n'));
}

/** How long a coordinated failover waits for the slave to catch up (Redis's FAILOVER TIMEOUT). */
export const COORDINATED_FAILOVER_TIMEOUT_MS = 5000;

/**
 * (minirs) High availability of replicated databases: watches every shard (control-channel exits
 * and TCP probes), promotes a master's slave when the master is lost, keeps the write fence
 * (min-replicas-to-write) of each master in step with its slave, and turns an old master that
 * comes back into a slave of the new one.
 */
export class HaController {
  private timer?: NodeJS.Timeout;
  /** Shard uid -> when a TCP probe last got an answer (or when watching began). */
  private readonly lastOk = new Map<number, number>();
  /** Slave uid -> when its stats last said master_link_status up. */
  private readonly linkUpAt = new Map<number, number>();
  /** Master uid -> the min-replicas-to-write its redis-server should run with. */
  private readonly fence = new Map<number, number>();
  /** Master uid -> the min-replicas-to-write its running redis-server took (set-role answered). */
  private readonly fenceApplied = new Map<number, number>();
  private readonly probing = new Set<number>();
  /** Shards in a failover (as old or new master): nothing else is done to them meanwhile. */
  private readonly busy = new Set<number>();
  /** Shards with a set-role request (fence, demotion) in flight; never delays a failover. */
  private readonly applying = new Set<number>();
  /** Master uid -> since when its slave's node has been down (re-replication's clock). */
  private readonly slaveDownSince = new Map<number, number>();
  /** Masters whose slave is being re-created elsewhere. */
  private readonly replacing = new Set<number>();
  /** Masters already told (in the log) that there is no node to re-replicate onto. */
  private readonly nowhere = new Set<number>();

  constructor(private readonly mgr: ClusterManager) {}

  /**
   * Starts watching. A (re)started manager first looks at every replicated shard itself (a TCP
   * probe, and a slave's own INFO replication), so that a master lost in its first moments is
   * judged on fresh facts: without them its slave looked unfit, and the master restarted in
   * place, empty, for its slave to copy.
   */
  async start(): Promise<void> {
    const now = Date.now();
    await Promise.all(
      this.mgr.state.shards
        .filter((sh) => this.replicated(sh) && !this.mgr.downNodes.has(sh.node_uid))
        .map(async (sh) => {
          const pw = this.mgr.state.internal_password;
          if (await probeRedis(sh.addr, sh.port, pw, PROBE_TIMEOUT_MS)) this.lastOk.set(sh.uid, Date.now());
          if (sh.role === 'slave' && (await slaveLinkUp(sh.addr, sh.port, pw, PROBE_TIMEOUT_MS)))
            this.linkUpAt.set(sh.uid, now);
        }),
    );
    this.timer = setInterval(() => this.tick(), PROBE_INTERVAL_MS);
    this.timer.unref();
  }

  stop(): void {
    clearInterval(this.timer);
  }

  /**
   * Before a (re)started manager starts or adopts the shards: a replicated master whose
   * redis-server is gone (it died while no manager ran; without persistence its data with it)
   * would start again empty, and its slave would copy the empty dataset. When that slave's
   * redis-server runs, the two swap roles first: the slave is adopted and then made the master
   * (keepFence), the old master starts as its slave.
   */
  beforeStart(): void {
    for (const m of [...this.mgr.state.shards]) {
      if (m.role !== 'master' || !this.replicated(m) || this.mgr.downNodes.has(m.node_uid)) continue;
      if (this.mgr.redisAlive(m.uid)) continue;
      const s = slaveOf(this.mgr.state.shards, m.uid);
      if (!s || this.mgr.downNodes.has(s.node_uid) || !this.mgr.redisAlive(s.uid)) continue;
      this.swapRoles(m, s, `the master's redis-server was gone when the manager started`, false);
    }
  }

  /** The min-replicas-to-write a master should run with now. */
  fenceOf(masterUid: number): number {
    return this.fence.get(masterUid) ?? 0;
  }

  /** The replication config of a shard's redis-server (for its process config). */
  replicationOf(sh: ShardState): ReturnType<typeof shardReplication> {
    return shardReplication(sh, this.mgr.bdb(sh.bdb_uid), this.mgr.state.shards, this.fenceOf(sh.uid));
  }

  private replicated(sh: ShardState): boolean {
    const b = this.mgr.bdb(sh.bdb_uid);
    return !!b?.replication && b.status !== 'delete-pending';
  }

  /** Stats of a shard arrived (every second). */
  onStats(uid: number): void {
    const st = this.mgr.shardStatsOf(uid);
    if (st?.role === 'slave' && st.master_link_status === 'up') this.linkUpAt.set(uid, Date.now());
  }

  /**
   * A shard's process or redis-server died (the supervisor restarts it next): a master with a
   * promotable slave fails over first, so the restart comes back as a slave; a slave's master
   * drops its fence (it must not refuse writes for want of a slave that is gone).
   */
  shardLost(uid: number, reason: string, dataLost: boolean): void {
    const sh = this.mgr.shard(uid);
    if (!sh || !this.replicated(sh)) return;
    this.lastOk.delete(uid);
    this.fenceApplied.delete(uid);
    if (sh.role === 'master') this.tryFailover(sh, reason, Date.now(), dataLost);
    else if (sh.master_shard_uid !== undefined) this.setFence(sh.master_shard_uid, 0);
  }

  /** Every process of a node was killed (a machine crash). */
  nodeLost(node: number, reason: string): void {
    for (const sh of [...this.mgr.state.shards]) if (sh.node_uid === node) this.shardLost(sh.uid, reason, true);
  }

  private tick(): void {
    const now = Date.now();
    for (const sh of this.mgr.state.shards) {
      if (!this.replicated(sh)) continue;
      if (!this.lastOk.has(sh.uid)) this.lastOk.set(sh.uid, now); // watching starts: grace
      this.probe(sh);
      if (this.busy.has(sh.uid)) continue;
      if (sh.role === 'master') {
        const down = this.mgr.downNodes.has(sh.node_uid);
        const unreachable = now - this.lastOk.get(sh.uid)! > UNREACHABLE_MS;
        if (down || unreachable) {
          this.tryFailover(
            sh,
            down
              ? `node ${sh.node_uid} is down`
              : `master unreachable for ${UNREACHABLE_MS} ms (node ${sh.node_uid} partitioned or frozen)`,
            this.lastOk.get(sh.uid)!,
            down, // a down node's processes were killed; an unreachable master may live on
          );
          continue;
        }
        this.keepFence(sh, now);
        this.keepSlave(sh, now);
      } else this.keepRole(sh, now);
    }
  }

  private probe(sh: ShardState): void {
    if (this.probing.has(sh.uid) || this.mgr.downNodes.has(sh.node_uid)) return;
    this.probing.add(sh.uid);
    void probeRedis(sh.addr, sh.port, this.mgr.state.internal_password, PROBE_TIMEOUT_MS).then((ok) => {
      this.probing.delete(sh.uid);
      if (ok) this.lastOk.set(sh.uid, Date.now());
    });
  }

  private reachable(uid: number, now: number, within: number): boolean {
    const t = this.lastOk.get(uid);
    return t !== undefined && now - t <= within;
  }

  /** 1 while the master's slave is reachable and in sync, else 0; applied when it changes. */
  private keepFence(m: ShardState, now: number): void {
    const s = slaveOf(this.mgr.state.shards, m.uid);
    const synced =
      !!s &&
      !!this.mgr.children.get(`shard-${s.uid}`)?.conn &&
      this.reachable(s.uid, now, FENCE_STALE_MS) &&
      now - (this.linkUpAt.get(s.uid) ?? 0) <= FENCE_STALE_MS;
    const want = synced ? 1 : 0;
    if (
      want !== this.fenceOf(m.uid) ||
      this.fenceApplied.get(m.uid) !== want ||
      this.mgr.shardStatsOf(m.uid)?.role === 'slave'
    )
      this.setFence(m.uid, want);
  }

  /** Applies a master's role and fence to its running redis-server (and its process config). */
  private setFence(masterUid: number, want: number): void {
    const m = this.mgr.shard(masterUid);
    const conn = this.mgr.children.get(`shard-${masterUid}`)?.conn;
    this.fence.set(masterUid, want);
    this.mgr.refreshShardSpec(masterUid);
    // Not now: the next tick tries again (applied differs from wanted); a restart takes the config.
    if (m?.role !== 'master' || !conn || this.busy.has(masterUid) || this.applying.has(masterUid)) return;
    if (want === 0 && !this.reachable(masterUid, Date.now(), FENCE_LOWER_REACH_MS)) return;
    this.applying.add(masterUid);
    conn
      .request('set-role', this.replicationOf(m), 5000)
      .then(
        () => {
          this.fenceApplied.set(masterUid, want);
          this.mgr.log.info({ shard: masterUid, min_replicas_to_write: want }, 'master write fence set');
        },
        (err: Error) => {
          this.fenceApplied.delete(masterUid); // try again next tick
          this.mgr.log.warn({ shard: masterUid, err: err.message }, 'could not set the master write fence');
        },
      )
      .finally(() => this.applying.delete(masterUid));
  }

  /**
   * Re-replication: a master whose slave's node has stayed down for REREPLICATE_AFTER_MS gets a
   * new slave on a live node that is neither its own nor the lost slave's; the lost slave is
   * discarded (manager.replaceSlave). A 2-node cluster has nowhere to go: it waits.
   */
  private keepSlave(m: ShardState, now: number): void {
    const s = slaveOf(this.mgr.state.shards, m.uid);
    if (!s || !this.mgr.downNodes.has(s.node_uid) || this.mgr.downNodes.has(m.node_uid)) {
      this.slaveDownSince.delete(m.uid);
      this.nowhere.delete(m.uid);
      return;
    }
    const since = this.slaveDownSince.get(m.uid) ?? now;
    this.slaveDownSince.set(m.uid, since);
    if (now - since < REREPLICATE_AFTER_MS || this.replacing.has(m.uid) || this.busy.has(s.uid)) return;
    const st = this.mgr.state;
    const node = reReplicationNode(st.cluster.nodes, st.shards, this.mgr.downNodes, m, s);
    if (!node) {
      if (!this.nowhere.has(m.uid)) {
        this.nowhere.add(m.uid);
        this.mgr.log.warn(
          { shard: m.uid, slave: s.uid, node: s.node_uid },
          "the slave's node stays down and no other live node can take a new slave; waiting for the node",
        );
      }
      return;
    }
    this.replacing.add(m.uid);
    const reason = `node ${s.node_uid} of slave shard ${s.uid} down for ${Math.round((now - since) / 1000)} s`;
    this.mgr
      .replaceSlave(m.uid, s.uid, node.uid, reason)
      .catch((err: Error) =>
        this.mgr.log.error({ shard: m.uid, node: node.uid, err: err.message }, 're-replication failed; trying again'),
      )
      .finally(() => {
        this.replacing.delete(m.uid);
        this.slaveDownSince.delete(m.uid);
      });
  }

  /**
   * A slave whose redis-server runs as something else (an old master back from a partition or a
   * freeze, a manager restarted mid-failover) is made a slave of its master once it is reachable.
   */
  private keepRole(s: ShardState, now: number): void {
    const st = this.mgr.shardStatsOf(s.uid);
    if (!st || st.role === 'slave' || this.applying.has(s.uid)) return;
    if (!this.reachable(s.uid, now, 2 * PROBE_INTERVAL_MS + PROBE_TIMEOUT_MS)) return;
    const conn = this.mgr.children.get(`shard-${s.uid}`)?.conn;
    const want = this.replicationOf(s);
    if (!conn || !want) return;
    this.applying.add(s.uid);
    conn
      .request('set-role', want, 5000)
      .then(
        () => {
          this.mgr.log.info(
            { shard: s.uid, master: s.master_shard_uid },
            'old master demoted to a slave of the new master',
          );
          this.mgr.setShard(s.uid, { last_event: `demoted: now a slave of shard ${s.master_shard_uid}` });
        },
        (err: Error) =>
          this.mgr.log.warn({ shard: s.uid, err: err.message }, 'could not demote the old master'),
      )
      .finally(() => this.applying.delete(s.uid));
  }

  /**
   * A coordinated failover of master shards (RS's `rladmin failover [db] shard <ids>
   * [immediate]`): for each master, Redis's own FAILOVER on its redis-server, which pauses its
   * writers, waits (up to COORDINATED_FAILOVER_TIMEOUT_MS) until its slave has every write, then
   * swaps the two: no acknowledged write is lost, and the old master is the new one's slave.
   * `immediate` (FAILOVER ... FORCE) swaps after the timeout even if the slave has not caught up.
   * Then the state, the fences and the routing follow, as for a failover after a loss. Masters
   * are failed over one by one; the first that cannot be is an error (those before it stay done).
   */
  async coordinatedFailover(bdbUid: number, shardUids: number[] | undefined, immediate: boolean): Promise<FailoverRecord[]> {
    const b = this.mgr.bdb(bdbUid);
    if (!b) throw new MinirsError(ErrorCodes.NOT_FOUND, `database ${bdbUid} does not exist; list them with GET /v1/bdbs`);
    if (!b.replication) {
      throw new MinirsError(
        ErrorCodes.CONFLICT,
        `database ${bdbUid} has no replication: there is no slave to fail over to; update it with replication: true first`,
      );
    }
    const ofBdb = this.mgr.state.shards.filter((sh) => sh.bdb_uid === bdbUid);
    for (const u of shardUids ?? []) {
      const sh = ofBdb.find((x) => x.uid === u);
      if (sh?.role !== 'master') {
        throw new MinirsError(
          ErrorCodes.INVALID_ARGUMENT,
          `shard ${u} is not a master shard of database ${bdbUid}; GET /v1/bdbs/${bdbUid}/shards lists them with their roles`,
          { field: 'shard_uids' },
        );
      }
    }
    const targets = shardUids ?? ofBdb.filter((sh) => sh.role === 'master').map((sh) => sh.uid);
    const out: FailoverRecord[] = [];
    for (const uid of targets) out.push(await this.coordinatedOne(uid, immediate));
    return out;
  }

  private async coordinatedOne(masterUid: number, immediate: boolean): Promise<FailoverRecord> {
    const m = this.mgr.shard(masterUid)!;
    const s = slaveOf(this.mgr.state.shards, m.uid);
    const refuse = (why: string) =>
      new MinirsError(ErrorCodes.CONFLICT, `cannot fail over shard ${m.uid}: ${why}; nothing was changed for it`);
    if (!s) throw refuse('it has no slave');
    if (this.busy.has(m.uid) || this.busy.has(s.uid)) throw refuse('a failover of it is already under way; retry');
    const sConn = this.mgr.children.get(`shard-${s.uid}`)?.conn;
    const mConn = this.mgr.children.get(`shard-${m.uid}`)?.conn;
    if (!sConn || !mConn || this.mgr.downNodes.has(s.node_uid) || this.mgr.downNodes.has(m.node_uid))
      throw refuse('it or its slave is not running');
    const pw = this.mgr.state.internal_password;
    // The slave as the master sees it (FAILOVER TO names a connected replica by its ip and port).
    const info = (await redisReply(m.addr, m.port, pw, ['INFO', 'replication'], PROBE_TIMEOUT_MS)) ?? '';
    const replica = /slave\d+:ip=([^,]+),port=(\d+),state=online/.exec(info);
    if (!replica || Number(replica[2]) !== s.port) throw refuse(`its slave (shard ${s.uid}) is not connected to it`);
    if (replica[1] !== s.addr) {
      throw refuse(
        `its slave announces ${replica[1]}, not its address ${s.addr} (a redis-server started without replica-announce-ip); restart shard ${s.uid} first`,
      );
    }
    this.busy.add(m.uid);
    this.busy.add(s.uid);
    try {
      const args = ['FAILOVER', 'TO', replica[1]!, replica[2]!];
      if (immediate) args.push('FORCE');
      args.push('TIMEOUT', String(COORDINATED_FAILOVER_TIMEOUT_MS));
      const started = await redisReply(m.addr, m.port, pw, args, PROBE_TIMEOUT_MS);
      if (started !== '+OK') throw refuse(`FAILOVER answered ${started ?? 'nothing'}`);
      // Done when the old master says no-failover again: as a slave (swapped) or a master (aborted).
      const deadline = Date.now() + COORDINATED_FAILOVER_TIMEOUT_MS + 5000;
      let swapped = false;
      for (;;) {
        const t = (await redisReply(m.addr, m.port, pw, ['INFO', 'replication'], PROBE_TIMEOUT_MS)) ?? '';
        if (t.includes('master_failover_state:no-failover')) {
          swapped = t.includes('role:slave');
          break;
        }
        if (Date.now() > deadline) break;
        await new Promise((r) => setTimeout(r, 50));
      }
      if (!swapped) {
        throw refuse(
          `its slave did not catch up within ${COORDINATED_FAILOVER_TIMEOUT_MS} ms (FAILOVER aborted; the master kept its role); retry, or pass immediate`,
        );
      }
      const rec = this.swapRoles(m, s, immediate ? 'coordinated failover (immediate)' : 'coordinated failover', true);
      // The old master answers READONLY from now on: route to the new one at once.
      this.mgr.pushProxyConfig();
      await Promise.all(
        [s.uid, m.uid].map((u) =>
          this.mgr.children
            .get(`shard-${u}`)
            ?.conn?.request('set-role', this.replicationOf(this.mgr.shard(u)!), 5000)
            .then(() => u === s.uid && this.fenceApplied.set(u, 0))
            .catch((err: Error) => this.mgr.log.warn({ shard: u, err: err.message }, 'set-role after FAILOVER failed')),
        ),
      );
      return rec;
    } finally {
      this.busy.delete(m.uid);
      this.busy.delete(s.uid);
      this.mgr.pushProxyConfig();
      this.mgr.pushSyncerConfig(m.bdb_uid);
    }
  }

  /**
   * The state of a failover: the slave is the master, the old master its slave (a restart of it
   * comes back as one), a record on the bdb; fences and process configs follow.
   */
  private swapRoles(m: ShardState, s: ShardState, why: string, inSync: boolean): FailoverRecord {
    const b = this.mgr.bdb(m.bdb_uid)!;
    const rec: FailoverRecord = {
      time: new Date().toISOString(),
      new_master_shard: s.uid,
      old_master_shard: m.uid,
      new_master_node: s.node_uid,
      old_master_node: m.node_uid,
      slots: `${m.slot_start}-${m.slot_end}`,
      reason: why,
      slave_in_sync: inSync,
    };
    this.mgr.store.update((st) => {
      const om = st.shards.find((x) => x.uid === m.uid)!;
      const nm = st.shards.find((x) => x.uid === s.uid)!;
      om.role = 'slave';
      om.master_shard_uid = s.uid;
      om.last_event = `failed over (${why}); shard ${s.uid} is the master now, this one comes back as its slave`;
      om.last_event_time = rec.time;
      nm.role = 'master';
      delete nm.master_shard_uid;
      nm.last_event = `promoted to master in place of shard ${m.uid} (${why})`;
      nm.last_event_time = rec.time;
      const x = st.bdbs.find((y) => y.uid === b.uid)!;
      x.failovers = [...(x.failovers ?? []), rec].slice(-MAX_FAILOVERS);
    });
    this.fence.set(s.uid, 0);
    this.fence.delete(m.uid);
    this.fenceApplied.delete(m.uid);
    this.lastOk.set(s.uid, Date.now());
    this.mgr.refreshShardSpec(m.uid);
    this.mgr.refreshShardSpec(s.uid);
    this.mgr.log.warn({ bdb: b.uid, ...rec }, 'failover: promoting the slave');
    return rec;
  }

  /**
   * Promotes the master's slave if it is fit: in sync until (about) the loss, reachable, running.
   * When the master's data is gone (`dataLost`: its redis-server died, its node crashed; there is
   * no persistence to restart from), a slave that is not confirmed fit is promoted anyway as long
   * as its redis-server runs: it holds the only copy left, and restarting the master in place,
   * empty, would have that slave copy the empty dataset (RS never lets an empty restarted master
   * overwrite a replica that holds data). A master that is only unreachable may live on behind a
   * partition, unfenced: its slave must be fit, or the two would take writes at once.
   */
  private tryFailover(m: ShardState, reason: string, lostAt: number, dataLost: boolean): boolean {
    if (this.busy.has(m.uid)) return false;
    const s = slaveOf(this.mgr.state.shards, m.uid);
    const now = Date.now();
    if (!s) return false;
    const conn = this.mgr.children.get(`shard-${s.uid}`)?.conn;
    // Not s.status: a slave whose first PING met -LOADING (a full sync) may still say restarting;
    // its link being up recently is what proves it runs and holds the data.
    const fit =
      !!conn &&
      !this.mgr.downNodes.has(s.node_uid) &&
      this.reachable(s.uid, now, SLAVE_REACHABLE_MS) &&
      (this.linkUpAt.get(s.uid) ?? 0) >= lostAt - LINK_FRESH_MS;
    const holdsData = dataLost && !this.mgr.downNodes.has(s.node_uid) && (!!conn || this.mgr.redisAlive(s.uid));
    if (!fit && !holdsData) {
      this.mgr.log.warn(
        { shard: m.uid, slave: s.uid, reason, slave_status: s.status, link_up_at: this.linkUpAt.get(s.uid) },
        dataLost
          ? 'master lost and its slave is not running either; the master restarts in place, empty'
          : 'master unreachable but its slave is not fit to take over (not running, unreachable or out of sync); no failover',
      );
      return false;
    }
    const why = fit
      ? reason
      : `${reason}; its slave was not confirmed in sync (link or probe not seen recently) but holds the only copy left`;
    if (!fit) {
      this.mgr.log.warn(
        { shard: m.uid, slave: s.uid, link_up_at: this.linkUpAt.get(s.uid) },
        "master's data is gone and its slave is not confirmed in sync: promoting it anyway (an empty restart would lose everything)",
      );
    }
    this.busy.add(m.uid);
    this.busy.add(s.uid);
    const b = this.mgr.bdb(m.bdb_uid)!;
    // The state first: a restart of the old master (the supervisor's, next) comes back as a slave.
    this.swapRoles(m, s, why, fit);
    if (!conn) {
      // Its shard process restarts and adopts the running redis-server; keepFence then turns it
      // into a master (its stats still say slave).
      this.busy.delete(m.uid);
      this.busy.delete(s.uid);
      this.mgr.pushProxyConfig();
      this.mgr.pushSyncerConfig(b.uid);
      return true;
    }
    conn
      .request('set-role', this.replicationOf(this.mgr.shard(s.uid)!), 5000)
      .then(() => this.fenceApplied.set(s.uid, 0))
      .catch((err: Error) =>
        this.mgr.log.error(
          { shard: s.uid, err: err.message },
          'REPLICAOF NO ONE failed on the promoted slave',
        ),
      )
      .finally(() => {
        this.busy.delete(m.uid);
        this.busy.delete(s.uid);
        // Routing follows the state: every proxy now sends the slot range to the new master.
        this.mgr.pushProxyConfig();
        this.mgr.pushSyncerConfig(b.uid);
      });
    return true;
  }
}
