// browser.js - Debian's chromium driven by playwright-core (never a downloaded browser), with
// the flags that keep it from reaching out: a fresh profile per launch (Playwright makes one).
import { chromium } from 'playwright-core';

export const CHROMIUM = process.env.MC_CHROMIUM || '/usr/bin/chromium';
export const FLAGS = ['--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run',
  '--disable-background-networking', '--disable-component-update', '--disable-sync'];

export async function launch() {
  return chromium.launch({ executablePath: CHROMIUM, headless: true, args: FLAGS });
}

/** A page that records its console errors and uncaught exceptions (failures carry them). */
export async function openPage(browser, url, { width = 1100, height = 900 } = {}) {
  const context = await browser.newContext({ viewport: { width, height } });
  const page = await context.newPage();
  page.problems = [];
  page.on('pageerror', (e) => page.problems.push(`pageerror: ${e.message}`));
  page.on('console', (m) => { if (m.type() === 'error') page.problems.push(`console: ${m.text()}`); });
  await page.goto(url);
  return page;
}

/** Waits (generously) until fn() is truthy in the page; the failure says what and shows the page's problems. */
export async function until(page, fn, arg, what, timeout = 20000) {
  try {
    return await page.waitForFunction(fn, arg, { timeout, polling: 50 });
  } catch (e) {
    throw new Error(`${what}: not within ${timeout} ms\n${page.problems.join('\n')}\n${e.message}`);
  }
}
