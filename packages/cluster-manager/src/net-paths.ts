import { readFileSync } from 'node:fs';
import { isIP } from 'node:net';
import {
  type ClusterState,
  clusterPaths,
  ErrorCodes,
  invalid,
  MinirsError,
  netnsHostAddr,
  parseSourceUri,
} from '@minirs/common';

/**
 * Network fault targets as packet paths. A path is a set of pairs (a = the target's side,
 * b = the other side); a side is addresses (empty = any) and an optional TCP port, or
 * 'outside' = any address but a's. Relay entries say which connections a latency or bandwidth
 * fault sends through a delaying relay: those made to host:port from `from`.
 *
 * Every node process binds its outgoing connections to its node's address (MINIRS_NODE_ADDR), so
 * on loopback 127.0.C.N says which node a packet comes from as well as where it goes.
 */

export interface Side {
  addrs: string[];
  port?: number;
}
export type Other = Side | 'outside';

export interface RelayEntry {
  host: string;
  port: number;
  from: Other;
  /** The connection goes to side a (its client->server direction is "in" for the target). */
  towardA: boolean;
  /** The side a the entry belongs to (for 'outside'). */
  a: Side;
}

export interface NetPath {
  pairs: { a: Side; b: Other }[];
  relays: RelayEntry[];
  /** What the path is, for the fault list. */
  describe: string;
}

export interface PathContext {
  state: ClusterState;
  /** Looks up another cluster's state by name (same MINIRS_HOME). */
  peerState(name: string): ClusterState | undefined;
}

export function readPeerState(name: string): ClusterState | undefined {
  try {
    return JSON.parse(readFileSync(clusterPaths(name).state, 'utf8')) as ClusterState;
  } catch {
    return undefined;
  }
}

function nodeAddr(s: ClusterState, uid: number): string {
  const n = s.cluster.nodes.find((x) => x.uid === uid);
  if (!n) throw new MinirsError(ErrorCodes.NOT_FOUND, `node ${uid} does not exist; list them with GET /v1/nodes`);
  return n.addr;
}

/**
 * Every address node uid's packets may carry: its own, and in netns mode for the first node also
 * 198.19.C.1, the host address its syncers use when they run on the host (a source outside the
 * node network).
 */
export function nodeAddrs(s: ClusterState, uid: number): string[] {
  const own = nodeAddr(s, uid);
  return s.cluster.net === 'netns' && uid === s.cluster.nodes[0]!.uid ? [own, netnsHostAddr(s.cluster.index, 1)] : [own];
}

function clusterAddrs(s: ClusterState): string[] {
  return [...new Set(s.cluster.nodes.flatMap((n) => nodeAddrs(s, n.uid)))];
}

/** Every TCP port a client may open on a node: database endpoints and the node's shards. */
function portsOnNode(s: ClusterState, uid: number): number[] {
  const ports = new Set<number>(s.bdbs.map((b) => b.port));
  for (const sh of s.shards) if (sh.node_uid === uid) ports.add(sh.port);
  return [...ports];
}

function allPorts(s: ClusterState): { addr: string; port: number }[] {
  const out: { addr: string; port: number }[] = [];
  for (const n of s.cluster.nodes) for (const p of portsOnNode(s, n.uid)) out.push({ addr: n.addr, port: p });
  return out;
}

function relaysTo(a: Side, from: Other, hosts: { addr: string; port: number }[], towardA: boolean): RelayEntry[] {
  return hosts.map((h) => ({ host: h.addr, port: h.port, from, towardA, a }));
}

function splitHostPort(v: string): { host: string; port?: number } {
  const m = /^(.+?)(?::(\d+))?$/.exec(v)!;
  return { host: m[1]!, port: m[2] ? Number(m[2]) : undefined };
}

export function resolveNetPath(target: string, ctx: PathContext, client?: string): NetPath {
  const s = ctx.state;
  if (s.cluster.loopback_fallback) {
    throw new MinirsError(
      ErrorCodes.CONFLICT,
      'this cluster runs in loopback-fallback mode (every node on 127.0.0.1), where packets do not say which node they belong to; network faults need per-node addresses (Linux)',
    );
  }
  if (client !== undefined && isIP(client) !== 4) throw invalid('client', `client "${client}" is not an IPv4 address`);
  let m = /^node:(\d+)$/.exec(target);
  if (m) {
    const uid = Number(m[1]);
    const a: Side = { addrs: nodeAddrs(s, uid) };
    return {
      pairs: [{ a, b: 'outside' }],
      relays: relaysTo(a, 'outside', portsOnNode(s, uid).map((port) => ({ addr: a.addrs[0]!, port })), true),
      describe: `node ${uid} (${a.addrs[0]}) and everything else`,
    };
  }
  m = /^nodes:(\d+)-(\d+)$/.exec(target);
  if (m) {
    const [n1, n2] = [Number(m[1]), Number(m[2])];
    if (n1 === n2) throw invalid('target', 'nodes:N-M needs two different nodes');
    const a: Side = { addrs: nodeAddrs(s, n1) };
    const b: Side = { addrs: nodeAddrs(s, n2) };
    return {
      pairs: [{ a, b }],
      relays: [
        ...relaysTo(a, a, portsOnNode(s, n2).map((port) => ({ addr: b.addrs[0]!, port })), false),
        ...relaysTo(a, b, portsOnNode(s, n1).map((port) => ({ addr: a.addrs[0]!, port })), true),
      ],
      describe: `node ${n1} (${a.addrs[0]}) and node ${n2} (${b.addrs[0]})`,
    };
  }
  m = /^shard:(\d+)$/.exec(target);
  if (m) {
    const sh = s.shards.find((x) => x.uid === Number(m![1]));
    if (!sh) throw new MinirsError(ErrorCodes.NOT_FOUND, `shard ${m[1]} does not exist`);
    const a: Side = { addrs: [sh.addr], port: sh.port };
    const b: Other = client ? { addrs: [client] } : { addrs: [] };
    return {
      pairs: [{ a, b }],
      relays: relaysTo(a, b, [{ addr: sh.addr, port: sh.port }], true),
      describe: `shard ${sh.uid} (${sh.addr}:${sh.port}) and ${client ?? 'its clients (the proxies)'}`,
    };
  }
  m = /^endpoint:(\d+)(?:@(\d+))?$/.exec(target);
  if (m) {
    const b0 = s.bdbs.find((x) => x.uid === Number(m![1]));
    if (!b0) throw new MinirsError(ErrorCodes.NOT_FOUND, `database ${m[1]} does not exist`);
    const addrs = m[2] ? [nodeAddr(s, Number(m[2]))] : [...new Set(s.cluster.nodes.map((n) => n.addr))];
    const a: Side = { addrs, port: b0.port };
    const b: Other = client ? { addrs: [client] } : { addrs: [] };
    return {
      pairs: [{ a, b }],
      relays: relaysTo(a, b, addrs.map((addr) => ({ addr, port: b0.port })), true),
      describe: `endpoint ${addrs.join(',')}:${b0.port} of database ${b0.uid} and ${client ?? 'every client'}`,
    };
  }
  m = /^destination:(\d+)$/.exec(target);
  if (m) {
    const b0 = s.bdbs.find((x) => x.uid === Number(m![1]));
    if (!b0) throw new MinirsError(ErrorCodes.NOT_FOUND, `database ${m[1]} does not exist`);
    const n1 = s.cluster.nodes[0]!.addr;
    const a: Side = { addrs: [n1], port: b0.port };
    const b: Side = { addrs: nodeAddrs(s, s.cluster.nodes[0]!.uid) };
    return {
      pairs: [{ a, b }],
      relays: relaysTo(a, b, [{ addr: n1, port: b0.port }], true),
      describe: `the syncer of database ${b0.uid} and its destination endpoint ${n1}:${b0.port}`,
    };
  }
  m = /^(source|syncer):(\d+)(?:\/(\d+))?$/.exec(target);
  if (m && (m[1] === 'source') === (m[3] !== undefined)) {
    const b0 = s.bdbs.find((x) => x.uid === Number(m![2]));
    if (!b0) throw new MinirsError(ErrorCodes.NOT_FOUND, `database ${m[2]} does not exist`);
    const srcs = m[3] ? b0.replica_sources.filter((x) => x.uid === Number(m![3])) : b0.replica_sources;
    if (srcs.length === 0) {
      throw new MinirsError(ErrorCodes.NOT_FOUND, `database ${b0.uid} has no replica source${m[3] ? ` ${m[3]}` : 's'}`);
    }
    // The syncer runs on the first node and binds its connections to that node's address.
    const a: Side = { addrs: nodeAddrs(s, s.cluster.nodes[0]!.uid) };
    const pairs: NetPath['pairs'] = [];
    const relays: RelayEntry[] = [];
    for (const src of srcs) {
      const u = parseSourceUri(src.uri);
      if (isIP(u.host) !== 4) {
        throw invalid('target', `source ${src.uid} is reached by name (${u.host}); kernel faults need an IPv4 address`);
      }
      const b: Side = { addrs: [u.host], port: u.port };
      pairs.push({ a, b });
      relays.push(...relaysTo(a, a, [{ addr: u.host, port: u.port }], false));
    }
    return { pairs, relays, describe: `the syncer of database ${b0.uid} and ${srcs.length === 1 ? `source ${srcs[0]!.uid}` : 'its sources'}` };
  }
  m = /^peer:(.+)$/.exec(target);
  if (m) {
    const ours: Side = { addrs: clusterAddrs(s) };
    const hp = splitHostPort(m[1]!);
    if (isIP(hp.host) === 4) {
      const b: Side = { addrs: [hp.host], port: hp.port };
      return {
        pairs: [{ a: ours, b }],
        relays: hp.port ? relaysTo(ours, ours, [{ addr: hp.host, port: hp.port }], false) : [],
        describe: `this cluster and ${m[1]}`,
      };
    }
    const peer = ctx.peerState(hp.host);
    if (!peer) {
      throw invalid('peer', `peer "${m[1]}" is neither an IPv4 address (host[:port]) nor a cluster in this MINIRS_HOME`);
    }
    if (peer.cluster.name === s.cluster.name) throw invalid('peer', 'a cluster cannot be partitioned from itself; target node:N');
    const theirs: Side = { addrs: clusterAddrs(peer) };
    return {
      pairs: [{ a: ours, b: theirs }],
      relays: [
        ...relaysTo(ours, ours, allPorts(peer), false),
        ...relaysTo(ours, theirs, allPorts(s), true),
      ],
      describe: `this cluster and cluster ${peer.cluster.name} (${theirs.addrs.join(', ')})`,
    };
  }
  throw invalid(
    'target',
    `network fault target "${target}" is not understood: use node:N, nodes:N-M, shard:<uid>, endpoint:<bdb>[@node], destination:<bdb>, source:<bdb>/<source uid>, syncer:<bdb> or peer:<addr[:port]|cluster>`,
  );
}

// ---- nftables rule bodies ----

function addrSet(addrs: string[]): string {
  return addrs.length === 1 ? addrs[0]! : `{ ${addrs.join(', ')} }`;
}

function matchSrc(side: Other, a: Side): string {
  if (side === 'outside') return `ip saddr != ${addrSet(a.addrs)}`;
  return [side.addrs.length ? `ip saddr ${addrSet(side.addrs)}` : '', side.port ? `tcp sport ${side.port}` : '']
    .filter(Boolean)
    .join(' ');
}

function matchDst(side: Other, a: Side): string {
  if (side === 'outside') return `ip daddr != ${addrSet(a.addrs)}`;
  return [side.addrs.length ? `ip daddr ${addrSet(side.addrs)}` : '', side.port ? `tcp dport ${side.port}` : '']
    .filter(Boolean)
    .join(' ');
}

export type Direction = 'both' | 'in' | 'out';

/** Filter-chain rules: `verdict` for packets leaving the target (out) and reaching it (in). */
export function filterRules(path: NetPath, direction: Direction, verdict: string, comment: string): string[] {
  const out: string[] = [];
  // The RST a reject sends goes out through the same hook: it must not match the reverse rule.
  const tcpOnly = verdict.includes('tcp reset') ? 'meta l4proto tcp tcp flags & rst == 0 ' : '';
  for (const { a, b } of path.pairs) {
    if (direction !== 'in') out.push(`${tcpOnly}${matchSrc(a, a)} ${matchDst(b, a)} ${verdict} comment "${comment}"`);
    if (direction !== 'out') out.push(`${tcpOnly}${matchSrc(b, a)} ${matchDst(a, a)} ${verdict} comment "${comment}"`);
  }
  return out;
}

/** The nat rule sending new connections of `r` into a relay listening on relayAddr:relayPort. */
export function relayRule(r: RelayEntry, relayAddr: string, relayPort: number, comment: string): string {
  const from =
    r.from === 'outside'
      ? `ip saddr != ${addrSet([relayAddr, ...r.a.addrs])}`
      : [`ip saddr != ${relayAddr}`, r.from.addrs.length ? `ip saddr ${addrSet(r.from.addrs)}` : ''].filter(Boolean).join(' ');
  return `${from} ip daddr ${r.host} tcp dport ${r.port} dnat ip to ${relayAddr}:${relayPort} comment "${comment}"`;
}

// ---- ss filters (reset) ----

function ssSide(side: Other, a: Side, dir: 'src' | 'dst'): string {
  if (side === 'outside') return `not ( ${a.addrs.map((x) => `${dir} ${x}`).join(' or ')} )`;
  if (side.addrs.length) return `( ${side.addrs.map((x) => `${dir} ${x}${side.port ? `:${side.port}` : ''}`).join(' or ')} )`;
  if (side.port) return `( ${dir === 'src' ? 'sport' : 'dport'} = :${side.port} )`;
  return '';
}

/** An `ss` filter for every TCP socket on the path, except the relay's own (relayAddr). */
export function ssFilter(path: NetPath, relayAddr?: string): string {
  const terms: string[] = [];
  for (const { a, b } of path.pairs) {
    for (const [x, y] of [
      [ssSide(a, a, 'src'), ssSide(b, a, 'dst')],
      [ssSide(b, a, 'src'), ssSide(a, a, 'dst')],
    ] as const) {
      const t = [x, y].filter(Boolean).join(' and ');
      if (t) terms.push(`( ${t} )`);
    }
  }
  const all = terms.join(' or ');
  return relayAddr ? `( ${all} ) and not src ${relayAddr} and not dst ${relayAddr}` : all;
}
