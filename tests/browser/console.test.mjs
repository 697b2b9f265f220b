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
import { mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { chromium } from 'playwright-core';

const FIXTURE = process.env.CONSOLE_FIXTURE;
const CHROMIUM = process.env.CHROMIUM || '/usr/bin/chromium';
const ARTIFACTS = process.env.ARTIFACTS_DIR || path.resolve('test-artifacts');
const TOKEN = 'console-test-token';
const STEP = { timeout: 20_000 };
const LONG_NAME = 'storefront.personalised-homepage-hero-banner-carousel-recommendations-experiment-variant-b';
const LONG_UNDEFINED = 'legacy.an-old-switch-name-from-a-previous-release-that-still-sits-in-the-shared-config-file';

let fixture;
let fixtureExit;
let base;
let configFile;
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
const role = (name, r) => row(name).locator(`[data-role="${r}"]`);
const SHORT = { timeout: 3_000 };  // for what is on the page already

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
      const m = out.match(/file (\S+)\nport (\d+)/);
      if (m) { clearTimeout(timer); configFile = m[1]; resolve(Number(m[2])); }
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
    // Not UTC, so that UTC on the page and local time on hover differ.
    timezoneId: 'America/New_York',
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

test('degraded rows come first, the worst first, by name within each; names not defined here last', STEP, async () => {
  const want = [
    'payments.fraud-score',  // off (its breaker is open)
    'analytics.events',      // dimmed 50%
    'inventory.badges',      // dimmed 25%
    'checkout.recommendations', 'search.suggest', LONG_NAME,
    LONG_UNDEFINED, 'legacy.widget',
  ];
  await page.waitForFunction((w) => JSON.stringify([...document.querySelectorAll('#rows tr')].map((t) => t.dataset.switch)) ===
      JSON.stringify(w), want, { timeout: 5_000 }).catch(() => {});
  assert.deepEqual(await page.locator('#rows tr').evaluateAll((trs) => trs.map((t) => t.dataset.switch)), want);
});

test('the deciding layer, scope, reason and actor show in the row without hovering', STEP, async () => {
  assert.equal(await role('inventory.badges', 'layer').textContent(SHORT), 'file');
  assert.equal(await role('inventory.badges', 'scope').textContent(SHORT), 'group:tier3');
  assert.equal(await role('inventory.badges', 'reason').textContent(SHORT), 'INC-9 shed tier3');
  assert.equal(await role('inventory.badges', 'actor').textContent(SHORT), 'by sre-bob');
  for (const r of ['layer', 'scope', 'reason', 'actor']) {
    assert.equal(await role('inventory.badges', r).isVisible(), true, r);
  }
  assert.equal(await role('analytics.events', 'scope').textContent(SHORT), 'switch');
  assert.equal(await role('checkout.recommendations', 'scope').textContent(SHORT), 'code default');
  // The listing says it too.
  const s = await api('inventory.badges');
  assert.equal(s.scope, 'group:tier3');
  assert.equal(s.layer, 'file');
});

test('each row shows its calls, failures and fallbacks over the last minute beside the totals', STEP, async () => {
  const rate = role('checkout.recommendations', 'rate');
  await page.waitForFunction(() => /calls\/min/.test(
      document.querySelector('tr[data-switch="checkout.recommendations"] [data-role="rate"]')?.textContent ?? ''),
  null, { timeout: 10_000 });
  assert.match(await rate.textContent(), /^[1-9][\d,]*\scalls\/min$/);
  assert.match(await role('checkout.recommendations', 'rate-detail').textContent(), /^0\sfailed\/min · 0\sfallbacks\/min$/);
  assert.match(await role('checkout.recommendations', 'totals').textContent(), /^total [\d,]+\scalls$/);
  assert.match(await rate.getAttribute('title'), /per minute, over the last [\d.]+ s/);
  // A dependency failing now stands out.
  const inv = role('inventory.badges', 'rate-detail');
  assert.match(await inv.textContent(), /^[1-9][\d,]*\sfailed\/min/);
  assert.match(await inv.getAttribute('class'), /\bhot\b/);
  // Computed by the service, so a freshly opened page is right at once.
  const s = await api('checkout.recommendations');
  assert.ok(s.rate_1m.calls > 0, JSON.stringify(s.rate_1m));
  assert.equal(s.rate_1m.fallbacks, 0);
  assert.ok(s.rate_1m.window_s >= 1 && s.rate_1m.window_s <= 60, JSON.stringify(s.rate_1m));
});

test('Clear is disabled, with the reason in the row, when no admin override exists', STEP, async () => {
  const clear = row('analytics.events').locator('button[data-action="clear"]');
  assert.equal(await clear.isDisabled(), true);
  assert.match(await role('analytics.events', 'control-note').textContent(SHORT),
      /decided by file; change the file or override with Off\/On/);
  assert.match(await clear.getAttribute('title'), /decided by file; change the file or override with Off\/On/);
  assert.match(await role('inventory.badges', 'control-note').textContent(), /decided by file \(group:tier3\); change the file/);
  assert.equal(await row('checkout.recommendations').locator('button[data-action="clear"]').isDisabled(), true);
  assert.match(await role('checkout.recommendations', 'control-note').textContent(), /decided by default/);
  // Off and On still work there: they override the file.
  assert.equal(await row('analytics.events').locator('button[data-action="off"]').isDisabled(), false);
});

test('the header clock is 24-hour UTC, with the local time on hover', STEP, async () => {
  await page.waitForFunction(() => /^live · \d{2}:\d{2}:\d{2} UTC$/.test(document.getElementById('conn').textContent),
      null, { timeout: 5_000 }).catch(() => {});
  assert.match(await page.locator('#conn').textContent(), /^live · \d{2}:\d{2}:\d{2} UTC$/);
  const [hh] = (await page.locator('#conn').textContent()).match(/\d{2}/);
  const utcHour = new Date().getUTCHours();
  assert.ok([utcHour, (utcHour + 23) % 24].includes(Number(hh)), `clock hour ${hh}, UTC hour ${utcHour}`);
  assert.match(await page.locator('#conn').getAttribute('title'), /local time: /);
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
  // The expiry in UTC, the local time on hover.
  const at = r.locator('[data-role="expires-at"]');
  const iso = new Date(Date.parse(s.expires_at)).toISOString();
  assert.equal(await at.textContent(), `${iso.slice(0, 10)} ${iso.slice(11, 19)} UTC`);
  assert.match(await at.getAttribute('title'), /local time: /);
  // Now there is an admin override to clear.
  assert.equal(await r.locator('button[data-action="clear"]').isDisabled(), false);
  assert.equal(await r.locator('[data-role="control-note"]').textContent(), '');

  mkdirSync(ARTIFACTS, { recursive: true });
  await page.screenshot({ path: path.join(ARTIFACTS, 'console.png'), fullPage: true });
});

test('the last-minute rates show a dependency skipped now', STEP, async () => {
  // Turned off by the test above: its calls now go to the fallback.
  await page.waitForFunction(() => /^0\sfailed\/min · [1-9][\d,]*\sfallbacks\/min$/.test(
      document.querySelector('tr[data-switch="checkout.recommendations"] [data-role="rate-detail"]')?.textContent ?? ''),
  null, { timeout: 10_000 });
  assert.ok((await api('checkout.recommendations')).rate_1m.fallbacks > 0);
});

test('Clear hands the switch back to its lower layers', STEP, async () => {
  await row('checkout.recommendations').locator('button[data-action="clear"]').click();
  await waitForState('checkout.recommendations', 'on');
  const s = await api('checkout.recommendations');
  assert.equal(s.state, 'on');
  assert.equal(s.layer, 'default');
  assert.match(await page.locator('#banner.ok').textContent(), /Cleared the override of checkout\.recommendations; now ON \(decided by default\)/);
  // Nothing left to clear.
  await page.waitForFunction(() => document.querySelector(
      'tr[data-switch="checkout.recommendations"] button[data-action="clear"]')?.disabled === true, null, { timeout: 5_000 });
  assert.match(await role('checkout.recommendations', 'control-note').textContent(), /decided by default/);
});

test('no horizontal overflow at 1280 px, nor at 1400 px with a long name not defined here', STEP, async () => {
  try {
    await page.setViewportSize({ width: 1280, height: 900 });
    await page.waitForTimeout(300);  // a layout at the new width
    assert.ok(await page.evaluate(() => document.documentElement.scrollWidth) <= 1280,
        `scrollWidth ${await page.evaluate(() => document.documentElement.scrollWidth)} at 1280 px`);
    await page.setViewportSize({ width: 1400, height: 900 });
    await page.waitForTimeout(300);
    assert.ok(await page.evaluate(() => document.documentElement.scrollWidth) <= 1400);
    for (const name of [LONG_UNDEFINED, LONG_NAME, 'legacy.widget']) {
      const box = await row(name).locator('button[data-action="clear"]').boundingBox();
      assert.ok(box && box.x >= 0 && box.x + box.width <= 1400, `${name}: Clear at ${JSON.stringify(box)}`);
    }
    mkdirSync(ARTIFACTS, { recursive: true });
    await page.screenshot({ path: path.join(ARTIFACTS, 'console-1400.png'), fullPage: true });
  } finally {
    await page.setViewportSize({ width: 1600, height: 1000 });
  }
});

test('an error stops showing as current once its source has succeeded since', STEP, async () => {
  const good = readFileSync(configFile, 'utf8');
  const mine = (state) => page.waitForFunction(([p, st]) => [...document.querySelectorAll('#errors li')].some(
      (li) => li.textContent.includes(p) && li.dataset.state === st), [configFile, state], { timeout: 10_000 });
  writeFileSync(configFile, '{"switches": ');  // not JSON
  try {
    await mine('current');
    assert.match(await page.locator('#error-count').textContent(), /[1-9]\d* current/);
  } finally {
    writeFileSync(configFile, good);
  }
  await mine('recovered');
  const current = await page.locator('#errors li[data-state="current"]').evaluateAll(
      (lis, p) => lis.filter((li) => li.textContent.includes(p)).length, configFile);
  assert.equal(current, 0);
  assert.match(await page.locator('#errors li[data-state="recovered"]').first().getAttribute('class'), /\brecovered\b/);
  assert.match(await page.locator('#sources').textContent(), /file.*healthy/s);
});

test('a banner says which layer sheds, by whom and why, while one does', STEP, async () => {
  const auth = { Authorization: `Bearer ${TOKEN}`, 'Content-Type': 'application/json' };
  const put = await fetch(`${base}/degrade/v1/shed`, {
    method: 'PUT', headers: auth, body: JSON.stringify({ level: 7, reason: 'INC-7 db hot', actor: 'oncall' }),
  });
  assert.equal(put.status, 200);
  try {
    await page.waitForFunction(() => !document.getElementById('shed-banner').hidden, null, { timeout: 10_000 });
    assert.equal(await page.locator('#shed-banner div').first().textContent(),
      'shed at tier \u2265 7 by oncall: INC-7 db hot (admin layer)');
  } finally {
    const del = await fetch(`${base}/degrade/v1/shed`, { method: 'DELETE', headers: auth });
    assert.equal(del.status, 200);
  }
  await page.waitForFunction(() => document.getElementById('shed-banner').hidden, null, { timeout: 10_000 });
});

test('the page raised no script error and no CSP violation', () => {
  assert.deepEqual(pageErrors, []);
  assert.deepEqual(cspViolations, []);
});
