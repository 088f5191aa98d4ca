import type { BdbState } from '@minirs/common';
import { useState } from 'preact/hooks';
import type { UiSnapshot } from '../src/types.js';
import { api } from './api.js';
import { usedMemory } from './dbs-page.js';
import { FaultsPanel } from './faults.js';
import { ReplicaOfSection } from './replica-of.js';
import { navigate } from './router.js';
import { bdbReplicaStatus, formatBytes, formatTime, sourceUrl } from './status.js';
import { Badge, CopyField, confirmAction, Link, notify, Section, useAction } from './widgets.js';

function EndpointSection(props: { bdb: BdbState }) {
  const { bdb } = props;
  const [shown, setShown] = useState(false);
  const [busy, run] = useAction();
  const url = sourceUrl(bdb);
  const ep = bdb.endpoints[0];
  const regenerate = async () => {
    const ok = await confirmAction({
      title: 'Regenerate the internal admin password?',
      body: (
        <>
          <p>
            {bdb.name}'s Replica Of source URL changes.{' '}
            <strong>Every existing destination that replicates from {bdb.name} stops syncing</strong> (Sync
            stopped: an authentication error) until you give it the new URL.
          </p>
          <p>Clients of the database are not affected: they use the database password.</p>
        </>
      ),
      confirm: 'Regenerate password',
      danger: true,
    });
    if (!ok) return;
    await run('Regenerating the admin password', async () => {
      await api('PUT', `/v1/bdbs/${bdb.uid}/reset_admin_pass`);
      setShown(true);
      notify(`New internal admin password for ${bdb.name}: its source URL changed; update its destinations.`);
    });
  };
  return (
    <Section title="Endpoint" id="endpoint-title">
      <dl class="facts">
        <dt>Endpoint</dt>
        <dd>
          <code data-testid="endpoint">
            {ep?.dns_name ?? ep?.addr[0] ?? '-'}:{ep?.port ?? bdb.port}
          </code>{' '}
          <span class="muted">(served on {ep?.addr.join(', ') ?? 'no node yet'})</span>
        </dd>
        <dt>Client password</dt>
        <dd>{bdb.authentication_redis_pass ? 'set' : 'none (any client may connect)'}</dd>
      </dl>
      <div class="button-row">
        <button
          type="button"
          onClick={() => setShown(!shown)}
          aria-expanded={shown}
          aria-controls="source-url-box"
          disabled={!url}
        >
          Get Replica Of source URL
        </button>
        <button type="button" class="danger" onClick={regenerate} disabled={busy}>
          Regenerate internal admin password
        </button>
      </div>
      <div id="source-url-box" hidden={!shown}>
        {url && (
          <CopyField
            id="source-url"
            label="Replica Of source URL"
            value={url}
            hint="Paste it as a source of a database on another cluster. It carries the internal admin password: keep it private."
          />
        )}
      </div>
    </Section>
  );
}

function TlsSection(props: { bdb: BdbState }) {
  const { bdb } = props;
  const [mode, setMode] = useState(bdb.tls_mode);
  const [enforce, setEnforce] = useState(bdb.enforce_client_authentication === 'enabled');
  const [certs, setCerts] = useState(
    bdb.authentication_ssl_client_certs.map((c) => c.client_cert.trim()).join('\n'),
  );
  const [error, setError] = useState('');
  const [busy, run] = useAction();
  const save = (e: Event) => {
    e.preventDefault();
    setError('');
    const pems = certs.match(/-----BEGIN CERTIFICATE-----[\s\S]*?-----END CERTIFICATE-----/g) ?? [];
    if (certs.trim() && pems.length === 0) {
      setError('The client certificates are not PEM: paste one or more -----BEGIN CERTIFICATE----- blocks.');
      return;
    }
    void run('Saving TLS settings', async () => {
      try {
        await api('PUT', `/v1/bdbs/${bdb.uid}`, {
          tls_mode: mode,
          enforce_client_authentication: enforce ? 'enabled' : 'disabled',
          authentication_ssl_client_certs: pems.map((p) => ({ client_cert: `${p}\n` })),
        });
      } catch (err) {
        setError((err as Error).message);
        throw err;
      }
      notify(`TLS settings of ${bdb.name} saved`);
    });
  };
  return (
    <Section title="TLS" id="tls-title">
      <form onSubmit={save}>
        <div class="form-grid">
          <div class="field">
            <label for="tls-mode">TLS</label>
            <select
              id="tls-mode"
              value={mode}
              onChange={(e) => setMode(e.currentTarget.value as BdbState['tls_mode'])}
            >
              <option value="disabled">disabled</option>
              <option value="replica_ssl">for Replica Of only</option>
              <option value="enabled">require TLS for all communications</option>
            </select>
          </div>
          <div class="field check">
            <input
              id="tls-enforce"
              type="checkbox"
              checked={enforce}
              onChange={(e) => setEnforce(e.currentTarget.checked)}
              disabled={mode === 'disabled'}
            />
            <label for="tls-enforce">Enforce client authentication</label>
          </div>
        </div>
        <div class="field">
          <label for="tls-certs">Client certificates (PEM, one or more)</label>
          <textarea
            id="tls-certs"
            rows={5}
            spellcheck={false}
            value={certs}
            onInput={(e) => setCerts(e.currentTarget.value)}
            disabled={mode === 'disabled' || !enforce}
            aria-describedby="tls-certs-hint"
            placeholder="-----BEGIN CERTIFICATE-----"
          />
          <span id="tls-certs-hint" class="hint">
            The syncer certificate of every cluster that replicates from this database (its Cluster page,
            Certificates) and, for all communications, the certificates of your clients.
          </span>
        </div>
        {error && (
          <p class="error-text" role="alert">
            {error}
          </p>
        )}
        <button type="submit" class="primary" disabled={busy}>
          Save TLS settings
        </button>
      </form>
    </Section>
  );
}

function ConfigSection(props: { snap: UiSnapshot; bdb: BdbState }) {
  const { snap, bdb } = props;
  const shards = snap.shards.filter((s) => s.bdb_uid === bdb.uid);
  const keys = shards.reduce((a, s) => a + (s.stats?.keys ?? 0), 0);
  return (
    <Section title="Configuration" id="config-title">
      <dl class="facts">
        <dt>Status</dt>
        <dd>
          <span class={`badge ${bdb.status === 'active' ? 'ok' : 'busy'}`}>{bdb.status}</span>
        </dd>
        <dt>Database id</dt>
        <dd>{bdb.uid}</dd>
        <dt>Memory</dt>
        <dd>
          {formatBytes(usedMemory(snap, bdb))} used of {formatBytes(bdb.memory_size)}, {keys} keys
        </dd>
        <dt>Shards</dt>
        <dd>
          {bdb.shards_count} ({bdb.sharding ? `sharded, ${bdb.hash_slots_policy} hash slots` : 'not sharded'})
        </dd>
        <dt>Shard key rules</dt>
        <dd>
          {bdb.shard_key_regex.map((r) => (
            <code key={r.regex} class="chip">
              {r.regex}
            </code>
          ))}
        </dd>
        <dt>TLS</dt>
        <dd>
          {bdb.tls_mode}
          {bdb.tls_mode !== 'disabled' && `, client authentication ${bdb.enforce_client_authentication}`}
        </dd>
        <dt>Created</dt>
        <dd>{new Date(bdb.created_time).toLocaleString()}</dd>
      </dl>
      <div class="table-wrap">
        <table>
          <caption>Shards of {bdb.name}</caption>
          <thead>
            <tr>
              <th scope="col">Shard</th>
              <th scope="col">Node</th>
              <th scope="col">Slots</th>
              <th scope="col">Status</th>
              <th scope="col">Data</th>
            </tr>
          </thead>
          <tbody>
            {shards.map((s) => (
              <tr key={s.uid}>
                <td>{s.uid}</td>
                <td>
                  {s.node_uid}{' '}
                  <span class="muted">({snap.cluster.nodes.find((n) => n.uid === s.node_uid)?.addr})</span>
                </td>
                <td>
                  {s.slot_start}-{s.slot_end}
                </td>
                <td>
                  <span class={`badge ${s.status === 'active' ? 'ok' : 'bad'}`}>{s.status}</span>{' '}
                  <span class="muted">{s.last_event_time ? formatTime(s.last_event_time) : ''}</span>
                </td>
                <td>{s.stats ? `${formatBytes(s.stats.used_memory)}, ${s.stats.keys} keys` : '-'}</td>
              </tr>
            ))}
          </tbody>
        </table>
      </div>
    </Section>
  );
}

function DangerSection(props: { bdb: BdbState }) {
  const { bdb } = props;
  const [busy, run] = useAction();
  const flush = async () => {
    if (
      !(await confirmAction({
        title: `Flush ${bdb.name}?`,
        body: <p>Every key of {bdb.name} is deleted.</p>,
        confirm: 'Flush',
        danger: true,
      }))
    )
      return;
    await run('Flushing', async () => {
      await api('PUT', `/v1/bdbs/${bdb.uid}/flush`);
      notify(`${bdb.name} flushed`);
    });
  };
  const remove = async () => {
    if (
      !(await confirmAction({
        title: `Delete ${bdb.name}?`,
        body: (
          <p>
            The database, its shards and its data are deleted; destinations replicating from it go out of
            sync.
          </p>
        ),
        confirm: 'Delete database',
        danger: true,
      }))
    )
      return;
    await run('Deleting', async () => {
      await api('DELETE', `/v1/bdbs/${bdb.uid}`);
      notify(`${bdb.name} deleted`);
      navigate('/ui/');
    });
  };
  return (
    <Section title="Maintenance" id="danger-title">
      <div class="button-row">
        <button type="button" class="danger" onClick={flush} disabled={busy}>
          Flush database
        </button>
        <button type="button" class="danger" onClick={remove} disabled={busy}>
          Delete database
        </button>
      </div>
    </Section>
  );
}

export function DatabasePage(props: { snap: UiSnapshot; uid: number; tick: number }) {
  const { snap } = props;
  const bdb = snap.bdbs.find((b) => b.uid === props.uid);
  if (!bdb) {
    return (
      <>
        <h1 tabIndex={-1}>Database {props.uid} not found</h1>
        <p>
          It may have been deleted. <Link href="/ui/">Back to the databases</Link>
        </p>
      </>
    );
  }
  return (
    <>
      <nav aria-label="Breadcrumb" class="crumbs">
        <Link href="/ui/">Databases</Link> / {bdb.name}
      </nav>
      <h1 tabIndex={-1}>
        {bdb.name} <Badge view={bdbReplicaStatus(bdb)} testId="title-status" />
      </h1>
      <div class="page-grid">
        <div>
          <EndpointSection bdb={bdb} />
          <ReplicaOfSection snap={snap} bdb={bdb} tick={props.tick} />
          <FaultsPanel snap={snap} bdbUid={bdb.uid} />
        </div>
        <div>
          <ConfigSection snap={snap} bdb={bdb} />
          <TlsSection key={`${bdb.uid}-${bdb.tls_mode}`} bdb={bdb} />
          <DangerSection bdb={bdb} />
        </div>
      </div>
    </>
  );
}
