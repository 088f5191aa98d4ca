/** How big `minirs demo` is, and what it can be asked. */

export interface DemoOptions {
  /** Leave clusters, redis-server and home in place, and print how to look around. */
  keep?: boolean;
  /** Fewer keys and a short writer (for tests and CI). */
  quick?: boolean;
  /** Aborted on Ctrl-C: the demo stops where it is and cleans up. */
  signal?: AbortSignal;
}

/** How big the demo is. */
export interface DemoPlan {
  quick: boolean;
  eastKeys: number;
  externalKeys: number;
  /** Writes per second on each source. */
  opsPerSecond: number;
  /** Writer time before the fault; it keeps writing through the fault and recovery. */
  steadySeconds: number;
  /** How long the east/orders link stays cut. */
  partitionSeconds: number;
  /** Writer time after the recovery, before it stops. */
  afterRecoverySeconds: number;
  /** Hard bound of the writer, whatever happens. */
  writerMaxSeconds: number;
}

export function demoPlan(quick: boolean): DemoPlan {
  return quick
    ? {
        quick: true,
        eastKeys: 3_000,
        externalKeys: 2_000,
        opsPerSecond: 500,
        steadySeconds: 3,
        partitionSeconds: 1,
        afterRecoverySeconds: 1,
        writerMaxSeconds: 60,
      }
    : {
        quick: false,
        eastKeys: 40_000,
        externalKeys: 25_000,
        opsPerSecond: 2_000,
        steadySeconds: 10,
        partitionSeconds: 3,
        afterRecoverySeconds: 3,
        writerMaxSeconds: 90,
      };
}

/** The destination's hash policy: the first number in a key is its tag, so every key of one
 * order or customer id lands on the same shard (RS's default would hash the whole key). */
export const DEMO_SHARD_KEY_REGEX = ['[^0-9]*(?<tag>[0-9]+).*', '(?<tag>.*)'];

/** The steps the narration counts. */
export const STEPS = 6;
