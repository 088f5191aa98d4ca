import { readFileSync } from 'node:fs';
import { basename } from 'node:path';
import { ErrorCodes, MinirsError } from '@minirs/common';
import { parse } from 'yaml';

/**
 * A scenario file (YAML, minirs): clusters to create, then steps run in order. Each step is a
 * mapping with one step key (plus an optional `name`):
 *
 *   name: partition between clusters during the full sync
 *   timeout_ms: 180000
 *   requires: [kernel-faults]          # skipped, not failed, where the host lacks them
 *   clusters: [{ name: east, nodes: 2 }, { name: west, nodes: 2 }]
 *   steps:
 *     - create_db: { cluster: east, name: src, shards: 2 }
 *     - load: { cluster: east, db: src, keys: 5000, value_bytes: 500 }
 *     - replica_of: { cluster: west, db: dst, sources: [east/src] }
 *     - fault: { cluster: west, id: cut, kind: partition, target: "peer:east", mode: drop }
 *     - wait: { cluster: west, db: dst, status: out-of-sync, timeout_ms: 20000 }
 *     - heal: { cluster: west, fault: cut }
 *     - compare: { sources: [east/src], destination: west/dst }
 *
 * Targets may name databases as {db:<name>} (the uid in the step's cluster).
 */

export const STEP_KINDS = [
  'create_cluster',
  'create_db',
  'load',
  'writer_start',
  'writer_stop',
  'replica_of',
  'sync',
  'fault',
  'heal',
  'wait',
  'compare',
  'assert',
  'reset_admin_pass',
  'redis_config',
  'transaction',
] as const;
export type StepKind = (typeof STEP_KINDS)[number];

export interface Step {
  kind: StepKind;
  name?: string;
  args: Record<string, unknown>;
}

export interface Scenario {
  file: string;
  name: string;
  description?: string;
  timeoutMs: number;
  requires: string[];
  clusters: { name: string; nodes: number }[];
  steps: Step[];
}

function bad(file: string, msg: string): MinirsError {
  return new MinirsError(ErrorCodes.INVALID_ARGUMENT, `${file}: ${msg}`, { field: 'scenario' });
}

/** Parses and checks a scenario; every problem names the file and the step. */
export function parseScenario(text: string, file: string): Scenario {
  let doc: unknown;
  try {
    doc = parse(text);
  } catch (err) {
    throw bad(file, `not valid YAML: ${(err as Error).message}`);
  }
  if (!doc || typeof doc !== 'object' || Array.isArray(doc)) throw bad(file, 'the top level must be a mapping with name, clusters and steps');
  const d = doc as Record<string, unknown>;
  const known = new Set(['name', 'description', 'timeout_ms', 'requires', 'clusters', 'steps']);
  for (const k of Object.keys(d)) if (!known.has(k)) throw bad(file, `unknown top-level field "${k}" (known: ${[...known].join(', ')})`);
  const clusters = (d.clusters ?? []) as unknown[];
  if (!Array.isArray(clusters)) throw bad(file, 'clusters must be a list of { name, nodes }');
  const steps = d.steps as unknown[];
  if (!Array.isArray(steps) || steps.length === 0) throw bad(file, 'steps must be a non-empty list');
  const parsedSteps: Step[] = steps.map((raw, i) => {
    if (!raw || typeof raw !== 'object' || Array.isArray(raw)) throw bad(file, `step ${i + 1} must be a mapping`);
    const r = raw as Record<string, unknown>;
    const kinds = Object.keys(r).filter((k) => k !== 'name');
    if (kinds.length !== 1) throw bad(file, `step ${i + 1} must have exactly one step key besides name (got ${kinds.join(', ') || 'none'})`);
    const kind = kinds[0]!;
    if (!(STEP_KINDS as readonly string[]).includes(kind)) {
      throw bad(file, `step ${i + 1}: unknown step "${kind}" (known: ${STEP_KINDS.join(', ')})`);
    }
    const args = r[kind] ?? {};
    if (typeof args !== 'object' || Array.isArray(args)) throw bad(file, `step ${i + 1} (${kind}): its value must be a mapping`);
    return { kind: kind as StepKind, name: typeof r.name === 'string' ? r.name : undefined, args: args as Record<string, unknown> };
  });
  return {
    file,
    name: typeof d.name === 'string' ? d.name : basename(file),
    description: typeof d.description === 'string' ? d.description : undefined,
    timeoutMs: typeof d.timeout_ms === 'number' ? d.timeout_ms : 300_000,
    requires: Array.isArray(d.requires) ? d.requires.map(String) : [],
    clusters: clusters.map((c, i) => {
      const x = c as Record<string, unknown>;
      if (!x || typeof x.name !== 'string') throw bad(file, `cluster ${i + 1} needs a name`);
      return { name: x.name, nodes: typeof x.nodes === 'number' ? x.nodes : 2 };
    }),
    steps: parsedSteps,
  };
}

export function loadScenario(file: string): Scenario {
  let text: string;
  try {
    text = readFileSync(file, 'utf8');
  } catch (err) {
    throw new MinirsError(ErrorCodes.NOT_FOUND, `cannot read scenario ${file}: ${(err as Error).message}`);
  }
  return parseScenario(text, file);
}
