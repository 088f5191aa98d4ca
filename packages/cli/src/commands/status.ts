import type { Command } from 'commander';
import { UsageError } from '../cli-error.js';
import { listClusters, replicaStatus } from '@minirs/local';
import type { CliContext } from '../context.js';
import { type HaEntry, haEntry, renderHa } from '../failover-status.js';
import { parseSeconds } from '../parse-args.js';
import {
  JsonWatchRenderer,
  renderEntries,
  type StatusEntry,
  TextWatchRenderer,
  TtyWatchRenderer,
  type WatchRenderer,
  watchLoop,
} from '../status-watch.js';

interface StatusOptions {
  watch?: boolean;
  watchSeconds?: number;
  json?: boolean;
}

/** The databases `status` looks at: one, the replicas of a cluster, or those of every cluster. */
async function collectStatus(
  ctx: CliContext,
  cluster?: string,
  db?: string,
  ha: HaEntry[] = [],
): Promise<StatusEntry[]> {
  if (cluster && db) {
    const { api } = await ctx.connect(cluster);
    const bdb = await api.bdbByName(db, cluster);
    ha.push(haEntry(cluster, bdb));
    return [{ cluster, name: bdb.name, view: replicaStatus(bdb) }];
  }
  const clusters = cluster
    ? [cluster]
    : listClusters(ctx.home)
        .filter((c) => c.status !== 'stopped')
        .map((c) => c.name);
  const out: StatusEntry[] = [];
  for (const c of clusters) {
    const { api } = await ctx.connect(c);
    for (const bdb of await api.listBdbs()) {
      ha.push(haEntry(c, bdb));
      if ((bdb.replica_sources?.length ?? 0) > 0 || (bdb.replica_sync && bdb.replica_sync !== 'disabled')) {
        out.push({ cluster: c, name: bdb.name, view: replicaStatus(bdb) });
      }
    }
  }
  return out;
}

export function registerStatusCommand(program: Command, ctx: CliContext): void {
  program
    .command('status')
    .description('Replica Of status: Syncing n% / Synced (lag) / Sync stopped, per source and per database')
    .argument('[cluster]', 'only this cluster (default: every running cluster)')
    .argument('[db]', 'only this database')
    .option('--watch', 'redraw every second until Ctrl-C')
    .option('--watch-seconds <s>', 'with --watch: stop after this many seconds', parseSeconds)
    .option('--json', 'print JSON (one line per poll with --watch)')
    .action(async (cluster: string | undefined, db: string | undefined, o: StatusOptions) => {
      if (o.watchSeconds !== undefined && !o.watch)
        throw new UsageError('--watch-seconds needs --watch', 'watch-seconds');
      // `status <cluster> <db> --json` is the contract's object; wider queries list them.
      const shape = (entries: StatusEntry[]) =>
        db ? entries[0]!.view : entries.map((e) => ({ cluster: e.cluster, name: e.name, ...e.view }));
      const poll = () => collectStatus(ctx, cluster, db);
      if (!o.watch) {
        const ha: HaEntry[] = [];
        const entries = await collectStatus(ctx, cluster, db, ha);
        // (minirs) replication and failovers of each database, next to its Replica Of status.
        const haOf = (c: string, n: string) => {
          const h = ha.find((x) => x.cluster === c && x.name === n);
          // Only for a database that uses it: the contract's object stays as it is otherwise.
          if (!h || (!h.replication && h.failovers.length === 0)) return {};
          return {
            replication: h.replication,
            failovers: h.failovers,
            ...(h.rereplications.length > 0 ? { rereplications: h.rereplications } : {}),
          };
        };
        if (o.json) {
          if (db) return ctx.json({ ...entries[0]!.view, ...haOf(cluster!, db) });
          return ctx.json(
            entries.map((e) => ({ cluster: e.cluster, name: e.name, ...e.view, ...haOf(e.cluster, e.name) })),
          );
        }
        const haText = renderHa(ha);
        if (entries.length === 0) {
          const none = cluster
            ? `No database of cluster ${cluster} is a replica.`
            : 'No database of any running cluster is a replica.';
          return ctx.print(haText ? `${none}\n\nFailovers:\n${haText}` : none);
        }
        return ctx.print(
          haText ? `${renderEntries(entries)}\n\nFailovers:\n${haText}` : renderEntries(entries),
        );
      }
      let renderer: WatchRenderer;
      if (o.json) renderer = new JsonWatchRenderer(ctx.io, shape);
      else if (ctx.io.stdout.isTTY) renderer = new TtyWatchRenderer(ctx.io.stdout as NodeJS.WritableStream);
      else renderer = new TextWatchRenderer(ctx.io);
      await watchLoop(poll, renderer, { seconds: o.watchSeconds });
    });
}
