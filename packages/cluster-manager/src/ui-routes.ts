import type { Credentials } from '@minirs/common';
import { isUiPublicPath, registerUi, type UiSnapshot } from '@minirs/ui';
import type { FastifyInstance } from 'fastify';
import type { FaultInjector } from './faults.js';
import type { ClusterManager } from './manager.js';

export { isUiPublicPath };

/** What the web UI's live-status stream carries: the state this manager already holds. */
export function uiSnapshot(mgr: ClusterManager, faults: FaultInjector, creds: Credentials): UiSnapshot {
  const s = mgr.state;
  return {
    time: new Date().toISOString(),
    cluster: {
      name: s.cluster.name,
      api_url: creds.api_url,
      api_port: s.cluster.api_port,
      loopback_fallback: s.cluster.loopback_fallback,
      nodes: s.cluster.nodes.map((n) => ({
        ...n,
        proxy_status: mgr.children.get(`proxy-${n.uid}`)?.conn ? 'active' : 'down',
        shard_list: s.shards.filter((sh) => sh.node_uid === n.uid).map((sh) => sh.uid),
      })),
    },
    shards: s.shards.map((sh) => mgr.shardView(sh)),
    bdbs: s.bdbs,
    faults: [...faults.faults.values()],
  };
}

/** The web UI (static files, login, /v1/events) on the API port. */
export function registerUiRoutes(
  app: FastifyInstance,
  mgr: ClusterManager,
  faults: FaultInjector,
  creds: Credentials,
): void {
  registerUi(app, {
    username: creds.username,
    password: creds.password,
    snapshot: () => uiSnapshot(mgr, faults, creds),
  });
}
