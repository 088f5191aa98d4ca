import { readFileSync } from 'node:fs';
import { UsageError } from '../cli-error.js';
import type { Command } from 'commander';
import { type Bdb, type BdbCreateRequest, sourceUrl } from '@minirs/local';
import type { FailoverRecord } from '@minirs/common';
import { type CliContext, formatBytes, table } from '../context.js';
import { collect, parseInteger, parseMemorySize, parsePort, parseTlsMode } from '../parse-args.js';

interface DbCreateOptions {
  shards?: number;
  memory?: number;
  password?: string;
  shardKeyRegex?: string[];
  tls?: 'enabled' | 'replica_ssl';
  clientAuth: boolean;
  clientCert?: string[];
  port?: number;
  replication?: boolean;
  json?: boolean;
}

export function endpointOf(b: Bdb): string {
  const ep = b.endpoints?.[0];
  return ep?.addr?.[0] ? `${ep.addr[0]}:${ep.port ?? b.port}` : '-';
}

/** The body of POST /v1/bdbs for `db create`'s options. */
export function createRequest(name: string, o: DbCreateOptions): BdbCreateRequest {
  const shards = o.shards ?? 1;
  const body: BdbCreateRequest = { name, shards_count: shards, sharding: shards > 1 };
  if (o.memory !== undefined) body.memory_size = o.memory;
  if (o.password !== undefined) body.authentication_redis_pass = o.password;
  if (o.shardKeyRegex?.length) body.shard_key_regex = o.shardKeyRegex.map((regex) => ({ regex }));
  if (o.tls) body.tls_mode = o.tls;
  if (!o.clientAuth) body.enforce_client_authentication = 'disabled';
  if (o.port !== undefined) body.port = o.port;
  if (o.replication) body.replication = true;
  if (o.clientCert?.length) {
    body.authentication_ssl_client_certs = o.clientCert.map((file) => {
      try {
        return { client_cert: readFileSync(file, 'utf8') };
      } catch (err) {
        throw new UsageError(`--client-cert ${file}: ${(err as Error).message}`);
      }
    });
  }
  return body;
}

export function registerDbCommands(program: Command, ctx: CliContext): void {
  const db = program.command('db').description('create, inspect and delete databases (bdbs)');

  db.command('create')
    .description('create a database and wait until it is active')
    .argument('<cluster>')
    .argument('<db>', 'database name: letters, digits, hyphens')
    .option('--shards <n>', 'number of shards (default 1)', parseInteger)
    .option('--memory <size>', 'memory limit: b, kb, mb or gb, 1024-based (default 100mb)', parseMemorySize)
    .option('--password <pass>', 'password clients must AUTH with')
    .option('--shard-key-regex <re>', 'hashing rule with a (?<tag>...) group; repeat for several', collect)
    .option('--tls <mode>', 'TLS on the endpoint: enabled | replica_ssl', parseTlsMode)
    .option('--no-client-auth', 'with --tls: do not require client certificates')
    .option(
      '--client-cert <pem-file>',
      "with --tls: a certificate clients (e.g. another cluster's syncer: <home>/<cluster>/certs/syncer.pem) may present; repeat for several",
      collect,
    )
    .option('--port <port>', 'endpoint port (default: the next free one from the cluster base)', parsePort)
    .option('--replication', 'a slave shard per master on another node, with failover (RS replication: true)')
    .option('--json', 'print JSON')
    .action(async (cluster: string, name: string, o: DbCreateOptions) => {
      const { api } = await ctx.connect(cluster);
      const created = await api.createBdb(createRequest(name, o));
      const bdb = await api.waitForBdb(created.uid, (b) => b.status === 'active', 'it to become active');
      if (o.json) return ctx.json(bdb);
      ctx.print(
        `Database ${bdb.name} (uid ${bdb.uid}) is active: ${bdb.shards_count} shard${bdb.shards_count === 1 ? '' : 's'}, ${formatBytes(bdb.memory_size)}, endpoint ${endpointOf(bdb)}`,
      );
      ctx.print(`Its Replica Of source URL: minirs db source-url ${cluster} ${bdb.name}`);
    });

  db.command('list')
    .description('the databases of a cluster')
    .argument('<cluster>')
    .option('--json', 'print JSON')
    .action(async (cluster: string, o: { json?: boolean }) => {
      const { api } = await ctx.connect(cluster);
      const all = await api.listBdbs();
      if (o.json) return ctx.json(all);
      if (all.length === 0)
        return ctx.print(`Cluster ${cluster} has no databases. Create one: minirs db create ${cluster} <db>`);
      ctx.print(
        table(
          ['UID', 'NAME', 'STATUS', 'SHARDS', 'MEMORY', 'ENDPOINT', 'REPLICA_SYNC'],
          all.map((b) => [
            String(b.uid),
            b.name,
            b.status,
            String(b.shards_count),
            formatBytes(b.memory_size),
            endpointOf(b),
            b.replica_sync,
          ]),
        ),
      );
    });

  db.command('info')
    .description('one database, with its shards')
    .argument('<cluster>')
    .argument('<db>')
    .option('--json', 'print the bdb object of the REST API')
    .action(async (cluster: string, name: string, o: { json?: boolean }) => {
      const { api } = await ctx.connect(cluster);
      const bdb = await api.bdbByName(name, cluster);
      if (o.json) return ctx.json(bdb);
      const shards = (await api.listShards()).filter((s) => s.bdb_uid === bdb.uid);
      const rows: [string, string][] = [
        ['uid', String(bdb.uid)],
        ['status', bdb.status],
        ['endpoint', endpointOf(bdb)],
        ['memory', formatBytes(bdb.memory_size)],
        ['shards', `${bdb.shards_count}${bdb.sharding ? ' (sharded)' : ''}`],
        ['shard key regex', (bdb.shard_key_regex ?? []).map((r) => r.regex).join('  ')],
        ['password', bdb.authentication_redis_pass ? 'set' : 'none'],
        [
          'tls',
          `${bdb.tls_mode}${bdb.tls_mode !== 'disabled' ? `, client auth ${bdb.enforce_client_authentication}` : ''}`,
        ],
        ['replica sync', `${bdb.replica_sync}, ${bdb.replica_sources?.length ?? 0} source(s)`],
      ];
      ctx.print(`Database ${bdb.name} of cluster ${cluster}`);
      for (const [k, v] of rows) ctx.print(`  ${k.padEnd(16)}${v}`);
      if (shards.length) {
        ctx.print(
          table(
            ['  SHARD', 'NODE', 'ADDR', 'SLOTS', 'STATUS', 'RESTARTS', 'LAST EVENT'],
            shards.map((s) => [
              `  ${s.uid}`,
              String(s.node_uid),
              `${s.addr}:${s.port}`,
              `${s.slot_start}-${s.slot_end}`,
              s.process_status ?? s.status,
              String(s.restarts ?? 0),
              s.last_event ?? '',
            ]),
          ),
        );
      }
    });

  db.command('delete')
    .description('delete a database and its shards')
    .argument('<cluster>')
    .argument('<db>')
    .option('--json', 'print JSON')
    .action(async (cluster: string, name: string, o: { json?: boolean }) => {
      const { api } = await ctx.connect(cluster);
      const bdb = await api.bdbByName(name, cluster);
      await api.deleteBdb(bdb.uid);
      await api.waitForBdbGone(bdb.uid);
      if (o.json) return ctx.json({ uid: bdb.uid, name: bdb.name, deleted: true });
      ctx.print(`Database ${bdb.name} (uid ${bdb.uid}) deleted.`);
    });

  db.command('failover')
    .description(
      "fail a replicated database's master shards over to their slaves, coordinated (RS's rladmin failover): " +
        'Redis FAILOVER waits until each slave has every write, then swaps the two',
    )
    .argument('<cluster>')
    .argument('<db>')
    .option('--shard <uids...>', 'only these master shards (default: every master shard of the database)')
    .option('--immediate', 'swap after the wait even if a slave has not caught up (writes may be lost)')
    .option('--json', 'print JSON')
    .action(async (cluster: string, name: string, o: { shard?: string[]; immediate?: boolean; json?: boolean }) => {
      const { api } = await ctx.connect(cluster);
      const bdb = await api.bdbByName(name, cluster);
      const body: Record<string, unknown> = {};
      if (o.shard) body.shard_uids = o.shard.map((x) => Number(x));
      if (o.immediate) body.immediate = true;
      const res = await api.request<{ failovers: FailoverRecord[] }>(
        'POST',
        `/v1/bdbs/${bdb.uid}/actions/failover`,
        body,
      );
      if (o.json) return ctx.json({ uid: bdb.uid, name: bdb.name, failovers: res.failovers });
      for (const f of res.failovers) {
        ctx.print(
          `slots ${f.slots}: shard ${f.new_master_shard} (node ${f.new_master_node}) is the master, shard ${f.old_master_shard} (node ${f.old_master_node}) its slave`,
        );
      }
    });

  db.command('flush')
    .description('delete every key of a database')
    .argument('<cluster>')
    .argument('<db>')
    .option('--json', 'print JSON')
    .action(async (cluster: string, name: string, o: { json?: boolean }) => {
      const { api } = await ctx.connect(cluster);
      const bdb = await api.bdbByName(name, cluster);
      await api.flushBdb(bdb.uid);
      if (o.json) return ctx.json({ uid: bdb.uid, name: bdb.name, flushed: true });
      ctx.print(`Database ${bdb.name} flushed.`);
    });

  db.command('source-url')
    .description('"Get Replica of source URL": the URI other databases replicate this one with')
    .argument('<cluster>')
    .argument('<db>')
    .option('--json', 'print JSON')
    .action(async (cluster: string, name: string, o: { json?: boolean }) => {
      const { api } = await ctx.connect(cluster);
      const uri = sourceUrl(await api.bdbByName(name, cluster));
      if (o.json) return ctx.json({ uri });
      ctx.print(uri);
    });

  db.command('reset-admin-pass')
    .description('new internal admin password; destinations using the old URL stop until updated')
    .argument('<cluster>')
    .argument('<db>')
    .option('--json', 'print JSON')
    .action(async (cluster: string, name: string, o: { json?: boolean }) => {
      const { api } = await ctx.connect(cluster);
      const before = await api.bdbByName(name, cluster);
      await api.resetAdminPass(before.uid);
      const uri = sourceUrl(await api.getBdb(before.uid));
      if (o.json) return ctx.json({ uri });
      ctx.print(`New internal admin password for ${before.name}. Its source URL is now:`);
      ctx.print(uri);
      ctx.print('Destinations configured with the old URL stop with an authentication error until updated.');
    });
}
