// Weir dashboard: a single-page app over the coordinator's Flink-shaped REST API.
// Plain modern JavaScript, no build step. Every server-provided string reaches the page
// through textContent or setAttribute (never innerHTML).
// The dashboard's scripts are classic scripts sharing their top-level names, loaded in
// this order by index.html (after uPlot): api.js, graph.js, job.js, pages.js, app.js.
// This one: the DOM helpers (h, s, fill), formatting, states, the REST client (api,
// ApiError), toasts, the confirm dialog, the connection status and shared UI pieces.
'use strict';

// ---------------------------------------------------------------- DOM helpers
const SVGNS = 'http://www.w3.org/2000/svg';
const PROPS = new Set(['value', 'checked', 'disabled', 'selected', 'open']);

function setProps(el, props) {
  if (!props) return;
  for (const [k, v] of Object.entries(props)) {
    if (v == null || v === false) continue;
    if (k === 'class') el.setAttribute('class', v);
    else if (k === 'text') el.textContent = String(v);
    else if (k === 'style' && typeof v === 'object') Object.assign(el.style, v);
    else if (k.startsWith('on') && typeof v === 'function') el.addEventListener(k.slice(2), v);
    else if (PROPS.has(k)) el[k] = v;
    else el.setAttribute(k, v === true ? '' : String(v));
  }
}
function add(el, kids) {
  for (const k of kids.flat(Infinity)) {
    if (k == null || k === false) continue;
    el.append(k instanceof Node ? k : document.createTextNode(String(k)));
  }
  return el;
}
function h(tag, props, ...kids) { const el = document.createElement(tag); setProps(el, props); return add(el, kids); }
function s(tag, props, ...kids) { const el = document.createElementNS(SVGNS, tag); setProps(el, props); return add(el, kids); }
function clear(el) { while (el.firstChild) el.removeChild(el.firstChild); return el; }
function fill(el, ...kids) { clear(el); return add(el, kids); }

// ---------------------------------------------------------------- formatting
const pad2 = n => String(n).padStart(2, '0');
function fmtTime(ms) {
  if (ms == null || !(ms > 0)) return '–';
  const d = new Date(ms);
  return `${d.getFullYear()}-${pad2(d.getMonth() + 1)}-${pad2(d.getDate())} ${pad2(d.getHours())}:${pad2(d.getMinutes())}:${pad2(d.getSeconds())}`;
}
function fmtClock(ms) { const d = new Date(ms); return `${pad2(d.getHours())}:${pad2(d.getMinutes())}:${pad2(d.getSeconds())}`; }
function fmtDur(ms) {
  if (ms == null || ms < 0 || !isFinite(ms)) return '–';
  if (ms < 1000) return `${Math.round(ms)} ms`;
  const sec = ms / 1000;
  if (sec < 60) return `${sec.toFixed(sec < 10 ? 1 : 0)} s`;
  const m = Math.floor(sec / 60), ss = Math.floor(sec % 60);
  if (m < 60) return `${m}m ${pad2(ss)}s`;
  const hh = Math.floor(m / 60);
  if (hh < 24) return `${hh}h ${pad2(m % 60)}m`;
  return `${Math.floor(hh / 24)}d ${pad2(hh % 24)}h`;
}
function fmtNum(n) {
  if (n == null || !isFinite(n)) return '–';
  const a = Math.abs(n);
  if (a < 1000) return String(Math.round(n * 10) / 10);
  const units = ['K', 'M', 'G', 'T', 'P'];
  let v = a, i = -1;
  while (v >= 1000 && i < units.length - 1) { v /= 1000; i++; }
  return (n < 0 ? '-' : '') + (v < 10 ? v.toFixed(2) : v < 100 ? v.toFixed(1) : v.toFixed(0)) + units[i];
}
function fmtRate(r) { return r == null || !isFinite(r) ? '–' : fmtNum(r) + '/s'; }
function fmtBytes(b) {
  if (b == null || !isFinite(b)) return '–';
  if (b < 1024) return `${Math.round(b)} B`;
  const units = ['KiB', 'MiB', 'GiB', 'TiB'];
  let v = b, i = -1;
  while (v >= 1024 && i < units.length - 1) { v /= 1024; i++; }
  return `${v < 10 ? v.toFixed(2) : v < 100 ? v.toFixed(1) : v.toFixed(0)} ${units[i]}`;
}
function fmtPct(x) { return x == null || !isFinite(x) ? '–' : `${Math.round(x * 100)}%`; }
function fmtAgo(ts) {
  if (ts == null || !isFinite(ts)) return '–';
  // Flink's `timeSinceLastHeartbeat` is the time of the last heartbeat (ms since the epoch).
  const ago = ts > 1e12 ? Math.max(0, Date.now() - ts) : ts;
  return ago < 1000 ? 'just now' : `${fmtDur(ago)} ago`;
}
const short = id => (id ? String(id).slice(0, 8) : '');
function countRate(n, r, dir) {
  return h('td', { class: 'num', title: String(n) }, fmtNum(n), h('div', { class: 'rate', 'data-testid': `rate-${dir}` }, fmtRate(r)));
}
function numCell(v, f = fmtNum) { return h('td', { class: 'num', title: v == null ? null : String(v) }, f(v)); }

// ---------------------------------------------------------------- states
const TERMINAL = new Set(['FINISHED', 'CANCELED', 'FAILED', 'SUSPENDED']);
function tone(state) {
  switch (String(state || '').toUpperCase()) {
    case 'RUNNING': case 'COMPLETED': case 'SUCCESS': return 's-ok';
    case 'FINISHED': case 'IN_PROGRESS': return 's-info';
    case 'FAILED': case 'FAILING': return 's-bad';
    case 'RESTARTING': case 'CANCELLING': case 'CANCELING': return 's-warn';
    case 'CREATED': case 'INITIALIZING': case 'SCHEDULED': case 'DEPLOYING': case 'RECONCILING': return 's-wait';
    default: return '';
  }
}
function badge(state, testid) {
  const st = String(state || 'UNKNOWN').toUpperCase();
  const cls = `badge ${tone(st)}${st === 'RUNNING' || st === 'IN_PROGRESS' ? ' s-run' : ''}`;
  return h('span', { class: cls, 'data-testid': testid, 'data-state': st }, st);
}
function taskChips(tasks) {
  const el = h('span', { class: 'chips' });
  if (!tasks) return el;
  for (const [k, v] of Object.entries(tasks)) {
    if (k.toLowerCase() === 'total' || !(v > 0)) continue;
    el.append(h('span', { class: `chip ${tone(k)}`, title: `${v} ${k.toLowerCase()}` }, `${v} ${k.toLowerCase()}`));
  }
  if (!el.firstChild) el.append(h('span', { class: 'muted' }, '–'));
  return el;
}
function bpLevel(x) { return x ? String(x['backpressureLevel'] ?? x['backpressure-level'] ?? '').toLowerCase() : ''; }

// ---------------------------------------------------------------- REST client
class ApiError extends Error {
  constructor(status, messages, path) {
    super(messages.join('\n'));
    this.status = status; this.messages = messages; this.path = path;
  }
}
// Optional endpoints this coordinator answered 404 for: not asked again for a minute.
const missing = new Map();
function isMissing(feature) { const t = missing.get(feature); return t != null && Date.now() - t < 60000; }

// The cluster's token (--auth-token-file), asked for the first time the coordinator answers 401
// and kept for this browser tab only.
const TOKEN_KEY = 'weir-auth-token';
async function api(path, { method = 'GET', json, body, text = false, optional = null } = {}, retried = false) {
  if (optional && isMissing(optional)) return null;
  const init = { method, headers: { Accept: 'application/json' } };
  const token = sessionStorage.getItem(TOKEN_KEY);
  if (token) init.headers.Authorization = `Bearer ${token}`;
  if (json !== undefined) { init.headers['Content-Type'] = 'application/json'; init.body = JSON.stringify(json); }
  else if (body !== undefined) init.body = body;
  let res;
  try { res = await fetch(path, init); } catch (e) {
    throw new ApiError(0, [`Cannot reach the coordinator (${e.message || e})`], path);
  }
  if (res.status === 401 && !retried) {
    const given = window.prompt('This cluster needs its auth token (the contents of --auth-token-file):');
    if (given && given.trim()) {
      sessionStorage.setItem(TOKEN_KEY, given.trim());
      return api(path, { method, json, body, text, optional }, true);
    }
  }
  if (optional && (res.status === 404 || res.status === 405 || res.status === 501)) {
    missing.set(optional, Date.now());
    return null;
  }
  const raw = await res.text();
  if (!res.ok) {
    let msgs = null;
    try { const j = JSON.parse(raw); if (Array.isArray(j.errors)) msgs = j.errors.map(String); } catch { /* not JSON */ }
    throw new ApiError(res.status, msgs && msgs.length ? msgs : [`${res.status} ${res.statusText}${raw ? ': ' + raw.slice(0, 500) : ''}`], path);
  }
  if (text) return raw;
  if (!raw.trim()) return {};
  try { return JSON.parse(raw); } catch { throw new ApiError(res.status, [`${path}: the answer is not JSON`], path); }
}
const errText = e => (e instanceof ApiError ? e.messages.join('\n') : String(e && e.message || e));
// The first line of a (Java-style) error; the whole text goes in a <details>.
const firstLine = t => String(t).split('\n')[0];

// ---------------------------------------------------------------- chrome: toasts, dialog, status
function toast(msg, kind = 'info', ms = 6000) {
  const el = h('div', { class: `toast ${kind}`, role: kind === 'error' ? 'alert' : 'status', 'data-testid': 'toast', onclick: () => el.remove() }, msg);
  document.getElementById('toasts').append(el);
  setTimeout(() => el.remove(), kind === 'error' ? Math.max(ms, 12000) : ms);
}
function confirmDialog(title, text, okLabel, danger) {
  return new Promise(resolve => {
    const ok = h('button', { class: `btn ${danger ? 'danger' : 'primary'}`, 'data-testid': 'confirm-ok' }, okLabel);
    const cancel = h('button', { class: 'btn', 'data-testid': 'confirm-cancel' }, 'Back');
    const dlg = h('dialog', { class: 'confirm' },
      h('div', { class: 'd-body' }, h('h3', null, title), h('p', null, text)),
      h('div', { class: 'd-actions' }, cancel, ok));
    const done = v => { dlg.close(); dlg.remove(); resolve(v); };
    ok.addEventListener('click', () => done(true));
    cancel.addEventListener('click', () => done(false));
    dlg.addEventListener('cancel', e => { e.preventDefault(); done(false); });
    document.body.append(dlg);
    dlg.showModal();
    ok.focus();
  });
}
function errorBanner(e, title) {
  const t = errText(e);
  const lines = t.split('\n');
  return h('div', { class: 'banner error', role: 'alert', 'data-testid': 'error' },
    h('div', { class: 'msg' }, h('b', null, title ? `${title}: ` : ''), lines[0],
      lines.length > 1 ? h('details', null, h('summary', null, 'Details'), h('pre', null, t)) : null));
}
const conn = { el: null, text: null };
function setConn(ok, e) {
  conn.el ??= document.getElementById('conn');
  conn.text ??= document.getElementById('conn-text');
  conn.el.classList.toggle('ok', ok);
  conn.el.classList.toggle('bad', !ok);
  conn.text.textContent = ok ? `Live · updated ${fmtClock(Date.now())}` : `Coordinator unreachable: ${firstLine(errText(e)).slice(0, 80)}`;
  if (!ok) conn.el.title = errText(e); else conn.el.removeAttribute('title');
}
function crumbs(...parts) {
  const el = document.getElementById('crumbs');
  clear(el);
  parts.forEach((p, i) => {
    if (i) el.append(h('span', { class: 'sep' }, '/'));
    el.append(Array.isArray(p) ? h('a', { href: p[1] }, p[0]) : h('span', null, p));
  });
  const last = parts[parts.length - 1];
  document.title = `${Array.isArray(last) ? last[0] : last} · Weir`;
}

// ---------------------------------------------------------------- shared UI pieces
function card(title, { meta, body, flush = false, testid } = {}) {
  const head = h('div', { class: 'card-head' }, h('h2', null, title), meta ? h('div', { class: 'meta' }, meta) : null);
  const b = h('div', { class: `card-body${flush ? ' flush' : ''}` }, body);
  const el = h('section', { class: 'card', 'data-testid': testid }, head, b);
  el.head = head; el.body = b;
  return el;
}
function stat(label, value, toneCls, hint, testid) {
  return h('div', { class: `stat ${toneCls || ''}`, 'data-testid': testid },
    h('div', { class: 'label' }, label), h('div', { class: 'value' }, value), hint ? h('div', { class: 'hint' }, hint) : null);
}
function table(headers, rows, emptyText = 'Nothing here yet.') {
  if (!rows.length) return h('div', { class: 'empty' }, emptyText);
  return h('div', { class: 'table-wrap' }, h('table', { class: 'tbl' },
    h('thead', null, h('tr', null, headers.map(c => h('th', { class: c.startsWith('#') ? 'num' : null }, c.replace(/^#/, ''))))),
    h('tbody', null, rows)));
}
const goto = hash => { if (location.hash !== hash) location.hash = hash; };
function icon(d) { return s('svg', { viewBox: '0 0 24 24', 'aria-hidden': 'true' }, s('path', { d })); }
