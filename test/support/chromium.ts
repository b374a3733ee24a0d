import { existsSync } from 'node:fs';
import { chromium, type Browser, type BrowserContext, type BrowserContextOptions } from 'playwright-core';

/** The Debian package's Chromium (`apt-get install chromium`); playwright-core never downloads a browser. */
export const CHROMIUM_PATH = '/usr/bin/chromium';

/** Flags for a quiet, reproducible headless run: no sandbox (root in CI), no network chatter of its own. */
export const CHROMIUM_ARGS = [
  '--headless',
  '--no-sandbox',
  '--disable-gpu',
  '--disable-background-networking',
  '--no-first-run',
  '--disable-component-update',
  '--disable-sync',
  '--disable-quic',
];

const inCi = (): boolean => process.env['CI'] === 'true';

/**
 * Whether the browser suites can run here. In CI a missing Chromium is an error, never a skip; on a
 * developer's machine without it the suite is skipped with a message that says how to get it.
 */
export function chromiumRunnable(): boolean {
  if (existsSync(CHROMIUM_PATH)) return true;
  if (inCi()) return true; // launchChromium() then fails loudly, naming the missing package.
  console.warn(`Chromium is not installed at ${CHROMIUM_PATH}: skipping the browser suite (apt-get install chromium to run it).`);
  return false;
}

export interface ChromiumSession {
  readonly browser: Browser;
  /** A new, empty browser context (own cookie jar and storage); closed with the session. */
  newContext(options?: BrowserContextOptions): Promise<BrowserContext>;
  /** Closes every context and the browser; safe to call twice. */
  close(): Promise<void>;
}

/**
 * Launches the system Chromium headless. Playwright's `launch` gives the browser a fresh temporary
 * user-data-dir of its own (removed when the browser closes), so no profile state survives a run; every
 * test then works in contexts from `newContext()`.
 */
export async function launchChromium(options: { env?: Record<string, string>; args?: readonly string[] } = {}): Promise<ChromiumSession> {
  if (!existsSync(CHROMIUM_PATH)) {
    throw new Error(
      `Chromium is required for the browser suites but ${CHROMIUM_PATH} is missing (CI=${process.env['CI'] ?? ''}): install the Debian package "chromium".`,
    );
  }
  // `env`: e.g. a HOME of the test's own, whose ~/.pki/nssdb is the NSS database Chromium uses on Linux.
  const browser = await chromium.launch({
    executablePath: CHROMIUM_PATH,
    headless: true,
    args: [...CHROMIUM_ARGS, ...(options.args ?? [])],
    timeout: 30_000,
    ...(options.env ? { env: { ...process.env, ...options.env } } : {}),
  });
  const contexts: BrowserContext[] = [];
  let closed = false;
  return {
    browser,
    async newContext(options: BrowserContextOptions = {}) {
      const context = await browser.newContext({ locale: 'en-GB', viewport: { width: 1024, height: 768 }, ...options });
      context.setDefaultTimeout(15_000);
      contexts.push(context);
      return context;
    },
    async close() {
      if (closed) return;
      closed = true;
      for (const context of contexts) await context.close().catch(() => undefined);
      await browser.close();
    },
  };
}
