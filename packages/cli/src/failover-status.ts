import type { FailoverRecord } from '@minirs/common';

/** (minirs) The high-availability part of `minirs status`: replicated databases and their failovers. */
export interface HaEntry {
  cluster: string;
  name: string;
  replication: boolean;
  failovers: FailoverRecord[];
}

/** The bdb fields this reads (GET /v1/bdbs answers them; absent on a manager without HA). */
export function haEntry(cluster: string, bdb: { name: string; replication?: boolean; failovers?: FailoverRecord[] }): HaEntry {
  return { cluster, name: bdb.name, replication: bdb.replication ?? false, failovers: bdb.failovers ?? [] };
}

/** One line per failover, newest last, under a line per replicated database. */
export function renderHa(entries: HaEntry[], last = 5): string {
  const lines: string[] = [];
  for (const e of entries) {
    if (!e.replication && e.failovers.length === 0) continue;
    lines.push(
      `${e.cluster}/${e.name}: replication ${e.replication ? 'on' : 'off'}, ${e.failovers.length} failover${e.failovers.length === 1 ? '' : 's'}`,
    );
    for (const f of e.failovers.slice(-last)) {
      lines.push(
        `  ${f.time}  slots ${f.slots}: shard ${f.old_master_shard} (node ${f.old_master_node}) -> shard ${f.new_master_shard} (node ${f.new_master_node}): ${f.reason}`,
      );
    }
  }
  return lines.join('\n');
}
