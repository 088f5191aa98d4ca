import { type ClusterState, ErrorCodes, MinirsError } from '@minirs/common';
import { canBind } from './net-util.js';

/**
 * Port choice for databases (endpoints) and shards, from the state and, in loopback mode, a bind
 * test on every node address.
 */

const SHARD_PORT_MIN = 20000;
const SHARD_PORT_MAX = 29999;

/**
 * Is addr:port free on its node? Netns mode: a node's namespace holds only this cluster's own
 * processes, whose ports the state already excludes (and the host cannot bind inside it).
 */
function canBindOnNode(s: ClusterState, addr: string, port: number): Promise<boolean> {
  return s.cluster.net === 'netns' ? Promise.resolve(true) : canBind(addr, port);
}

/** The endpoint port of a database: the requested one when free (else 409), or the first free one. */
export async function pickDbPort(
  s: ClusterState,
  requested: number | undefined,
  ignoreBdb?: number,
): Promise<number> {
  const taken = new Set(s.bdbs.filter((b) => b.uid !== ignoreBdb).map((b) => b.port));
  for (const sh of s.shards) taken.add(sh.port);
  const addrs = [...new Set(s.cluster.nodes.map((n) => n.addr))];
  const free = async (p: number) => {
    if (taken.has(p) || p === s.cluster.api_port) return false;
    for (const a of addrs) if (!(await canBindOnNode(s, a, p))) return false;
    return true;
  };
  if (requested !== undefined) {
    if (!(await free(requested))) {
      throw new MinirsError(
        ErrorCodes.PORT_IN_USE,
        `port ${requested} is already in use; choose another port or omit it`,
        {
          field: 'port',
        },
      );
    }
    return requested;
  }
  for (let p = s.cluster.db_port_base; p < Math.min(65536, s.cluster.db_port_base + 2000); p++) {
    if (await free(p)) return p;
  }
  throw new MinirsError(
    ErrorCodes.PORT_IN_USE,
    `no free database port from ${s.cluster.db_port_base}; pass --db-port-base`,
  );
}

/**
 * A shard port on addr, from RS's internal shard range (20000-29999). Not an ephemeral port:
 * proxies and syncers bind their outbound connections to the node address, so a port the OS
 * called free a moment ago could be some connection's local port by the time redis-server
 * binds it (the shard then never starts).
 */
export async function pickShardPort(s: ClusterState, addr: string, also: Set<number>): Promise<number> {
  const taken = new Set<number>([...also, s.cluster.api_port, ...s.bdbs.map((b) => b.port)]);
  for (const sh of s.shards) if (sh.addr === addr) taken.add(sh.port);
  for (let p = SHARD_PORT_MIN; p <= SHARD_PORT_MAX; p++) {
    if (!taken.has(p) && (await canBindOnNode(s, addr, p))) return p;
  }
  throw new MinirsError(
    ErrorCodes.PORT_IN_USE,
    `no free shard port on ${addr} in ${SHARD_PORT_MIN}-${SHARD_PORT_MAX}; delete databases or stop what listens there`,
  );
}
