import type { BdbState } from '@minirs/common';
import { useState } from 'preact/hooks';
import type { UiSnapshot } from '../src/types.js';
import { api } from './api.js';
import { navigate } from './router.js';
import { bdbReplicaStatus, formatBytes } from './status.js';
import { Badge, Link, notify, Section, useAction } from './widgets.js';

export function usedMemory(snap: UiSnapshot, b: BdbState): number {
  return snap.shards.filter((s) => s.bdb_uid === b.uid).reduce((a, s) => a + (s.stats?.used_memory ?? 0), 0);
}

function CreateDbForm() {
  const [name, setName] = useState('');
  const [shards, setShards] = useState('1');
  const [memory, setMemory] = useState('100');
  const [password, setPassword] = useState('');
  const [tls, setTls] = useState('disabled');
  const [error, setError] = useState('');
  const [busy, run] = useAction();
  const submit = (e: Event) => {
    e.preventDefault();
    setError('');
    const body: Record<string, unknown> = {
      name: name.trim(),
      shards_count: Number(shards),
      sharding: Number(shards) > 1,
      memory_size: Math.round(Number(memory) * 1024 * 1024),
      tls_mode: tls,
    };
    if (password) body.authentication_redis_pass = password;
    void run('Creating the database', async () => {
      try {
        const b = await api<BdbState>('POST', '/v1/bdbs', body);
        notify(`Database ${b.name} created on port ${b.port}`);
        navigate(`/ui/bdbs/${b.uid}`);
      } catch (err) {
        setError((err as Error).message);
        throw err;
      }
    });
  };
  return (
    <Section title="Create a database" id="create-title">
      <form class="form-grid" onSubmit={submit} aria-describedby={error ? 'create-error' : undefined}>
        <div class="field">
          <label for="create-name">Name</label>
          <input
            id="create-name"
            value={name}
            onInput={(e) => setName(e.currentTarget.value)}
            required
            pattern="[A-Za-z0-9][A-Za-z0-9\-]*"
            aria-describedby="create-name-hint"
          />
          <span id="create-name-hint" class="hint">
            letters, digits, hyphens
          </span>
        </div>
        <div class="field">
          <label for="create-shards">Shards</label>
          <input
            id="create-shards"
            type="number"
            min={1}
            max={64}
            value={shards}
            onInput={(e) => setShards(e.currentTarget.value)}
            required
          />
        </div>
        <div class="field">
          <label for="create-memory">Memory limit (MB)</label>
          <input
            id="create-memory"
            type="number"
            min={1}
            value={memory}
            onInput={(e) => setMemory(e.currentTarget.value)}
            required
          />
        </div>
        <div class="field">
          <label for="create-password">Password (optional)</label>
          <input
            id="create-password"
            type="password"
            autocomplete="new-password"
            value={password}
            onInput={(e) => setPassword(e.currentTarget.value)}
          />
        </div>
        <div class="field">
          <label for="create-tls">TLS</label>
          <select id="create-tls" value={tls} onChange={(e) => setTls(e.currentTarget.value)}>
            <option value="disabled">disabled</option>
            <option value="replica_ssl">Replica Of only</option>
            <option value="enabled">all communications</option>
          </select>
        </div>
        <div class="field actions-field">
          <button type="submit" class="primary" disabled={busy}>
            Create database
          </button>
        </div>
      </form>
      {error && (
        <p id="create-error" class="error-text" role="alert">
          {error}
        </p>
      )}
    </Section>
  );
}

export function DatabasesPage(props: { snap: UiSnapshot }) {
  const { snap } = props;
  return (
    <>
      <h1 tabIndex={-1}>Databases</h1>
      <Section title="All databases" id="dbs-title">
        {snap.bdbs.length === 0 ? (
          <p class="muted">No databases yet: create one below.</p>
        ) : (
          <div class="table-wrap">
            <table data-testid="bdbs">
              <caption class="sr-only">
                Databases with status, endpoint, shards, memory and Replica Of status
              </caption>
              <thead>
                <tr>
                  <th scope="col">Name</th>
                  <th scope="col">Status</th>
                  <th scope="col">Endpoint</th>
                  <th scope="col">Shards</th>
                  <th scope="col">Memory</th>
                  <th scope="col">Replica Of</th>
                </tr>
              </thead>
              <tbody>
                {snap.bdbs.map((b) => (
                  <tr key={b.uid} data-testid={`bdb-row-${b.name}`}>
                    <td>
                      <Link href={`/ui/bdbs/${b.uid}`}>{b.name}</Link>
                    </td>
                    <td>
                      <span class={`badge ${b.status === 'active' ? 'ok' : 'busy'}`}>{b.status}</span>
                    </td>
                    <td>
                      <code>
                        {b.endpoints[0]?.addr[0] ?? '-'}:{b.port}
                      </code>
                    </td>
                    <td>{b.shards_count}</td>
                    <td>
                      {formatBytes(usedMemory(snap, b))} / {formatBytes(b.memory_size)}
                    </td>
                    <td>
                      <Badge view={bdbReplicaStatus(b)} />
                    </td>
                  </tr>
                ))}
              </tbody>
            </table>
          </div>
        )}
      </Section>
      <CreateDbForm />
    </>
  );
}
