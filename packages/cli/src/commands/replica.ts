import { readFileSync } from 'node:fs';
import { ErrorCodes, MinirsError, maskUri, type ReplicaSync } from '@minirs/common';
import type { Command } from 'commander';
import { UsageError } from '../cli-error.js';
import type { CliContext } from '../context.js';
import { collect, parseCompression } from '../parse-args.js';
import { parseSourceSpec, renderReplicaStatus, replicaStatus, resolveSources } from '@minirs/local';

interface ReplicaOfOptions {
  source?: string[];
  compression?: number;
  tls?: boolean;
  serverCert?: string;
  clear?: boolean;
  json?: boolean;
}

export function registerReplicaCommands(program: Command, ctx: CliContext): void {
  program
    .command('replica-of')
    .description('make a database a replica of up to 32 sources (its data is replaced by theirs)')
    .argument('<cluster>')
    .argument('<db>', 'the destination database')
    .option(
      '--source <uri-or-cluster/db>',
      'a redis:// URI, "<cluster>/<db>", or a db of the same cluster; repeat for several',
      collect,
    )
    .option('--compression <0-6>', 'gzip level of the replication link (0 = off)', parseCompression)
    .option('--tls', 'encrypt the links to the sources')
    .option(
      '--server-cert <pem-file>',
      'with --tls: the certificate the source presents (default: its cluster proxy certificate)',
    )
    .option('--clear', 'remove every source (the database stops being a replica)')
    .option('--json', 'print the updated bdb object')
    .action(async (cluster: string, name: string, o: ReplicaOfOptions) => {
      const specs = o.source ?? [];
      if (o.clear && specs.length) throw new UsageError('--clear and --source exclude each other', 'source');
      if (!o.clear && specs.length === 0) {
        throw new UsageError('give at least one --source (or --clear to remove the sources)', 'source');
      }
      if (o.serverCert && !o.tls) throw new UsageError('--server-cert needs --tls', 'server-cert');
      let serverCert: string | undefined;
      if (o.serverCert) {
        try {
          serverCert = readFileSync(o.serverCert, 'utf8');
        } catch (err) {
          throw new MinirsError(
            ErrorCodes.NOT_FOUND,
            `cannot read --server-cert ${o.serverCert}: ${(err as Error).message}`,
          );
        }
      }
      // Bad forms are usage errors, found before any cluster is asked anything.
      for (const spec of specs) parseSourceSpec(spec);
      const { api } = await ctx.connect(cluster);
      const dest = await api.bdbByName(name, cluster);
      const sources = await resolveSources(
        specs,
        { cluster, api, connect: async (other) => (await ctx.connect(other)).api },
        { compression: o.compression, encryption: o.tls, serverCert },
      );
      const updated =
        (await api.updateBdb(dest.uid, { replica_sources: sources })) ?? (await api.getBdb(dest.uid));
      if (o.json) return ctx.json(updated);
      if (sources.length === 0) return ctx.print(`Database ${dest.name} is no longer a replica.`);
      ctx.print(
        `Database ${dest.name} is now a replica of ${sources.length} source${sources.length === 1 ? '' : 's'}; its data is replaced by a full sync:`,
      );
      for (const s of sources) ctx.print(`  ${maskUri(s.uri)}`);
      ctx.print(`Follow it: minirs status ${cluster} ${dest.name} --watch`);
    });

  const sync = program
    .command('sync')
    .description('stop, pause or restart the Replica Of sync of a database');
  const actions: [string, ReplicaSync, string, string][] = [
    ['stop', 'stopped', 'stop the sync (start flushes and resyncs)', 'stopped'],
    ['pause', 'paused', 'pause the sync', 'paused'],
    [
      'start',
      'enabled',
      'restart a stopped or paused sync: flush the database and sync from scratch',
      'restarted',
    ],
  ];
  for (const [verb, target, description, done] of actions) {
    sync
      .command(verb)
      .description(description)
      .argument('<cluster>')
      .argument('<db>')
      .option('--json', 'print the status of the database (as `minirs status --json`)')
      .action(async (cluster: string, name: string, o: { json?: boolean }) => {
        const { api } = await ctx.connect(cluster);
        const bdb = await api.bdbByName(name, cluster);
        const updated =
          (await api.updateBdb(bdb.uid, { replica_sync: target })) ?? (await api.getBdb(bdb.uid));
        const view = replicaStatus(updated);
        if (o.json) return ctx.json(view);
        ctx.print(`Sync of ${bdb.name} ${done}.`);
        ctx.print(renderReplicaStatus(`${cluster}/${bdb.name} (bdb ${bdb.uid})`, view));
      });
  }
}
