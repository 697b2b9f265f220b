// The incident console (GET /) in a real browser: Debian's chromium, headless,
// driven by playwright-core, against console_fixture (a real Runtime with the
// admin endpoint on 127.0.0.1 and switches whose Call loops are running).
//
//   CONSOLE_FIXTURE=<builddir>/tests/console_fixture node --test console.test.mjs
//
// Environment: CONSOLE_FIXTURE (required), CHROMIUM (default
// /usr/bin/chromium), ARTIFACTS_DIR (default ./test-artifacts): the
// screenshot goes to ARTIFACTS_DIR/console.png. meson registers this as the
// test `console_browser` (suite browser).
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { mkdirSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { chromium } from 'playwright-core';

const FIXTURE = process.env.CONSOLE_FIXTURE;
const CHROMIUM = process.env.CHROMIUM || '/usr/bin/chromium';
const ARTIFACTS = process.env.ARTIFACTS_DIR || path.resolve('test-artifacts');
const TOKEN = 'console-test-token';
const STEP = { timeout: 20_000 };

let fixture;
let fixtureExit;
let base;
let profile;
let context;
let page;
const pageErrors = [];
const cspViolations = [];

async function api(name) {
  const url = name ? `${base}/degrade/v1/switches/${encodeURIComponent(name)}` : `${base}/degrade/v1/switches`;
  const res = await fetch(url);
  assert.equal(res.status, 200, `GET ${url}`);
  return res.json();
}

const row = (name) => page.locator(`tr[data-switch="${name}"]`);

async function waitForState(name, state) {
  await page.waitForFunction(
    ([n, s]) => document.querySelector(`tr[data-switch="${n}"] [data-role="state"]`)?.dataset.state === s,
    [name, state], { timeout: 10_000 });
}

before(async () => {
  assert.ok(FIXTURE, 'set CONSOLE_FIXTURE to the console_fixture binary');
  fixture = spawn(FIXTURE, [TOKEN], { stdio: ['pipe', 'pipe', 'inherit'] });
  fixtureExit = new Promise((resolve) => fixture.on('exit', resolve));
  const port = await new Promise((resolve, reject) => {
    let out = '';
    const timer = setTimeout(() => reject(new Error('console_fixture printed no port within 10 s')), 10_000);
    fixture.stdout.on('data', (chunk) => {
      out += chunk;
      const m = out.match(/port (\d+)/);
      if (m) { clearTimeout(timer); resolve(Number(m[1])); }
    });
    fixture.on('exit', (code) => { clearTimeout(timer); reject(new Error(`console_fixture exited with ${code}`)); });
  });
  base = `http://127.0.0.1:${port}`;
  profile = mkdtempSync(path.join(tmpdir(), 'degrade-chromium-'));  // a fresh profile
  context = await chromium.launchPersistentContext(profile, {
    executablePath: CHROMIUM,
    headless: true,
    args: ['--no-sandbox', '--disable-gpu', '--disable-background-networking', '--disable-component-update',
      '--disable-sync', '--no-first-run', '--disable-quic'],
    viewport: { width: 1600, height: 1000 },
  });
  page = context.pages()[0] ?? await context.newPage();
  page.on('pageerror', (e) => pageErrors.push(String(e)));
  page.on('console', (m) => {
    if (m.type() === 'error' && /Content Security Policy/i.test(m.text())) cspViolations.push(m.text());
  });
});

after(async () => {
  await context?.close();
  if (fixture) {
    fixture.stdin.end();  // the fixture exits when stdin closes
    const timer = setTimeout(() => fixture.kill('SIGKILL'), 5_000);
    await fixtureExit;
    clearTimeout(timer);
  }
  if (profile) rmSync(profile, { recursive: true, force: true });
});

test('the console is served with its security headers', STEP, async () => {
  const res = await page.goto(`${base}/`);
  assert.equal(res.status(), 200);
  const h = res.headers();
  assert.match(h['content-security-policy'], /^default-src 'none'; script-src 'unsafe-inline'; style-src 'unsafe-inline'; connect-src 'self'/);
  assert.equal(h['x-content-type-options'], 'nosniff');
  assert.equal(h['x-frame-options'], 'DENY');
  assert.equal(h['cache-control'], 'no-store');
  assert.equal(h['access-control-allow-origin'], undefined);
});

test('every switch is listed with its state, and the source on top', STEP, async () => {
  await row('checkout.recommendations').waitFor();
  await row('legacy.widget').waitFor();
  assert.equal(await row('checkout.recommendations').locator('[data-role="state"]').textContent(), 'ON');
  assert.equal(await row('analytics.events').locator('[data-role="state"]').textContent(), 'DIMMED 50%');
  assert.equal(await row('analytics.events').locator('[data-role="reason"]').textContent(), 'cost cut');
  assert.match(await row('legacy.widget').textContent(), /NOT DEFINED HERE/);
  assert.equal(await row('legacy.widget').locator('button[data-action="off"]').isDisabled(), true);
  assert.match(await page.locator('#sources').textContent(), /file.*healthy/s);
  // The fixture's failing dependency trips its breaker.
  await row('payments.fraud-score').locator('.badge.breaker', { hasText: 'BREAKER OPEN' }).waitFor({ timeout: 10_000 });
  assert.equal(await row('payments.fraud-score').locator('[data-role="state"]').textContent(), 'OFF');
  await page.waitForFunction(() => /calls/.test(document.querySelector('tr[data-switch="search.suggest"]')?.textContent ?? ''));
});

test('text from the server is shown as text, never run as markup', STEP, async () => {
  const desc = await row('search.suggest').locator('.desc').textContent();
  assert.match(desc, /<img src=x onerror=/);
  assert.equal(await page.locator('img').count(), 0);
  assert.equal(await page.title(), 'degrade console');
});

test('the filter box narrows the table', STEP, async () => {
  await page.fill('#filter', 'team-search');
  assert.equal(await row('search.suggest').isVisible(), true);
  assert.equal(await row('checkout.recommendations').isVisible(), false);
  await page.fill('#filter', '');
  assert.equal(await row('checkout.recommendations').isVisible(), true);
});

test('a wrong token shows the server error and changes nothing', STEP, async () => {
  await row('search.suggest').locator('button[data-action="off"]').click();
  await page.locator('#token-dialog').waitFor();
  await page.fill('#token-input', 'not-the-token');
  await page.click('#token-save');
  await page.locator('#banner.error').waitFor();
  const text = await page.locator('#banner').textContent();
  assert.match(text, /HTTP 401/);
  assert.match(text, /wrong token/);
  assert.equal((await api('search.suggest')).state, 'on');
});

test('clicking Off with a reason turns the switch off in the service', STEP, async () => {
  const r = row('checkout.recommendations');
  await r.locator('input[type="text"]').fill('INC-7 vendor 5xx');
  await r.locator('select').selectOption('3600');
  await r.locator('button[data-action="off"]').click();
  // The wrong token was forgotten after the 401: the console asks again.
  await page.locator('#token-dialog').waitFor();
  await page.fill('#token-input', TOKEN);
  await page.fill('#actor-input', 'oncall-ann');
  await page.click('#token-save');

  await waitForState('checkout.recommendations', 'off');
  const s = await api('checkout.recommendations');
  assert.equal(s.state, 'off');
  assert.equal(s.reason, 'INC-7 vendor 5xx');
  assert.equal(s.layer, 'admin');
  assert.equal(s.actor, 'oncall-ann');
  assert.ok(s.expires_at, 'the 1 hour TTL set an expiry');
  const left = Date.parse(s.expires_at) - Date.now();
  assert.ok(left > 3500_000 && left <= 3600_000, `expires in ${left} ms`);
  assert.equal(await r.locator('[data-role="reason"]').textContent(), 'INC-7 vendor 5xx');
  assert.match(await page.locator('#banner.ok').textContent(), /checkout\.recommendations is now OFF/);

  // Seen from the service: its Call loop now skips the dependency.
  const before = (await api('checkout.recommendations')).counters.skipped;
  await page.waitForTimeout(300);
  assert.ok((await api('checkout.recommendations')).counters.skipped > before, 'calls are skipped');

  // The next automatic refresh keeps showing it off.
  await page.waitForTimeout(2_200);
  assert.equal(await r.locator('[data-role="state"]').textContent(), 'OFF');
  assert.match(await r.textContent(), /in 59:\d\d/);

  mkdirSync(ARTIFACTS, { recursive: true });
  await page.screenshot({ path: path.join(ARTIFACTS, 'console.png'), fullPage: true });
});

test('Clear hands the switch back to its lower layers', STEP, async () => {
  await row('checkout.recommendations').locator('button[data-action="clear"]').click();
  await waitForState('checkout.recommendations', 'on');
  const s = await api('checkout.recommendations');
  assert.equal(s.state, 'on');
  assert.equal(s.layer, 'default');
});

test('the page raised no script error and no CSP violation', () => {
  assert.deepEqual(pageErrors, []);
  assert.deepEqual(cspViolations, []);
});
