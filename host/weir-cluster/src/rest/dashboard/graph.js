// Weir dashboard: the charts (uPlot), the per-job client-side state (rates, throughput and
// checkpoint histories) and the job graph (SVG).
// The dashboard's scripts are classic scripts sharing their top-level names, loaded in
// this order by index.html (after uPlot): api.js, graph.js, job.js, pages.js, app.js.
'use strict';

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
