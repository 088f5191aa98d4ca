/**
 * The body of `POST /v1/faults` (minirs's fault API): what the manager accepts and what the CLI,
 * the harness and the checker send. One definition for both sides of the REST call.
 */
export type FaultKind =
  | 'kill'
  | 'pause'
  | 'restart'
  | 'partition'
  | 'loss'
  | 'latency'
  | 'bandwidth'
  | 'reset'
  | 'oom';

export interface FaultRequest {
  kind: FaultKind;
  target: string;
  ms?: number;
  jitter_ms?: number;
  kbps?: number;
  bytes?: number;
  /** loss: percentage of packets dropped (1-100). */
  percent?: number;
  /** partition: drop (silent, the default in the kernel) or reject (connections refused/reset). */
  mode?: 'drop' | 'reject';
  direction?: 'both' | 'in' | 'out';
  /** endpoint:/shard: targets: only this client address. */
  client?: string;
  /** With target "cluster": the same as target peer:<peer>. */
  peer?: string;
  /** Heal by itself after this long. */
  duration_ms?: number;
  /** kernel (default where available) or socket (the syncer's wrapper; source:/syncer: only). */
  mechanism?: 'kernel' | 'socket';
}
