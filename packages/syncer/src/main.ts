#!/usr/bin/env node
import { readFileSync } from 'node:fs';
import {
  type ChildControlServer,
  ControlServer,
  createLogger,
  type SyncerDownMessage,
  type SyncerProcessConfig,
  type SyncerUpMessage,
} from '@minirs/common';
import { ReplicaOfSync } from './replica-of.js';

/**
 * The syncer process: one per destination database with Replica Of sources. Takes its process
 * config from MINIRS_PROC_CONFIG, its sources from the manager's `config` messages, and reports
 * per-source status every 500 ms.
 */

function readConfig(): SyncerProcessConfig {
  const raw = process.env.MINIRS_PROC_CONFIG;
  if (!raw) {
    process.stderr.write(
      'minirs syncer: MINIRS_PROC_CONFIG is not set; the cluster-manager starts syncers\n',
    );
    process.exit(2);
  }
  try {
    return JSON.parse(raw) as SyncerProcessConfig;
  } catch (err) {
    process.stderr.write(`minirs syncer: MINIRS_PROC_CONFIG is not JSON: ${(err as Error).message}\n`);
    process.exit(2);
  }
}

const cfg = readConfig();
const log = createLogger({ name: `syncer-${cfg.bdb_uid}`, file: cfg.log_file });
const startedAt = new Date().toISOString();

function readPem(path: string): string | undefined {
  try {
    return readFileSync(path, 'utf8');
  } catch {
    return undefined;
  }
}

let server: ChildControlServer<'syncer'>;
const sync = new ReplicaOfSync({
  log,
  tlsCert: readPem(cfg.tls_cert),
  tlsKey: readPem(cfg.tls_key),
  proxyCert: cfg.proxy_cert ? readPem(cfg.proxy_cert) : undefined,
  onStop: (sourceUid, stop, epoch) =>
    server.broadcast({
      type: 'event',
      event: 'sync-stopped',
      detail: { source_uid: sourceUid, error: stop.error, code: stop.code, class: stop.class, epoch },
    }),
});

server = new ControlServer<SyncerDownMessage, SyncerUpMessage>(
  cfg.socket,
  () => ({ type: 'hello', role: 'syncer', id: cfg.bdb_uid, pid: process.pid, started_at: startedAt }),
  (op) => {
    if (op === 'report') return sync.report();
    throw new Error(`unknown request ${op}`);
  },
);
server.onMessage((m) => {
  if (m.type === 'config') sync.apply(m.config);
  else if (m.type === 'shutdown') void shutdown('shutdown message');
});

let stopping = false;
async function shutdown(why: string): Promise<void> {
  if (stopping) return;
  stopping = true;
  log.info({ why }, 'syncer stopping');
  await sync.closeAll().catch(() => {});
  await server.close().catch(() => {});
  log.flush();
  setTimeout(() => process.exit(0), 20);
}
process.on('SIGTERM', () => void shutdown('SIGTERM'));
process.on('SIGINT', () => void shutdown('SIGINT'));
process.on('uncaughtException', (err) => {
  log.fatal({ err }, 'syncer crashed; the manager restarts it and the sync starts over');
  log.flush();
  process.exit(1);
});

await server.listen();
log.info({ pid: process.pid }, 'syncer ready');
// A report every 500 ms, and one at once (within STATUS_POLL_MS) when a source's status changes:
// a full sync's end reached REST up to 500 ms late (the bench's "loaded -> in-sync" step).
const STATUS_POLL_MS = 20;
let reportedStatus = '';
function pushReport(): void {
  reportedStatus = sync.statusSignature();
  server.broadcast({ type: 'stats', stats: sync.report() });
}
setInterval(pushReport, 500).unref();
setInterval(() => {
  if (sync.statusSignature() !== reportedStatus) pushReport();
}, STATUS_POLL_MS).unref();
// Keep the process alive while the control socket is open.
setInterval(() => {}, 1 << 30);
