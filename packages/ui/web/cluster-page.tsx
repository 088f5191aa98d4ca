import { useEffect, useState } from 'preact/hooks';
import type { UiSnapshot } from '../src/types.js';
import { api } from './api.js';
import { FaultsPanel } from './faults.js';
import { formatBytes, formatTime } from './status.js';
import { CopyField, Link, Section } from './widgets.js';

interface Certificates {
  proxy_cert: string;
  syncer_cert: string;
}

export function ClusterPage(props: { snap: UiSnapshot }) {
  const { snap } = props;
  const c = snap.cluster;
  const [certs, setCerts] = useState<Certificates | undefined>();
  const [certError, setCertError] = useState('');
  useEffect(() => {
    api<Certificates>('GET', '/v1/cluster/certificates').then(setCerts, (e: Error) =>
      setCertError(e.message),
    );
  }, []);
  const bdbName = (uid: number) => snap.bdbs.find((b) => b.uid === uid)?.name ?? `bdb ${uid}`;
  return (
    <>
      <h1 tabIndex={-1}>Cluster {c.name}</h1>
      <Section title="Overview" id="overview-title">
        <dl class="facts">
          <dt>REST API</dt>
          <dd>
            <code>{c.api_url}</code>
          </dd>
          <dt>Nodes</dt>
          <dd>{c.nodes.length}</dd>
          <dt>Databases</dt>
          <dd>{snap.bdbs.length}</dd>
          <dt>Shards</dt>
          <dd>{snap.shards.length}</dd>
          {c.loopback_fallback && (
            <>
              <dt>Addresses</dt>
              <dd>every node shares 127.0.0.1 (127.0.C.N could not be bound)</dd>
            </>
          )}
        </dl>
      </Section>
      <Section title="Nodes" id="nodes-title">
        <div class="table-wrap">
          <table data-testid="nodes">
            <caption class="sr-only">Nodes, their addresses, health and shards</caption>
            <thead>
              <tr>
                <th scope="col">Node</th>
                <th scope="col">Address</th>
                <th scope="col">Status</th>
                <th scope="col">Proxy</th>
                <th scope="col">Shards</th>
              </tr>
            </thead>
            <tbody>
              {c.nodes.map((n) => (
                <tr key={n.uid}>
                  <td>node {n.uid}</td>
                  <td>
                    <code>{n.addr}</code>
                  </td>
                  <td>
                    <span class={`badge ${n.status === 'active' ? 'ok' : 'bad'}`}>{n.status}</span>
                  </td>
                  <td>
                    <span class={`badge ${n.proxy_status === 'active' ? 'ok' : 'bad'}`}>
                      {n.proxy_status}
                    </span>
                  </td>
                  <td>
                    {n.shard_list.length === 0
                      ? 'none'
                      : n.shard_list
                          .map(
                            (uid) =>
                              `${uid} (${bdbName(snap.shards.find((s) => s.uid === uid)?.bdb_uid ?? 0)})`,
                          )
                          .join(', ')}
                  </td>
                </tr>
              ))}
            </tbody>
          </table>
        </div>
      </Section>
      <Section title="Shards" id="shards-title">
        {snap.shards.length === 0 ? (
          <p class="muted">No shards yet: create a database.</p>
        ) : (
          <div class="table-wrap">
            <table>
              <caption class="sr-only">Shards</caption>
              <thead>
                <tr>
                  <th scope="col">Shard</th>
                  <th scope="col">Database</th>
                  <th scope="col">Node</th>
                  <th scope="col">Slots</th>
                  <th scope="col">Status</th>
                  <th scope="col">Memory</th>
                  <th scope="col">Keys</th>
                  <th scope="col">Last event</th>
                </tr>
              </thead>
              <tbody>
                {snap.shards.map((s) => (
                  <tr key={s.uid}>
                    <td>{s.uid}</td>
                    <td>
                      <Link href={`/ui/bdbs/${s.bdb_uid}`}>{bdbName(s.bdb_uid)}</Link>
                    </td>
                    <td>{s.node_uid}</td>
                    <td>
                      {s.slot_start}-{s.slot_end}
                    </td>
                    <td>
                      <span class={`badge ${s.status === 'active' ? 'ok' : 'bad'}`}>{s.status}</span>
                      {s.restarts > 0 && <span class="muted"> ({s.restarts} restarts)</span>}
                    </td>
                    <td>
                      {s.stats
                        ? `${formatBytes(s.stats.used_memory)} / ${formatBytes(s.stats.maxmemory)}`
                        : '-'}
                    </td>
                    <td>{s.stats?.keys ?? '-'}</td>
                    <td>
                      {s.last_event}{' '}
                      {s.last_event_time && <span class="muted">({formatTime(s.last_event_time)})</span>}
                    </td>
                  </tr>
                ))}
              </tbody>
            </table>
          </div>
        )}
      </Section>
      <Section title="Certificates" id="certs-title">
        <p class="hint">
          Paste the <strong>proxy certificate</strong> as the Source cluster certificate of a destination that
          replicates from this cluster over TLS; paste the <strong>syncer certificate</strong> into the client
          certificates of a source database (on another cluster) that enforces client authentication.
        </p>
        {certError && <p class="error-text">{certError}</p>}
        {certs && (
          <div class="two-col">
            <CopyField id="cert-proxy" label="Proxy certificate" value={certs.proxy_cert} multiline />
            <CopyField id="cert-syncer" label="Syncer certificate" value={certs.syncer_cert} multiline />
          </div>
        )}
      </Section>
      <FaultsPanel snap={snap} />
    </>
  );
}
