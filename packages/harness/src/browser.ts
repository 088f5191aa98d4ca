import { copyFileSync, existsSync, mkdirSync, mkdtempSync, rmSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { type BrowserContext, chromium, type Page } from 'playwright-core';

/**
 * Headless Chromium for the web UI tests: the Debian `chromium` package (scripts/setup installs it)
 * driven by playwright-core, in a new empty profile, with no network chatter of its own.
 */

const CANDIDATES = ['/usr/bin/chromium', '/usr/bin/chromium-browser'];

/** The browser binary, or undefined (the UI tests then skip and say why). */
export function chromiumPath(): string | undefined {
  const env = process.env.MINIRS_CHROMIUM;
  if (env) return existsSync(env) ? env : undefined;
  return CANDIDATES.find((p) => existsSync(p));
}

export const CHROMIUM_ARGS = [
  '--headless',
  '--no-sandbox',
  '--disable-gpu',
  '--disable-quic',
  '--no-first-run',
  '--disable-background-networking',
  '--disable-component-update',
  '--disable-sync',
];

export interface Browser {
  context: BrowserContext;
  profile: string;
  close(): Promise<void>;
}

export async function launchBrowser(executablePath: string, tmp: string): Promise<Browser> {
  const profile = mkdtempSync(join(tmp, 'chromium-profile-'));
  const context = await chromium.launchPersistentContext(profile, {
    executablePath,
    // The flags above, exactly; playwright would otherwise add its own headless mode.
    headless: false,
    args: CHROMIUM_ARGS,
    viewport: { width: 1280, height: 800 },
    // Each cluster's API certificate is signed by the cluster's own CA.
    ignoreHTTPSErrors: true,
    timeout: 60_000,
  });
  return {
    context,
    profile,
    async close() {
      await context.close().catch(() => {});
      rmSync(profile, { recursive: true, force: true });
    },
  };
}

/** Saves a full-page screenshot in `dir` and copies it to artifacts/ui/ at the repo root (CI keeps it). */
export function screenshotter(
  dir: string,
): (page: Page, name: string, fullPage?: boolean) => Promise<string> {
  const artifacts = resolve(import.meta.dirname, '../../../artifacts/ui');
  mkdirSync(dir, { recursive: true });
  mkdirSync(artifacts, { recursive: true });
  return async (page, name, fullPage = true) => {
    const file = join(dir, `${name}.png`);
    await page.screenshot({ path: file, fullPage });
    copyFileSync(file, join(artifacts, `${name}.png`));
    return file;
  };
}

/**
 * page.goto that tries again (up to 5 times) when Chromium answers net::ERR_NETWORK_CHANGED: it
 * aborts a navigation when any address of the host changes, and every cluster that starts or
 * stops (other test files, a checker round) adds or removes addresses on the host's minirs0.
 * That is the browser reacting to the host, not the page failing; any other error is thrown.
 */
export async function gotoPage(page: Page, url: string): Promise<void> {
  for (let attempt = 1; ; attempt++) {
    try {
      await page.goto(url);
      return;
    } catch (err) {
      if (attempt >= 5 || !String((err as Error).message).includes('ERR_NETWORK_CHANGED')) throw err;
      await new Promise((r) => setTimeout(r, 200 * attempt));
    }
  }
}
