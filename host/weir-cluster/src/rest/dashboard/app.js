// Weir dashboard: the router, the polling and the start-up (the last script index.html loads).
// The dashboard's scripts are classic scripts sharing their top-level names, loaded in
// this order by index.html (after uPlot): api.js, graph.js, job.js, pages.js, app.js.
'use strict';

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
