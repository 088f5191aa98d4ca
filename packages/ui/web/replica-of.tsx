import type { BdbState, ReplicaSourceRequest, ReplicaSourceState } from '@minirs/common';
import { useState } from 'preact/hooks';
import type { UiSnapshot } from '../src/types.js';
import { api } from './api.js';
import { LagChart } from './lag-chart.js';
import { type PickerOption, SourcePicker } from './source-picker.js';
import { bdbReplicaStatus, formatTime, maskUri, sourceStatus, sourceUrl } from './status.js';
import { confirmAction, notify, Section, StatusBlock, useAction } from './widgets.js';

/** A source as the REST API takes it back (its status fields are the manager's). */
function asRequest(s: ReplicaSourceState): ReplicaSourceRequest {
  const r: ReplicaSourceRequest = {
    uid: s.uid,
    uri: s.uri,
    compression: s.compression,
    encryption: s.encryption,
  };
  if (s.server_cert) r.server_cert = s.server_cert;
  if (s.client_cert) r.client_cert = s.client_cert;
  if (s.client_key) r.client_key = s.client_key;
  return r;
}

/** RS writes `<db name>: redis://...`; the API takes the prefix without the space. */
export function normalizeSourceUri(text: string): string {
  return text.trim().replace(/^([A-Za-z0-9][A-Za-z0-9-]*):\s+(?=rediss?:\/\/)/i, '$1:');
}

function putSources(b: BdbState, sources: ReplicaSourceRequest[]): Promise<BdbState> {
  return api<BdbState>('PUT', `/v1/bdbs/${b.uid}`, { replica_sources: sources });
}

function AddSourceForm(props: { snap: UiSnapshot; bdb: BdbState }) {
  const { snap, bdb } = props;
  const [uri, setUri] = useState('');
  const [compression, setCompression] = useState('0');
  const [tls, setTls] = useState(false);
  const [serverCert, setServerCert] = useState('');
  const [clientCert, setClientCert] = useState('');
  const [clientKey, setClientKey] = useState('');
  const [error, setError] = useState('');
  const [busy, run] = useAction();
  const id = `add-${bdb.uid}`;
  const options: PickerOption[] = snap.bdbs
    .filter((b) => b.uid !== bdb.uid && b.status !== 'delete-pending')
    .flatMap((b) => {
      const url = sourceUrl(b);
      return url ? [{ name: b.name, value: `${b.name}: ${url}` }] : [];
    });
  const submit = async (e: Event) => {
    e.preventDefault();
    setError('');
    const text = normalizeSourceUri(uri);
    if (!/^([A-Za-z0-9][A-Za-z0-9-]*:)?rediss?:\/\//i.test(text)) {
      setError(
        'Give a source URL: pick a database of this cluster, or paste redis://admin:<pass>@host:port (another cluster) or redis://[:password@]host:port (any Redis).',
      );
      return;
    }
    const n = bdb.replica_sources.length;
    const ok = await confirmAction({
      title: n === 0 ? `Make ${bdb.name} a replica?` : 'Add a source?',
      body:
        n === 0 ? (
          <p>
            All data in {bdb.name} is deleted and replaced by the source's data, which is then kept in sync.
          </p>
        ) : (
          <p>
            Changing the sources restarts the synchronization of all {n + 1} sources from scratch: {bdb.name}{' '}
            is flushed and fully synced again.
          </p>
        ),
      confirm: 'Add source',
      danger: true,
    });
    if (!ok) return;
    const src: ReplicaSourceRequest = { uri: text, compression: Number(compression) };
    if (tls) {
      src.encryption = true;
      if (serverCert.trim()) src.server_cert = serverCert.trim();
      if (clientCert.trim()) src.client_cert = clientCert.trim();
      if (clientKey.trim()) src.client_key = clientKey.trim();
    }
    await run('Adding the source', async () => {
      try {
        await putSources(bdb, [...bdb.replica_sources.map(asRequest), src]);
      } catch (err) {
        setError((err as Error).message);
        throw err;
      }
      notify(`Source added to ${bdb.name}: ${maskUri(text)}`);
      setUri('');
      setCompression('0');
      setTls(false);
      setServerCert('');
      setClientCert('');
      setClientKey('');
    });
  };
  return (
    <form class="add-source" onSubmit={submit} aria-labelledby={`${id}-title`}>
      <h3 id={`${id}-title`}>Add a source</h3>
      <div class="field">
        <label for={`${id}-uri`}>Source database URL</label>
        <SourcePicker id={`${id}-uri`} value={uri} onChange={setUri} options={options} />
        <span id={`${id}-uri-hint`} class="hint">
          This cluster's databases are listed with their URL (admin password included). For a database of
          another cluster, open its page there, click <em>Get Replica Of source URL</em> and paste it here;
          for any Redis, <code>redis://[:password@]host:port</code>.
        </span>
      </div>
      <div class="form-grid">
        <div class="field">
          <label for={`${id}-compression`}>Compression</label>
          <select
            id={`${id}-compression`}
            value={compression}
            onChange={(e) => setCompression(e.currentTarget.value)}
            aria-describedby={`${id}-compression-hint`}
          >
            <option value="0">off</option>
            {[1, 2, 3, 4, 5, 6].map((l) => (
              <option key={l} value={String(l)}>
                gzip level {l}
              </option>
            ))}
          </select>
          <span id={`${id}-compression-hint`} class="hint">
            Across clusters: less traffic, more CPU and latency (RS uses level 6).
          </span>
        </div>
        <div class="field check">
          <input
            id={`${id}-tls`}
            type="checkbox"
            checked={tls}
            onChange={(e) => setTls(e.currentTarget.checked)}
          />
          <label for={`${id}-tls`}>Encrypt the link (TLS)</label>
        </div>
      </div>
      {tls && (
        <>
          <div class="field">
            <label for={`${id}-server-cert`}>Source cluster certificate (PEM)</label>
            <textarea
              id={`${id}-server-cert`}
              rows={5}
              spellcheck={false}
              value={serverCert}
              onInput={(e) => setServerCert(e.currentTarget.value)}
              placeholder="-----BEGIN CERTIFICATE-----"
              aria-describedby={`${id}-server-cert-hint`}
            />
            <span id={`${id}-server-cert-hint`} class="hint">
              The source cluster's proxy certificate: its Cluster page, Certificates, Proxy certificate.
            </span>
          </div>
          <details>
            <summary>
              Client certificate of this link (optional; by default this cluster's syncer certificate)
            </summary>
            <div class="two-col">
              <div class="field">
                <label for={`${id}-client-cert`}>Client certificate (PEM)</label>
                <textarea
                  id={`${id}-client-cert`}
                  rows={4}
                  spellcheck={false}
                  value={clientCert}
                  onInput={(e) => setClientCert(e.currentTarget.value)}
                />
              </div>
              <div class="field">
                <label for={`${id}-client-key`}>Client key (PEM)</label>
                <textarea
                  id={`${id}-client-key`}
                  rows={4}
                  spellcheck={false}
                  value={clientKey}
                  onInput={(e) => setClientKey(e.currentTarget.value)}
                />
              </div>
            </div>
          </details>
        </>
      )}
      {error && (
        <p class="error-text" role="alert">
          {error}
        </p>
      )}
      <button type="submit" class="primary" disabled={busy || bdb.replica_sources.length >= 32}>
        Add source
      </button>
    </form>
  );
}

function SourceRow(props: { bdb: BdbState; source: ReplicaSourceState }) {
  const { bdb, source: s } = props;
  const [editing, setEditing] = useState(false);
  const [uri, setUri] = useState('');
  const [busy, run] = useAction();
  const view = sourceStatus(s, bdb.replica_sync);
  const id = `src-${bdb.uid}-${s.uid}`;
  const others = bdb.replica_sources.length - 1;

  const remove = async () => {
    const ok = await confirmAction({
      title: `Remove source ${s.uid}?`,
      body:
        others > 0 ? (
          <p>
            The synchronization of the other {others} source(s) restarts from scratch: {bdb.name} is flushed
            and fully synced again.
          </p>
        ) : (
          <p>{bdb.name} stops being a replica; its data stays as it is.</p>
        ),
      confirm: 'Remove source',
      danger: true,
    });
    if (!ok) return;
    await run('Removing the source', async () => {
      await putSources(bdb, bdb.replica_sources.filter((x) => x.uid !== s.uid).map(asRequest));
      notify(`Source ${s.uid} removed from ${bdb.name}`);
    });
  };
  const saveUri = async (e: Event) => {
    e.preventDefault();
    const text = normalizeSourceUri(uri);
    const ok = await confirmAction({
      title: `Change the URL of source ${s.uid}?`,
      body: (
        <p>
          Changing a source restarts the synchronization of all sources from scratch: {bdb.name} is flushed
          and fully synced again.
        </p>
      ),
      confirm: 'Change URL',
      danger: true,
    });
    if (!ok) return;
    const done = await run('Changing the source URL', () =>
      putSources(
        bdb,
        bdb.replica_sources.map((x) => (x.uid === s.uid ? { ...asRequest(x), uri: text } : asRequest(x))),
      ),
    );
    if (done) {
      setEditing(false);
      notify(`Source ${s.uid} of ${bdb.name} now replicates from ${maskUri(text)}`);
    }
  };
  return (
    <li class="source" data-testid={id} aria-labelledby={`${id}-title`}>
      <div class="source-head">
        <h3 id={`${id}-title`}>
          Source {s.uid}: <code>{maskUri(s.uri)}</code>
        </h3>
        <div class="card-actions">
          <button
            type="button"
            onClick={() => {
              setEditing(!editing);
              setUri(s.uri);
            }}
            aria-expanded={editing}
            aria-controls={`${id}-edit`}
          >
            Change URL
          </button>
          <button type="button" class="danger" onClick={remove} disabled={busy}>
            Remove
          </button>
        </div>
      </div>
      <StatusBlock view={view} name={`source ${s.uid}`} testId={`${id}-status`} />
      <dl class="facts small">
        <dt>Last update</dt>
        <dd>{formatTime(s.last_update)}</dd>
        <dt>Compression</dt>
        <dd>{s.compression ? `gzip level ${s.compression}` : 'off'}</dd>
        <dt>TLS</dt>
        <dd>{s.encryption ? (s.server_cert ? 'on (source cluster certificate pinned)' : 'on') : 'off'}</dd>
      </dl>
      {editing && (
        <form id={`${id}-edit`} class="edit-uri" onSubmit={saveUri}>
          <div class="field">
            <label for={`${id}-uri`}>New source URL of source {s.uid}</label>
            <input
              id={`${id}-uri`}
              value={uri}
              spellcheck={false}
              onInput={(e) => setUri(e.currentTarget.value)}
              required
            />
          </div>
          <button type="submit" class="primary" disabled={busy}>
            Save URL
          </button>
        </form>
      )}
    </li>
  );
}

export function ReplicaOfSection(props: { snap: UiSnapshot; bdb: BdbState; tick: number }) {
  const { snap, bdb } = props;
  const [busy, run] = useAction();
  const agg = bdbReplicaStatus(bdb);
  const setSync = async (to: 'enabled' | 'stopped' | 'paused') => {
    if (to === 'enabled') {
      const ok = await confirmAction({
        title: 'Restart the sync?',
        body: <p>Restarting flushes {bdb.name} and synchronizes every source again from the beginning.</p>,
        confirm: 'Restart sync',
        danger: true,
      });
      if (!ok) return;
    }
    await run(to === 'enabled' ? 'Restarting the sync' : 'Stopping the sync', async () => {
      await api('PUT', `/v1/bdbs/${bdb.uid}`, { replica_sync: to });
      notify(to === 'enabled' ? `Sync of ${bdb.name} restarted` : `Sync of ${bdb.name} ${to}`);
    });
  };
  const has = bdb.replica_sources.length > 0;
  return (
    <Section
      title="Replica Of"
      id="replica-title"
      actions={
        has && (
          <>
            {bdb.replica_sync === 'enabled' && (
              <>
                <button type="button" onClick={() => setSync('paused')} disabled={busy}>
                  Pause sync
                </button>
                <button type="button" onClick={() => setSync('stopped')} disabled={busy}>
                  Stop sync
                </button>
              </>
            )}
            {(bdb.replica_sync === 'stopped' ||
              bdb.replica_sync === 'paused' ||
              bdb.replica_sync === 'disabled') && (
              <button type="button" class="primary" onClick={() => setSync('enabled')} disabled={busy}>
                Restart sync
              </button>
            )}
          </>
        )
      }
    >
      <div class="aggregate">
        <strong>Destination status:</strong>{' '}
        <StatusBlock view={agg} name={bdb.name} testId="replica-aggregate" />
      </div>
      {has ? (
        <>
          <ul class="sources">
            {bdb.replica_sources.map((s) => (
              <SourceRow key={s.uid} bdb={bdb} source={s} />
            ))}
          </ul>
          <LagChart bdbUid={bdb.uid} sources={bdb.replica_sources.map((s) => s.uid)} tick={props.tick} />
        </>
      ) : (
        <p class="muted">{bdb.name} is not a replica of any database.</p>
      )}
      <AddSourceForm snap={snap} bdb={bdb} />
    </Section>
  );
}
