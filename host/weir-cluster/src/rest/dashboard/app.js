// Weir dashboard: a single-page app over the coordinator's Flink-shaped REST API.
// Plain modern JavaScript, no build step. Every server-provided string reaches the page
// through textContent or setAttribute (never innerHTML).
'use strict';
(() => {

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

// ---------------------------------------------------------------- charts (uPlot)
const PALETTE = ['#3b6fd8', '#e8833a', '#2ca58d', '#c2459e', '#8a63d2', '#d4a72c', '#4aa3c7', '#d1495b', '#6c8a3c', '#7b7f8c'];

function makeChart(host, { series, xTime = true, axes, height = 220, testid }) {
  let u = null, key = '', ro = null;
  const el = h('div', { class: 'chart', 'data-testid': testid, 'data-samples': '0' });
  host.append(el);
  const width = () => Math.max(300, el.clientWidth || host.clientWidth || 600);
  function build(defs, data) {
    if (u) u.destroy();
    const opts = {
      width: width(), height,
      cursor: { drag: { x: true, y: false }, points: { size: 6 } },
      scales: Object.assign({ x: { time: xTime, range: xTime ? (u, min, max) => { const hi = max ?? Date.now() / 1000; return [Math.min(min ?? hi, hi - 60), hi]; } : undefined } }, ...defs.map(d => ({ [d.scale || 'y']: { auto: true, range: (u, min, max) => [0, max > 0 ? max * 1.1 : 1] } }))),
      series: [{ label: xTime ? 'Time' : (axes && axes.xLabel) || 'x', value: (u, v, si, idx) => {
          if (idx == null) { const col = u.data[0] || []; v = col.length ? col[col.length - 1] : null; }
          return v == null ? '–' : xTime ? fmtClock(v * 1000) : '#' + v;
        } }]
        .concat(defs.map((d, i) => ({
          label: d.label, scale: d.scale || 'y', stroke: d.color || PALETTE[i % PALETTE.length], width: 1.6,
          fill: (d.color || PALETTE[i % PALETTE.length]) + '14', points: { show: !!d.points, size: 5 },
          spanGaps: false, value: (u, v, si, idx) => {
            if (idx == null) { const col = u.data[si] || []; for (let j = col.length - 1; j >= 0; j--) if (col[j] != null) { v = col[j]; break; } }
            return v == null ? '–' : (d.fmt || fmtNum)(v);
          },
        }))),
      axes: [
        { stroke: '#677384', grid: { stroke: '#eef1f5', width: 1 }, ticks: { stroke: '#e2e6ec', width: 1 },
          values: xTime ? undefined : (u, vals) => vals.map(v => (Number.isInteger(v) ? '#' + v : '')) },
      ].concat((axes && axes.y ? axes.y : [{ scale: 'y', fmt: fmtNum }]).map((a, i) => ({
        scale: a.scale, side: i ? 1 : 3, stroke: '#677384', size: 72, label: a.label, labelSize: a.label ? 18 : 0, labelFont: '600 11px system-ui',
        grid: { show: i === 0, stroke: '#eef1f5', width: 1 }, ticks: { stroke: '#e2e6ec', width: 1 },
        values: (u, vals) => vals.map(v => a.fmt(v)),
      }))),
      legend: { live: true },
    };
    u = new uPlot(opts, data, el);
  }
  function setData(defs, data) {
    const k = defs.map(d => d.label + '|' + (d.scale || 'y')).join(',');
    el.dataset.samples = String(data[0] ? data[0].length : 0);
    if (typeof uPlot === 'undefined') return;
    if (!u || k !== key) { key = k; build(defs, data); } else u.setData(data);
    if (u.cursor.idx == null) u.setLegend({ idx: null });
  }
  ro = new ResizeObserver(() => { if (u && el.clientWidth) u.setSize({ width: width(), height }); });
  ro.observe(el);
  setData(series, [[], ...series.map(() => [])]);
  return { el, setData, destroy() { ro.disconnect(); if (u) u.destroy(); u = null; } };
}

// ---------------------------------------------------------------- per-job client-side state
// Rates come from deltas between polls; the throughput and checkpoint histories survive tab switches.
const jobStores = new Map();
function jobStore(jid) {
  let st = jobStores.get(jid);
  if (!st) {
    st = { samples: new Map(), rates: new Map(), times: [], series: new Map(), ckpts: new Map(), ops: [], selected: null, bp: new Map() };
    jobStores.set(jid, st);
  }
  return st;
}
const HISTORY_MS = 5 * 60 * 1000;
function recordRates(st, job) {
  if (TERMINAL.has(job.state)) { st.rates.clear(); st.samples.clear(); return; }
  const t = job.now > 0 ? job.now : Date.now();
  if (st.times.length && t <= st.times[st.times.length - 1]) return; // same snapshot as the last poll
  let any = false;
  for (const v of job.vertices || []) {
    const m = v.metrics || {};
    const cur = { t, r: +m['read-records'] || 0, w: +m['write-records'] || 0, rb: +m['read-bytes'] || 0, wb: +m['write-bytes'] || 0 };
    const hist = st.samples.get(v.id) || [];
    hist.push(cur);
    // Rates over the last ~6 s (at least 1.5 s): the counters move in batches.
    while (hist.length > 2 && hist[1].t <= t - 6000) hist.shift();
    st.samples.set(v.id, hist);
    let prev = hist.length > 1 && (hist[0].t <= t - 1500 || !st.rates.has(v.id)) ? hist[0] : null;
    if (prev && t > prev.t) {
      const dt = (t - prev.t) / 1000;
      st.rates.set(v.id, {
        in: Math.max(0, (cur.r - prev.r) / dt), out: Math.max(0, (cur.w - prev.w) / dt),
        inB: Math.max(0, (cur.rb - prev.rb) / dt), outB: Math.max(0, (cur.wb - prev.wb) / dt),
      });
      any = true;
    }
  }
  if (!any) return;
  st.times.push(t);
  const sinks = sinkIds(job);
  for (const v of job.vertices || []) {
    if (!st.series.has(v.id)) st.series.set(v.id, new Array(st.times.length - 1).fill(null));
  }
  for (const [vid, arr] of st.series) {
    const r = st.rates.get(vid);
    const alive = (job.vertices || []).some(v => v.id === vid);
    arr.push(alive && r ? (sinks.has(vid) ? r.in : r.out) : null);
  }
  while (st.times.length && st.times[0] < t - HISTORY_MS) {
    st.times.shift();
    for (const arr of st.series.values()) arr.shift();
  }
}
function sinkIds(job) {
  const nodes = (job.plan && job.plan.nodes) || [];
  const feeds = new Set();
  for (const n of nodes) for (const i of n.inputs || []) feeds.add(i.id);
  return new Set((job.vertices || []).map(v => v.id).filter(id => nodes.length && !feeds.has(id)));
}
function recordCheckpoints(st, cp) {
  for (const c of (cp && cp.history) || []) st.ckpts.set(c.id, c);
  const latest = cp && cp.latest;
  if (latest) for (const k of ['completed', 'savepoint', 'failed']) if (latest[k] && latest[k].id != null && !st.ckpts.has(latest[k].id)) st.ckpts.set(latest[k].id, latest[k]);
  if (st.ckpts.size > 300) {
    const ids = [...st.ckpts.keys()].sort((a, b) => a - b);
    for (const id of ids.slice(0, ids.length - 300)) st.ckpts.delete(id);
  }
}

// ---------------------------------------------------------------- job graph (SVG)
const NODE_W = 248, NODE_H = 104, GAP_X = 96, GAP_Y = 26, PAD = 12;
function stripHtml(t) {
  return String(t || '').replace(/<br\s*\/?>/gi, ' ').replace(/<[^>]*>/g, '')
    .replace(/&lt;/g, '<').replace(/&gt;/g, '>').replace(/&quot;/g, '"').replace(/&#39;/g, "'").replace(/&amp;/g, '&')
    .replace(/\s+/g, ' ').trim();
}
function truncate(t, max) { return t.length > max ? t.slice(0, max - 1) + '…' : t; }

function layoutGraph(nodes) {
  const byId = new Map(nodes.map(n => [n.id, n]));
  const layer = new Map();
  const visiting = new Set();
  const depth = n => {
    if (layer.has(n.id)) return layer.get(n.id);
    if (visiting.has(n.id)) return 0; // a cycle: should not happen in a plan
    visiting.add(n.id);
    let d = 0;
    for (const i of n.inputs || []) { const p = byId.get(i.id); if (p) d = Math.max(d, depth(p) + 1); }
    visiting.delete(n.id);
    layer.set(n.id, d);
    return d;
  };
  // Sources in plan order (Flink lists sinks first, Weir sources first: keep a stable order either way).
  nodes.forEach(depth);
  const layers = [];
  for (const n of nodes) (layers[layer.get(n.id)] ??= []).push(n);
  const pos = new Map();
  layers.forEach((col, li) => {
    if (li > 0) {
      const bary = n => { const ys = (n.inputs || []).map(i => pos.get(i.id)).filter(Boolean).map(p => p.order); return ys.length ? ys.reduce((a, b) => a + b, 0) / ys.length : 0; };
      col.sort((a, b) => bary(a) - bary(b));
    }
    col.forEach((n, i) => pos.set(n.id, { layer: li, order: i }));
  });
  const tallest = Math.max(...layers.map(c => c.length));
  const height = tallest * NODE_H + (tallest - 1) * GAP_Y + 2 * PAD;
  const width = layers.length * NODE_W + (layers.length - 1) * GAP_X + 2 * PAD;
  layers.forEach((col, li) => {
    const colH = col.length * NODE_H + (col.length - 1) * GAP_Y;
    const y0 = (height - colH) / 2;
    col.forEach((n, i) => Object.assign(pos.get(n.id), { x: PAD + li * (NODE_W + GAP_X), y: y0 + i * (NODE_H + GAP_Y) }));
  });
  return { pos, width, height };
}

function JobGraph(onSelect) {
  const root = s('svg', { class: 'graph', 'data-testid': 'job-graph', role: 'img', 'aria-label': 'Job graph' });
  const wrap = h('div', { class: 'graph-wrap' }, root);
  let sig = null;
  const parts = new Map();

  function build(nodes, vmap) {
    clear(root);
    parts.clear();
    const { pos, width, height } = layoutGraph(nodes);
    setProps(root, { width, height, viewBox: `0 0 ${width} ${height}` });
    root.append(s('defs', null, s('marker', { id: 'wg-arrow', viewBox: '0 0 10 10', refX: 9, refY: 5, markerWidth: 7, markerHeight: 7, orient: 'auto-start-reverse' },
      s('path', { class: 'arrow', d: 'M0 0L10 5L0 10z' }))));
    const edges = s('g', { class: 'edges' }), labels = s('g'), boxes = s('g');
    for (const n of nodes) {
      for (const inp of n.inputs || []) {
        const a = pos.get(inp.id), b = pos.get(n.id);
        if (!a || !b) continue;
        const x1 = a.x + NODE_W, y1 = a.y + NODE_H / 2, x2 = b.x - 2, y2 = b.y + NODE_H / 2, dx = Math.max(30, (x2 - x1) / 2);
        edges.append(s('path', { class: 'edge', d: `M${x1} ${y1}C${x1 + dx} ${y1} ${x2 - dx} ${y2} ${x2} ${y2}`, 'marker-end': 'url(#wg-arrow)', 'data-testid': 'graph-edge' }));
        const label = String(inp.ship_strategy || '').toUpperCase();
        if (label) {
          const w = label.length * 6.6 + 12, mx = (x1 + x2) / 2, my = (y1 + y2) / 2;
          labels.append(s('g', { class: 'edge-label', 'data-testid': 'graph-edge-label' },
            s('rect', { x: mx - w / 2, y: my - 9, width: w, height: 18, rx: 9 }),
            s('text', { x: mx, y: my + 3.5, 'text-anchor': 'middle' }, label)));
        }
      }
    }
    for (const n of nodes) {
      const p = pos.get(n.id);
      const v = vmap.get(n.id);
      const name = v ? v.name : stripHtml(n.description) || n.id;
      const t = {};
      const line = (y, key) => {
        const txt = s('text', { class: 'n-line', x: 12, y });
        const k = s('tspan', { class: 'n-key' }, key);
        const val = s('tspan', { dx: 6 }, '–');
        const rate = s('tspan', { class: 'n-rate', x: NODE_W - 12, 'text-anchor': 'end' }, '');
        txt.append(k, val, rate);
        return { txt, val, rate };
      };
      t.title = s('text', { class: 'n-title', x: 12, y: 22, 'data-testid': 'graph-node-name' }, truncate(name, 32));
      t.status = s('text', { class: 'n-status', x: NODE_W - 12, y: 22, 'text-anchor': 'end' }, '');
      t.par = line(42, 'Parallelism');
      t.in = line(60, 'Records in');
      t.out = line(76, 'Records out');
      t.bp = line(94, 'Backpressure');
      const g = s('g', {
        class: 'node', transform: `translate(${p.x},${p.y})`, tabindex: 0, 'data-testid': 'graph-node', 'data-vertex-id': n.id, 'data-name': name,
        onclick: () => onSelect(n.id),
        onkeydown: e => { if (e.key === 'Enter' || e.key === ' ') { e.preventDefault(); onSelect(n.id); } },
      },
      s('title', null, name),
      s('rect', { class: 'box', width: NODE_W, height: NODE_H, rx: 9 }),
      t.stripe = s('rect', { x: 0, y: 8, width: 3, height: NODE_H - 16, rx: 1.5, fill: '#98a2b0' }),
      t.title, t.status, t.par.txt, t.in.txt, t.out.txt, t.bp.txt);
      boxes.append(g);
      parts.set(n.id, { g, t });
    }
    root.append(edges, boxes, labels);
  }

  const STATUS_COLOR = { 's-ok': '#1f8a4c', 's-info': '#2a5bc4', 's-bad': '#c0322f', 's-warn': '#a86200', 's-wait': '#6b46c1', '': '#5c6675' };
  function update(job, st) {
    const vmap = new Map((job.vertices || []).map(v => [v.id, v]));
    let nodes = (job.plan && Array.isArray(job.plan.nodes) && job.plan.nodes.length) ? job.plan.nodes : (job.vertices || []).map(v => ({ id: v.id, inputs: [] }));
    const sg = nodes.map(n => `${n.id}<${(n.inputs || []).map(i => i.id + ':' + i.ship_strategy).join(',')}`).join('|') + '#' + [...vmap.values()].map(v => v.name).join('|');
    if (sg !== sig) { sig = sg; build(nodes, vmap); }
    for (const [id, { g, t }] of parts) {
      const v = vmap.get(id) || {};
      const n = nodes.find(x => x.id === id) || {};
      const m = v.metrics || {};
      const r = st.rates.get(id);
      const bp = st.bp.get(id);
      const lvl = bpLevel(bp);
      g.setAttribute('class', `node${lvl ? ' bp-' + lvl : ''}${st.selected === id ? ' selected' : ''}`);
      const status = String(v.status || '').toUpperCase();
      t.status.textContent = status;
      const c = STATUS_COLOR[tone(status)] || STATUS_COLOR[''];
      t.status.setAttribute('fill', c);
      t.stripe.setAttribute('fill', c);
      t.par.val.textContent = String(v.parallelism ?? n.parallelism ?? '–');
      t.par.rate.textContent = '';
      t.in.val.textContent = fmtNum(+m['read-records'] || 0);
      t.in.rate.textContent = r ? fmtRate(r.in) : '';
      t.out.val.textContent = fmtNum(+m['write-records'] || 0);
      t.out.rate.textContent = r ? fmtRate(r.out) : '';
      if (bp) {
        const subs = bp.subtasks || [];
        const maxRatio = subs.reduce((a, x) => Math.max(a, +x.ratio || 0), 0);
        const busy = subs.length ? subs.reduce((a, x) => a + (+x.busyRatio || 0), 0) / subs.length : null;
        t.bp.val.textContent = `${(lvl || '?').toUpperCase()} ${fmtPct(maxRatio)}`;
        t.bp.rate.textContent = busy == null ? '' : `busy ${fmtPct(busy)}`;
      } else {
        t.bp.val.textContent = isMissing('backpressure') ? 'n/a' : '–';
        t.bp.rate.textContent = '';
      }
    }
  }
  return { el: wrap, update };
}

// ---------------------------------------------------------------- views
// A view: { el, refresh(): Promise, destroy(), crumbs() }. The router polls refresh() at the
// coordinator's refresh-interval.

function jobsTables(jobs) {
  const running = jobs.filter(j => !TERMINAL.has(j.state)).sort((a, b) => b['start-time'] - a['start-time']);
  const done = jobs.filter(j => TERMINAL.has(j.state)).sort((a, b) => (b['end-time'] || 0) - (a['end-time'] || 0));
  const row = (j, completed) => h('tr', { class: 'click', 'data-testid': 'job-row', 'data-jid': j.jid, onclick: e => { if (!e.target.closest('a')) goto(`#/jobs/${j.jid}`); } },
    h('td', null, h('a', { href: `#/jobs/${encodeURIComponent(j.jid)}`, class: 'name', 'data-testid': 'job-name' }, j.name),
      h('div', { class: 'muted mono', style: { fontSize: '11px' } }, j.jid)),
    h('td', { class: 'nowrap' }, fmtTime(j['start-time'])),
    completed ? h('td', { class: 'nowrap' }, fmtTime(j['end-time'])) : null,
    h('td', { class: 'num' }, fmtDur(j.duration)),
    h('td', null, taskChips(j.tasks)),
    h('td', null, badge(j.state, 'job-state')));
  const heads = c => ['Job', 'Start time', ...(c ? ['End time'] : []), '#Duration', 'Tasks', 'State'];
  return {
    running: card('Running jobs', { meta: `${running.length}`, flush: true, testid: 'running-jobs', body: table(heads(false), running.map(j => row(j, false)), 'No running jobs. Submit one from the Submit job page or with `weir submit`.') }),
    done: card('Completed jobs', { meta: `${done.length}`, flush: true, testid: 'completed-jobs', body: table(heads(true), done.map(j => row(j, true)), 'No completed jobs yet.') }),
  };
}

function overviewView() {
  const el = h('div', { class: 'view-body' });
  const statsEl = h('div', { class: 'stats' });
  const tables = h('div', { style: { display: 'flex', flexDirection: 'column', gap: '16px' } });
  const err = h('div');
  el.append(err, statsEl, tables);
  return {
    el, crumbs: () => crumbs('Overview'),
    async refresh() {
      try {
        const [ov, jobs] = await Promise.all([api('/overview'), api('/jobs/overview')]);
        clear(err);
        const used = (ov['slots-total'] || 0) - (ov['slots-available'] || 0);
        fill(statsEl,
          stat('Workers', ov.taskmanagers ?? '–', 'tone-info', null, 'stat-workers'),
          stat('Slots total', ov['slots-total'] ?? '–', 'tone-idle', `${used} in use`, 'stat-slots-total'),
          stat('Slots free', ov['slots-available'] ?? '–', ov['slots-available'] > 0 ? 'tone-ok' : 'tone-warn', null, 'stat-slots-free'),
          stat('Running jobs', ov['jobs-running'] ?? '–', 'tone-ok', null, 'stat-jobs-running'),
          stat('Finished', ov['jobs-finished'] ?? '–', 'tone-info', null, 'stat-jobs-finished'),
          stat('Cancelled', ov['jobs-cancelled'] ?? '–', 'tone-idle', null, 'stat-jobs-cancelled'),
          stat('Failed', ov['jobs-failed'] ?? '–', ov['jobs-failed'] > 0 ? 'tone-bad' : 'tone-idle', null, 'stat-jobs-failed'));
        const t = jobsTables(jobs.jobs || []);
        fill(tables, t.running, t.done);
      } catch (e) { fill(err, errorBanner(e, 'Could not load the overview')); throw e; }
    },
    destroy() {},
  };
}

function jobsView() {
  const el = h('div', { class: 'view-body' });
  const body = h('div', { style: { display: 'flex', flexDirection: 'column', gap: '16px' } });
  const err = h('div');
  el.append(err, body);
  return {
    el, crumbs: () => crumbs('Jobs'),
    async refresh() {
      try {
        const jobs = await api('/jobs/overview');
        clear(err);
        const t = jobsTables(jobs.jobs || []);
        fill(body, t.running, t.done);
      } catch (e) { fill(err, errorBanner(e, 'Could not load the jobs')); throw e; }
    },
    destroy() {},
  };
}

// ---- job page
const JOB_TABS = [['overview', 'Overview'], ['checkpoints', 'Checkpoints'], ['exceptions', 'Exceptions'], ['watermarks', 'Watermarks']];

function jobView(jid, initialTab) {
  const st = jobStore(jid);
  const tabOk = t => (JOB_TABS.some(([id]) => id === t) ? t : 'overview');
  let tab = tabOk(initialTab), job = null, tabPart = null, destroyed = false;
  const el = h('div', { class: 'view-body' });
  const err = h('div');
  const title = h('h1', null, h('span', { 'data-testid': 'job-title' }, short(jid)));
  const sub = h('div', { class: 'sub' });
  const btnSave = h('button', { class: 'btn', 'data-testid': 'savepoint-button', onclick: () => triggerSavepoint(false), disabled: true, title: 'Take a savepoint; the job keeps running' },
    icon('M12 3v12M7 10l5 5 5-5M5 21h14'), 'Savepoint');
  const btnStop = h('button', { class: 'btn', 'data-testid': 'stop-button', onclick: () => triggerSavepoint(true), disabled: true, title: 'Take a savepoint, then stop the job' },
    icon('M6 6h12v12H6z'), 'Stop with savepoint');
  const btnCancel = h('button', { class: 'btn danger', 'data-testid': 'cancel-button', onclick: cancelJob, disabled: true, title: 'Cancel the job without a savepoint' },
    icon('M6 6l12 12M18 6L6 18'), 'Cancel');
  const head = h('div', { class: 'page-head' }, h('div', null, title, sub), h('div', { class: 'actions' }, btnSave, btnStop, btnCancel));
  const msg = h('div');
  const ops = h('div', { class: 'ops', 'data-testid': 'operations' });
  const tabs = h('nav', { class: 'tabs', 'data-testid': 'job-tabs' });
  const tabBody = h('div', { style: { display: 'flex', flexDirection: 'column', gap: '16px' } });
  el.append(err, head, msg, ops, tabs, tabBody);

  function renderTabs(extra = {}) {
    fill(tabs, JOB_TABS.map(([id, label]) => h('a', { href: `#/jobs/${jid}/${id}`, class: id === tab ? 'active' : null, 'data-testid': `tab-${id}` }, label,
      extra[id] != null ? h('span', { class: `count${id === 'exceptions' && extra[id] > 0 ? ' bad' : ''}` }, String(extra[id])) : null)));
  }
  renderTabs();

  function mountTab() {
    if (tabPart) tabPart.destroy();
    clear(tabBody);
    const ctor = { overview: jobOverviewTab, checkpoints: checkpointsTab, exceptions: exceptionsTab, watermarks: watermarksTab }[tab] || jobOverviewTab;
    tabPart = ctor(jid, st, () => view.refresh());
    tabBody.append(tabPart.el);
  }
  mountTab();

  // -- operations (savepoint, stop): the list survives tab switches
  function renderOps() {
    fill(ops, st.ops.slice(-3).map(op => {
      const status = op.status;
      const kids = [
        status === 'IN_PROGRESS' ? h('span', { class: 'spinner' }) : null,
        h('span', { class: 'what' }, op.kind),
        h('span', { 'data-testid': op.kind === 'Savepoint' ? 'savepoint-status' : 'stop-status', 'data-status': status, 'data-request-id': op.rid || '' }, badge(status)),
        op.rid ? h('span', { class: 'muted mono', title: `request-id ${op.rid}` }, short(op.rid)) : null,
        h('span', { class: 'muted' }, op.done ? `${fmtClock(op.started)} · took ${fmtDur(op.done - op.started)}` : `since ${fmtClock(op.started)}`),
        op.location ? h('span', { class: 'loc', 'data-testid': op.kind === 'Savepoint' ? 'savepoint-location' : 'stop-location' }, op.location) : null,
        op.error ? h('span', { class: 'muted', 'data-testid': 'operation-error' }, firstLine(op.error)) : null,
        h('button', { class: 'btn small close', title: 'Dismiss', onclick: () => { st.ops.splice(st.ops.indexOf(op), 1); renderOps(); } }, '×'),
        op.error && op.error.includes('\n') ? h('details', null, h('summary', null, 'Stack trace'), h('pre', null, op.error)) : null,
      ];
      return h('div', { class: 'op', 'data-testid': 'operation' }, kids);
    }));
  }
  renderOps();

  async function triggerSavepoint(stop) {
    if (stop && !(await confirmDialog('Stop with a savepoint?', `The job "${job ? job.name : jid}" takes a savepoint and then stops.`, 'Stop job', true))) return;
    const op = { kind: stop ? 'Stop with savepoint' : 'Savepoint', status: 'IN_PROGRESS', started: Date.now() };
    st.ops.push(op);
    renderOps();
    try {
      const r = await api(`/jobs/${jid}/${stop ? 'stop' : 'savepoints'}`, { method: 'POST', json: stop ? {} : { 'cancel-job': false } });
      op.rid = r['request-id'];
      if (!op.rid) throw new Error('the coordinator answered without a request-id');
      renderOps();
      for (;;) {
        await new Promise(res => setTimeout(res, 1000));
        const a = await api(`/jobs/${jid}/savepoints/${op.rid}`);
        const sid = a.status && a.status.id;
        if (sid === 'COMPLETED') {
          const o = a.operation || {};
          const fc = o['failure-cause'];
          if (fc) { op.status = 'FAILED'; op.error = fc['stack-trace'] || fc['serialized-throwable'] || fc.message || JSON.stringify(fc); }
          else { op.status = 'COMPLETED'; op.location = o.location || '(no location returned)'; }
          break;
        }
        if (sid && sid !== 'IN_PROGRESS') { op.status = sid; break; }
        if (Date.now() - op.started > 15 * 60 * 1000) { op.status = 'UNKNOWN'; op.error = 'No answer after 15 minutes; see the checkpoints tab.'; break; }
      }
    } catch (e) { op.status = 'FAILED'; op.error = errText(e); toast(`${op.kind} failed: ${firstLine(op.error)}`, 'error'); }
    op.done = Date.now();
    if (!destroyed) { renderOps(); view.refresh().catch(() => {}); }
  }
  async function cancelJob() {
    if (!(await confirmDialog('Cancel this job?', `The job "${job ? job.name : jid}" stops without a savepoint.`, 'Cancel job', true))) return;
    try {
      await api(`/jobs/${jid}?mode=cancel`, { method: 'PATCH' });
      toast('Cancellation requested.', 'info');
      view.refresh().catch(() => {});
    } catch (e) { toast(`Cancel failed: ${errText(e)}`, 'error'); }
  }

  const view = {
    el, tab: () => tab,
    crumbs: () => crumbs(['Jobs', '#/jobs'], job ? job.name : short(jid)),
    setTab(t) { t = tabOk(t); if (t !== tab) { tab = t; renderTabs(view._counts); mountTab(); view.refresh().catch(() => {}); } },
    async refresh() {
      let cp = null, ex = null;
      try {
        [job, cp, ex] = await Promise.all([api(`/jobs/${jid}`), api(`/jobs/${jid}/checkpoints`).catch(() => null), api(`/jobs/${jid}/exceptions`).catch(() => null)]);
      } catch (e) {
        fill(err, errorBanner(e, e.status === 404 ? 'No such job' : 'Could not load the job'));
        if (e.status === 404) { for (const x of [head, tabs, tabBody]) x.classList.add('hidden'); return; }
        throw e;
      }
      if (destroyed) return;
      clear(err);
      for (const x of [head, tabs, tabBody]) x.classList.remove('hidden');
      view.crumbs();
      recordRates(st, job);
      if (cp) recordCheckpoints(st, cp);
      const state = job.state;
      fill(title, h('span', { 'data-testid': 'job-title' }, job.name), badge(state, 'job-header-state'));
      const latest = cp && cp.latest && cp.latest.completed;
      fill(sub,
        h('span', null, 'ID ', h('b', { class: 'mono', 'data-testid': 'job-id' }, job.jid)),
        h('span', null, 'Started ', h('b', null, fmtTime(job['start-time']))),
        job['end-time'] > 0 ? h('span', null, 'Ended ', h('b', null, fmtTime(job['end-time']))) : null,
        h('span', null, 'Duration ', h('b', null, fmtDur(job.duration))),
        job['job-type'] ? h('span', null, 'Type ', h('b', null, job['job-type'])) : null,
        latest ? h('span', null, 'Last checkpoint ', h('b', null, `#${latest.id} · ${fmtAgo(latest.latest_ack_timestamp || latest.trigger_timestamp)}`)) : null);
      const running = state === 'RUNNING';
      btnSave.disabled = !running;
      btnStop.disabled = !running;
      btnCancel.disabled = TERMINAL.has(state) || state === 'CANCELLING';
      const smsg = job['status-message'];
      fill(msg, smsg ? h('div', { class: 'banner info', 'data-testid': 'status-message' }, h('div', { class: 'msg' }, smsg)) : null);
      const exN = ex && ex.exceptionHistory && Array.isArray(ex.exceptionHistory.entries) ? ex.exceptionHistory.entries.length : (ex && ex['root-exception'] ? 1 : 0);
      view._counts = { checkpoints: cp && cp.counts ? cp.counts.completed : null, exceptions: exN || null };
      renderTabs(view._counts);
      // Backpressure of every vertex (the graph's colours): optional endpoint.
      const vs = job.vertices || [];
      const bpPromise = running ? Promise.all(vs.map(v => api(`/jobs/${jid}/vertices/${encodeURIComponent(v.id)}/backpressure`, { optional: 'backpressure' }).catch(() => null)
        .then(b => { if (b) st.bp.set(v.id, b); else st.bp.delete(v.id); }))) : Promise.resolve(st.bp.clear());
      await bpPromise;
      if (!destroyed && tabPart) await tabPart.update(job, cp, ex);
    },
    destroy() { destroyed = true; if (tabPart) tabPart.destroy(); },
  };
  return view;
}
function icon(d) { return s('svg', { viewBox: '0 0 24 24', 'aria-hidden': 'true' }, s('path', { d })); }

function jobOverviewTab(jid, st, refresh) {
  const el = h('div', { style: { display: 'flex', flexDirection: 'column', gap: '16px' } });
  const graph = JobGraph(id => { st.selected = st.selected === id ? null : id; refresh().catch(() => {}); });
  const legend = h('span', { class: 'legend' }, h('span', null, h('i', { class: 'l-ok' }), 'OK'), h('span', null, h('i', { class: 'l-low' }), 'Low'),
    h('span', null, h('i', { class: 'l-high' }), 'High'), h('span', null, h('i', { class: 'l-na' }), 'No data'));
  const graphCard = card('Job graph', { meta: [h('span', null, 'Backpressure'), legend], flush: true, body: graph.el });
  const chartCard = card('Throughput', { meta: 'records/s per vertex (out; sinks: in), last 5 minutes', testid: 'throughput' });
  const chart = makeChart(chartCard.body, { series: [], testid: 'throughput-chart', axes: { y: [{ scale: 'y', fmt: fmtNum }] } });
  const verticesCard = card('Vertices', { flush: true, testid: 'vertices' });
  const subCard = card('Sub-tasks', { flush: true, testid: 'subtasks' });
  el.append(graphCard, chartCard, verticesCard, subCard);

  return {
    el,
    async update(job) {
      const vs = job.vertices || [];
      if (st.selected && !vs.some(v => v.id === st.selected)) st.selected = null;
      graph.update(job, st);
      // throughput chart
      const ids = [...st.series.keys()].filter(id => vs.some(v => v.id === id));
      const sinks = sinkIds(job);
      const defs = ids.map((id, i) => ({ label: `${(vs.find(v => v.id === id) || {}).name || short(id)}${sinks.has(id) ? ' (in)' : ''}`, color: PALETTE[i % PALETTE.length], fmt: fmtRate }));
      chart.setData(defs, [st.times.map(t => t / 1000), ...ids.map(id => st.series.get(id))]);
      // vertex table
      const rows = vs.map(v => {
        const m = v.metrics || {};
        const r = st.rates.get(v.id);
        const bp = st.bp.get(v.id);
        const lvl = bpLevel(bp);
        const busy = bp && bp.subtasks && bp.subtasks.length ? bp.subtasks.reduce((a, x) => a + (+x.busyRatio || 0), 0) / bp.subtasks.length : null;
        return h('tr', { class: `click${st.selected === v.id ? ' selected' : ''}`, 'data-testid': 'vertex-row', 'data-vertex-id': v.id, onclick: () => { st.selected = st.selected === v.id ? null : v.id; refresh().catch(() => {}); } },
          h('td', { class: 'name' }, v.name),
          h('td', null, badge(v.status)),
          h('td', { class: 'num' }, v.parallelism),
          countRate(+m['read-records'] || 0, r && r.in, 'in'), countRate(+m['write-records'] || 0, r && r.out, 'out'),
          h('td', { class: 'num' }, `${fmtBytes(+m['read-bytes'] || 0)} / ${fmtBytes(+m['write-bytes'] || 0)}`),
          h('td', null, lvl ? h('span', { class: `bp bp-${lvl}` }, lvl.toUpperCase()) : h('span', { class: 'muted' }, isMissing('backpressure') ? 'n/a' : '–')),
          numCell(busy, fmtPct),
          h('td', { class: 'num' }, fmtDur(v.duration)),
          h('td', null, taskChips(v.tasks)));
      });
      fill(verticesCard.body, table(['Name', 'Status', '#Parallelism', '#Records in', '#Records out', '#Bytes in / out', 'Backpressure', '#Busy', '#Duration', 'Tasks'], rows, 'This job has no vertices.'));
      // sub-tasks of the selected vertex
      const sel = vs.find(v => v.id === st.selected);
      if (!sel) {
        fill(subCard.head, h('h2', null, 'Sub-tasks'), h('div', { class: 'meta' }, 'Click a vertex in the graph or the table'));
        fill(subCard.body, h('div', { class: 'empty' }, 'Select a vertex to see its sub-tasks.'));
        return;
      }
      let vd;
      try { vd = await api(`/jobs/${jid}/vertices/${encodeURIComponent(sel.id)}`); } catch (e) { fill(subCard.body, errorBanner(e, 'Could not load the sub-tasks')); return; }
      const bp = st.bp.get(sel.id);
      const bpBySub = new Map(((bp && bp.subtasks) || []).map(x => [x.subtask, x]));
      fill(subCard.head, h('h2', null, `Sub-tasks of ${sel.name}`), h('div', { class: 'meta' }, `parallelism ${sel.parallelism}`,
        h('button', { class: 'btn small', onclick: () => { st.selected = null; refresh().catch(() => {}); } }, 'Close')));
      const srows = (vd.subtasks || []).map(x => {
        const m = x.metrics || {};
        const b = bpBySub.get(x.subtask);
        const lvl = bpLevel(b);
        const tm = x['taskmanager-id'];
        return h('tr', { 'data-testid': 'subtask-row' },
          h('td', { class: 'num' }, x.subtask),
          h('td', null, badge(x.status)),
          h('td', null, tm ? h('a', { href: `#/workers/${encodeURIComponent(tm)}`, class: 'mono', title: tm }, short(tm)) : '–'),
          h('td', { class: 'mono' }, x.endpoint || x.host || '–'),
          numCell(+m['read-records'] || 0), numCell(+m['write-records'] || 0),
          h('td', { class: 'num' }, `${fmtBytes(+m['read-bytes'] || 0)} / ${fmtBytes(+m['write-bytes'] || 0)}`),
          h('td', null, lvl ? h('span', { class: `bp bp-${lvl}` }, `${lvl.toUpperCase()} ${fmtPct(b.ratio)}`) : '–'),
          h('td', { class: 'num' }, b ? `${fmtPct(b.busyRatio)} / ${fmtPct(b.idleRatio)}` : '–'),
          h('td', { class: 'num' }, fmtDur(x.duration)),
          h('td', { class: 'num' }, x.attempt ?? '–'));
      });
      fill(subCard.body, table(['#Sub-task', 'Status', 'Worker', 'Endpoint', '#Records in', '#Records out', '#Bytes in / out', 'Backpressure', '#Busy / idle', '#Duration', '#Attempt'], srows, 'No sub-tasks.'));
    },
    destroy() { chart.destroy(); },
  };
}

function checkpointsTab(jid, st) {
  const el = h('div', { style: { display: 'flex', flexDirection: 'column', gap: '16px' } });
  const err = h('div');
  const statsEl = h('div', { class: 'stats' });
  const latestCard = card('Latest', { flush: true, testid: 'checkpoints-latest' });
  const chartCard = card('Duration and size', { meta: 'end-to-end duration (left) and checkpointed size (right) by checkpoint', testid: 'checkpoint-chart-card' });
  const chart = makeChart(chartCard.body, {
    series: [], xTime: false, testid: 'checkpoint-chart',
    axes: { xLabel: 'Checkpoint', y: [{ scale: 'ms', fmt: fmtDur }, { scale: 'bytes', fmt: fmtBytes }] },
  });
  const historyCard = card('History', { flush: true, testid: 'checkpoint-history' });
  const summaryCard = card('Summary', { flush: true });
  const configCard = card('Configuration', { testid: 'checkpoint-config' });
  el.append(err, statsEl, chartCard, latestCard, historyCard, h('div', { class: 'grid2' }, summaryCard, configCard));
  let configLoaded = false;

  return {
    el,
    async update(job, cp) {
      if (!cp) { try { cp = await api(`/jobs/${jid}/checkpoints`); } catch (e) { fill(err, errorBanner(e, 'Could not load the checkpoints')); return; } }
      clear(err);
      const c = cp.counts || {};
      const lc = cp.latest && cp.latest.completed;
      fill(statsEl,
        stat('Completed', c.completed ?? 0, 'tone-ok', null, 'ckpt-completed'),
        stat('In progress', c.in_progress ?? 0, 'tone-info'),
        stat('Failed', c.failed ?? 0, c.failed > 0 ? 'tone-bad' : 'tone-idle'),
        stat('Restored', c.restored ?? 0, 'tone-idle'),
        stat('Latest duration', lc ? fmtDur(lc.end_to_end_duration) : '–', 'tone-wait'),
        stat('Latest size', lc ? fmtBytes(lc.checkpointed_size ?? lc.state_size) : '–', 'tone-wait'));
      // latest
      const L = cp.latest || {};
      const lrow = (label, x, detail) => h('tr', { 'data-testid': 'latest-row' }, h('td', { class: 'name' }, label),
        x ? [h('td', { class: 'num' }, `#${x.id}`), h('td', { class: 'nowrap' }, fmtTime(x.latest_ack_timestamp || x.trigger_timestamp || x.restore_timestamp || x.failure_timestamp)),
          h('td', { class: 'num' }, fmtDur(x.end_to_end_duration)), h('td', { class: 'num' }, fmtBytes(x.checkpointed_size ?? x.state_size)),
          h('td', { class: 'path' }, detail(x))] : [h('td', { class: 'muted', colspan: 5 }, 'none')]);
      fill(latestCard.body, table(['Kind', '#ID', 'Time', '#Duration', '#Size', 'Path or cause'], [
        lrow('Completed checkpoint', L.completed, x => x.external_path || ''),
        lrow('Savepoint', L.savepoint, x => x.external_path || ''),
        lrow('Failed checkpoint', L.failed, x => x.failure_message || ''),
        lrow('Restored', L.restored, x => `${x.is_savepoint ? 'savepoint ' : ''}${x.external_path || ''}`),
      ]));
      // chart over the accumulated history
      const hist = [...st.ckpts.values()].sort((a, b) => a.id - b.id);
      const done = hist.filter(x => x.status === 'COMPLETED');
      chart.setData([
        { label: 'Duration', scale: 'ms', fmt: fmtDur, color: '#3b6fd8', points: true },
        { label: 'Checkpointed size', scale: 'bytes', fmt: fmtBytes, color: '#e8833a', points: true },
      ], [done.map(x => x.id), done.map(x => x.end_to_end_duration ?? null), done.map(x => x.checkpointed_size ?? x.state_size ?? null)]);
      // history table (newest first)
      const rows = hist.slice().reverse().slice(0, 60).map(x => h('tr', { 'data-testid': 'checkpoint-row', 'data-checkpoint-id': x.id },
        h('td', { class: 'num' }, `#${x.id}`),
        h('td', null, badge(x.status)),
        h('td', null, x.is_savepoint ? h('span', { class: 'chip s-wait' }, 'savepoint') : h('span', { class: 'chip' }, String(x.checkpoint_type || 'checkpoint').toLowerCase())),
        h('td', { class: 'nowrap' }, fmtTime(x.trigger_timestamp)),
        h('td', { class: 'num' }, fmtDur(x.end_to_end_duration)),
        numCell(x.checkpointed_size, fmtBytes), numCell(x.state_size, fmtBytes),
        h('td', { class: 'num' }, x.num_subtasks != null ? `${x.num_acknowledged_subtasks ?? '?'}/${x.num_subtasks}` : '–'),
        h('td', { class: 'path' }, x.external_path || x.failure_message || '')));
      fill(historyCard.head, h('h2', null, 'History'), h('div', { class: 'meta' }, `${hist.length} seen since this page opened${hist.length > 60 ? ' (newest 60 shown)' : ''}`));
      fill(historyCard.body, table(['#ID', 'Status', 'Type', 'Triggered', '#End to end', '#Checkpointed size', '#State size', '#Acknowledged', 'Path'], rows, 'No checkpoints yet.'));
      // summary
      const S = cp.summary || {};
      const srow = (label, key, f) => { const x = S[key]; return x ? h('tr', null, h('td', { class: 'name' }, label), ['min', 'avg', 'p90', 'p99', 'max'].map(k => numCell(x[k], f))) : null; };
      fill(summaryCard.body, table(['Metric', '#Min', '#Avg', '#p90', '#p99', '#Max'], [
        srow('End to end duration', 'end_to_end_duration', fmtDur), srow('Checkpointed size', 'checkpointed_size', fmtBytes),
        srow('State size', 'state_size', fmtBytes), srow('Processed in alignment', 'processed_data', fmtBytes), srow('Persisted in alignment', 'persisted_data', fmtBytes),
      ].filter(Boolean), 'No completed checkpoints yet.'));
      // configuration: optional endpoint, read once
      if (!configLoaded) {
        configLoaded = true;
        try {
          const cfg = await api(`/jobs/${jid}/checkpoints/config`, { optional: 'checkpoint-config' });
          if (!cfg) fill(configCard.body, h('div', { class: 'muted' }, 'This coordinator does not serve GET /jobs/:jid/checkpoints/config.'));
          else {
            const ext = cfg.externalization || {};
            const kv = [['Mode', cfg.mode], ['Interval', fmtDur(cfg.interval)], ['Timeout', fmtDur(cfg.timeout)], ['Minimum pause', fmtDur(cfg.min_pause)],
              ['Maximum concurrent', cfg.max_concurrent], ['Retained on cancellation', ext.enabled ? (ext.delete_on_cancellation ? 'no (deleted)' : 'yes') : 'not externalized'],
              ['State backend', cfg.state_backend], ['Checkpoint storage', cfg.checkpoint_storage], ['Unaligned', cfg.unaligned_checkpoints],
              ['Tolerable failed checkpoints', cfg.tolerable_failed_checkpoints]].filter(([, v]) => v != null && v !== '–');
            fill(configCard.body, h('dl', { class: 'kv' }, kv.map(([k, v]) => [h('dt', null, k), h('dd', null, String(v))])));
          }
        } catch (e) { fill(configCard.body, errorBanner(e, 'Could not load the checkpoint configuration')); }
      }
    },
    destroy() { chart.destroy(); },
  };
}

function exceptionsTab(jid) {
  const el = h('div');
  const c = card('Exceptions', { flush: true, testid: 'exceptions' });
  el.append(c);
  const open = new Set();
  return {
    el,
    async update(job, cp, ex) {
      if (!ex) { try { ex = await api(`/jobs/${jid}/exceptions`); } catch (e) { fill(c.body, errorBanner(e, 'Could not load the exceptions')); return; } }
      let entries = (ex.exceptionHistory && ex.exceptionHistory.entries) || [];
      if (!entries.length && ex['root-exception']) entries = [{ exceptionName: firstLine(ex['root-exception']), stacktrace: ex['root-exception'], timestamp: ex.timestamp }];
      fill(c.head, h('h2', null, 'Exceptions'), h('div', { class: 'meta' }, `${entries.length} in the history${ex.exceptionHistory && ex.exceptionHistory.truncated ? ' (truncated)' : ''}`));
      if (!entries.length) { fill(c.body, h('div', { class: 'empty' }, 'No exceptions: this job has not failed.')); return; }
      fill(c.body, entries.map((x, i) => {
        const key = `${x.timestamp}-${i}`;
        const d = h('details', { class: 'exc', 'data-testid': 'exception', open: open.has(key) },
          h('summary', null, h('span', { class: 'muted nowrap' }, fmtTime(x.timestamp)), h('span', { class: 'ename' }, x.exceptionName || firstLine(x.stacktrace || 'Exception')),
            h('span', { class: 'muted' }, [x.taskName, x.location || x.endpoint].filter(Boolean).join(' · '))),
          h('pre', { class: 'stack' }, x.stacktrace || ''),
          (x.concurrentExceptions || []).length ? h('div', { class: 'card-body muted' }, `${x.concurrentExceptions.length} concurrent exception(s)`) : null);
        d.addEventListener('toggle', () => { if (d.open) open.add(key); else open.delete(key); });
        return d;
      }));
    },
    destroy() {},
  };
}

const NO_WATERMARK = -9223372036854775000; // Long.MIN_VALUE as a JS number, rounded
function fmtWatermark(v) {
  const n = Number(v);
  if (!isFinite(n) || n <= NO_WATERMARK) return { text: 'No watermark', n: null };
  if (n > 1e11 && n < 1e14) return { text: `${fmtTime(n)}.${String(n % 1000).padStart(3, '0')}`, n };
  return { text: String(v), n };
}
function watermarksTab(jid) {
  const el = h('div');
  const c = card('Watermarks', { flush: true, meta: 'current input watermark of every sub-task', testid: 'watermarks' });
  el.append(c);
  return {
    el,
    async update(job) {
      const vs = job.vertices || [];
      const res = await Promise.all(vs.map(v => api(`/jobs/${jid}/vertices/${encodeURIComponent(v.id)}/watermarks`, { optional: 'watermarks' }).catch(e => ({ error: e }))));
      if (res.every(r => r === null)) { fill(c.body, h('div', { class: 'empty' }, 'This coordinator does not serve GET /jobs/:jid/vertices/:vid/watermarks yet.')); return; }
      const now = job.now > 0 ? job.now : Date.now();
      const rows = [];
      vs.forEach((v, i) => {
        const r = res[i];
        if (r && r.error) { rows.push(h('tr', null, h('td', { class: 'name' }, v.name), h('td', { colspan: 4 }, errText(r.error)))); return; }
        const list = Array.isArray(r) ? r : [];
        const subs = list.filter(m => /currentInputWatermark$/.test(m.id || '')).map(m => ({ sub: String(m.id).split('.')[0], ...fmtWatermark(m.value) }));
        const vals = subs.map(x => x.n).filter(x => x != null);
        const min = vals.length === subs.length && vals.length ? Math.min(...vals) : null;
        rows.push(h('tr', { 'data-testid': 'watermark-row' },
          h('td', { class: 'name' }, v.name),
          h('td', null, min != null ? fmtWatermark(min).text : h('span', { class: 'muted' }, subs.length ? 'No watermark' : 'none reported')),
          h('td', { class: 'num' }, min != null && min > 1e11 ? fmtDur(now - min) : '–'),
          h('td', null, subs.length ? h('span', { class: 'chips' }, subs.map(x => h('span', { class: 'chip', title: `sub-task ${x.sub}` }, `${x.sub}: ${x.text}`))) : '–')));
      });
      fill(c.body, table(['Vertex', 'Minimum watermark', '#Lag', 'Per sub-task'], rows));
    },
    destroy() {},
  };
}

// ---- workers
function workersView() {
  const el = h('div', { class: 'view-body' });
  const err = h('div');
  const statsEl = h('div', { class: 'stats' });
  const c = card('Workers', { flush: true, testid: 'workers' });
  el.append(err, statsEl, c);
  return {
    el, crumbs: () => crumbs('Workers'),
    async refresh() {
      let tms;
      try { tms = (await api('/taskmanagers')).taskmanagers || []; } catch (e) { fill(err, errorBanner(e, 'Could not load the workers')); throw e; }
      clear(err);
      const slots = tms.reduce((a, t) => a + (t.slotsNumber || 0), 0), free = tms.reduce((a, t) => a + (t.freeSlots || 0), 0);
      const cores = tms.reduce((a, t) => a + ((t.hardware && t.hardware.cpuCores) || 0), 0);
      fill(statsEl, stat('Workers', tms.length, 'tone-info'), stat('Slots', slots, 'tone-idle', `${slots - free} in use`), stat('Free slots', free, free ? 'tone-ok' : 'tone-warn'), stat('CPU cores', cores, 'tone-idle'));
      const rows = tms.map(t => h('tr', { class: 'click', 'data-testid': 'worker-row', 'data-worker-id': t.id, onclick: e => { if (!e.target.closest('a')) goto(`#/workers/${encodeURIComponent(t.id)}`); } },
        h('td', null, h('a', { href: `#/workers/${encodeURIComponent(t.id)}`, class: 'mono' }, t.id)),
        h('td', { class: 'mono' }, t.path || '–'),
        h('td', { class: 'num' }, t.dataPort ?? '–'),
        h('td', { class: 'num' }, `${(t.slotsNumber || 0) - (t.freeSlots || 0)} / ${t.slotsNumber ?? '–'}`),
        h('td', { class: 'num' }, t.freeSlots ?? '–'),
        h('td', { class: 'num' }, (t.hardware && t.hardware.cpuCores) ?? '–'),
        numCell(t.hardware && t.hardware.physicalMemory, fmtBytes),
        h('td', { class: 'num' }, fmtAgo(t.timeSinceLastHeartbeat))));
      fill(c.body, table(['ID', 'Address', '#Data port', '#Slots used', '#Free', '#Cores', '#Memory', '#Last heartbeat'], rows, 'No workers registered. Start one with `weir worker` or `weir cluster start`.'));
    },
    destroy() {},
  };
}

function logCard(title, path, feature, testid) {
  let follow = false, wrap = false, filter = '', lastText = null, loaded = false;
  const pre = h('pre', { class: 'log', 'data-testid': testid }, 'Loading…');
  const status = h('span', { class: 'muted' });
  const filterIn = h('input', { type: 'text', placeholder: 'Filter lines', style: { width: '180px', height: '26px' }, oninput: e => { filter = e.target.value; render(); } });
  const followBox = h('input', { type: 'checkbox', onchange: e => { follow = e.target.checked; } });
  const wrapBox = h('input', { type: 'checkbox', onchange: e => { wrap = e.target.checked; pre.classList.toggle('wrap', wrap); } });
  const c = card(title, { flush: true, meta: [status, filterIn, h('label', { class: 'row' }, followBox, 'Follow'), h('label', { class: 'row' }, wrapBox, 'Wrap'),
    h('button', { class: 'btn small', onclick: () => load(true) }, 'Refresh')], body: pre });
  const LIMIT = 1 << 20;
  function render() {
    if (lastText == null) return;
    let t = lastText;
    if (filter) t = t.split('\n').filter(l => l.includes(filter)).join('\n');
    const atBottom = pre.scrollTop + pre.clientHeight >= pre.scrollHeight - 30;
    pre.textContent = t || (filter ? '(no line matches)' : '(empty)');
    if (atBottom || !loaded) pre.scrollTop = pre.scrollHeight;
    loaded = true;
  }
  async function load(manual) {
    if (!manual && loaded && !follow) return;
    try {
      const t = await api(path, { text: true, optional: manual ? null : feature });
      if (t == null) { pre.textContent = `This coordinator does not serve GET ${path} yet.`; status.textContent = ''; return; }
      lastText = t.length > LIMIT ? t.slice(t.length - LIMIT) : t;
      status.textContent = `${fmtBytes(t.length)}${t.length > LIMIT ? ' (last 1 MiB shown)' : ''} · ${fmtClock(Date.now())}`;
      render();
    } catch (e) {
      if (e.status === 404) { pre.textContent = `This coordinator does not serve GET ${path} yet.`; return; }
      pre.textContent = `Could not load the log: ${errText(e)}`;
    }
  }
  return { el: c, load };
}

function workerView(id) {
  const el = h('div', { class: 'view-body' });
  const err = h('div');
  const head = h('div', { class: 'page-head' }, h('div', null, h('h1', { class: 'mono', 'data-testid': 'worker-title' }, id), h('div', { class: 'sub' })));
  const statsEl = h('div', { class: 'stats' });
  const subCard = card('Sub-tasks on this worker', { flush: true, testid: 'worker-subtasks' });
  const slotsCard = card('Allocated slots', { flush: true });
  const log = logCard('Log', `/taskmanagers/${encodeURIComponent(id)}/log`, 'tm-log', 'worker-log');
  el.append(err, head, statsEl, subCard, slotsCard, log.el);
  let first = true;
  return {
    el, crumbs: () => crumbs(['Workers', '#/workers'], short(id)),
    async refresh() {
      let tm;
      try {
        tm = await api(`/taskmanagers/${encodeURIComponent(id)}`, { optional: 'tm-detail' });
        if (!tm) tm = ((await api('/taskmanagers')).taskmanagers || []).find(t => t.id === id);
      } catch (e) { fill(err, errorBanner(e, 'Could not load the worker')); throw e; }
      if (!tm) { fill(err, errorBanner(new Error(`No worker ${id} is registered.`), 'Unknown worker')); return; }
      clear(err);
      fill(head.querySelector('.sub'), h('span', null, 'Address ', h('b', { class: 'mono' }, tm.path || '–')), h('span', null, 'Data port ', h('b', null, tm.dataPort ?? '–')),
        h('span', null, 'Last heartbeat ', h('b', null, fmtAgo(tm.timeSinceLastHeartbeat))));
      const hw = tm.hardware || {};
      fill(statsEl, stat('Slots', tm.slotsNumber ?? '–', 'tone-idle', `${(tm.slotsNumber || 0) - (tm.freeSlots || 0)} in use`), stat('Free slots', tm.freeSlots ?? '–', tm.freeSlots ? 'tone-ok' : 'tone-warn'),
        stat('CPU cores', hw.cpuCores ?? '–', 'tone-idle'), stat('Physical memory', fmtBytes(hw.physicalMemory), 'tone-idle'));
      // The worker's sub-tasks, from the running jobs' vertices (their `taskmanager-id`).
      const found = [];
      try {
        const jobs = ((await api('/jobs/overview')).jobs || []).filter(j => !TERMINAL.has(j.state));
        await Promise.all(jobs.map(async j => {
          const d = await api(`/jobs/${j.jid}`);
          await Promise.all((d.vertices || []).map(async v => {
            const vd = await api(`/jobs/${j.jid}/vertices/${encodeURIComponent(v.id)}`);
            for (const x of vd.subtasks || []) if (x['taskmanager-id'] === id) found.push({ j, v, x });
          }));
        }));
      } catch (e) { fill(subCard.body, errorBanner(e, 'Could not load the sub-tasks')); }
      found.sort((a, b) => (a.j.name + a.v.name).localeCompare(b.j.name + b.v.name) || a.x.subtask - b.x.subtask);
      fill(subCard.body, table(['Job', 'Vertex', '#Sub-task', 'Status', '#Records in', '#Records out', '#Duration'], found.map(({ j, v, x }) => h('tr', { 'data-testid': 'worker-subtask-row' },
        h('td', null, h('a', { href: `#/jobs/${j.jid}`, class: 'name' }, j.name)), h('td', null, v.name), h('td', { class: 'num' }, x.subtask), h('td', null, badge(x.status)),
        numCell(+(x.metrics || {})['read-records'] || 0), numCell(+(x.metrics || {})['write-records'] || 0), h('td', { class: 'num' }, fmtDur(x.duration)))), 'No sub-tasks run on this worker.'));
      const slots = tm.allocatedSlots;
      fill(slotsCard.body, Array.isArray(slots)
        ? table(['#Slot', 'Job', '#CPU'], slots.map((sl, i) => h('tr', null, h('td', { class: 'num' }, i), h('td', null, sl.jobId ? h('a', { class: 'mono', href: `#/jobs/${sl.jobId}` }, sl.jobId) : '–'),
          h('td', { class: 'num' }, sl.resource && sl.resource.cpuCores != null ? sl.resource.cpuCores : '–'))), 'No slot is allocated.')
        : h('div', { class: 'empty' }, 'This coordinator does not serve GET /taskmanagers/:id yet.'));
      await log.load(first);
      first = false;
    },
    destroy() {},
  };
}

// ---- submit
function submitView() {
  const el = h('div', { class: 'view-body' });
  let selected = null, jars = [];
  const fileIn = h('input', { type: 'file', accept: '.zip,.jar', 'data-testid': 'upload-file' });
  const upBtn = h('button', { class: 'btn primary', 'data-testid': 'upload-button', onclick: upload }, icon('M12 16V4M6 10l6-6 6 6M4 20h16'), 'Upload');
  const upStatus = h('span', { class: 'hint-text' });
  const uploadCard = card('Upload a bundle', { body: [h('div', { class: 'row' }, fileIn, upBtn, upStatus),
    h('p', { class: 'hint-text', style: { margin: '8px 0 0' } }, 'A bundle is a zip of a job file and its components, made by `weir package` (Flink calls it a jar).')] });
  const listCard = card('Uploaded bundles', { flush: true, testid: 'jars' });
  const runCard = card('Run', { testid: 'run-form' });
  el.append(uploadCard, listCard, runCard);

  async function upload() {
    const f = fileIn.files && fileIn.files[0];
    if (!f) { toast('Choose a bundle file first.', 'error'); return; }
    const fd = new FormData();
    fd.append('jarfile', f, f.name);
    upBtn.disabled = true;
    upStatus.textContent = `Uploading ${f.name} (${fmtBytes(f.size)})…`;
    try {
      const r = await api('/jars/upload', { method: 'POST', body: fd });
      upStatus.textContent = '';
      toast(`Uploaded ${f.name}`, 'ok');
      const fn = String(r.filename || '');
      selected = fn.split('/').pop() || selected;
      fileIn.value = '';
      await refresh();
    } catch (e) { upStatus.textContent = ''; toast(`Upload failed: ${errText(e)}`, 'error'); }
    finally { upBtn.disabled = false; }
  }

  // run form state survives refreshes
  const params = [];
  const paramBox = h('div', { class: 'params' });
  const parIn = h('input', { type: 'number', min: 1, placeholder: 'job default', 'data-testid': 'run-parallelism', style: { width: '140px' } });
  const spIn = h('input', { type: 'text', placeholder: 'optional: restore from this savepoint', 'data-testid': 'run-savepoint' });
  const nrsBox = h('input', { type: 'checkbox' });
  const entrySel = h('select', { 'data-testid': 'run-entry' });
  const runBtn = h('button', { class: 'btn primary', 'data-testid': 'run-button', onclick: run }, icon('M7 4l13 8-13 8z'), 'Run job');
  function addParam(k = '', v = '') {
    const p = { k: h('input', { type: 'text', placeholder: 'name (e.g. output)', value: k }), v: h('input', { type: 'text', placeholder: 'value', value: v }) };
    p.row = h('div', { class: 'param-row', 'data-testid': 'param-row' }, p.k, p.v, h('button', { class: 'btn small', title: 'Remove', onclick: () => { params.splice(params.indexOf(p), 1); p.row.remove(); } }, '×'));
    params.push(p);
    paramBox.append(p.row);
  }
  addParam();
  const form = h('div', { class: 'form' },
    h('label', null, 'Job file'), entrySel,
    h('label', null, 'Parameters'), h('div', null, paramBox, h('button', { class: 'btn small', style: { marginTop: '6px' }, onclick: () => addParam() }, '+ Add parameter')),
    h('label', null, 'Parallelism'), parIn,
    h('label', null, 'Savepoint path'), spIn,
    h('label', null, ''), h('label', { class: 'row', style: { color: 'inherit', fontWeight: 400 } }, nrsBox, 'Allow non-restored state'),
    h('label', null, ''), h('div', null, runBtn));

  async function run() {
    if (!selected) { toast('Select a bundle first.', 'error'); return; }
    const args = [];
    for (const p of params) {
      const k = p.k.value.trim().replace(/^--/, '');
      if (!k) continue;
      args.push(`--${k}`, p.v.value);
    }
    const body = { programArgsList: args, parallelism: parIn.value ? parseInt(parIn.value, 10) : null, entryClass: entrySel.value || null, savepointPath: spIn.value.trim() || null };
    if (nrsBox.checked) body.allowNonRestoredState = true;
    runBtn.disabled = true;
    try {
      const r = await api(`/jars/${encodeURIComponent(selected)}/run`, { method: 'POST', json: body });
      if (r.jobid) { toast(`Submitted job ${r.jobid}`, 'ok'); goto(`#/jobs/${r.jobid}`); }
      else toast('The coordinator accepted the run but returned no job id.', 'error');
    } catch (e) { toast(`Run failed: ${errText(e)}`, 'error'); }
    finally { runBtn.disabled = false; }
  }

  function renderRun() {
    const jar = jars.find(j => j.id === selected);
    if (!jar) { fill(runCard.head, h('h2', null, 'Run')); fill(runCard.body, h('div', { class: 'muted' }, 'Select an uploaded bundle to run it.')); return; }
    fill(runCard.head, h('h2', null, `Run ${jar.name}`), h('div', { class: 'meta mono' }, jar.id));
    const entries = jar.entry || [];
    const cur = entrySel.value;
    fill(entrySel, entries.length ? entries.map(e => h('option', { value: e.name, selected: e.name === cur }, e.description ? `${e.name} — ${e.description}` : e.name))
      : h('option', { value: '' }, '(the bundle\'s job file)'));
    if (runCard.body.firstChild !== form) fill(runCard.body, form);
  }

  async function refresh() {
    try { jars = (await api('/jars')).files || []; } catch (e) { fill(listCard.body, errorBanner(e, 'Could not list the bundles')); throw e; }
    jars.sort((a, b) => (b.uploaded || 0) - (a.uploaded || 0));
    if (selected && !jars.some(j => j.id === selected)) selected = null;
    if (!selected && jars.length === 1) selected = jars[0].id;
    fill(listCard.body, table(['Name', 'Uploaded', 'Job files', ''], jars.map(j => h('tr', { class: `click${j.id === selected ? ' selected' : ''}`, 'data-testid': 'jar-row', 'data-jar-id': j.id,
      onclick: () => { selected = j.id; refresh().catch(() => {}); } },
      h('td', null, h('div', { class: 'name' }, j.name), h('div', { class: 'muted mono', style: { fontSize: '11px' } }, j.id)),
      h('td', { class: 'nowrap' }, fmtTime(j.uploaded)),
      h('td', null, (j.entry || []).map(e => e.name).join(', ') || '–'),
      h('td', { class: 'num' }, h('button', { class: 'btn small' }, j.id === selected ? 'Selected' : 'Select')))), 'No bundles uploaded yet.'));
    renderRun();
  }
  return { el, crumbs: () => crumbs('Submit job'), refresh, destroy() {}, slow: true };
}

function logView() {
  const el = h('div', { class: 'view-body page-log' });
  const log = logCard('Coordinator log', '/jobmanager/log', 'jm-log', 'coordinator-log');
  el.append(log.el);
  let first = true;
  return { el, crumbs: () => crumbs('Coordinator log'), async refresh() { await log.load(first); first = false; }, destroy() {} };
}

// ---------------------------------------------------------------- router and polling
const ROUTES = [
  [/^\/?(overview)?$/, () => overviewView(), 'overview'],
  [/^\/jobs$/, () => jobsView(), 'jobs'],
  [/^\/jobs\/([0-9A-Za-z_-]+)(?:\/([a-z]+))?$/, (jid, tab) => jobView(jid, tab || 'overview'), 'jobs'],
  [/^\/workers$/, () => workersView(), 'workers'],
  [/^\/workers\/(.+)$/, id => workerView(decodeURIComponent(id)), 'workers'],
  [/^\/submit$/, () => submitView(), 'submit'],
  [/^\/log$/, () => logView(), 'log'],
];
const app = { view: null, key: null, interval: 3000, busy: false, timer: null };

function route() {
  const path = location.hash.replace(/^#/, '') || '/overview';
  const viewEl = document.getElementById('view');
  for (const [re, make, nav] of ROUTES) {
    const m = path.match(re);
    if (!m) continue;
    // Switching tabs of the same job keeps the job view (and its operations).
    const jobMatch = nav === 'jobs' && m[1] && re.source.includes('jobs\\/');
    if (jobMatch && app.view && app.key === `job:${m[1]}`) { app.view.setTab(m[2] || 'overview'); return; }
    if (app.view) app.view.destroy();
    app.view = make(...m.slice(1));
    app.key = jobMatch ? `job:${m[1]}` : path;
    for (const a of document.querySelectorAll('.nav a')) a.classList.toggle('active', a.dataset.nav === nav);
    fill(viewEl, app.view.el);
    app.view.crumbs();
    tick(true);
    return;
  }
  goto('#/overview');
}

async function tick(force) {
  if (app.busy && !force) return;
  if (document.hidden && !force) return;
  const v = app.view;
  app.busy = true;
  try {
    const [ov] = await Promise.all([api('/overview').catch(() => null), v ? v.refresh() : null]);
    if (ov) {
      const n = ov['jobs-running'];
      document.getElementById('nav-running').textContent = n > 0 ? String(n) : '';
    }
    setConn(true);
  } catch (e) {
    if (e instanceof ApiError && e.status === 0) setConn(false, e); else setConn(true);
  } finally { app.busy = false; }
}

async function start() {
  try {
    const cfg = await api('/config');
    if (cfg['refresh-interval'] > 0) app.interval = Math.max(500, cfg['refresh-interval']);
    fill(document.getElementById('version'), h('div', null, cfg['flink-version'] || ''), h('div', null, `refresh ${fmtDur(app.interval)}`));
  } catch (e) { setConn(false, e); }
  window.addEventListener('hashchange', route);
  document.addEventListener('visibilitychange', () => { if (!document.hidden) tick(); });
  route();
  app.timer = setInterval(() => tick(false), app.interval);
}
start();
})();
