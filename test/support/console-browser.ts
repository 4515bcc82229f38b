import { execFile } from 'node:child_process';
import { existsSync, mkdirSync, mkdtempSync, readdirSync, rmSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import { chromium, type BrowserContext, type Page } from 'playwright-core';

const ROOT = fileURLToPath(new URL('../..', import.meta.url));
const CONSOLE = path.join(ROOT, 'console');

/** Debian's Chromium (`apt-get install -y chromium`; .ci/run installs it), or TOLLGATE_TEST_CHROMIUM. */
export const CHROMIUM_PATH = process.env.TOLLGATE_TEST_CHROMIUM ?? '/usr/bin/chromium';
export const chromiumInstalled = existsSync(CHROMIUM_PATH);

/** Screenshots of each page land here (git-ignored), one folder per suite. */
export const ARTIFACTS = path.join(ROOT, 'test-artifacts');

/**
 * Flags for a headless Chromium that touches nothing but the page under test: no sandbox (CI runs as root),
 * no GPU, no QUIC, no first-run, background, component-update or sync traffic.
 */
const CHROMIUM_ARGS = [
  '--headless',
  '--no-sandbox',
  '--disable-gpu',
  '--disable-quic',
  '--no-first-run',
  '--disable-background-networking',
  '--disable-component-update',
  '--disable-sync',
];

export interface ConsoleBrowser {
  page: Page;
  context: BrowserContext;
  /** Errors the page threw and console errors it logged (a CSP violation shows up here). */
  problems: string[];
  screenshot(name: string): Promise<void>;
  close(): Promise<void>;
}

/** A fresh Chromium profile (a new user-data-dir) with one page; confirm() dialogs are accepted. */
export async function launchConsoleBrowser(suite: string): Promise<ConsoleBrowser> {
  const profile = mkdtempSync(path.join(tmpdir(), 'tollgate-chromium-'));
  const context = await chromium.launchPersistentContext(profile, {
    executablePath: CHROMIUM_PATH,
    headless: true,
    args: CHROMIUM_ARGS,
    viewport: { width: 1400, height: 900 },
    timezoneId: 'UTC',
  });
  const page = context.pages()[0] ?? (await context.newPage());
  page.setDefaultTimeout(30_000);
  const problems: string[] = [];
  page.on('pageerror', (error) => problems.push(`page error: ${error.message}`));
  page.on('console', (message) => {
    // A 4xx the console shows as a message is expected in some steps; anything else logged as an error is not.
    if (message.type() === 'error' && !message.text().startsWith('Failed to load resource')) problems.push(message.text());
  });
  page.on('dialog', (dialog) => void dialog.accept());
  const folder = path.join(ARTIFACTS, suite);
  mkdirSync(folder, { recursive: true });
  return {
    page,
    context,
    problems,
    async screenshot(name) {
      await page.screenshot({ path: path.join(folder, `${name}.png`), fullPage: true });
    },
    async close() {
      await context.close();
      rmSync(profile, { recursive: true, force: true });
    },
  };
}

/**
 * Builds the console when its build is missing or older than its sources (`npm ci` builds it; a developer
 * who edited console/src has not always rebuilt), so the browser tests see the console beside them.
 */
export async function ensureConsoleBuilt(): Promise<void> {
  const built = path.join(CONSOLE, 'dist', 'index.html');
  const newestSource = Math.max(
    ...[
      path.join(CONSOLE, 'index.html'),
      path.join(ROOT, 'src', 'money', 'decimal.ts'),
      ...filesUnder(path.join(CONSOLE, 'src')),
    ].map((file) => statSync(file).mtimeMs),
  );
  if (existsSync(built) && statSync(built).mtimeMs >= newestSource) return;
  // Asynchronously: a test worker blocked for the build's seconds misses its own runner's messages.
  await promisify(execFile)('npm', ['run', 'build', '--workspace', 'console'], { cwd: ROOT });
}

function filesUnder(folder: string): string[] {
  return readdirSync(folder, { withFileTypes: true }).flatMap((entry) =>
    entry.isDirectory() ? filesUnder(path.join(folder, entry.name)) : [path.join(folder, entry.name)],
  );
}
