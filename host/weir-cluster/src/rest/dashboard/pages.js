// Weir dashboard: the other pages (overview, jobs, workers, a worker, submit, coordinator log).
// The dashboard's scripts are classic scripts sharing their top-level names, loaded in
// this order by index.html (after uPlot): api.js, graph.js, job.js, pages.js, app.js.
'use strict';

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
