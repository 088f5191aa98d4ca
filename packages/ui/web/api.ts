/**
 * The REST API from the browser: the cluster's own endpoints (CONTRACT.md), with the basic-auth
 * header built from what the login page checked. The header lives in sessionStorage: one tab,
 * gone when the tab closes.
 */

const KEY = 'minirs.auth';

export class ApiError extends Error {
  constructor(
    readonly status: number,
    readonly code: string,
    message: string,
  ) {
    super(message);
  }
}

function basic(username: string, password: string): string {
  const bytes = new TextEncoder().encode(`${username}:${password}`);
  let bin = '';
  for (const b of bytes) bin += String.fromCharCode(b);
  return `Basic ${btoa(bin)}`;
}

export function authHeader(): string | null {
  return sessionStorage.getItem(KEY);
}

const listeners = new Set<() => void>();
export function onAuthChange(fn: () => void): () => void {
  listeners.add(fn);
  return () => listeners.delete(fn);
}

export function logout(): void {
  sessionStorage.removeItem(KEY);
  for (const fn of listeners) fn();
}

interface ErrorBody {
  error_code?: string;
  message?: string;
}

async function parse(r: Response): Promise<unknown> {
  const text = await r.text();
  if (!text) return undefined;
  try {
    return JSON.parse(text);
  } catch {
    return text;
  }
}

export async function login(username: string, password: string): Promise<void> {
  const r = await fetch('/ui/login', {
    method: 'POST',
    headers: { 'content-type': 'application/json' },
    body: JSON.stringify({ username, password }),
  });
  if (!r.ok) {
    const body = (await parse(r)) as ErrorBody | undefined;
    throw new ApiError(
      r.status,
      body?.error_code ?? `HTTP_${r.status}`,
      body?.message ?? `login failed (HTTP ${r.status})`,
    );
  }
  sessionStorage.setItem(KEY, basic(username, password));
  for (const fn of listeners) fn();
}

export async function api<T>(
  method: 'GET' | 'POST' | 'PUT' | 'DELETE',
  path: string,
  body?: unknown,
): Promise<T> {
  const auth = authHeader();
  if (!auth) throw new ApiError(401, 'MINIRS_ERR_UNAUTHORIZED', 'you are logged out; log in again');
  const headers: Record<string, string> = { authorization: auth };
  if (body !== undefined) headers['content-type'] = 'application/json';
  const init = { method, headers, body: body === undefined ? undefined : JSON.stringify(body) };
  // A read that fails on the network (the browser drops requests in flight when the host's
  // addresses change, a manager restarting) is tried again; a write is not: it may have landed.
  let r: Response;
  for (let attempt = 1; ; attempt++) {
    try {
      r = await fetch(path, init);
      break;
    } catch (err) {
      if (method !== 'GET' || attempt >= 3) throw err;
      await new Promise((done) => setTimeout(done, 250 * attempt));
    }
  }
  const out = await parse(r);
  if (!r.ok) {
    const e = (out ?? {}) as ErrorBody;
    if (r.status === 401) logout();
    throw new ApiError(
      r.status,
      e.error_code ?? `HTTP_${r.status}`,
      e.message ?? `${method} ${path} failed (HTTP ${r.status})`,
    );
  }
  return out as T;
}
