import { type ComponentChildren, render } from 'preact';
import { useEffect, useState } from 'preact/hooks';
import './app.css';
import { authHeader, logout, onAuthChange } from './api.js';
import { ClusterPage } from './cluster-page.js';
import { DatabasePage } from './db-page.js';
import { DatabasesPage } from './dbs-page.js';
import { connectLive, disconnectLive, useLive } from './live.js';
import { LoginPage } from './login.js';
import { usePath } from './router.js';
import { ConfirmHost, Link, ToastHost } from './widgets.js';

function Shell() {
  const live = useLive();
  const path = usePath();
  useEffect(() => {
    connectLive();
  }, []);
  useEffect(() => {
    const name = live.snap?.cluster.name;
    document.title = name ? `minirs · ${name}` : 'minirs';
  }, [live.snap?.cluster.name]);
  const db = /^\/ui\/bdbs\/(\d+)\/?$/.exec(path);
  const page = path.startsWith('/ui/cluster') ? 'cluster' : db ? 'db' : 'dbs';
  let body: ComponentChildren;
  if (!live.snap) {
    body = (
      <p class="muted" role="status">
        {live.problem ?? 'Connecting to the cluster…'}
      </p>
    );
  } else if (page === 'cluster') body = <ClusterPage snap={live.snap} />;
  else if (db) body = <DatabasePage snap={live.snap} uid={Number(db[1])} tick={live.tick} />;
  else body = <DatabasesPage snap={live.snap} />;
  return (
    <>
      <a class="skip" href="#main">
        Skip to content
      </a>
      <header class="top">
        <span class="brand">
          minirs <span class="muted">·</span> {live.snap?.cluster.name ?? '…'}
        </span>
        <nav aria-label="Main">
          <Link href="/ui/" class={page !== 'cluster' ? 'current' : ''}>
            Databases
          </Link>
          <Link href="/ui/cluster" class={page === 'cluster' ? 'current' : ''}>
            Cluster
          </Link>
        </nav>
        <span class={`live ${live.connected ? 'on' : 'off'}`} data-testid="live" title={live.problem}>
          {live.connected ? 'Live' : 'Reconnecting…'}
        </span>
        <button
          type="button"
          class="link-button"
          onClick={() => {
            disconnectLive();
            logout();
          }}
        >
          Log out
        </button>
      </header>
      {live.problem && live.snap && (
        <p class="banner" role="alert">
          {live.problem}
        </p>
      )}
      <main id="main">{body}</main>
    </>
  );
}

function App() {
  const [authed, setAuthed] = useState(!!authHeader());
  useEffect(() => onAuthChange(() => setAuthed(!!authHeader())), []);
  return (
    <>
      {authed ? <Shell /> : <LoginPage />}
      <ConfirmHost />
      <ToastHost />
    </>
  );
}

render(<App />, document.getElementById('app')!);
