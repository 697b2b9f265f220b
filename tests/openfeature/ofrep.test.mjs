// OFREP against a running example service, with OpenFeature's own clients
// from npm: the server SDK's OFREP provider (@openfeature/ofrep-provider)
// for single evaluations, and ofrep-core's OFREPApi (what the polling
// providers are built on) for bulk polling with ETags.
//
//   SHOP_SERVICE=<builddir>/examples/shop_service node --test ofrep.test.mjs
//
// meson registers this as the test `openfeature_ofrep` (suite openfeature).
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { OpenFeature } from '@openfeature/server-sdk';
import { OFREPProvider } from '@openfeature/ofrep-provider';
import { OFREPApi } from '@openfeature/ofrep-core';

const SHOP = process.env.SHOP_SERVICE;
const TOKEN = 'ofrep-test-token-0123456789';
let shop;
let shopExit;
let base;
let client;

async function admin(method, name, body) {
  const res = await fetch(`${base}/degrade/v1/switches/${name}`, {
    method,
    headers: { Authorization: `Bearer ${TOKEN}`, 'Content-Type': 'application/json' },
    body: body === undefined ? undefined : JSON.stringify(body),
  });
  assert.equal(res.status, 200, `${method} ${name}: ${await res.text()}`);
}

before(async () => {
  assert.ok(SHOP, 'set SHOP_SERVICE to the examples/shop_service binary');
  // The dependencies' URLs point at a closed port: OFREP needs none of them.
  shop = spawn(SHOP, ['--port', '0', '--recommendations', 'http://127.0.0.1:9',
    '--reviews', 'http://127.0.0.1:9', '--analytics', 'http://127.0.0.1:9'], {
    stdio: ['ignore', 'pipe', 'inherit'],
    env: { ...process.env, DEGRADE_ADMIN_ADDR: '127.0.0.1:0', DEGRADE_ADMIN_TOKEN: TOKEN },
  });
  shopExit = new Promise((resolve) => shop.on('exit', resolve));
  const port = await new Promise((resolve, reject) => {
    let out = '';
    const timer = setTimeout(() => reject(new Error('shop_service printed no admin port within 10 s')), 10_000);
    shop.stdout.on('data', (chunk) => {
      out += chunk;
      const m = out.match(/admin endpoint on http:\/\/127\.0\.0\.1:(\d+)/);
      if (m) { clearTimeout(timer); resolve(Number(m[1])); }
    });
    shop.on('exit', (code) => { clearTimeout(timer); reject(new Error(`shop_service exited with ${code}`)); });
  });
  base = `http://127.0.0.1:${port}`;
  await OpenFeature.setProviderAndWait(new OFREPProvider({ baseUrl: base }));
  client = OpenFeature.getClient();
});

after(async () => {
  await OpenFeature.close();
  if (shop && shop.exitCode === null) {
    shop.kill('SIGTERM');
    await shopExit;
  }
});

test('an on switch is true, variant on, reason STATIC', async () => {
  const d = await client.getBooleanDetails('analytics', false, { targetingKey: 'user-1' });
  assert.equal(d.value, true);
  assert.equal(d.variant, 'on');
  assert.equal(d.reason, 'STATIC');
  assert.equal(d.errorCode, undefined);
  assert.equal(d.flagMetadata.layer, 'default');
});

test('an off switch is false with its deciding layer, actor and reason', async () => {
  await admin('PUT', 'reviews', { state: 'off', actor: 'ana', reason: 'INC-12 reviews 5xx', ttl_s: 600 });
  const d = await client.getBooleanDetails('reviews', true, { targetingKey: 'user-1' });
  assert.equal(d.value, false);
  assert.equal(d.variant, 'off');
  assert.equal(d.reason, 'DISABLED');
  assert.equal(d.flagMetadata.layer, 'admin');
  assert.equal(d.flagMetadata.actor, 'ana');
  assert.equal(d.flagMetadata.reason, 'INC-12 reviews 5xx');
  assert.match(d.flagMetadata.expires_at, /^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d/);
  await admin('DELETE', 'reviews');
});

test('a dimmed switch splits by targetingKey, and is stable per key', async () => {
  await admin('PUT', 'recommendations', { allow: 0.5 });
  let on = 0;
  for (let i = 0; i < 40; i++) {
    const ctx = { targetingKey: `user-${i}` };
    const d = await client.getBooleanDetails('recommendations', false, ctx);
    assert.equal(d.reason, 'SPLIT');
    assert.equal(d.flagMetadata.allow, 0.5);
    assert.equal((await client.getBooleanValue('recommendations', !d.value, ctx)), d.value);
    if (d.value) on++;
  }
  assert.ok(on > 5 && on < 35, `${on} of 40 keys let through at allow 0.5`);
  await admin('DELETE', 'recommendations');
});

test('a dimmed switch without targetingKey gives the code default and TARGETING_KEY_MISSING', async () => {
  await admin('PUT', 'recommendations', { allow: 0.5 });
  const d = await client.getBooleanDetails('recommendations', true, {});
  assert.equal(d.value, true);
  assert.equal(d.reason, 'ERROR');
  assert.equal(d.errorCode, 'TARGETING_KEY_MISSING');
  assert.match(d.errorMessage, /dimmed to allow 0\.5/);
  await admin('DELETE', 'recommendations');
});

test('an unknown flag gives the code default and FLAG_NOT_FOUND', async () => {
  const d = await client.getBooleanDetails('no-such-switch', true, { targetingKey: 'user-1' });
  assert.equal(d.value, true);
  assert.equal(d.errorCode, 'FLAG_NOT_FOUND');
});

test('bulk polling: 304 while nothing changes, the flip after a change', async () => {
  const api = new OFREPApi(base);
  const context = { context: { targetingKey: 'user-7' } };
  const first = await api.postBulkEvaluateFlags(context);
  assert.equal(first.httpStatus, 200);
  const etag = first.httpResponse.headers.get('ETag');
  assert.ok(etag, 'the bulk answer has an ETag');
  const analytics = first.value.flags.find((f) => f.key === 'analytics');
  assert.equal(analytics.value, true);
  assert.deepEqual(first.value.flags.map((f) => f.key).sort(), ['analytics', 'recommendations', 'reviews']);

  const again = await api.postBulkEvaluateFlags(context, { headers: { 'If-None-Match': etag } });
  assert.equal(again.httpStatus, 304);
  assert.equal(again.value, undefined);

  await admin('PUT', 'analytics', { state: 'off', reason: 'vendor down' });
  // Poll as a provider does until the change shows (at once here: the
  // table follows the registry's change events).
  let flipped;
  for (let i = 0; i < 50 && !flipped; i++) {
    const r = await api.postBulkEvaluateFlags(context, { headers: { 'If-None-Match': etag } });
    if (r.httpStatus === 200) flipped = r;
    else await new Promise((resolve) => setTimeout(resolve, 20));
  }
  assert.ok(flipped, 'the change was seen by polling');
  assert.notEqual(flipped.httpResponse.headers.get('ETag'), etag);
  const now = flipped.value.flags.find((f) => f.key === 'analytics');
  assert.equal(now.value, false);
  assert.equal(now.reason, 'DISABLED');
  assert.equal(now.metadata.reason, 'vendor down');
  await admin('DELETE', 'analytics');
});

test('the configuration announces polling and boolean flags', async () => {
  const res = await fetch(`${base}/ofrep/v1/configuration`);
  assert.equal(res.status, 200);
  const body = await res.json();
  assert.equal(body.capabilities.cacheInvalidation.polling.enabled, true);
  assert.equal(body.capabilities.cacheInvalidation.polling.minPollingIntervalMs, 1000);
  assert.deepEqual(body.capabilities.flagEvaluation.supportedTypes, ['boolean']);
});

test('a wrong token is refused with 401, which the provider reports as an error', async () => {
  const api = new OFREPApi(base);
  await assert.rejects(
    api.postEvaluateFlags('analytics', { context: { targetingKey: 'u' } },
      { headers: { Authorization: 'Bearer not-the-token-not-the-token' } }),
    (e) => e.constructor.name === 'OFREPApiUnauthorizedError');
});
