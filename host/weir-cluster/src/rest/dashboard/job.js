// Weir dashboard: the job page and its tabs (overview, checkpoints, exceptions, watermarks).
// The dashboard's scripts are classic scripts sharing their top-level names, loaded in
// this order by index.html (after uPlot): api.js, graph.js, job.js, pages.js, app.js.
'use strict';

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
