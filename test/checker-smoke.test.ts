import { type CheckerCluster, formatRound, runRound } from '@minirs/checker';
import { MiniCluster } from '@minirs/cli';
import { afterAll, describe, expect, it } from 'vitest';
import { killProcessesUnder, removeHome, tmpHome } from './helpers/cluster.js';

/**
 * CI smoke of the Replica Of checker (packages/checker): three seeds of 20 s each, every fault
 * kind, every source kind over the three (seed 1: external + other cluster + sharded into a
 * 3-shard custom-policy destination; seed 2: same cluster + other cluster + sharded; seed 3:
 * other cluster + sharded into a 3-shard default-policy one). A failing round prints its seed,
 * schedule, first differing keys and log lines; replay it with `pnpm check --seed N --seconds 20`.
 */

const root = tmpHome('cks');

afterAll(() => {
  killProcessesUnder(root);
  removeHome(root);
});

const start = (name: string, home: string, nodes: number): Promise<CheckerCluster> =>
  new MiniCluster(name).withNodes(nodes).withHome(home).withStartTimeout(60_000).start();

describe('checker smoke', () => {
  it.each([1, 2, 3])(
    'seed %i: 20 s of workload and faults end identical, with no false or missed stop',
    async (seed) => {
      const report = await runRound({ seed, seconds: 20, startCluster: start, homeRoot: root });
      const text = formatRound(report);
      console.log(text);
      expect(report.error, text).toBeUndefined();
      expect(report.keysChecked, 'the comparison must not be vacuous').toBeGreaterThan(1000);
      expect(
        report.schedule.filter((f) => !f.error).length,
        'faults must have been injected',
      ).toBeGreaterThan(2);
      expect(report.findings, text).toEqual([]);
    },
    170_000,
  );
});
