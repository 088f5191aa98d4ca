import type { BdbState, NodeState, ShardState, ShardStats } from '@minirs/common';

/**
 * What the manager hands the UI on every live-status tick (GET /v1/events), and what the browser
 * renders. Everything here is also readable from the REST API; the stream only saves polling.
 */
export interface UiNode extends NodeState {
  proxy_status: 'active' | 'down';
  shard_list: number[];
}

export interface UiFault {
  id: string;
  kind: string;
  target: string;
  created_time: string;
  active: boolean;
  ms?: number;
  jitter_ms?: number;
  kbps?: number;
  bytes?: number;
}

export interface UiSnapshot {
  /** ISO time the snapshot was taken (the x of the lag chart). */
  time: string;
  cluster: {
    name: string;
    api_url: string;
    api_port: number;
    loopback_fallback: boolean;
    nodes: UiNode[];
  };
  shards: (ShardState & { stats?: ShardStats })[];
  bdbs: BdbState[];
  faults: UiFault[];
}

/** Lag samples per `<bdb uid>/<source uid>`: [unix ms, lag ms or null while not in sync]. */
export type LagHistory = Record<string, [number, number | null][]>;
