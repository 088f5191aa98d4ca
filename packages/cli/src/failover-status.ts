import type { FailoverRecord, ReReplicationRecord } from '@minirs/common';

/** (minirs) The high-availability part of `minirs status`: replicated databases and their failovers. */
export interface HaEntry {
  cluster: string;
  name: string;
  replication: boolean;
  failovers: FailoverRecord[];
  /** Slaves re-created on another node after theirs stayed down. */
  rereplications: ReReplicationRecord[];
}

/** The bdb fields this reads (GET /v1/bdbs answers them; absent on a manager without HA). */
export function haEntry(
  cluster: string,
  bdb: { name: string; replication?: boolean; failovers?: FailoverRecord[]; rereplications?: ReReplicationRecord[] },
): HaEntry {
  return {
    cluster,
    name: bdb.name,
    replication: bdb.replication ?? false,
    failovers: bdb.failovers ?? [],
    rereplications: bdb.rereplications ?? [],
  };
}

/** One line per failover and per re-replication, newest last, under a line per replicated database. */
export function renderHa(entries: HaEntry[], last = 5): string {
  const lines: string[] = [];
  for (const e of entries) {
    if (!e.replication && e.failovers.length === 0) continue;
    const moved = e.rereplications.length;
    lines.push(
      `${e.cluster}/${e.name}: replication ${e.replication ? 'on' : 'off'}, ${e.failovers.length} failover${e.failovers.length === 1 ? '' : 's'}` +
        (moved > 0 ? `, ${moved} re-replication${moved === 1 ? '' : 's'}` : ''),
    );
    for (const f of e.failovers.slice(-last)) {
      lines.push(
        `  ${f.time}  slots ${f.slots}: shard ${f.old_master_shard} (node ${f.old_master_node}) -> shard ${f.new_master_shard} (node ${f.new_master_node}): ${f.reason}`,
      );
    }
    for (const r of e.rereplications.slice(-last)) {
      lines.push(
        `  ${r.time}  slots ${r.slots}: new slave shard ${r.new_slave_shard} (node ${r.new_slave_node}) of master shard ${r.master_shard}, replacing shard ${r.old_slave_shard} (node ${r.old_slave_node}): ${r.reason}`,
      );
    }
  }
  return lines.join('\n');
}
