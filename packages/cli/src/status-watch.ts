import cliProgress from 'cli-progress';
import type { CliIo } from './context.js';
import {
  describeAggregate,
  describeSource,
  renderReplicaStatus,
  type ReplicaStatusView,
} from '@minirs/local';

/** One destination database in `minirs status`. */
export interface StatusEntry {
  cluster: string;
  name: string;
  view: ReplicaStatusView;
}

export function entryTitle(e: StatusEntry): string {
  return `${e.cluster}/${e.name} (bdb ${e.view.bdb_uid})`;
}

export function renderEntries(entries: StatusEntry[]): string {
  return entries.map((e) => renderReplicaStatus(entryTitle(e), e.view)).join('\n\n');
}

/** How `status --watch` draws each poll. */
export interface WatchRenderer {
  frame(entries: StatusEntry[]): void;
  error(message: string): void;
  stop(): void;
}

/** A terminal: one live bar per destination and per source, redrawn in place. */
export class TtyWatchRenderer implements WatchRenderer {
  private multibar?: cliProgress.MultiBar;
  private bars: cliProgress.SingleBar[] = [];
  private layout = '';

  constructor(private readonly stream: NodeJS.WritableStream) {}

  frame(entries: StatusEntry[]): void {
    const rows: { label: string; value: number; text: string }[] = [];
    for (const e of entries) {
      const v = e.view;
      const avg = v.sources.length
        ? Math.floor(v.sources.reduce((a, s) => a + s.progress, 0) / v.sources.length)
        : 0;
      rows.push({ label: entryTitle(e), value: avg, text: describeAggregate(v) });
      for (const s of v.sources) {
        rows.push({
          label: `  source ${s.uid} ${s.uri}`,
          value: s.progress,
          text: describeSource(s, v.replica_sync),
        });
      }
    }
    const width = Math.max(0, ...rows.map((r) => r.label.length));
    const layout = rows.map((r) => r.label).join('\n');
    // Sources came or went: start a fresh set of bars rather than patch the old ones.
    if (layout !== this.layout) {
      this.multibar?.stop();
      this.multibar = new cliProgress.MultiBar(
        {
          stream: this.stream,
          format: '{label} [{bar}] {text}',
          barsize: 20,
          hideCursor: true,
          clearOnComplete: false,
          autopadding: true,
        },
        cliProgress.Presets.shades_classic,
      );
      this.bars = rows.map((r) =>
        this.multibar!.create(100, r.value, { label: r.label.padEnd(width), text: r.text }),
      );
      this.layout = layout;
    }
    for (const [i, r] of rows.entries()) {
      this.bars[i]!.update(r.value, { label: r.label.padEnd(width), text: r.text });
    }
  }

  error(message: string): void {
    if (this.multibar) this.multibar.log(`${message}\n`);
    else this.stream.write(`${message}\n`);
  }

  stop(): void {
    this.multibar?.stop();
  }
}

/** A pipe or file: each poll appended as a text block under its time. */
export class TextWatchRenderer implements WatchRenderer {
  constructor(private readonly io: CliIo) {}
  frame(entries: StatusEntry[]): void {
    this.io.stdout.write(
      `--- ${new Date().toISOString()}\n${renderEntries(entries) || '(no replica databases)'}\n`,
    );
  }
  error(message: string): void {
    this.io.stdout.write(`--- ${new Date().toISOString()}\n${message}\n`);
  }
  stop(): void {}
}

/** `--json --watch`: one JSON document per line and poll. */
export class JsonWatchRenderer implements WatchRenderer {
  constructor(
    private readonly io: CliIo,
    private readonly shape: (entries: StatusEntry[]) => unknown,
  ) {}
  frame(entries: StatusEntry[]): void {
    this.io.stdout.write(`${JSON.stringify(this.shape(entries))}\n`);
  }
  error(message: string): void {
    this.io.stderr.write(`${message}\n`);
  }
  stop(): void {}
}

/**
 * Polls every `intervalMs` until Ctrl-C (SIGINT ends it with exit 0, like closing a monitor) or
 * until `seconds` have passed. The first poll's error is the command's error; later ones are
 * shown and the watch goes on (a manager restarting is worth watching through).
 */
export async function watchLoop(
  poll: () => Promise<StatusEntry[]>,
  renderer: WatchRenderer,
  o: { seconds?: number; intervalMs?: number; signal?: AbortSignal },
): Promise<void> {
  const deadline = o.seconds === undefined ? Number.POSITIVE_INFINITY : Date.now() + o.seconds * 1000;
  let wake: (() => void) | undefined;
  let interrupted = false;
  const onSigint = () => {
    interrupted = true;
    wake?.();
  };
  process.on('SIGINT', onSigint);
  o.signal?.addEventListener('abort', onSigint, { once: true });
  try {
    renderer.frame(await poll());
    while (!interrupted && !o.signal?.aborted) {
      const wait = Math.min(o.intervalMs ?? 1000, deadline - Date.now());
      if (wait <= 0) break;
      await new Promise<void>((resolve) => {
        wake = resolve;
        setTimeout(resolve, wait);
      });
      if (interrupted || Date.now() >= deadline) break;
      try {
        renderer.frame(await poll());
      } catch (err) {
        renderer.error(`minirs: ${(err as Error).message}`);
      }
    }
  } finally {
    process.off('SIGINT', onSigint);
    o.signal?.removeEventListener('abort', onSigint);
    renderer.stop();
  }
}
