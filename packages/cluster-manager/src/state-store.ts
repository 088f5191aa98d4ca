import { readFileSync } from 'node:fs';
import { type ClusterPaths, type ClusterState, writeFileAtomic } from '@minirs/common';

/**
 * The cluster's state in memory and on disk. Every mutation goes through `update`, which
 * persists atomically before returning, so a manager killed at any point restarts from a state
 * that was whole when it was written.
 */
export class StateStore {
  private state: ClusterState;

  constructor(
    private readonly paths: ClusterPaths,
    initial?: ClusterState,
  ) {
    this.state = initial ?? (JSON.parse(readFileSync(paths.state, 'utf8')) as ClusterState);
    if (initial) this.persist();
  }

  get(): Readonly<ClusterState> {
    return this.state;
  }

  update<T>(fn: (s: ClusterState) => T): T {
    const result = fn(this.state);
    this.persist();
    return result;
  }

  private persist(): void {
    writeFileAtomic(this.paths.state, `${JSON.stringify(this.state, null, 2)}\n`);
  }
}
