import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import type { Credentials } from '@minirs/common';
import type { FastifyInstance } from 'fastify';
import type { ClusterManager } from './manager.js';
import { describeNetwork, nftAvailable } from './nft.js';
import { notFound } from './rs-errors.js';
import { uidParams } from './schemas.js';

/** RS's cluster and node requests: the cluster, its certificates, its nodes. */
export function registerClusterRoutes(app: FastifyInstance, mgr: ClusterManager, creds: Credentials): void {
  const certs = mgr.paths.certs;
  const clusterView = () => {
    const c = mgr.state.cluster;
    return {
      name: c.name,
      api_port: c.api_port,
      api_url: creds.api_url,
      db_port_base: c.db_port_base,
      created_time: c.created_time,
      nodes: c.nodes,
      loopback_fallback: c.loopback_fallback,
      // (minirs) How nodes are hosts: netns (a namespace per node) or loopback (127.0.C.N).
      network: describeNetwork(c, nftAvailable()),
      // (minirs) RS's exporter: v1 names at /, v2 at /v2 (RS: port 8070).
      metrics_exporter_url: mgr.metricsExporterUrl,
    };
  };

  app.get('/v1/cluster', async () => clusterView());
  app.get('/v1/cluster/certificates', async () => ({
    proxy_cert: readFileSync(join(certs, 'proxy.pem'), 'utf8'),
    syncer_cert: readFileSync(join(certs, 'syncer.pem'), 'utf8'),
  }));

  app.get('/v1/nodes', async () => mgr.state.cluster.nodes.map((n) => nodeView(mgr, n.uid)));
  app.get<{ Params: { uid: number } }>('/v1/nodes/:uid', { schema: { params: uidParams } }, async (req) => {
    if (!mgr.state.cluster.nodes.some((n) => n.uid === req.params.uid))
      throw notFound('node', req.params.uid);
    return nodeView(mgr, req.params.uid);
  });
}

function nodeView(mgr: ClusterManager, uid: number) {
  const n = mgr.state.cluster.nodes.find((x) => x.uid === uid)!;
  const shards = mgr.state.shards.filter((s) => s.node_uid === uid);
  const proxy = mgr.children.get(`proxy-${uid}`);
  return {
    uid: n.uid,
    addr: n.addr,
    status: n.status,
    shard_count: shards.length,
    shard_list: shards.map((s) => s.uid),
    proxy_status: proxy?.conn ? 'active' : 'down',
  };
}
