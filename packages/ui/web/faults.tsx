import { useState } from 'preact/hooks';
import type { UiFault, UiSnapshot } from '../src/types.js';
import { api } from './api.js';
import { formatTime } from './status.js';
import { notify, Section, useAction } from './widgets.js';

/**
 * (minirs) Fault injection (POST/DELETE /v1/faults) from the cluster page (every target) and a
 * database page (that database's targets), so a demo can cut a link and show the recovery.
 */

type Kind = 'kill' | 'pause' | 'partition' | 'latency' | 'bandwidth' | 'reset' | 'oom';

const KINDS: { kind: Kind; label: string }[] = [
  { kind: 'partition', label: 'partition (cut a link)' },
  { kind: 'latency', label: 'latency (delay a link)' },
  { kind: 'bandwidth', label: 'bandwidth (throttle a link)' },
  { kind: 'reset', label: 'reset (close a link now)' },
  { kind: 'kill', label: 'kill (SIGKILL; restarted)' },
  { kind: 'pause', label: 'pause (SIGSTOP until healed)' },
  { kind: 'oom', label: 'oom (lower maxmemory)' },
];

interface Target {
  value: string;
  label: string;
}

function targetsFor(kind: Kind, snap: UiSnapshot, bdbUid?: number): Target[] {
  const bdbs = snap.bdbs.filter((b) => bdbUid === undefined || b.uid === bdbUid);
  const out: Target[] = [];
  if (kind === 'partition' || kind === 'latency' || kind === 'bandwidth' || kind === 'reset') {
    for (const b of bdbs) {
      for (const s of b.replica_sources)
        out.push({ value: `source:${b.uid}/${s.uid}`, label: `source ${s.uid} of ${b.name} (one link)` });
      out.push({ value: `syncer:${b.uid}`, label: `every source link of ${b.name}` });
    }
    return out;
  }
  const shards = snap.shards.filter((s) => bdbs.some((b) => b.uid === s.bdb_uid));
  const name = (uid: number) => snap.bdbs.find((b) => b.uid === uid)?.name ?? `bdb ${uid}`;
  if (kind === 'oom') {
    for (const b of bdbs) out.push({ value: `bdb:${b.uid}`, label: `every shard of ${b.name}` });
    for (const s of shards)
      out.push({ value: `shard:${s.uid}`, label: `shard ${s.uid} of ${name(s.bdb_uid)}` });
    return out;
  }
  for (const s of shards) {
    out.push({ value: `shard:${s.uid}`, label: `shard process ${s.uid} of ${name(s.bdb_uid)}` });
    out.push({ value: `redis:${s.uid}`, label: `redis-server of shard ${s.uid} (${name(s.bdb_uid)})` });
  }
  for (const b of bdbs)
    if (b.replica_sources.length > 0) out.push({ value: `syncer:${b.uid}`, label: `syncer of ${b.name}` });
  if (bdbUid === undefined)
    for (const n of snap.cluster.nodes)
      out.push({ value: `proxy:${n.uid}`, label: `proxy of node ${n.uid} (${n.addr})` });
  return out;
}

function params(f: UiFault): string {
  const p: string[] = [];
  if (f.ms !== undefined) p.push(`${f.ms} ms`);
  if (f.jitter_ms !== undefined) p.push(`\u00b1${f.jitter_ms} ms`);
  if (f.kbps !== undefined) p.push(`${f.kbps} kbit/s`);
  if (f.bytes !== undefined) p.push(`${f.bytes} bytes`);
  return p.join(', ');
}

function belongsTo(f: UiFault, bdbUid: number, snap: UiSnapshot): boolean {
  const m = /^(\w+):(\d+)/.exec(f.target);
  if (!m) return false;
  const uid = Number(m[2]);
  if (m[1] === 'shard' || m[1] === 'redis')
    return snap.shards.some((s) => s.uid === uid && s.bdb_uid === bdbUid);
  if (m[1] === 'proxy') return false;
  return uid === bdbUid;
}

export function FaultsPanel(props: { snap: UiSnapshot; bdbUid?: number }) {
  const { snap, bdbUid } = props;
  const prefix = bdbUid === undefined ? 'cf' : `df${bdbUid}`;
  const [kind, setKind] = useState<Kind>('partition');
  const targets = targetsFor(kind, snap, bdbUid);
  const [target, setTarget] = useState('');
  const [ms, setMs] = useState('200');
  const [jitter, setJitter] = useState('0');
  const [kbps, setKbps] = useState('64');
  const [bytes, setBytes] = useState('1048576');
  const [busy, run] = useAction();
  const chosen = targets.some((t) => t.value === target) ? target : (targets[0]?.value ?? '');
  const faults = snap.faults.filter((f) => f.active && (bdbUid === undefined || belongsTo(f, bdbUid, snap)));

  const inject = (e: Event) => {
    e.preventDefault();
    if (!chosen) return;
    const body: Record<string, unknown> = { kind, target: chosen };
    if (kind === 'latency') {
      body.ms = Number(ms);
      body.jitter_ms = Number(jitter);
    }
    if (kind === 'bandwidth') body.kbps = Number(kbps);
    if (kind === 'oom') body.bytes = Number(bytes);
    void run('Injecting the fault', async () => {
      const f = await api<UiFault>('POST', '/v1/faults', body);
      notify(f.active ? `Fault ${f.id} injected: ${kind} on ${chosen}` : `${kind} done on ${chosen}`);
    });
  };
  const heal = (f: UiFault) =>
    run('Healing the fault', async () => {
      await api('DELETE', `/v1/faults/${encodeURIComponent(f.id)}`);
      notify(`Fault ${f.id} healed (${f.kind} on ${f.target})`);
    });

  return (
    <Section title="Faults" id={`${prefix}-title`}>
      <p class="hint">Inject a failure to watch minirs recover; heal it to end it.</p>
      <form class="form-grid" onSubmit={inject}>
        <div class="field">
          <label for={`${prefix}-kind`}>Fault</label>
          <select id={`${prefix}-kind`} value={kind} onChange={(e) => setKind(e.currentTarget.value as Kind)}>
            {KINDS.map((k) => (
              <option key={k.kind} value={k.kind}>
                {k.label}
              </option>
            ))}
          </select>
        </div>
        <div class="field">
          <label for={`${prefix}-target`}>Target</label>
          <select
            id={`${prefix}-target`}
            value={chosen}
            onChange={(e) => setTarget(e.currentTarget.value)}
            disabled={targets.length === 0}
          >
            {targets.length === 0 && <option value="">no target for this fault yet</option>}
            {targets.map((t) => (
              <option key={t.value} value={t.value}>
                {t.value} — {t.label}
              </option>
            ))}
          </select>
        </div>
        {kind === 'latency' && (
          <>
            <div class="field">
              <label for={`${prefix}-ms`}>Delay (ms)</label>
              <input
                id={`${prefix}-ms`}
                type="number"
                min={0}
                value={ms}
                onInput={(e) => setMs(e.currentTarget.value)}
              />
            </div>
            <div class="field">
              <label for={`${prefix}-jitter`}>Jitter (ms)</label>
              <input
                id={`${prefix}-jitter`}
                type="number"
                min={0}
                value={jitter}
                onInput={(e) => setJitter(e.currentTarget.value)}
              />
            </div>
          </>
        )}
        {kind === 'bandwidth' && (
          <div class="field">
            <label for={`${prefix}-kbps`}>Bandwidth (kbit/s)</label>
            <input
              id={`${prefix}-kbps`}
              type="number"
              min={1}
              value={kbps}
              onInput={(e) => setKbps(e.currentTarget.value)}
            />
          </div>
        )}
        {kind === 'oom' && (
          <div class="field">
            <label for={`${prefix}-bytes`}>maxmemory (bytes)</label>
            <input
              id={`${prefix}-bytes`}
              type="number"
              min={1}
              value={bytes}
              onInput={(e) => setBytes(e.currentTarget.value)}
            />
          </div>
        )}
        <div class="field actions-field">
          <button type="submit" class="danger" disabled={busy || !chosen}>
            Inject fault
          </button>
        </div>
      </form>
      <h3>Active faults</h3>
      {faults.length === 0 ? (
        <p class="muted" data-testid={`${prefix}-none`}>
          No active faults.
        </p>
      ) : (
        <div class="table-wrap">
          <table>
            <caption class="sr-only">Active faults</caption>
            <thead>
              <tr>
                <th scope="col">Id</th>
                <th scope="col">Fault</th>
                <th scope="col">Target</th>
                <th scope="col">Parameters</th>
                <th scope="col">Since</th>
                <th scope="col">
                  <span class="sr-only">Actions</span>
                </th>
              </tr>
            </thead>
            <tbody>
              {faults.map((f) => (
                <tr key={f.id} data-testid={`fault-${f.id}`}>
                  <td>{f.id}</td>
                  <td>{f.kind}</td>
                  <td>{f.target}</td>
                  <td>{params(f)}</td>
                  <td>{formatTime(f.created_time)}</td>
                  <td>
                    <button
                      type="button"
                      onClick={() => heal(f)}
                      disabled={busy}
                      aria-label={`Heal ${f.kind} on ${f.target}`}
                    >
                      Heal
                    </button>
                  </td>
                </tr>
              ))}
            </tbody>
          </table>
        </div>
      )}
    </Section>
  );
}
