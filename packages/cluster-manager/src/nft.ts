import { execFile, execFileSync, spawnSync } from 'node:child_process';

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

/** Replace the table with exactly these rules; no rules at all removes the table. */
export function writeNftTable(clusterIndex: number, rules: NftRules): void {
  const name = nftTableName(clusterIndex);
  const lines: string[] = [];
  // `add table` then `delete table` empties it atomically whether or not it existed.
  lines.push(`add table inet ${name}`, `delete table inet ${name}`);
  if (rules.filter.length > 0 || rules.nat.length > 0) {
    lines.push(`add table inet ${name}`);
    lines.push(`add chain inet ${name} filter_out { type filter hook output priority 0; policy accept; }`);
    lines.push(`add chain inet ${name} nat_out { type nat hook output priority -100; policy accept; }`);
    for (const r of rules.filter) lines.push(`add rule inet ${name} filter_out ${r}`);
    for (const r of rules.nat) lines.push(`add rule inet ${name} nat_out ${r}`);
  }
  execFileSync('nft', ['-f', '-'], { input: `${lines.join('\n')}\n`, stdio: ['pipe', 'ignore', 'pipe'], timeout: 10_000 });
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
export function killSockets(filter: string): number {
  const r = spawnSync('ss', ['-K', '-t', '-n', '-H', filter], { encoding: 'utf8', timeout: 5000 });
  if (r.status !== 0) throw new Error(`ss -K failed: ${(r.stderr || '').trim()}`);
  return r.stdout.split('\n').filter((l) => l.trim()).length;
}
