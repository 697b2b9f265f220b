// The incident console served at GET / by the admin endpoint: one
// self-contained page (inline CSS and JS, no external assets). Not installed.
// Its style sheet is console_style.h; ConsolePage() puts the two together.
//
// It reads GET degrade/v1/switches every 2 s (and GET degrade/v1/fleet every
// 5 s for its fleet panel, hidden when that answers 404) and writes with
// PUT/DELETE on degrade/v1/switches/{name} (relative URLs, so it also works behind a path
// prefix). Degraded rows come first (off, dimmed, faulted, breaker open;
// then the rest; names this process does not define last), by name within
// each; times are UTC (local time on hover); rates come from the listing's
// rate_1m (rate_window.h); an error whose source has succeeded since is
// shown dimmed as recovered. The table has a fixed layout, so no text
// widens the page. The token is asked for once per tab, kept in sessionStorage and
// sent as an Authorization header, never as a cookie. Every server-provided
// string reaches the page through textContent or an attribute, never as
// HTML; the server's CSP forbids any script but this inline one and any
// connection but to its own origin.
#ifndef DEGRADE_LIB_CONSOLE_HTML_H_
#define DEGRADE_LIB_CONSOLE_HTML_H_

#include <string>
#include <string_view>

#include "admin/console_style.h"

namespace degrade::internal {

inline constexpr std::string_view kConsoleHead = R"html(<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>degrade console</title>
<style>
)html";

inline constexpr std::string_view kConsoleBody = R"html(</style>
</head>
<body>
<header>
  <h1>degrade<small>incident console</small></h1>
  <span id="conn" class="pill stale">connecting…</span>
  <span id="host" class="muted small"></span>
  <span class="spacer"></span>
  <span id="who" class="muted small"></span>
  <button type="button" id="token-btn">Set token</button>
</header>
<div id="banner" role="alert" hidden><span id="banner-text"></span><button type="button" id="banner-close">Dismiss</button></div>
<div id="shed-banner" role="status" hidden></div>
<div id="governor" role="status" hidden></div>
<main>
  <section id="health">
    <div class="panel" id="sources-panel"><h2>Sources</h2><div id="sources"></div></div>
    <div class="panel" id="errors-panel"><h2>Recent errors <span id="error-count" class="muted"></span></h2><ol id="errors"></ol></div>
    <!-- fleet panel: shown when this process watches etcd (GET degrade/v1/fleet) -->
    <div class="panel" id="fleet-panel" hidden><h2>Fleet <span id="fleet-count" class="muted"></span></h2><div id="fleet"></div></div>
    <!-- end fleet panel -->
  </section>
  <div class="toolbar">
    <input id="filter" type="search" autocomplete="off" spellcheck="false"
           placeholder="Filter: name, owner, group, state, reason  (press /)" aria-label="Filter switches">
    <span id="summary"></span>
  </div>
  <table>
    <colgroup><col class="c1"><col class="c2"><col class="c3"><col class="c4"><col class="c5"><col class="c6"><col class="c7"></colgroup>
    <thead><tr><th>Switch</th><th>State</th><th>Decided by</th><th>Reason</th><th>Expires (UTC)</th><th>Last minute · total</th><th>Control</th></tr></thead>
    <tbody id="rows"></tbody>
  </table>
  <p id="empty" class="muted" hidden>No switch matches.</p>
</main>
<dialog id="token-dialog">
  <form id="token-form">
    <h2>Admin token</h2>
    <div class="small muted">Writes need this process's DEGRADE_ADMIN_TOKEN. It stays in this tab only
      (sessionStorage) and is sent as an Authorization header.</div>
    <label>Token <input id="token-input" type="password" autocomplete="off" required></label>
    <label>Your name, recorded as the actor <input id="actor-input" type="text" autocomplete="off" maxlength="100" placeholder="console"></label>
    <div class="buttons"><button type="button" id="token-cancel">Cancel</button><button type="submit" id="token-save" class="b-on">Save</button></div>
  </form>
</dialog>
<script>
'use strict';
(() => {
const API = 'degrade/v1/switches';
const REFRESH_MS = 2000;
const TTLS = [['', 'no expiry'], ['900', '15 min'], ['3600', '1 hour'], ['14400', '4 hours']];
const $ = (id) => document.getElementById(id);
const rows = new Map();
let lastOk = 0, lastError = '', inflight = false, afterToken = null, bannerTimer = 0;

const session = {
  get token() { return sessionStorage.getItem('degrade.token') || ''; },
  set token(v) { if (v) sessionStorage.setItem('degrade.token', v); else sessionStorage.removeItem('degrade.token'); },
  get actor() { return sessionStorage.getItem('degrade.actor') || ''; },
  set actor(v) { if (v) sessionStorage.setItem('degrade.actor', v); else sessionStorage.removeItem('degrade.actor'); },
};

// Server data only ever goes through textContent or attributes.
function el(tag, cls, text) {
  const e = document.createElement(tag);
  if (cls) e.className = cls;
  if (text !== undefined) e.textContent = text;
  return e;
}
function setText(e, t) { t = String(t); if (e.textContent !== t) e.textContent = t; }
function setClass(e, c) { if (e.className !== c) e.className = c; }
function fmt(n) { return Number(n).toLocaleString('en-US'); }
function pct(x) { return Math.round(x * 1000) / 10 + '%'; }
function ago(iso) {
  if (!iso) return 'never';
  const s = Math.max(0, Math.round((Date.now() - Date.parse(iso)) / 1000));
  if (s < 60) return s + ' s ago';
  if (s < 3600) return Math.floor(s / 60) + ' min ago';
  return Math.floor(s / 3600) + ' h ' + Math.floor((s % 3600) / 60) + ' min ago';
}
// One time zone on the page: UTC. The local time is on hover (title).
function isoOf(ms) { return new Date(ms).toISOString(); }
function utcClock(ms) { return isoOf(ms).slice(11, 19) + ' UTC'; }
function utcDateTime(ms) { const i = isoOf(ms); return i.slice(0, 10) + ' ' + i.slice(11, 19) + ' UTC'; }
function localTitle(ms) { return 'local time: ' + new Date(ms).toLocaleString(undefined, {timeZoneName: 'short'}); }
function countdown(ms) {
  if (ms <= 0) return 'expiring…';
  const s = Math.ceil(ms / 1000), h = Math.floor(s / 3600), m = Math.floor((s % 3600) / 60), r = s % 60;
  const two = (x) => String(x).padStart(2, '0');
  return 'in ' + (h ? h + ':' + two(m) : m) + ':' + two(r);
}

function banner(kind, text) {
  clearTimeout(bannerTimer);
  $('banner').className = kind;
  setText($('banner-text'), text);
  $('banner').hidden = false;
  if (kind === 'ok') bannerTimer = setTimeout(() => { $('banner').hidden = true; }, 6000);
}

async function errorText(r) {
  try { const j = await r.json(); if (j && typeof j.error === 'string') return j.error; } catch (e) { /* not JSON */ }
  return r.statusText || 'no details';
}

// Degraded rows first, the worst first: off, dimmed, faulted, breaker open
// or probing; then the rest; names this process does not define last.
function rank(s) {
  if (!s.defined) return 5;
  if (s.state === 'off') return 0;
  if (s.allow < 1) return 1;
  if (s.fault) return 2;
  if (s.breaker && s.breaker.state !== 'closed') return 3;
  return 4;
}
function byRankThenName(a, b) {
  return rank(a) - rank(b) || (a.name < b.name ? -1 : a.name > b.name ? 1 : 0);
}

// Where the state comes from, as the row says it: the layer, and which of
// its entries decided (the switch's own, group:<g>, all).
function scopeText(s) {
  if (s.layer === 'default') return 'code default';
  if (s.layer === 'breaker') return 'circuit breaker';
  return s.scope || 'switch';
}

// Why Clear cannot change the outcome, or '' when it can: Clear removes
// only this switch's own admin entry.
function clearBlocked(s) {
  if ((s.layers || []).some((l) => l.layer === 'admin' && l.scope === 'switch')) return '';
  if (s.scope === 'shed') {
    return 'Nothing to clear: the ' + s.layer + ' layer sheds its tier (' + s.reason +
        '); end the shed or override with On';
  }
  const where = s.layer + (s.scope && s.scope !== 'switch' ? ' (' + s.scope + ')' : '');
  const how = {
    default: 'nothing overrides it; override with Off/On',
    file: 'change the file or override with Off/On',
    env: 'change the environment variable or override with Off/On',
    remote: 'change the remote config or override with Off/On',
    breaker: 'the circuit breaker holds it off; override with On to bypass it',
    admin: 'Clear removes only this switch\'s own override; change the ' + (s.scope || 'admin') + ' entry or override with Off/On',
  }[s.layer] || 'override with Off/On';
  return 'Nothing to clear: decided by ' + where + '; ' + how;
}

function stateOf(s) {
  if (s.state === 'off') return {cls: 'off', text: 'OFF'};
  if (s.allow < 1) return {cls: 'dim', text: 'DIMMED ' + pct(s.allow)};
  return {cls: 'on', text: 'ON'};
}

function makeRow(name) {
  const r = {name};
  r.tr = el('tr');
  r.tr.dataset.switch = name;
  const c1 = el('td', 'c-switch'); r.nameEl = el('div', 'sw-name', name); r.desc = el('div', 'desc'); r.meta = el('div', 'small muted');
  c1.append(r.nameEl, r.desc, r.meta);
  const c2 = el('td'); r.badge = el('span', 'badge'); r.fault = el('span', 'badge fault'); r.undef = el('span', 'badge undefined', 'NOT DEFINED HERE');
  r.breaker = el('span', 'badge breaker');
  r.badge.dataset.role = 'state';
  c2.append(r.badge, r.fault, r.breaker, r.undef);
  const c3 = el('td'); r.layer = el('div', 'layer'); r.scope = el('div', 'scope'); r.layerMeta = el('div', 'small muted');
  r.layer.dataset.role = 'layer'; r.scope.dataset.role = 'scope';
  c3.append(r.layer, r.scope, r.layerMeta);
  const c4 = el('td'); r.reason = el('div', 'reason'); r.reason.dataset.role = 'reason'; r.actor = el('div', 'small muted');
  r.actor.dataset.role = 'actor'; c4.append(r.reason, r.actor);
  const c5 = el('td', 'num'); r.expires = el('div', 'nowrap'); r.expiresAt = el('div', 'small muted'); c5.append(r.expires, r.expiresAt);
  r.expiresAt.dataset.role = 'expires-at';
  const c6 = el('td', 'num'); r.rate = el('div', 'rate'); r.rateMeta = el('div', 'small'); r.rateWin = el('div', 'small muted');
  r.calls = el('div', 'small muted'); r.callMeta = el('div', 'small muted');
  r.rate.dataset.role = 'rate'; r.rateMeta.dataset.role = 'rate-detail'; r.rateWin.dataset.role = 'rate-window';
  r.calls.dataset.role = 'totals';
  c6.append(r.rate, r.rateMeta, r.rateWin, r.calls, r.callMeta);
  const c7 = el('td', 'ctl');
  r.reasonIn = el('input'); r.reasonIn.type = 'text'; r.reasonIn.placeholder = 'reason, e.g. INC-123 vendor 5xx';
  r.reasonIn.maxLength = 1000; r.reasonIn.setAttribute('aria-label', 'reason for ' + name);
  r.ttl = el('select'); r.ttl.setAttribute('aria-label', 'expiry for ' + name);
  for (const [v, t] of TTLS) { const o = el('option', '', t); o.value = v; r.ttl.append(o); }
  const row2 = el('div', 'row2');
  r.off = el('button', 'b-off', 'Off'); r.on = el('button', 'b-on', 'On'); r.clear = el('button', '', 'Clear');
  for (const b of [r.off, r.on, r.clear]) b.type = 'button';
  r.off.dataset.action = 'off'; r.on.dataset.action = 'on'; r.clear.dataset.action = 'clear';
  r.clear.title = 'Remove the admin override: lower layers decide again';
  r.off.onclick = () => write(r, 'off');
  r.on.onclick = () => write(r, 'on');
  r.clear.onclick = () => write(r, 'clear');
  row2.append(r.ttl, r.off, r.on, r.clear);
  r.note = el('div', 'note small muted'); r.note.dataset.role = 'control-note';
  c7.append(r.reasonIn, row2, r.note);
  r.tr.append(c1, c2, c3, c4, c5, c6, c7);
  return r;
}

function update(r, s) {
  r.data = s;
  const st = stateOf(s);
  setClass(r.tr, 'st-' + st.cls + (s.defined ? '' : ' undefined'));
  setClass(r.badge, 'badge ' + st.cls);
  setText(r.badge, st.text);
  r.badge.dataset.state = s.state;
  r.fault.hidden = !s.fault;
  if (s.fault) {
    setText(r.fault, 'FAULT ' + s.fault.kind + ' ' + pct(s.fault.rate) + (s.fault.delay_ms ? ' +' + s.fault.delay_ms + ' ms' : ''));
  }
  r.undef.hidden = s.defined;
  const b = s.breaker;
  r.breaker.hidden = !b || b.state === 'closed';
  if (b && b.state !== 'closed') {
    setText(r.breaker, b.state === 'open' ? 'BREAKER OPEN' : 'BREAKER PROBING');
    r.breaker.title = b.last_reason || '';
  }
  setText(r.desc, s.description || '');
  const meta = [];
  if (s.owner) meta.push('owner: ' + s.owner);
  if (s.groups && s.groups.length) meta.push('groups: ' + s.groups.join(', '));
  if (s.env_var) meta.push(s.env_var);
  setText(r.meta, meta.join(' · '));
  setText(r.layer, s.layer);
  setClass(r.layer, 'layer ' + s.layer);
  setText(r.scope, scopeText(s));
  r.scope.dataset.scope = s.scope || '';
  const lm = [];
  if (s.fault_layer) lm.push('fault from ' + s.fault_layer);
  if (b) lm.push('breaker ' + b.state.replace('_', '-') + (b.times_opened ? ', opened ' + fmt(b.times_opened) + '×' : ''));
  setText(r.layerMeta, lm.join(' · '));
  r.layer.title = (s.layers || []).map((l) => l.layer + (l.scope === 'switch' ? '' : ' (' + l.scope + ')') + ': ' +
      JSON.stringify(l.value)).join('\n');
  setText(r.reason, s.reason || '—');
  r.reason.title = s.reason || '';
  setText(r.actor, s.actor ? 'by ' + s.actor : '');
  r.expiry = s.expires_at ? Date.parse(s.expires_at) : 0;
  setText(r.expiresAt, r.expiry ? utcDateTime(r.expiry) : '');
  r.expiresAt.title = r.expiry ? localTitle(r.expiry) : '';
  tick(r);
  // A write's answer carries no rate_1m: keep the last one until the next
  // listing.
  if ('rate_1m' in s) r.rateData = s.rate_1m;
  const rt = r.rateData;
  // Just after start the minute is not full yet: say over how long.
  setText(r.rateWin, rt && s.defined && rt.window_s < 50 ? 'over the last ' + Math.round(rt.window_s) + ' s' : '');
  if (!s.defined) {
    setText(r.rate, '—'); setText(r.rateMeta, ''); r.rate.title = '';
  } else if (!rt) {
    setText(r.rate, 'rate: measuring…'); setText(r.rateMeta, ''); r.rate.title = '';
  } else {
    // No-break spaces keep each count with its word when the cell wraps.
    setText(r.rate, fmt(rt.calls) + '\u00a0calls/min');
    setText(r.rateMeta, fmt(rt.failures) + '\u00a0failed/min · ' + fmt(rt.fallbacks) + '\u00a0fallbacks/min');
    setClass(r.rateMeta, 'small rate' + (rt.failures > 0 ? ' hot' : ''));
    r.rate.title = 'per minute, over the last ' + rt.window_s + ' s';
    r.rateMeta.title = r.rate.title;
  }
  const c = s.counters || {};
  setText(r.calls, s.defined ? 'total ' + fmt(c.calls || 0) + '\u00a0calls' : '');
  setText(r.callMeta, s.defined ? fmt(c.skipped || 0) + '\u00a0skipped · ' + fmt(c.primary_failures || 0) +
      '\u00a0failed · ' + fmt(c.injected_faults || 0) + '\u00a0faults · ' + fmt(c.fallbacks || 0) +
      '\u00a0fallbacks' : '');
  const why = s.defined ? '' : 'This process does not define this switch; change it where it is defined.';
  for (const b of [r.off, r.on, r.reasonIn, r.ttl]) { b.disabled = !s.defined || r.busy; b.title = why || b.title; }
  const blocked = why || clearBlocked(s);
  r.clear.disabled = !!blocked || r.busy;
  r.clear.title = blocked || 'Remove the admin override: lower layers decide again';
  setText(r.note, blocked);
  r.text = [s.name, s.description, s.owner, (s.groups || []).join(' '), st.text, s.layer, s.scope, s.reason, s.actor,
      s.fault ? 'fault' : '', s.defined ? '' : 'undefined unknown',
      b && b.state !== 'closed' ? 'breaker ' + b.state : ''].join(' ').toLowerCase();
}

function tick(r) { setText(r.expires, r.expiry ? countdown(r.expiry - Date.now()) : '—'); }

function renderSources(data) {
  const box = $('sources');
  box.replaceChildren();
  const sources = data.sources || [];
  if (!sources.length) box.append(el('div', 'muted', 'No background sources: defaults, environment and admin only.'));
  for (const h of sources) {
    const line = el('div', 'source');
    line.append(el('span', 'dot ' + (h.healthy ? 'ok' : 'bad')), el('strong', '', h.name), el('span', 'small muted', h.target));
    let status = h.healthy ? 'healthy' : 'FAILING: ' + fmt(h.consecutive_failures) + ' failures in a row';
    status += ' · last success ' + ago(h.last_success) + ' · ' + fmt(h.applied) + ' applied';
    const st = el('span', 'small', status);
    if (h.last_success) st.title = 'last success ' + utcDateTime(Date.parse(h.last_success)) + '\n' + localTitle(Date.parse(h.last_success));
    line.append(st);
    if (!h.healthy && h.last_error) line.append(el('span', 'small errtext', h.last_error));
    box.append(line);
  }
  // An error from a source that has succeeded since is history, not a
  // current problem: shown dimmed, marked recovered, and not counted.
  const all = data.errors || [];
  let current = 0;
  const marked = all.map((e) => {
    const h = sourceOf(e.message, sources);
    const t = Date.parse(e.time);
    const ok = h && h.healthy && h.last_success ? Date.parse(h.last_success) : 0;
    const recovered = !!ok && ok > t;
    if (!recovered) current++;
    return {e, t, recovered, source: h};
  });
  const errors = marked.slice(-20).reverse();
  setText($('error-count'), all.length ? '(' + fmt(current) + ' current' + (current !== all.length ? ', ' + fmt(all.length - current) + ' recovered' : '') + ')' : '');
  const list = $('errors');
  list.replaceChildren();
  if (!errors.length) list.append(el('li', 'muted', 'None.'));
  for (const {e, t, recovered, source} of errors) {
    const li = el('li', recovered ? 'recovered' : 'current');
    li.dataset.state = recovered ? 'recovered' : 'current';
    const when = el('span', 'muted', utcClock(t) + ' (' + ago(e.time) + ') — ');
    when.title = utcDateTime(t) + '\n' + localTitle(t);
    li.append(when, el('span', 'errtext', e.message));
    if (recovered) li.append(el('span', 'muted', ' — ' + source.name + ' recovered ' + ago(source.last_success)));
    list.append(li);
  }
}

// The source an error came from: its message starts with the source's name
// or quotes its target (a path or URL). null when none matches.
function sourceOf(message, sources) {
  const m = String(message);
  for (const h of sources) {
    if (m.startsWith(h.name + ':') || m.startsWith(h.name + ' ') || (h.target && m.includes(h.target))) return h;
  }
  return null;
}

// One line per layer that sheds (the listing's "shed"), shown while any
// does: "shed at tier ≥ 3 by bob: INC-7 (admin layer, ends in 29:59)".
function shedText(x) {
  return 'shed at tier \u2265 ' + x.level + (x.actor ? ' by ' + x.actor : '') +
      (x.reason ? ': ' + x.reason : '');
}
function renderShed(data) {
  const sheds = data.shed || [];
  const box = $('shed-banner');
  box.hidden = sheds.length === 0;
  while (box.children.length > sheds.length) box.lastChild.remove();
  sheds.forEach((x, i) => {
    const line = box.children[i] || box.appendChild(el('div'));
    line.dataset.layer = x.layer;
    const ends = x.expires_at ? ', ends ' + countdown(Date.parse(x.expires_at) - Date.now()) : '';
    setText(line, shedText(x) + ' (' + x.layer + ' layer' + ends + ')');
  });
}

// The governor (docs/governor.md), while one is configured or an operator
// said something about it: its measurement against the target and what it
// imposes, highlighted while it dims anything.
function governorText(g) {
  const by = g.setting ? ' (' + g.setting.layer + (g.setting.actor ? ' by ' + g.setting.actor : '') +
      (g.setting.reason ? ': ' + g.setting.reason : '') + ')' : '';
  if (!g.configured) return 'governor: not configured' + (g.enabled ? '' : ', off') + by;
  if (!g.enabled) return 'governor: off' + by;
  const p = 'p' + Math.round(g.percentile * 1000) / 10;
  const m = g.measured_ms === null ? '-' : Math.round(g.measured_ms) + ' ms';
  let t = 'governor: ' + p + ' ' + m + ', target ' + Math.round(g.target_ms) + ' ms, serving ' +
      Math.round(g.served * 100) + '% of tiered work';
  const offText = (n) => n + (n === 1 ? ' tier off' : ' tiers off');
  if (g.tier && g.tier_allow > 0) {
    t += ' (tier ' + g.tier + ' at ' + Math.round(g.tier_allow * 100) + '%' +
        (g.tiers_off ? ', ' + offText(g.tiers_off) : '') + ')';
  } else if (g.tier) {
    t += ' (' + offText(g.tiers_off) + ', down to tier ' + g.tier + ')';
  }
  if (g.cap > 1) t += '; capped at tier ' + g.cap;
  return t + by;
}

function renderGovernor(data) {
  const g = data.governor;
  const box = $('governor');
  box.hidden = !g || (!g.configured && !g.setting);
  if (box.hidden) return;
  box.classList.toggle('acting', !!(g.configured && g.enabled && g.served < 1));
  setText(box, governorText(g));
}

function render(data) {
  renderSources(data);
  renderShed(data);
  renderGovernor(data);
  const body = $('rows');
  const seen = new Set();
  let i = 0;
  for (const s of (data.switches || []).slice().sort(byRankThenName)) {
    seen.add(s.name);
    let r = rows.get(s.name);
    if (!r) { r = makeRow(s.name); rows.set(s.name, r); }
    update(r, s);
    // Move a row only when out of place: moving would blur a focused input.
    if (body.children[i] !== r.tr) body.insertBefore(r.tr, body.children[i] || null);
    i++;
  }
  for (const [name, r] of rows) if (!seen.has(name)) { r.tr.remove(); rows.delete(name); }
  applyFilter();
}

function applyFilter() {
  const q = $('filter').value.trim().toLowerCase().split(/\s+/).filter(Boolean);
  let shown = 0, off = 0, dim = 0, faults = 0, undef = 0;
  for (const r of rows.values()) {
    const s = r.data;
    const show = q.every((w) => r.text.includes(w));
    r.tr.hidden = !show;
    if (show) shown++;
    if (s.state === 'off') off++; else if (s.allow < 1) dim++;
    if (s.fault) faults++;
    if (!s.defined) undef++;
  }
  $('empty').hidden = shown > 0;
  const sum = $('summary');
  sum.replaceChildren();
  const part = (n, cls, text) => { const e = el('span', 'count ' + cls, fmt(n) + ' ' + text); sum.append(' · ', e); };
  sum.append(el('span', 'count', fmt(rows.size) + ' switches'));
  if (shown !== rows.size) sum.append(' (' + fmt(shown) + ' shown)');
  part(off, 'off', 'off');
  part(dim, 'dim', 'dimmed');
  if (faults) part(faults, 'fault', 'with faults');
  if (undef) part(undef, '', 'not defined here');
}

function renderConn() {
  const c = $('conn');
  if (lastError) {
    setClass(c, 'pill stale');
    setText(c, 'NOT UPDATING: ' + lastError + (lastOk ? ' · data from ' + utcClock(lastOk) : ''));
  } else {
    setClass(c, 'pill live');
    setText(c, 'live · ' + utcClock(lastOk));
  }
  c.title = lastOk ? 'last update ' + utcDateTime(lastOk) + '\n' + localTitle(lastOk) : '';
}

async function refresh() {
  if (inflight) return;
  inflight = true;
  try {
    const r = await fetch(API, {cache: 'no-store', headers: {Accept: 'application/json'}});
    if (!r.ok) throw new Error('HTTP ' + r.status + ': ' + await errorText(r));
    const data = await r.json();
    lastOk = Date.now();
    lastError = '';
    render(data);
  } catch (e) {
    lastError = e && e.message ? e.message : String(e);
  } finally {
    inflight = false;
    renderConn();
  }
}

function renderWho() {
  setText($('who'), session.token ? 'writes as ' + (session.actor || 'console') : 'read-only until a token is set');
  setText($('token-btn'), session.token ? 'Forget token' : 'Set token');
}

function askToken(then) {
  afterToken = then || null;
  $('token-input').value = '';
  $('actor-input').value = session.actor;
  $('token-dialog').showModal();
  $('token-input').focus();
}

async function write(r, action) {
  if (!session.token) { askToken(() => write(r, action)); return; }
  const url = API + '/' + encodeURIComponent(r.name);
  const headers = {Authorization: 'Bearer ' + session.token, Accept: 'application/json'};
  const actor = session.actor || 'console';
  if (/^[\x20-\x7e]*$/.test(actor)) headers['X-Degrade-Actor'] = actor;
  const opts = {method: action === 'clear' ? 'DELETE' : 'PUT', headers, cache: 'no-store'};
  if (action !== 'clear') {
    const body = {state: action, actor};
    const reason = r.reasonIn.value.trim();
    if (reason) body.reason = reason;
    if (r.ttl.value) body.ttl_s = Number(r.ttl.value);
    headers['Content-Type'] = 'application/json';
    opts.body = JSON.stringify(body);
  }
  r.busy = true;
  for (const b of [r.off, r.on, r.clear]) b.disabled = true;
  const before = r.data;
  try {
    const res = await fetch(url, opts);
    if (!res.ok) {
      const msg = await errorText(res);
      if (res.status === 401) session.token = '';
      renderWho();
      banner('error', (action === 'clear' ? 'Clear' : 'Turning ' + action) + ' ' + r.name + ' failed (HTTP ' + res.status + '): ' + msg);
      return;
    }
    const s = await res.json();
    update(r, s);
    r.reasonIn.value = '';
    r.ttl.value = '';
    const now = stateOf(s).text + ' (decided by ' + s.layer + (s.scope && s.scope !== 'switch' ? ' ' + s.scope : '') +
        (s.expires_at ? ', expires ' + countdown(Date.parse(s.expires_at) - Date.now()) : '') + ')';
    banner('ok', action === 'clear'
        ? 'Cleared the override of ' + r.name + (before && stateOf(before).text === stateOf(s).text ? '; still ' : '; now ') + now
        : r.name + ' is now ' + now);
  } catch (e) {
    banner('error', 'Cannot reach the service: ' + (e && e.message ? e.message : e));
  } finally {
    r.busy = false;
    if (r.data) update(r, r.data);
    refresh();
  }
}

$('token-form').addEventListener('submit', (e) => {
  e.preventDefault();
  const t = $('token-input').value.trim();
  if (!t) return;
  session.token = t;
  session.actor = $('actor-input').value.trim();
  $('token-dialog').close();
  renderWho();
  const then = afterToken;
  afterToken = null;
  if (then) then();
});
$('token-cancel').onclick = () => { afterToken = null; $('token-dialog').close(); };
$('token-btn').onclick = () => {
  if (session.token) { session.token = ''; renderWho(); } else askToken(null);
};
$('banner-close').onclick = () => { $('banner').hidden = true; };
$('filter').addEventListener('input', applyFilter);
document.addEventListener('keydown', (e) => {
  if (e.key === '/' && document.activeElement === document.body) { e.preventDefault(); $('filter').focus(); }
  if (e.key === 'Escape' && document.activeElement === $('filter')) { $('filter').value = ''; applyFilter(); }
});
// --- fleet panel ---
// The instances registered in etcd (docs/fleet.md): how many, how many
// applied the latest change, and every disagreement with etcd and why.
// A 404 means this process has no etcd: the panel stays hidden.
const FLEET_API = 'degrade/v1/fleet';
const FLEET_REFRESH_MS = 5000;
let fleetTimer = 0;
async function refreshFleet() {
  let r;
  try {
    r = await fetch(FLEET_API, {cache: 'no-store', headers: {Accept: 'application/json'}});
  } catch (e) {
    return;  // the connection pill already says the endpoint is unreachable
  }
  const panel = $('fleet-panel'), box = $('fleet');
  if (r.status === 404) {
    panel.hidden = true;
    clearInterval(fleetTimer);
    return;
  }
  panel.hidden = false;
  box.replaceChildren();
  if (!r.ok) {
    setText($('fleet-count'), '');
    box.append(el('div', 'small errtext', 'etcd: ' + await errorText(r)));
    return;
  }
  const f = await r.json();
  setText($('fleet-count'), '(' + fmt(f.registered) + ' registered)');
  const head = el('div', 'source');
  head.append(el('span', 'dot ' + (f.agree ? 'ok' : 'bad')),
              el('strong', '', fmt(f.current) + ' of ' + fmt(f.registered) + ' on the latest change'),
              el('span', 'small muted', (f.latest_revision ? 'revision ' + f.latest_revision : 'no change in etcd yet') + (f.agree ? ' · every instance agrees with etcd' : '')));
  box.append(head);
  if (!f.registered) box.append(el('div', 'small muted', 'No instance is registered under ' + f.prefix + 'instances/.'));
  for (const i of f.instances) {
    if (i.problems.length) box.append(el('div', 'small errtext', i.id + ': ' + i.problems.join('; ')));
  }
  for (const d of f.disagreements) {
    const line = el('div', 'small');
    line.dataset.fleetSwitch = d.switch;
    line.append(el('strong', '', d.switch + ': '));
    line.append(el('span', 'errtext', d.instances.map((x) => x.id + ' — ' + x.why).join('; ')));
    box.append(line);
  }
}
refreshFleet();
fleetTimer = setInterval(refreshFleet, FLEET_REFRESH_MS);
// --- end fleet panel ---

setText($('host'), location.host);
renderWho();
refresh();
setInterval(refresh, REFRESH_MS);
setInterval(() => { for (const r of rows.values()) tick(r); if (lastOk) renderConn(); }, 1000);
})();
</script>
</body>
</html>
)html";

// The whole page: kConsoleHead, kConsoleStyle, kConsoleBody. Built once.
inline const std::string& ConsolePage() {
  static const std::string* const page = new std::string(
      std::string(kConsoleHead) + std::string(kConsoleStyle) + std::string(kConsoleBody));
  return *page;
}


}  // namespace degrade::internal

#endif  // DEGRADE_LIB_CONSOLE_HTML_H_
