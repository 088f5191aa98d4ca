import { useEffect, useRef } from 'preact/hooks';
import uPlot from 'uplot';
import 'uplot/dist/uPlot.min.css';
import { lagSeries } from './live.js';
import { formatLag } from './status.js';

const COLORS = ['#2563eb', '#d97706', '#059669', '#db2777', '#7c3aed', '#0891b2'];
const WINDOW_S = 5 * 60;

/**
 * The lag of each source over the last 5 minutes (uPlot: small, fast, canvas time series).
 * Gaps are the times a source was not in sync. Redrawn on every live tick.
 */
export function LagChart(props: { bdbUid: number; sources: number[]; tick: number }) {
  const box = useRef<HTMLDivElement>(null);
  const plot = useRef<uPlot | null>(null);
  const keys = props.sources.map((s) => `${props.bdbUid}/${s}`);
  const shape = keys.join(',');

  const data = (): uPlot.AlignedData => {
    const times = new Set<number>();
    const series = keys.map((k) => new Map(lagSeries(k).map(([t, v]) => [Math.round(t / 1000), v])));
    for (const m of series) for (const t of m.keys()) times.add(t);
    const xs = [...times].sort((a, b) => a - b);
    return [xs, ...series.map((m) => xs.map((t) => m.get(t) ?? null))];
  };

  useEffect(() => {
    const el = box.current;
    if (!el) return;
    const opts: uPlot.Options = {
      width: Math.max(240, el.clientWidth),
      height: 170,
      scales: { x: { time: true }, y: { range: (_u, _min, max) => [0, Math.max(5, max * 1.2)] } },
      axes: [
        {
          space: 90,
          values: (_u, ticks) =>
            ticks.map((t) => new Date(t * 1000).toLocaleTimeString(undefined, { hour12: false })),
        },
        { label: 'lag (ms)', size: 60 },
      ],
      series: [
        {},
        ...props.sources.map((s, i) => ({
          label: `source ${s}`,
          stroke: COLORS[i % COLORS.length],
          width: 2,
          spanGaps: false,
        })),
      ],
      legend: { show: true },
    };
    const u = new uPlot(opts, data(), el);
    plot.current = u;
    const ro = new ResizeObserver(() => u.setSize({ width: Math.max(240, el.clientWidth), height: 170 }));
    ro.observe(el);
    return () => {
      ro.disconnect();
      u.destroy();
      plot.current = null;
    };
  }, [shape]);

  useEffect(() => {
    const u = plot.current;
    if (!u) return;
    const d = data();
    u.setData(d, false);
    const now = Date.now() / 1000;
    u.setScale('x', { min: now - WINDOW_S, max: now });
  }, [props.tick, shape]);

  const last = keys.map((k) => lagSeries(k).at(-1)?.[1]);
  const summary = props.sources
    .map(
      (s, i) =>
        `source ${s}: ${last[i] === null || last[i] === undefined ? 'not in sync' : formatLag(last[i]!)}`,
    )
    .join('; ');
  return (
    <figure class="lag-chart">
      <div ref={box} role="img" aria-label={`Lag over the last 5 minutes. Now: ${summary || 'no sources'}`} />
      <figcaption class="hint">
        Lag over the last 5 minutes (gaps: not in sync). Now: {summary || 'no sources'}
      </figcaption>
    </figure>
  );
}
