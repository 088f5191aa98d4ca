import {
  type BdbState,
  ErrorCodes,
  MinirsError,
  type NodeState,
  type ShardReplicationConfig,
  type ShardState,
} from '@minirs/common';

/**
 * RS's in-memory database replication (`replication: true`): every master shard has one slave
 * shard on another node, a real redis-server replicating it with REPLICAOF (masterauth is the
 * cluster's internal password, already in every shard's redis.conf). Proxies route to masters
 * only; the manager fails over (failover.ts).
 */

/** The node a master's slave runs on: the next node after the master's, never the same one. */
export function slaveNode(nodes: NodeState[], masterNode: number): NodeState {
  const i = nodes.findIndex((n) => n.uid === masterNode);
  return nodes[(i + 1) % nodes.length]!;
}

/** replication: true needs a second node (RS places a slave on a node other than its master's). */
export function checkReplicationPossible(nodes: NodeState[], field = 'replication'): void {
  if (nodes.length < 2) {
    throw new MinirsError(
      ErrorCodes.INVALID_ARGUMENT,
      'replication: true needs a cluster of at least 2 nodes (a slave shard runs on another node than its master); create the cluster with --nodes 2 or more',
      { field },
    );
  }
}

/** The replication field of a create or update body: undefined when absent, else a boolean. */
export function replicationField(body: { replication?: unknown }): boolean | undefined {
  const v = body.replication;
  if (v === undefined) return undefined;
  if (typeof v !== 'boolean') {
    throw new MinirsError(ErrorCodes.INVALID_ARGUMENT, `replication must be true or false, got ${JSON.stringify(v)}`, {
      field: 'replication',
    });
  }
  return v;
}

/**
 * Slave shards for these masters: same slot range, on the next node, a free shard port there.
 * `pickPort(addr, taken)` picks a shard port on addr that is not in taken.
 */
export async function planSlaves(
  masters: ShardState[],
  nodes: NodeState[],
  firstUid: number,
  pickPort: (addr: string, taken: Set<number>) => Promise<number>,
  alsoTaken: ShardState[] = [],
): Promise<ShardState[]> {
  const out: ShardState[] = [];
  const now = new Date().toISOString();
  for (const [i, m] of masters.entries()) {
    const node = slaveNode(nodes, m.node_uid);
    const taken = new Set([...alsoTaken, ...masters, ...out].filter((s) => s.addr === node.addr).map((s) => s.port));
    out.push({
      uid: firstUid + i,
      bdb_uid: m.bdb_uid,
      node_uid: node.uid,
      addr: node.addr,
      port: await pickPort(node.addr, taken),
      slot_start: m.slot_start,
      slot_end: m.slot_end,
      role: 'slave',
      master_shard_uid: m.uid,
      status: 'starting',
      restarts: 0,
      last_event: `created as the slave of shard ${m.uid}`,
      last_event_time: now,
    });
  }
  return out;
}

/**
 * What a shard's redis-server must be: a slave of its master's addr:port, or a master fenced
 * with min-replicas-to-write `fence` (1 while its slave is in sync, 0 otherwise). undefined: a
 * master of a database without replication (no fence, nothing to change).
 */
export function shardReplication(
  sh: ShardState,
  bdb: BdbState | undefined,
  shards: ShardState[],
  fence: number,
): ShardReplicationConfig | undefined {
  if (sh.role === 'slave') {
    const m = shards.find((x) => x.uid === sh.master_shard_uid);
    if (!m) return undefined;
    return { role: 'slave', master_host: m.addr, master_port: m.port, min_replicas_to_write: 0 };
  }
  if (!bdb?.replication) return undefined;
  return { role: 'master', min_replicas_to_write: fence };
}

/** The slave of a master shard, if it has one. */
export function slaveOf(shards: ShardState[], masterUid: number): ShardState | undefined {
  return shards.find((s) => s.role === 'slave' && s.master_shard_uid === masterUid);
}

/**
 * The node a replacement slave goes to when the slave's node stays down: a live node that is
 * neither the master's nor the lost slave's, the one with the fewest shards. None: nowhere to go
 * (a 2-node cluster waits for the node to come back).
 */
export function reReplicationNode(
  nodes: NodeState[],
  shards: ShardState[],
  down: Set<number>,
  master: ShardState,
  lost: ShardState,
): NodeState | undefined {
  const load = (n: NodeState) => shards.filter((s) => s.node_uid === n.uid).length;
  return nodes
    .filter((n) => n.uid !== master.node_uid && n.uid !== lost.node_uid && !down.has(n.uid))
    .sort((a, b) => load(a) - load(b) || a.uid - b.uid)[0];
}

/**
 * The other shards of a master's slot range (its slave; after a failover, the old master): a
 * Replica Of link that names one of them (MINIRS.LINK <uid>, the uid it had) reaches the master.
 */
export function aliasesOf(shards: ShardState[], m: ShardState): { aliases?: number[] } {
  const range = shards.filter(
    (s) => s.bdb_uid === m.bdb_uid && s.slot_start === m.slot_start && s.slot_end === m.slot_end,
  );
  // Shards re-replication replaced (former_uids) are gone from the state but still the range's.
  const others = [
    ...range.filter((s) => s.uid !== m.uid).map((s) => s.uid),
    ...range.flatMap((s) => s.former_uids ?? []),
  ];
  return others.length > 0 ? { aliases: others } : {};
}
