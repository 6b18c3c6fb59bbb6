// What the browser tests and the browser benchmark need: Debian's chromium driven by playwright-core, and
// the page built and served by scripts/web.mjs. Each missing piece is a reason to skip, never a failure.
import { existsSync, mkdirSync } from 'node:fs';
import { join } from 'node:path';
import { pathToFileURL } from 'node:url';
import type { Browser, Page } from 'playwright-core';

export const root = join(import.meta.dirname, '..', '..', '..');

/** Debian's chromium (what scripts/setup.mjs --test installs), or $CHROMIUM_PATH. */
export function chromiumPath(): string | undefined {
  const env = process.env.CHROMIUM_PATH;
  if (env && existsSync(env)) return env;
  return ['/usr/bin/chromium', '/usr/bin/chromium-browser'].find((p) => existsSync(p));
}

/** Why the browser tests cannot run here, or undefined when they can. */
export async function browserMissing(): Promise<string | undefined> {
  if (chromiumPath() === undefined) return 'no chromium (node scripts/setup.mjs --test installs Debian\'s chromium; or set CHROMIUM_PATH)';
  try {
    await import('playwright-core');
  } catch (e) {
    return `playwright-core is not installed (${(e as NodeJS.ErrnoException).code ?? (e as Error).message}): npm ci`;
  }
  if (!existsSync(join(root, 'guests', 'build', 'demo.elf'))) return 'the guests are not built (node scripts/build-guests.mjs)';
  return undefined;
}

interface WebModule {
  buildWeb(o?: { quiet?: boolean }): Promise<void>;
  serveWeb(o?: { port?: number; host?: string; quiet?: boolean; isolate?: boolean }): Promise<{ server: import('node:http').Server; url: string }>;
}

export async function webModule(): Promise<WebModule> {
  return (await import(pathToFileURL(join(root, 'scripts', 'web.mjs')).href)) as WebModule;
}

export async function launchChromium(): Promise<Browser> {
  const { chromium } = await import('playwright-core');
  // --no-sandbox: CI and this machine run as root, where Chromium's sandbox refuses to start.
  return chromium.launch({ executablePath: chromiumPath()!, headless: true, args: ['--no-sandbox', '--disable-dev-shm-usage'] });
}

/** Collects what the page logs as errors (console.error and uncaught exceptions): a test fails on any. */
export function watchErrors(page: Page): string[] {
  const errors: string[] = [];
  page.on('console', (m) => {
    if (m.type() === 'error') errors.push(`console.error: ${m.text()}`);
  });
  page.on('pageerror', (e) => errors.push(`uncaught: ${e.message}`));
  return errors;
}

/** Where screenshots go: $TSVMM_ARTIFACTS or artifacts/ in the checkout. */
export function artifactDir(): string {
  const d = process.env.TSVMM_ARTIFACTS ?? join(root, 'artifacts');
  mkdirSync(d, { recursive: true });
  return d;
}
