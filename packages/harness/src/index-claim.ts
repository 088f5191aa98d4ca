import { existsSync, mkdirSync, readFileSync, rmSync } from 'node:fs';
import { join } from 'node:path';
import { ErrorCodes, MinirsError, machineDir, writeFileAtomic } from '@minirs/common';

/**
 * The machine-wide claim of a cluster index C (nodes 127.0.C.N), taken on the host for a
 * cluster that runs in a container with --network host: the container's /tmp is its own, so the
 * manager inside cannot see the host's claims. Same protocol as the manager's claimIndex
 * (cluster-manager/src/cluster-init.ts): an exclusive mkdir of `<tmp>/minirs-node-indexes/C`
 * whose `owner` file names a folder; a claim whose owner folder is gone is stale. Here the owner
 * is the container's state folder on the host, which exists as long as the cluster's state does.
 */
export function indexClaimsDir(): string {
  return join(machineDir(), 'minirs-node-indexes');
}

function ownerOfClaim(dir: string): string {
  try {
    return readFileSync(join(dir, 'owner'), 'utf8').trim();
  } catch {
    return '';
  }
}

/** Claims `wanted` (a cluster that already has its index) or the smallest free index. */
export function claimIndex(owner: string, wanted?: number): number {
  const slots = indexClaimsDir();
  mkdirSync(slots, { recursive: true, mode: 0o1777 });
  const candidates = wanted !== undefined ? [wanted] : Array.from({ length: 254 }, (_, i) => i + 1);
  for (const index of candidates) {
    const dir = join(slots, String(index));
    try {
      mkdirSync(dir);
    } catch {
      const current = ownerOfClaim(dir);
      if (current !== owner) {
        // Being written by a racing create (empty), or held by a cluster that exists.
        if (!current || existsSync(current)) continue;
        rmSync(dir, { recursive: true, force: true });
        try {
          mkdirSync(dir);
        } catch {
          continue;
        }
      }
    }
    writeFileAtomic(join(dir, 'owner'), `${owner}\n`, 0o644);
    return index;
  }
  throw new MinirsError(
    ErrorCodes.CONFLICT,
    wanted !== undefined
      ? `cluster index ${wanted} of the state in ${owner} is held by another cluster on this machine; stop that cluster or start this one from a fresh state folder`
      : 'no free cluster index on this machine (254 in use); delete some clusters',
  );
}

/** Gives the claim up if `owner` still holds it. */
export function releaseIndex(index: number, owner: string): void {
  const dir = join(indexClaimsDir(), String(index));
  if (ownerOfClaim(dir) === owner) rmSync(dir, { recursive: true, force: true });
}
