import { execFileSync, spawnSync } from 'node:child_process';
import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { withDirLock } from './dir-lock.js';
import { machineDir } from './paths.js';

/**
 * (minirs) Nodes as hosts: network namespaces per node.
 *
 * Node N of cluster C runs in the network namespace `minirs-C-N`, whose only interface `eth0`
 * has 198.18.C.N/15 (RFC 2544's benchmark range: no real network uses it). Every node's `eth0`
 * is a veth pair whose other end (`cC-nN`) is a port of the bridge `br0` in the switch namespace
 * `minirs-sw`; the host joins the same bridge through the veth pair `minirs0` (host) / `host0`
 * (switch). The bridge lives in a namespace of its own, not on the host, so nothing of the host's
 * firewall (br_netfilter, a FORWARD policy) applies to node-to-node traffic, and the host needs no
 * forwarding. The host's addresses, all /32 on `minirs0`:
 *   198.19.255.254  the source of every host connection into the network (route src);
 *   198.19.C.254    cluster C's REST API and metrics exporter;
 *   198.19.C.250    cluster C's fault relays;
 *   198.19.C.1      node 1's processes that must run on the host (a syncer whose source is on
 *                   the host's loopback or outside the node network).
 * Everything is created by the cluster and removed with it; the switch goes with the last one.
 */

export const NETNS_SWITCH = 'minirs-sw';
export const NETNS_HOST_LINK = 'minirs0';
export const NETNS_NODE_NET = '198.18.0.0/16';
export const NETNS_ROUTE = '198.18.0.0/15';
export const NETNS_HOST_SRC = '198.19.255.254';

export type NetMode = 'netns' | 'loopback';

export function netnsName(index: number, uid: number): string {
  return `minirs-${index}-${uid}`;
}

export function netnsNodeAddr(index: number, uid: number): string {
  return `198.18.${index}.${uid}`;
}

/** Host-side addresses of cluster `index` on minirs0 (254 API, 250 relays, 1 node 1's host processes). */
export function netnsHostAddr(index: number, slot: 1 | 250 | 254): string {
  return `198.19.${index}.${slot}`;
}

/** Is addr one of the node addresses of some netns cluster (reachable from inside a namespace)? */
export function inNodeNet(addr: string): boolean {
  return /^198\.18\.\d{1,3}\.\d{1,3}$/.test(addr);
}

function ip(args: string[], input?: string): string {
  return execFileSync('ip', args, {
    input,
    encoding: 'utf8',
    stdio: ['pipe', 'pipe', 'pipe'],
    timeout: 10_000,
  });
}

function ipOk(args: string[]): boolean {
  return spawnSync('ip', args, { stdio: 'ignore', timeout: 10_000 }).status === 0;
}

/** Runs commands through `ip -batch`, in namespace ns when given. */
function ipBatch(lines: string[], ns?: string): void {
  if (lines.length === 0) return;
  ip([...(ns ? ['-n', ns] : []), '-batch', '-'], `${lines.join('\n')}\n`);
}

function capEffHas(bit: number): boolean {
  try {
    const m = /CapEff:\s*([0-9a-f]+)/.exec(readFileSync('/proc/self/status', 'utf8'));
    return m ? (BigInt(`0x${m[1]}`) & (1n << BigInt(bit))) !== 0n : false;
  } catch {
    return false;
  }
}

/**
 * Why namespaces cannot be used here, or undefined when they can be tried: Linux, CAP_NET_ADMIN
 * and CAP_SYS_ADMIN (`ip netns add` mounts), `ip` installed. The real test is creating them.
 */
export function netnsUnavailableReason(): string | undefined {
  if (process.platform !== 'linux') return `network namespaces need Linux (this is ${process.platform})`;
  if (!capEffHas(12) || !capEffHas(21))
    return 'network namespaces need root (CAP_NET_ADMIN and CAP_SYS_ADMIN)';
  if (spawnSync('ip', ['-V'], { stdio: 'ignore', timeout: 5000 }).status !== 0) {
    return 'network namespaces need `ip` (Debian package iproute2; scripts/setup installs it)';
  }
  return undefined;
}

// ---- a machine-wide lock: the switch is shared by every netns cluster ----

function withNetLock<T>(fn: () => T): T {
  const lock = join(machineDir(), 'minirs-netns.lock');
  return withDirLock(
    lock,
    {
      staleMs: 15_000,
      waitMs: 20_000,
      timeoutError: () =>
        new Error(
          `the minirs network lock ${lock} stays taken; remove it if no minirs cluster is being created or deleted`,
        ),
    },
    fn,
  );
}

export function listNetns(): string[] {
  if (!existsSync('/run/netns') && !existsSync('/var/run/netns')) return [];
  try {
    return ip(['netns', 'list'])
      .split('\n')
      .map((l) => l.trim().split(/\s+/)[0] ?? '')
      .filter(Boolean);
  } catch {
    return [];
  }
}

/** The namespaces of cluster `index` that exist now. */
export function clusterNetns(index: number): string[] {
  const re = new RegExp(`^minirs-${index}-\\d+$`);
  return listNetns().filter((n) => re.test(n));
}

function linkNames(ns?: string): string[] {
  try {
    return ip([...(ns ? ['-n', ns] : []), '-o', 'link', 'show'])
      .split('\n')
      .map((l) => /^\d+:\s+([^:@\s]+)/.exec(l)?.[1] ?? '')
      .filter(Boolean);
  } catch {
    return [];
  }
}

function hostAddrs(): string[] {
  try {
    return ip(['-o', '-4', 'addr', 'show', 'dev', NETNS_HOST_LINK])
      .split('\n')
      .map((l) => /inet (\d+\.\d+\.\d+\.\d+)/.exec(l)?.[1] ?? '')
      .filter(Boolean);
  } catch {
    return [];
  }
}

function switchUp(): boolean {
  return listNetns().includes(NETNS_SWITCH) && linkNames().includes(NETNS_HOST_LINK);
}

function removeSwitch(): void {
  if (linkNames().includes(NETNS_HOST_LINK)) ipOk(['link', 'del', NETNS_HOST_LINK]);
  if (listNetns().includes(NETNS_SWITCH)) ipOk(['netns', 'del', NETNS_SWITCH]);
}

function ensureSwitch(): void {
  if (switchUp()) return;
  removeSwitch(); // a half-made one
  ipBatch([`netns add ${NETNS_SWITCH}`]);
  ipBatch(['link add br0 type bridge', 'link set br0 up', 'link set lo up'], NETNS_SWITCH);
  ipBatch([
    `link add ${NETNS_HOST_LINK} type veth peer name host0 netns ${NETNS_SWITCH}`,
    `link set ${NETNS_HOST_LINK} up`,
    `addr add ${NETNS_HOST_SRC}/32 dev ${NETNS_HOST_LINK}`,
    `route add ${NETNS_ROUTE} dev ${NETNS_HOST_LINK} src ${NETNS_HOST_SRC}`,
  ]);
  ipBatch(['link set host0 master br0', 'link set host0 up'], NETNS_SWITCH);
}

function nodeOk(index: number, uid: number): boolean {
  const ns = netnsName(index, uid);
  if (!listNetns().includes(ns) || !linkNames(NETNS_SWITCH).includes(`c${index}-n${uid}`)) return false;
  try {
    return ip(['-n', ns, '-o', '-4', 'addr', 'show', 'dev', 'eth0']).includes(
      `inet ${netnsNodeAddr(index, uid)}/`,
    );
  } catch {
    return false;
  }
}

function removeNode(index: number, uid: number): void {
  const port = `c${index}-n${uid}`;
  if (linkNames(NETNS_SWITCH).includes(port)) ipOk(['-n', NETNS_SWITCH, 'link', 'del', port]);
  if (listNetns().includes(netnsName(index, uid))) ipOk(['netns', 'del', netnsName(index, uid)]);
}

function createNode(index: number, uid: number): void {
  const ns = netnsName(index, uid);
  const port = `c${index}-n${uid}`;
  ipBatch([`netns add ${ns}`]);
  ipBatch(
    [
      `link add ${port} type veth peer name eth0 netns ${ns}`,
      `link set ${port} master br0`,
      `link set ${port} up`,
    ],
    NETNS_SWITCH,
  );
  ipBatch(
    [
      `link set eth0 address ${nodeMac(index, uid)}`,
      `addr add ${netnsNodeAddr(index, uid)}/15 dev eth0`,
      'link set eth0 up',
      'link set lo up',
    ],
    ns,
  );
  // A node address another cluster of this index had: drop what the host learnt of it.
  ipOk(['neigh', 'flush', 'to', netnsNodeAddr(index, uid), 'dev', NETNS_HOST_LINK]);
}

/**
 * Node uid of cluster index's MAC address, the same every time the node is made (locally
 * administered, 02:6d:72 = "mr"). Cluster indexes are reused as soon as a cluster is deleted:
 * with a random MAC the host and the other clusters' nodes kept the old node's MAC in their
 * neighbour caches (REACHABLE for up to ~30 s), and connections to the new node's address went
 * nowhere until those entries aged out (checker rounds failed at setup: "Connection is closed").
 */
export function nodeMac(index: number, uid: number): string {
  const h = (n: number) => (n & 0xff).toString(16).padStart(2, '0');
  return `02:6d:72:${h(index)}:${h(uid >> 8)}:${h(uid)}`;
}

/**
 * Creates (or completes) cluster `index`'s namespaces for these node uids and its host addresses.
 * `fresh`: remove whatever an earlier cluster of this index left first (a new cluster); else a
 * node whose namespace is intact is kept (a restarted manager adopts processes running in it).
 * Throws with ip's message when the kernel refuses; the caller removes what was made. Returns
 * the uids whose namespace was (re)made: processes of such a node that still run are cut off in
 * the old one and must be started again.
 */
export function setupClusterNetns(index: number, uids: number[], fresh: boolean): number[] {
  return withNetLock(() => {
    if (fresh) return setupFreshLocked(index, uids);
    const made: number[] = [];
    ensureSwitch();
    const have = hostAddrs();
    ipBatch(
      ([1, 250, 254] as const)
        .map((slot) => netnsHostAddr(index, slot))
        .filter((a) => !have.includes(a))
        .map((a) => `addr add ${a}/32 dev ${NETNS_HOST_LINK}`),
    );
    for (const uid of uids) {
      if (!fresh && nodeOk(index, uid)) continue;
      removeNode(index, uid);
      createNode(index, uid);
      made.push(uid);
    }
    return made;
  });
}

/**
 * A new cluster's namespaces with few `ip` processes (each costs tens of ms on a busy machine,
 * and they are on every `cluster create`'s path): the state is listed once, what an earlier
 * cluster of this index left is removed, then one batch on the host (addresses, namespaces), one
 * in the switch (all ports), one per node (its eth0) and one for the neighbour cache.
 */
function setupFreshLocked(index: number, uids: number[]): number[] {
  const nsList = listNetns();
  const swUp = nsList.includes(NETNS_SWITCH);
  const swPorts = swUp ? linkNames(NETNS_SWITCH) : [];
  const hostLinks = linkNames();
  const addrs = hostLinks.includes(NETNS_HOST_LINK) ? hostAddrs() : [];
  // What an earlier cluster of this index left (a killed manager): as teardownLocked removes it.
  const portRe = new RegExp(`^c${index}-n\\d+$`);
  for (const l of swPorts.filter((x) => portRe.test(x))) ipOk(['-n', NETNS_SWITCH, 'link', 'del', l]);
  const nsRe = new RegExp(`^minirs-${index}-\\d+$`);
  for (const ns of nsList.filter((n) => nsRe.test(n))) ipOk(['netns', 'del', ns]);
  const prefix = `198.19.${index}.`;
  for (const a of addrs.filter((x) => x.startsWith(prefix))) {
    ipOk(['addr', 'del', `${a}/32`, 'dev', NETNS_HOST_LINK]);
  }
  if (!(swUp && hostLinks.includes(NETNS_HOST_LINK))) ensureSwitch();
  ipBatch([
    ...([1, 250, 254] as const).map((slot) => `addr add ${netnsHostAddr(index, slot)}/32 dev ${NETNS_HOST_LINK}`),
    ...uids.map((uid) => `netns add ${netnsName(index, uid)}`),
  ]);
  ipBatch(
    uids.flatMap((uid) => {
      const port = `c${index}-n${uid}`;
      return [
        `link add ${port} type veth peer name eth0 netns ${netnsName(index, uid)}`,
        `link set ${port} master br0`,
        `link set ${port} up`,
      ];
    }),
    NETNS_SWITCH,
  );
  for (const uid of uids) {
    ipBatch(
      [
        `link set eth0 address ${nodeMac(index, uid)}`,
        `addr add ${netnsNodeAddr(index, uid)}/15 dev eth0`,
        'link set eth0 up',
        'link set lo up',
      ],
      netnsName(index, uid),
    );
  }
  // See createNode: the host must not keep an old node's MAC for these addresses.
  spawnSync('ip', ['-force', '-batch', '-'], {
    input: `${uids.map((uid) => `neigh flush to ${netnsNodeAddr(index, uid)} dev ${NETNS_HOST_LINK}`).join('\n')}\n`,
    stdio: ['pipe', 'ignore', 'ignore'],
    timeout: 10_000,
  });
  return [...uids];
}

function teardownLocked(index: number, dropSwitch: boolean): string[] {
  const removed: string[] = [];
  const portRe = new RegExp(`^c${index}-n\\d+$`);
  if (listNetns().includes(NETNS_SWITCH)) {
    for (const l of linkNames(NETNS_SWITCH).filter((x) => portRe.test(x))) {
      if (ipOk(['-n', NETNS_SWITCH, 'link', 'del', l])) removed.push(l);
    }
  }
  for (const ns of clusterNetns(index)) if (ipOk(['netns', 'del', ns])) removed.push(ns);
  const prefix = `198.19.${index}.`;
  for (const a of hostAddrs().filter((x) => x.startsWith(prefix))) {
    if (ipOk(['addr', 'del', `${a}/32`, 'dev', NETNS_HOST_LINK])) removed.push(a);
  }
  if (dropSwitch && !listNetns().some((n) => /^minirs-\d+-\d+$/.test(n))) {
    if (switchUp() || listNetns().includes(NETNS_SWITCH) || linkNames().includes(NETNS_HOST_LINK)) {
      removeSwitch();
      removed.push(NETNS_SWITCH, NETNS_HOST_LINK);
    }
  }
  return removed;
}

/**
 * Removes cluster `index`'s namespaces, switch ports and host addresses (their nftables tables go
 * with the namespaces), and the switch when no cluster uses it any more. Processes still inside a
 * namespace keep it alive unnamed: stop them first. Returns what it removed. Never throws.
 */
export function teardownClusterNetns(index: number): string[] {
  if (process.platform !== 'linux') return [];
  try {
    return withNetLock(() => teardownLocked(index, true));
  } catch {
    return [];
  }
}

/** argv prefix that runs a command in node uid's namespace. */
export function netnsExecPrefix(index: number, uid: number): string[] {
  return ['netns', 'exec', netnsName(index, uid)];
}

/** Where cluster `c`'s REST API and exporter listen: node 1's address, or 198.19.C.254 in netns mode. */
export function clusterApiAddr(c: { index: number; net?: NetMode; nodes: { addr: string }[] }): string {
  return c.net === 'netns' ? netnsHostAddr(c.index, 254) : c.nodes[0]!.addr;
}
