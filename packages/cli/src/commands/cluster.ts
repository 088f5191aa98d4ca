import { CLUSTER_NAME_RE, invalid } from '@minirs/common';
import type { Command } from 'commander';
import {
  deleteCluster,
  launchManager,
  listClusters,
  managerPid,
  readCredentials,
  startCluster,
  stopCluster,
} from '@minirs/local';
import { type CliContext, table } from '../context.js';
import { parseInteger, parsePort } from '../parse-args.js';

/** The contract's shape of `cluster create --json` and `cluster status --json`. */
export interface ClusterInfoJson {
  name: string;
  api_url: string;
  username: string;
  password: string;
  ca_cert: string;
  nodes: { uid: number; addr: string }[];
}

/** Where the manager serves the web UI (packages/ui). */
export function uiUrl(apiUrl: string): string {
  return `${apiUrl.replace(/\/+$/, '')}/ui/`;
}

function printClusterInfo(ctx: CliContext, info: ClusterInfoJson, heading: string): void {
  ctx.print(heading);
  ctx.print(`  api       ${info.api_url}`);
  ctx.print(`  username  ${info.username}`);
  ctx.print(`  password  ${info.password}`);
  ctx.print(`  ca cert   ${info.ca_cert}`);
  // The JSON shape is the contract's; the web UI link is for people.
  ctx.print(`  web ui    ${uiUrl(info.api_url)}  (log in with the username and password above;`);
  ctx.print(`            the browser warns about the cluster's own CA: trust the ca cert above or proceed)`);
}

export function registerClusterCommands(program: Command, ctx: CliContext): void {
  const cluster = program.command('cluster').description('create, inspect, stop, start and delete clusters');

  cluster
    .command('create')
    .description('create a cluster and start its manager, nodes and proxies')
    .argument('<name>', 'cluster name: lower-case letters, digits, hyphens')
    .option('--nodes <n>', 'number of simulated nodes (default 3)', parseInteger)
    .option('--api-port <port>', 'HTTPS port of the REST API (default 9443)', parsePort)
    .option('--db-port-base <port>', 'first database endpoint port (default 12000)', parsePort)
    .option(
      '--net <mode>',
      'how nodes are hosts: auto (a network namespace per node where the OS allows it, else loopback), netns, loopback (127.0.C.N); default MINIRS_NET or auto',
    )
    .option('--json', 'print JSON')
    .action(
      async (
        name: string,
        o: { nodes?: number; apiPort?: number; dbPortBase?: number; net?: string; json?: boolean },
      ) => {
        // The name becomes a folder: check it before it touches a path.
        if (!CLUSTER_NAME_RE.test(name)) {
          throw invalid(
            'name',
            `cluster name "${name}" is invalid: use 1-31 lower-case letters, digits and hyphens, starting with a letter or digit`,
          );
        }
        if (o.net !== undefined && !['auto', 'netns', 'loopback'].includes(o.net)) {
          throw invalid('net', `--net ${o.net} is not a network mode: use auto, netns or loopback`);
        }
        const ready = await launchManager({
          name,
          home: ctx.home,
          mode: 'create',
          nodes: o.nodes ?? 3,
          apiPort: o.apiPort,
          dbPortBase: o.dbPortBase,
          net: o.net,
          env: ctx.lifecycle.env,
        });
        const info: ClusterInfoJson = {
          name: ready.name,
          api_url: ready.api_url,
          username: ready.username,
          password: ready.password,
          ca_cert: ready.ca_cert,
          nodes: ready.nodes,
        };
        // The contract's JSON shape is exact; the network mode is for people.
        if (o.json) return ctx.json(info);
        printClusterInfo(
          ctx,
          info,
          `Cluster ${name} created: ${info.nodes.length} node${info.nodes.length === 1 ? '' : 's'} (${info.nodes.map((n) => n.addr).join(', ')})`,
        );
        if (ready.network) ctx.print(`  network   ${ready.network.mode}: ${ready.network.detail}`);
        ctx.print(`The credentials are kept in ${ctx.home}/${name}/credentials.json.`);
        ctx.print(`Next: minirs db create ${name} <db> [--shards 2]`);
      },
    );

  cluster
    .command('list')
    .description('every cluster of MINIRS_HOME, running or stopped')
    .option('--json', 'print JSON')
    .action((o: { json?: boolean }) => {
      const all = listClusters(ctx.home);
      if (o.json) return ctx.json(all);
      if (all.length === 0)
        return ctx.print(`No clusters in ${ctx.home}. Create one: minirs cluster create <name>`);
      const label = { running: 'running', stopped: 'stopped', down: 'manager down' } as const;
      ctx.print(
        table(
          ['NAME', 'STATUS', 'NODES', 'DBS', 'API'],
          all.map((c) => [c.name, label[c.status], String(c.nodes), String(c.bdbs), c.api_url ?? '-']),
        ),
      );
    });

  cluster
    .command('status')
    .description('the API, credentials and nodes of a cluster')
    .argument('<name>')
    .option('--json', 'print JSON')
    .action(async (name: string, o: { json?: boolean }) => {
      const { api, paths } = await ctx.connect(name);
      const cl = await api.getCluster();
      const creds = readCredentials(paths);
      const nodes = cl.nodes ?? (await api.listNodes());
      const info: ClusterInfoJson = {
        name: cl.name ?? name,
        api_url: creds.api_url,
        username: creds.username,
        password: creds.password,
        ca_cert: paths.caCert,
        nodes: nodes.map((n) => ({ uid: n.uid, addr: n.addr })),
      };
      if (o.json) return ctx.json(info);
      printClusterInfo(ctx, info, `Cluster ${info.name}: running (manager pid ${managerPid(paths) ?? '?'})`);
      const net = (cl as { network?: { mode: string; detail: string } }).network;
      if (net) ctx.print(`  network   ${net.mode}: ${net.detail}`);
      ctx.print(
        table(
          ['  NODE', 'ADDR', 'STATUS'],
          nodes.map((n) => [`  ${n.uid}`, n.addr, n.status ?? '-']),
        ),
      );
      const dbs = await api.listBdbs().catch(() => []);
      if (dbs.length > 0) {
        ctx.print('  database pages in the web ui:');
        for (const b of dbs) ctx.print(`    ${b.name.padEnd(20)} ${uiUrl(info.api_url)}bdbs/${b.uid}`);
      }
    });

  cluster
    .command('stop')
    .description('stop the manager and every process of the cluster (state is kept)')
    .argument('<name>')
    .option('--json', 'print JSON')
    .action(async (name: string, o: { json?: boolean }) => {
      const r = await stopCluster(name, ctx.lifecycle);
      if (o.json) return ctx.json({ name, stopped: r.stopped, was_running: r.stopped });
      ctx.print(r.stopped ? `Cluster ${name} stopped.` : `Cluster ${name} was not running.`);
    });

  cluster
    .command('start')
    .description('start a stopped cluster (or bring back a manager that died)')
    .argument('<name>')
    .option('--json', 'print JSON')
    .action(async (name: string, o: { json?: boolean }) => {
      const r = await startCluster(name, ctx.lifecycle);
      if (o.json) {
        return ctx.json(
          r.started
            ? { name, started: true, pid: r.pid, api_url: r.api_url }
            : { name, started: false, pid: r.pid },
        );
      }
      ctx.print(
        r.started
          ? `Cluster ${name} started (manager pid ${r.pid}, api ${r.api_url}).`
          : `Cluster ${name} is already running (manager pid ${r.pid}).`,
      );
    });

  cluster
    .command('delete')
    .description('stop every process of the cluster and remove its folder')
    .argument('<name>')
    .option('--json', 'print JSON')
    .action(async (name: string, o: { json?: boolean }) => {
      const r = await deleteCluster(name, ctx.lifecycle);
      if (o.json) return ctx.json({ name, deleted: true, killed: r.killed });
      ctx.print(
        r.killed.length
          ? `Cluster ${name} deleted (${r.killed.length} process${r.killed.length === 1 ? '' : 'es'} its manager had left were killed).`
          : `Cluster ${name} deleted.`,
      );
    });
}
