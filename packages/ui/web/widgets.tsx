import type { ComponentChildren } from 'preact';
import { useEffect, useRef, useState } from 'preact/hooks';
import { onLinkClick } from './router.js';
import type { StatusView } from './status.js';

export function Link(props: { href: string; children: ComponentChildren; class?: string }) {
  return (
    <a href={props.href} class={props.class} onClick={onLinkClick}>
      {props.children}
    </a>
  );
}

// ---- confirm dialog: a native <dialog> (modal, focus trapped, Escape cancels) ----

interface ConfirmRequest {
  title: string;
  body: ComponentChildren;
  confirm: string;
  danger?: boolean;
  resolve(ok: boolean): void;
}
let showConfirm: ((r: ConfirmRequest) => void) | undefined;

export function confirmAction(o: Omit<ConfirmRequest, 'resolve'>): Promise<boolean> {
  return new Promise((resolve) => {
    if (!showConfirm) return resolve(false);
    showConfirm({ ...o, resolve });
  });
}

export function ConfirmHost() {
  const [req, setReq] = useState<ConfirmRequest | undefined>();
  const ref = useRef<HTMLDialogElement>(null);
  useEffect(() => {
    showConfirm = setReq;
    return () => {
      showConfirm = undefined;
    };
  }, []);
  useEffect(() => {
    if (req && ref.current && !ref.current.open) ref.current.showModal();
  }, [req]);
  const close = (ok: boolean) => {
    ref.current?.close();
    req?.resolve(ok);
    setReq(undefined);
  };
  return (
    <dialog
      ref={ref}
      class="confirm"
      aria-labelledby="confirm-title"
      aria-describedby="confirm-body"
      onCancel={(e) => {
        e.preventDefault();
        close(false);
      }}
    >
      {req && (
        <form
          method="dialog"
          onSubmit={(e) => {
            e.preventDefault();
            close(true);
          }}
        >
          <h2 id="confirm-title">{req.title}</h2>
          <div id="confirm-body">{req.body}</div>
          <div class="actions">
            <button type="button" onClick={() => close(false)} autofocus>
              Cancel
            </button>
            <button type="submit" class={req.danger ? 'danger' : 'primary'}>
              {req.confirm}
            </button>
          </div>
        </form>
      )}
    </dialog>
  );
}

// ---- toasts, announced to screen readers ----

interface Toast {
  id: number;
  text: string;
  bad: boolean;
}
let pushToast: ((t: Toast) => void) | undefined;
let toastId = 0;

export function notify(text: string, bad = false): void {
  pushToast?.({ id: ++toastId, text, bad });
}

export function ToastHost() {
  const [toasts, setToasts] = useState<Toast[]>([]);
  useEffect(() => {
    pushToast = (t) => {
      setToasts((all) => [...all.slice(-3), t]);
      setTimeout(() => setToasts((all) => all.filter((x) => x.id !== t.id)), t.bad ? 12_000 : 5000);
    };
    return () => {
      pushToast = undefined;
    };
  }, []);
  return (
    <div class="toasts" role="status" aria-live="polite">
      {toasts.map((t) => (
        <div key={t.id} class={`toast ${t.bad ? 'bad' : ''}`}>
          {t.text}
        </div>
      ))}
    </div>
  );
}

/** Runs an action with a busy flag; a failure becomes a toast saying what went wrong. */
export function useAction(): [boolean, (what: string, fn: () => Promise<unknown>) => Promise<boolean>] {
  const [busy, setBusy] = useState(false);
  const run = async (what: string, fn: () => Promise<unknown>) => {
    setBusy(true);
    try {
      await fn();
      return true;
    } catch (err) {
      notify(`${what} failed: ${(err as Error).message}`, true);
      return false;
    } finally {
      setBusy(false);
    }
  };
  return [busy, run];
}

// ---- display pieces ----

export function Badge(props: { view: StatusView; testId?: string }) {
  return (
    <span class={`badge ${props.view.tone}`} data-testid={props.testId}>
      {props.view.label}
    </span>
  );
}

export function StatusBlock(props: { view: StatusView; name: string; testId?: string }) {
  const v = props.view;
  return (
    <div class="status-block" data-testid={props.testId}>
      <Badge view={v} />
      {v.progress !== undefined && (
        <progress max={100} value={v.progress} aria-label={`${props.name} full sync progress`}>
          {v.progress}%
        </progress>
      )}
      {v.error && <p class="error-text">{v.error}</p>}
      {v.hint && <p class="hint">{v.hint}</p>}
    </div>
  );
}

async function copyText(
  text: string,
  input: HTMLInputElement | HTMLTextAreaElement | null,
): Promise<boolean> {
  try {
    await navigator.clipboard.writeText(text);
    return true;
  } catch {
    // No clipboard permission (or not a secure context): select it for Ctrl+C.
    input?.focus();
    input?.select();
    return false;
  }
}

/** A read-only value with a Copy button (URLs, certificates). */
export function CopyField(props: {
  id: string;
  label: string;
  value: string;
  multiline?: boolean;
  hint?: string;
}) {
  const ref = useRef<HTMLInputElement & HTMLTextAreaElement>(null);
  const [copied, setCopied] = useState('');
  const copy = async () => {
    const ok = await copyText(props.value, ref.current);
    setCopied(ok ? 'Copied' : 'Selected: press Ctrl+C');
    setTimeout(() => setCopied(''), 3000);
  };
  return (
    <div class="field copy-field">
      <label for={props.id}>{props.label}</label>
      <div class="copy-row">
        {props.multiline ? (
          <textarea id={props.id} ref={ref} readOnly rows={6} value={props.value} spellcheck={false} />
        ) : (
          <input
            id={props.id}
            ref={ref}
            readOnly
            value={props.value}
            spellcheck={false}
            onFocus={(e) => e.currentTarget.select()}
          />
        )}
        <button type="button" onClick={copy} aria-describedby={`${props.id}-copied`}>
          Copy
        </button>
      </div>
      <span id={`${props.id}-copied`} class="hint" aria-live="polite">
        {copied}
      </span>
      {props.hint && <p class="hint">{props.hint}</p>}
    </div>
  );
}

export function Section(props: {
  title: string;
  id: string;
  children: ComponentChildren;
  actions?: ComponentChildren;
}) {
  return (
    <section class="card" aria-labelledby={props.id}>
      <div class="card-head">
        <h2 id={props.id}>{props.title}</h2>
        {props.actions && <div class="card-actions">{props.actions}</div>}
      </div>
      {props.children}
    </section>
  );
}
