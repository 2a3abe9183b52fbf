// Shared by the browser tests: the server under test (from the environment that
// `.ci/browser-tests.sh` sets), Debian's chromium driven by playwright-core, API calls
// with a bearer key, sign-in, and screenshots saved as artifacts.
import { chromium } from 'playwright-core';
import { mkdirSync } from 'node:fs';
import { join } from 'node:path';

function need(name) {
  const v = process.env[name];
  if (!v) throw new Error(`${name} is not set: run the tests through .ci/browser-tests.sh`);
  return v;
}

export const BASE = need('REX_E2E_URL');
export const KEY_A = need('REX_E2E_KEY_A');
export const KEY_B = need('REX_E2E_KEY_B');
export const ARTIFACTS = process.env.REX_E2E_ARTIFACTS || join(process.cwd(), 'artifacts');
mkdirSync(ARTIFACTS, { recursive: true });

// playwright gives every launch a fresh, empty profile directory of its own (it refuses
// a --user-data-dir argument), so no state leaks between runs.
export async function launch() {
  const browser = await chromium.launch({
    executablePath: process.env.CHROMIUM || '/usr/bin/chromium',
    headless: true,
    args: ['--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run',
      '--disable-background-networking', '--disable-component-update', '--disable-sync'],
  });
  return browser;
}

// A fresh context (its own cookies) signed in with `key` through the sign-in form.
export async function signIn(browser, key, viewport = { width: 1280, height: 900 }) {
  const context = await browser.newContext({ viewport, baseURL: BASE });
  const page = await context.newPage();
  page.on('pageerror', (e) => { page.errors = [...(page.errors || []), e]; });
  await page.goto('/ui/sign-in');
  await page.fill('#api_key', key);
  await Promise.all([page.waitForURL('**/ui/'), page.click('button[type=submit]')]);
  await page.waitForSelector('#tenant:not(:empty)');
  return { context, page };
}

export async function shot(page, name) {
  await page.screenshot({ path: join(ARTIFACTS, `${name}.png`), fullPage: true });
}

// A call to the API with a bearer key (outside the browser).
export async function api(key, method, path, body) {
  const res = await fetch(`${BASE}${path}`, {
    method,
    headers: { authorization: `Bearer ${key}`, 'content-type': 'application/json' },
    body: body === undefined ? undefined : JSON.stringify(body),
  });
  const text = await res.text();
  return { status: res.status, body: text ? JSON.parse(text) : null };
}

export async function until(what, check, timeoutMs = 20000) {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const v = await check();
    if (v) return v;
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 100));
  }
}
