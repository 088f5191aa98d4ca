import { useEffect, useState } from 'preact/hooks';

/** Pages are paths under /ui/ (the manager serves the app for all of them). */
export function usePath(): string {
  const [path, setPath] = useState(location.pathname);
  useEffect(() => {
    const on = () => setPath(location.pathname);
    addEventListener('popstate', on);
    addEventListener('minirs:navigate', on);
    return () => {
      removeEventListener('popstate', on);
      removeEventListener('minirs:navigate', on);
    };
  }, []);
  return path;
}

export function navigate(to: string): void {
  if (to === location.pathname) return;
  history.pushState(null, '', to);
  dispatchEvent(new Event('minirs:navigate'));
  // Keyboard and screen-reader users land on the new page's heading.
  requestAnimationFrame(() => document.querySelector<HTMLElement>('main h1')?.focus());
}

/** A plain link that routes in the app on a plain click, and opens normally otherwise. */
export function onLinkClick(e: MouseEvent): void {
  const a = e.currentTarget as HTMLAnchorElement;
  if (e.button !== 0 || e.metaKey || e.ctrlKey || e.shiftKey || e.altKey) return;
  e.preventDefault();
  navigate(new URL(a.href).pathname);
}
