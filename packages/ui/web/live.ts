import { EventSource } from 'eventsource';
import { useEffect, useState } from 'preact/hooks';
import type { LagHistory, UiSnapshot } from '../src/types.js';
import { authHeader, logout } from './api.js';

/**
 * The live status: one EventSource on /v1/events per tab (the `eventsource` package, because the
 * browser's own cannot send the basic-auth header), its latest snapshot, and the lag samples of
 * the last minutes for the charts.
 */

export interface LiveState {
  snap?: UiSnapshot;
  connected: boolean;
  problem?: string;
  /** Bumped on every state event (charts redraw on it). */
  tick: number;
}

const WINDOW_MS = 5 * 60_000;
let state: LiveState = { connected: false, tick: 0 };
const history = new Map<string, [number, number | null][]>();
const subscribers = new Set<(s: LiveState) => void>();
let source: EventSource | undefined;

function publish(patch: Partial<LiveState>): void {
  state = { ...state, ...patch };
  for (const fn of subscribers) fn(state);
}

function record(snap: UiSnapshot): void {
  const t = Date.parse(snap.time);
  for (const b of snap.bdbs) {
    for (const s of b.replica_sources) {
      const key = `${b.uid}/${s.uid}`;
      let points = history.get(key);
      if (!points) {
        points = [];
        history.set(key, points);
      }
      points.push([t, b.replica_sync === 'enabled' && s.status === 'in-sync' ? s.lag : null]);
      while (points.length > 0 && points[0]![0] < t - WINDOW_MS) points.shift();
    }
  }
}

export function lagSeries(key: string): [number, number | null][] {
  return history.get(key) ?? [];
}

export function connectLive(): void {
  if (source) return;
  const es = new EventSource('/v1/events', {
    fetch: (input, init) =>
      fetch(input, {
        ...init,
        headers: { ...(init?.headers as Record<string, string>), authorization: authHeader() ?? '' },
      }),
  });
  source = es;
  es.addEventListener('open', () => publish({ connected: true, problem: undefined }));
  es.addEventListener('history', (e) => {
    const h = JSON.parse(e.data) as LagHistory;
    for (const [key, points] of Object.entries(h)) history.set(key, points.slice());
  });
  es.addEventListener('state', (e) => {
    const snap = JSON.parse(e.data) as UiSnapshot;
    record(snap);
    publish({ snap, connected: true, tick: state.tick + 1 });
  });
  es.addEventListener('problem', (e) =>
    publish({ problem: (JSON.parse(e.data) as { message: string }).message }),
  );
  es.addEventListener('error', (e) => {
    if (e.code === 401) {
      disconnectLive();
      logout();
      return;
    }
    publish({
      connected: false,
      problem:
        'live status lost; reconnecting (is the cluster manager running? `minirs cluster start <name>`)',
    });
  });
}

export function disconnectLive(): void {
  source?.close();
  source = undefined;
  history.clear();
  state = { connected: false, tick: 0 };
}

export function useLive(): LiveState {
  const [s, set] = useState(state);
  useEffect(() => {
    subscribers.add(set);
    set(state);
    return () => {
      subscribers.delete(set);
    };
  }, []);
  return s;
}
