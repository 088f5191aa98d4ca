// Full sync of one external redis-server into: (a) a native replica (REPLICAOF, the baseline),
// (b) the syncer alone into one redis-server, (c)/(d) minirs databases through the manager.
// Each measurement returns { ms, dataMs?, keys, hwm? }; the caller prints ratios.
import { newClient, parseInfo, procCpuMs, procMemory, startRedisServer, until } from './servers.mjs';
import { startSyncerChild, syncerConfig } from './syncer-child.mjs';

/** REPLICAOF from a fresh redis-server: until master_link_status:up and DBSIZE matches. */
export async function nativeReplicaOf(src, keys) {
  const replica = await startRedisServer();
  const c = replica.client();
  try {
    const cpu0 = procCpuMs(replica.pid);
    const t0 = performance.now();
    await c.replicaof('127.0.0.1', src.port);
    await until(
      async () => {
        const info = parseInfo(await c.info('replication'));
        if (info.master_link_status !== 'up') return false;
        return (await c.dbsize().catch(() => -1)) === keys;
      },
      'the native replica to be up with every key',
      600_000,
      5,
    );
    const ms = performance.now() - t0;
    const destCpuMs = procCpuMs(replica.pid) - cpu0;
    const used = Number(parseInfo(await c.info('memory')).used_memory);
    await c.replicaof('NO', 'ONE');
    return { ms, keys, destCpuMs, destUsedMemory: used };
  } finally {
    await replica.stop();
  }
}

/** ReplicaOfSync in a child process into one plain redis-server; `check(destClient)` after. */
export async function syncerAlone(srcs, keys, profileName, check) {
  const dst = await startRedisServer();
  const child = await startSyncerChild(profileName);
  try {
    const cpu0 = procCpuMs(child.pid);
    const destCpu0 = procCpuMs(dst.pid);
    const res = await child.start(
      syncerConfig(
        dst,
        srcs.map((s) => `redis://127.0.0.1:${s.port}`),
      ),
    );
    const syncerCpuMs = procCpuMs(child.pid) - cpu0;
    const destCpuMs = procCpuMs(dst.pid) - destCpu0;
    const c = dst.client();
    const got = await c.dbsize();
    if (got !== keys)
      throw new Error(`syncer reported in-sync with ${got} keys at the destination, want ${keys}`);
    if (check) await check(c);
    return {
      ms: res.ms,
      keys,
      hwm: procMemory(child.pid).hwm,
      syncerCpuMs,
      destCpuMs,
      baseHwm: child.readyMem.hwm,
      peakUsage: res.peakUsage,
      report: res.report,
    };
  } finally {
    await child.exit();
    await dst.stop();
  }
}

/**
 * Replica Of into a new minirs db of `shards` shards: time from PUT replica_sources until the
 * manager shows the source in-sync (the syncer reports every 500 ms), and until DBSIZE through
 * the db's endpoint matches (data complete). The syncer's VmHWM comes from its pid file.
 */
export async function minirsReplicaOf(cluster, src, keys, shards, memory) {
  const name = `full${shards}x${Date.now() % 100000}`;
  const db = await cluster.createDb({ name, shards, memory });
  const ep = await cluster.endpoint(name);
  const d = newClient(ep.port, ep.host, ep.password);
  const pidFile = `syncer-${db.uid}`;
  let hwm = 0;
  let syncerCpuMs = 0;
  let syncerPid;
  const sampleMem = () => {
    syncerPid ??= cluster.processes().get(pidFile);
    if (!syncerPid) return;
    try {
      hwm = Math.max(hwm, procMemory(syncerPid).hwm);
      syncerCpuMs = procCpuMs(syncerPid);
    } catch {
      // the syncer exited between the pid file read and /proc: keep the last figure
    }
  };
  // The proxies and shards (redis-servers and their shard processes) do the destination's work;
  // other databases of the bench cluster are idle meanwhile.
  const destCpu = () => {
    let total = 0;
    for (const [name, pid] of cluster.processes()) {
      if (name === 'manager' || name.startsWith('syncer')) continue;
      try {
        total += procCpuMs(pid);
      } catch {
        // gone
      }
    }
    return total;
  };
  try {
    const destCpu0 = destCpu();
    const t0 = performance.now();
    await cluster.replicaOf(name, [`redis://127.0.0.1:${src.port}`]);
    let dataMs;
    let progressSeen = 0;
    const state = await until(
      async () => {
        sampleMem();
        if (dataMs === undefined && (await d.dbsize().catch(() => -1)) === keys)
          dataMs = performance.now() - t0;
        const b = await cluster.api.getBdb(db.uid);
        const s = b.replica_sources?.[0];
        if (s?.rdb_size) progressSeen = Math.max(progressSeen, s.rdb_transferred / s.rdb_size);
        if (s?.last_error && b.replica_sync === 'stopped') throw new Error(`sync stopped: ${s.last_error}`);
        return s?.status === 'in-sync' && dataMs !== undefined ? s : false;
      },
      `${name} to be in-sync`,
      600_000,
      25,
    );
    const ms = performance.now() - t0;
    sampleMem();
    const destCpuMs = destCpu() - destCpu0;
    const stats = await cluster.api.syncSourceStats(db.uid);
    return {
      ms,
      dataMs,
      keys,
      hwm,
      syncerCpuMs,
      destCpuMs,
      syncerPid,
      state,
      stats,
      progressSeen,
      uid: db.uid,
    };
  } finally {
    d.disconnect();
    await cluster.api.deleteBdb(db.uid).catch(() => {});
    await cluster.api.waitForBdbGone(db.uid, 60_000).catch(() => {});
  }
}
