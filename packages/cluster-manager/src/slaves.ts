import { rmSync } from 'node:fs';
import type { ReReplicationRecord, ShardState } from '@minirs/common';
import type { ClusterManager } from './manager.js';
import { pickShardPort } from './ports.js';
import { planSlaves } from './replication.js';

/**
 * The slave shards of a replicated database (`replication: true`) as the state changes: turned
 * on or off by an update, and re-replication (a new slave in place of one whose node stayed
 * down; failover.ts decides when). Planning a slave is replication.ts.
 */

/**
 * Re-replication: the master's slave `lostUid` sits on a node that stayed down; a new slave of
 * the master is created on `nodeUid` (a live third node) and started, and the lost one is
 * discarded from the state (its data dir removed): when its node comes back nothing of it
 * runs, so a stale copy never returns, let alone as a second master. False when things
 * changed meanwhile (the node came back, a failover): nothing done.
 */
export async function replaceSlave(
  mgr: ClusterManager,
  masterUid: number,
  lostUid: number,
  nodeUid: number,
  reason: string,
): Promise<boolean> {
  const m = mgr.shard(masterUid);
  const lost = mgr.shard(lostUid);
  const node = mgr.state.cluster.nodes.find((n) => n.uid === nodeUid);
  if (!m || !lost || !node) return false;
  // planSlaves places a slave on the node after the master's in the list it gets: this one.
  const [ns] = await planSlaves([m], [node], mgr.state.next_shard_uid, (addr, taken) =>
    pickShardPort(mgr.state, addr, taken),
  );
  const still = () => {
    const mm = mgr.shard(masterUid);
    const ll = mgr.shard(lostUid);
    return (
      mm?.role === 'master' &&
      ll?.role === 'slave' &&
      ll.master_shard_uid === masterUid &&
      mgr.downNodes.has(ll.node_uid) &&
      !mgr.downNodes.has(nodeUid) &&
      !mgr.downNodes.has(mm.node_uid)
    );
  };
  if (!ns || !still()) return false;
  const now = new Date().toISOString();
  const slave: ShardState = {
    ...ns,
    former_uids: [...(lost.former_uids ?? []), lost.uid],
    last_event: `created as the slave of shard ${masterUid} in place of shard ${lostUid} (${reason})`,
    last_event_time: now,
  };
  const rec: ReReplicationRecord = {
    time: now,
    master_shard: masterUid,
    slots: `${m.slot_start}-${m.slot_end}`,
    old_slave_shard: lostUid,
    old_slave_node: lost.node_uid,
    new_slave_shard: slave.uid,
    new_slave_node: nodeUid,
    reason,
  };
  mgr.store.update((s) => {
    s.shards = s.shards.filter((x) => x.uid !== lostUid);
    s.shards.push(slave);
    s.next_shard_uid = Math.max(s.next_shard_uid, slave.uid + 1);
    const b = s.bdbs.find((x) => x.uid === m.bdb_uid)!;
    b.shard_list = [...b.shard_list.filter((su) => su !== lostUid), slave.uid];
    b.rereplications = [...(b.rereplications ?? []), rec].slice(-50);
  });
  mgr.log.warn(
    { bdb: m.bdb_uid, ...rec },
    're-replication: a new slave on another node; the lost one discarded',
  );
  // Its node is down: none of its processes runs. Only its files are left (never kill by a
  // stale pid file: the pid may be someone else's process by now).
  mgr.procs.forgetStats(lostUid);
  rmSync(mgr.paths.shardData(lostUid), { recursive: true, force: true });
  rmSync(mgr.paths.socket(`shard-${lostUid}`), { force: true });
  rmSync(mgr.paths.pidFile(`shard-${lostUid}`), { force: true });
  rmSync(mgr.paths.pidFile(`redis-${lostUid}`), { force: true });
  await mgr.procs.ensureShard(slave.uid);
  mgr.pushProxyConfig();
  return true;
}

/** replication turned on (a slave per master, started) or off (the slaves stopped and removed). */
export async function setReplication(mgr: ClusterManager, uid: number, on: boolean): Promise<void> {
  mgr.requireBdb(uid);
  const masters = mgr.state.shards.filter((sh) => sh.bdb_uid === uid && sh.role === 'master');
  if (on) {
    const slaves = await planSlaves(
      masters,
      mgr.state.cluster.nodes,
      mgr.state.next_shard_uid,
      (addr, taken) => pickShardPort(mgr.state, addr, taken),
    );
    mgr.store.update((s) => {
      s.shards.push(...slaves);
      s.bdbs.find((x) => x.uid === uid)!.shard_list.push(...slaves.map((x) => x.uid));
      s.next_shard_uid = Math.max(s.next_shard_uid, slaves[slaves.length - 1]!.uid + 1);
    });
    await Promise.all(slaves.map((sh) => mgr.procs.ensureShard(sh.uid)));
    return;
  }
  // The masters drop their write fence first: once their slaves stop, a fenced master would
  // answer NOREPLICAS (the bdb says replication false already, so the HA watch leaves them).
  await Promise.all(
    masters.map((m) => {
      mgr.procs.refreshShardSpec(m.uid);
      return mgr.procs
        .shardConn(m.uid)
        ?.request('set-role', { role: 'master', min_replicas_to_write: 0 }, 5000)
        .catch((err: Error) =>
          mgr.log.warn({ shard: m.uid, err: err.message }, 'could not drop the write fence'),
        );
    }),
  );
  const slaves = mgr.state.shards.filter((sh) => sh.bdb_uid === uid && sh.role === 'slave');
  await Promise.all(slaves.map((sh) => mgr.procs.discardShard(sh.uid)));
  const gone = new Set(slaves.map((x) => x.uid));
  mgr.store.update((s) => {
    s.shards = s.shards.filter((x) => !gone.has(x.uid));
    const x = s.bdbs.find((y) => y.uid === uid)!;
    x.shard_list = x.shard_list.filter((su) => !gone.has(su));
  });
}
