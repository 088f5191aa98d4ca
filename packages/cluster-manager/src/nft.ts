import { execFile, execFileSync, spawnSync } from 'node:child_process';
import { type ClusterInfo, netnsName } from '@minirs/common';

/**
 * The cluster's nftables table, `inet minirs-<cluster index>`: one filter chain and one nat
 * chain on the output hook (loopback and namespace-bound traffic of this host all leaves through
 * output). The table is always rewritten whole from the active faults, in one `nft -f` transaction,
 * so a crashed manager's leftovers are replaced by the next start and a delete removes everything.
 */

export function nftTableName(clusterIndex: number): string {
  return `minirs-${clusterIndex}`;
}

let available: boolean | undefined;

/** nft is installed and this process may change the ruleset (root or CAP_NET_ADMIN). */
export function nftAvailable(): boolean {
  if (available === undefined) {
    const r = spawnSync('nft', ['list', 'tables'], { stdio: 'ignore', timeout: 5000 });
    available = r.status === 0;
  }
  return available;
}

/**
 * nftAvailable() without blocking: a cluster create starts it alongside its other start-up work
 * (the probe is a process spawn, ~100 ms on a busy machine), and nftAvailable() then answers
 * from the cached result.
 */
export function probeNft(): Promise<boolean> {
  if (available !== undefined) return Promise.resolve(available);
  return new Promise((resolve) => {
    execFile('nft', ['list', 'tables'], { timeout: 5000 }, (err) => {
      available ??= !err;
      resolve(available);
    });
  });
}

export interface NftRules {
  /** Rules of the filter chain (drop, reject, loss), each one `nft` rule body. */
  filter: string[];
  /** Rules of the nat chain (dnat into a relay). */
  nat: string[];
}

function tableExists(name: string): boolean {
  return spawnSync('nft', ['list', 'table', 'inet', name], { stdio: 'ignore', timeout: 5000 }).status === 0;
}

/**
 * Where a cluster's table goes: the host (undefined) always; in netns mode also every node's
 * namespace, whose output hook sees what the node sends (so the same rules on addresses cut the
 * same packets as on lo), plus an input chain there for packets of senders outside this
 * cluster's namespaces and the host (another netns cluster's nodes), which no table of ours saw.
 */
export interface NftPlace {
  ns?: string;
  /** Input chain: accept first what was already filtered at its sender (these saddr sets). */
  inputSkip?: string[];
}

export function nftPlaces(c: Pick<ClusterInfo, 'index' | 'net' | 'nodes'>): NftPlace[] {
  const places: NftPlace[] = [{}];
  if (c.net === 'netns') {
    for (const n of c.nodes) {
      places.push({ ns: netnsName(c.index, n.uid), inputSkip: [`198.18.${c.index}.0/24`] });
    }
  }
  return places;
}

/** Replace the table with exactly these rules; no rules at all removes the table. */
export function writeNftTable(clusterIndex: number, rules: NftRules, places: NftPlace[] = [{}]): void {
  const name = nftTableName(clusterIndex);
  for (const place of places) {
    const lines: string[] = [];
    // `add table` then `delete table` empties it atomically whether or not it existed.
    lines.push(`add table inet ${name}`, `delete table inet ${name}`);
    if (rules.filter.length > 0 || rules.nat.length > 0) {
      lines.push(`add table inet ${name}`);
      lines.push(`add chain inet ${name} filter_out { type filter hook output priority 0; policy accept; }`);
      lines.push(`add chain inet ${name} nat_out { type nat hook output priority -100; policy accept; }`);
      for (const r of rules.filter) lines.push(`add rule inet ${name} filter_out ${r}`);
      for (const r of rules.nat) lines.push(`add rule inet ${name} nat_out ${r}`);
      if (place.inputSkip && rules.filter.length > 0) {
        lines.push(`add chain inet ${name} filter_in { type filter hook input priority 0; policy accept; }`);
        // Only other netns clusters' nodes are left to filter here: the host and this cluster's
        // nodes were filtered on their way out.
        lines.push(`add rule inet ${name} filter_in ip saddr != 198.18.0.0/16 accept`);
        for (const skip of place.inputSkip) lines.push(`add rule inet ${name} filter_in ip saddr ${skip} accept`);
        for (const r of rules.filter) lines.push(`add rule inet ${name} filter_in ${r}`);
      }
    }
    const [cmd, args] = place.ns ? ['ip', ['netns', 'exec', place.ns, 'nft', '-f', '-']] : ['nft', ['-f', '-']];
    execFileSync(cmd as string, args as string[], {
      input: `${lines.join('\n')}\n`,
      stdio: ['pipe', 'ignore', 'pipe'],
      timeout: 10_000,
    });
  }
}

/** Removes the cluster's table if it exists (cluster delete, stop). */
export function deleteNftTable(clusterIndex: number): void {
  if (!nftAvailable()) return;
  const name = nftTableName(clusterIndex);
  if (tableExists(name)) execFileSync('nft', ['delete', 'table', 'inet', name], { stdio: 'ignore', timeout: 5000 });
}

/**
 * Closes every TCP socket of this host matching an `ss` filter (kernel sock_destroy): both ends
 * of a loopback connection see it reset. Returns how many sockets it closed.
 */
export function killSockets(filter: string, places: NftPlace[] = [{}]): number {
  let n = 0;
  for (const place of places) {
    const argv = ['-K', '-t', '-n', '-H', filter];
    const r = place.ns
      ? spawnSync('ip', ['netns', 'exec', place.ns, 'ss', ...argv], { encoding: 'utf8', timeout: 5000 })
      : spawnSync('ss', argv, { encoding: 'utf8', timeout: 5000 });
    if (r.status !== 0) throw new Error(`ss -K failed${place.ns ? ` in ${place.ns}` : ''}: ${(r.stderr || '').trim()}`);
    n += r.stdout.split('\n').filter((l) => l.trim()).length;
  }
  return n;
}

/** (minirs) How the cluster's nodes are hosts, for the ready line and GET /v1/cluster. */
export function describeNetwork(
  c: Pick<ClusterInfo, 'index' | 'net' | 'net_reason' | 'loopback_fallback'>,
  nft: boolean,
): { mode: string; kernel_faults: boolean; detail: string } {
  if (c.net === 'netns') {
    return {
      mode: 'netns',
      kernel_faults: nft,
      detail: `node N runs in the network namespace minirs-${c.index}-N with 198.18.${c.index}.N (bridge in namespace minirs-sw, host on minirs0); network faults ${nft ? 'are nftables tables in each node namespace and on the host (a relay for latency/bandwidth)' : 'need nftables (scripts/setup)'}`,
    };
  }
  const kernel = !c.loopback_fallback && nft;
  const why = c.net_reason ? ` (no namespaces: ${c.net_reason})` : '';
  return {
    mode: c.loopback_fallback ? 'loopback-fallback' : 'loopback',
    kernel_faults: kernel,
    detail: c.loopback_fallback
      ? `every node shares 127.0.0.1 (distinct ports); network faults only inside the syncer${why}`
      : `node N is 127.0.C.N on lo${why}; network faults ${kernel ? 'in the kernel (nftables; a relay for latency/bandwidth)' : 'need root and nftables (scripts/setup); only signal and syncer-socket faults now'}`,
  };
}

// ---- tc tbf on a node's veth (netns mode) ----

/** A network device in a namespace (a node's eth0, its port on the switch). */
export interface NetDev {
  ns: string;
  dev: string;
}

/**
 * The devices whose egress carries node uid's traffic: `out` (from the node) leaves through its
 * eth0, `in` (to the node) through its port c<C>-n<N> on the switch.
 */
export function nodeVeths(index: number, uid: number, direction: 'both' | 'in' | 'out'): NetDev[] {
  const out: NetDev[] = [];
  if (direction !== 'in') out.push({ ns: netnsName(index, uid), dev: 'eth0' });
  if (direction !== 'out') out.push({ ns: 'minirs-sw', dev: `c${index}-n${uid}` });
  return out;
}

/** Puts a tbf of `kbps` kbit/s as the root qdisc of each device (replacing what was there). */
export function setTbf(devs: NetDev[], kbps: number): void {
  // Burst: 50 ms of the rate, at least a few full-size frames (tbf drops a packet larger than it).
  const burst = Math.max(4500, Math.ceil((kbps * 1000) / 8 / 20));
  for (const d of devs) {
    execFileSync(
      'ip',
      ['netns', 'exec', d.ns, 'tc', 'qdisc', 'replace', 'dev', d.dev, 'root', 'tbf', 'rate', `${kbps}kbit`, 'burst', String(burst), 'latency', '1s'],
      { stdio: ['ignore', 'ignore', 'pipe'], timeout: 10_000 },
    );
  }
}

/** Removes the root qdisc of each device (back to the default); a device without one is fine. */
export function clearTbf(devs: NetDev[]): void {
  for (const d of devs) {
    spawnSync('ip', ['netns', 'exec', d.ns, 'tc', 'qdisc', 'del', 'dev', d.dev, 'root'], { stdio: 'ignore', timeout: 10_000 });
  }
}
