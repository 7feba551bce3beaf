// Browser test of the coordinator's web dashboard: drives Debian's chromium (headless) through
// playwright-core against a live cluster with a RUNNING job. scripts/test-dashboard starts the
// cluster and the job and runs this file.
//
//   WEIR_REST_URL  the coordinator's REST URL (it serves the dashboard at /), e.g. http://127.0.0.1:8081
//   WEIR_JOB_ID    a RUNNING job's id (32 hex digits)
//   WEIR_JOB_NAME  that job's name
//   SCREENSHOT_DIR where the screenshots go (default: target/dashboard-screenshots)
//   CHROMIUM       the browser (default: /usr/bin/chromium)
import fs from 'node:fs';
import path from 'node:path';
import { chromium } from 'playwright-core';

const REST = (process.env.WEIR_REST_URL || '').replace(/\/+$/, '');
const JID = process.env.WEIR_JOB_ID || '';
const NAME = process.env.WEIR_JOB_NAME || '';
const SHOTS = path.resolve(process.env.SCREENSHOT_DIR || 'target/dashboard-screenshots');
const CHROMIUM = process.env.CHROMIUM || '/usr/bin/chromium';

// The dashboard tolerates endpoints missing (it says so on the page), but this server has every
// one it calls: a 404 fails the test like any other console error.
const OPTIONAL = [];

class TestFailure extends Error {}
function fail(msg) { throw new TestFailure(msg); }
function step(msg) { console.log(`dashboard test: ${msg}`); }

async function rest(p) {
  const res = await fetch(REST + p);
  if (!res.ok) fail(`GET ${p} answered ${res.status}: ${(await res.text()).slice(0, 300)}`);
  return res.json();
}

// Polls fn until it returns a truthy value; fails with what() after timeoutMs.
async function until(what, timeoutMs, fn, everyMs = 250) {
  const end = Date.now() + timeoutMs;
  let last;
  for (;;) {
    try {
      const v = await fn();
      if (v) return v;
    } catch (e) { last = e; }
    if (Date.now() > end) fail(`${typeof what === 'function' ? await what() : what} (waited ${timeoutMs / 1000} s)${last ? `: ${last.message}` : ''}`);
    await new Promise(r => setTimeout(r, everyMs));
  }
}

async function main() {
  if (!REST) fail('set WEIR_REST_URL to the coordinator\'s REST URL');
  if (!/^[0-9a-f]{32}$/.test(JID)) fail(`set WEIR_JOB_ID to a job id of 32 hex digits (got "${JID}")`);
  if (!NAME) fail('set WEIR_JOB_NAME to the job\'s name');
  if (!fs.existsSync(CHROMIUM)) fail(`no browser at ${CHROMIUM}: install Debian's chromium (apt-get install -y chromium) or set CHROMIUM`);
  fs.mkdirSync(SHOTS, { recursive: true });

  // What the page should show, from the REST API itself.
  let job = await rest(`/jobs/${JID}`);
  const runBy = Date.now() + 30000;
  while (job.state !== 'RUNNING' && !['FINISHED', 'CANCELED', 'FAILED'].includes(job.state) && Date.now() < runBy) {
    await new Promise(r => setTimeout(r, 500));
    job = await rest(`/jobs/${JID}`);
  }
  if (job.state !== 'RUNNING') fail(`job ${JID} is ${job.state}, not RUNNING: the test needs a running job${job['status-message'] ? ` (${job['status-message']})` : ''}`);
  const vertices = job.vertices || [];
  if (!vertices.length) fail(`GET /jobs/${JID} lists no vertices`);
  const tms = (await rest('/taskmanagers')).taskmanagers || [];

  const browser = await chromium.launch({
    executablePath: CHROMIUM,
    headless: true,
    args: ['--no-sandbox', '--disable-gpu', '--disable-background-networking'],
  });
  const consoleErrors = [];
  const warnings = [];
  try {
    const context = await browser.newContext({ viewport: { width: 1440, height: 1000 }, deviceScaleFactor: 1 });
    const page = await context.newPage();
    page.setDefaultTimeout(20000);
    const failed404 = new Set();
    page.on('response', r => { if (r.status() === 404) failed404.add(new URL(r.url()).pathname); });
    page.on('pageerror', e => consoleErrors.push(`uncaught exception: ${e.message}`));
    page.on('console', msg => {
      if (msg.type() !== 'error') return;
      const text = msg.text();
      const url = msg.location() && msg.location().url ? new URL(msg.location().url).pathname : '';
      if (/Failed to load resource: the server responded with a status of 404/.test(text) && OPTIONAL.some(re => re.test(url))) {
        warnings.push(`optional endpoint missing (404): ${url}`);
        return;
      }
      consoleErrors.push(`${text}${url ? ` (${url})` : ''}`);
    });
    const shot = async name => {
      const file = path.join(SHOTS, name);
      await page.screenshot({ path: file, fullPage: true });
      step(`screenshot ${file}`);
    };

    // 1. Overview: the job's row, its name, RUNNING.
    step(`open ${REST}/`);
    const resp = await page.goto(`${REST}/`, { waitUntil: 'load' });
    if (!resp || !resp.ok()) fail(`GET / answered ${resp ? resp.status() : 'nothing'}: the coordinator does not serve the dashboard`);
    const row = page.locator(`[data-testid="job-row"][data-jid="${JID}"]`);
    await until(`the overview lists no row for job ${JID}`, 20000, () => row.count());
    const shownName = (await row.locator('[data-testid="job-name"]').textContent()).trim();
    if (shownName !== NAME) fail(`the overview names job ${JID} "${shownName}", not "${NAME}"`);
    await until(async () => `the overview shows job ${JID} as ${await row.locator('[data-testid="job-state"]').textContent()}, not RUNNING`, 10000,
      async () => (await row.locator('[data-testid="job-state"]').textContent()).trim() === 'RUNNING');
    await until('the overview cards show no worker count', 10000,
      async () => (await page.locator('[data-testid="stat-workers"] .value').textContent()).trim() === String(tms.length));
    await shot('overview.png');

    // 2. Job page: the graph has one SVG node per vertex, each named.
    step('open the job page');
    await row.locator('[data-testid="job-name"]').click();
    await page.waitForURL(u => u.hash.startsWith(`#/jobs/${JID}`));
    const graph = page.locator('svg[data-testid="job-graph"]');
    await graph.waitFor({ state: 'visible' });
    const nodes = graph.locator('[data-testid="graph-node"]');
    await until(async () => `the job graph has ${await nodes.count()} nodes, not ${vertices.length}`, 15000, async () => (await nodes.count()) === vertices.length);
    for (const v of vertices) {
      const node = graph.locator(`[data-testid="graph-node"][data-vertex-id="${v.id}"]`);
      if (!(await node.count())) fail(`the job graph has no node for vertex ${v.id} (${v.name})`);
      const label = node.locator('[data-testid="graph-node-name"]');
      if (!(await label.isVisible())) fail(`the name of vertex ${v.name} is not visible in the graph`);
      const t = (await label.textContent()).trim();
      const ok = t === v.name || (t.endsWith('…') && v.name.startsWith(t.slice(0, -1)));
      if (!ok) fail(`the graph node of vertex ${v.id} is labelled "${t}", not "${v.name}"`);
    }
    const edges = (job.plan && job.plan.nodes || []).reduce((n, x) => n + (x.inputs || []).length, 0);
    const shownEdges = await graph.locator('[data-testid="graph-edge"]').count();
    if (shownEdges !== edges) fail(`the job graph draws ${shownEdges} edges, the plan has ${edges}`);
    const state = (await page.locator('[data-testid="job-header-state"]').textContent()).trim();
    if (state !== 'RUNNING') fail(`the job page shows state ${state}, not RUNNING`);
    // Rates need two polls; the throughput chart then has samples.
    await until('the throughput chart got no samples', 20000,
      async () => +(await page.locator('[data-testid="throughput-chart"]').getAttribute('data-samples')) >= 2);
    // A click on a node lists the vertex's sub-tasks.
    await nodes.first().click();
    const firstId = await nodes.first().getAttribute('data-vertex-id');
    const firstV = vertices.find(v => v.id === firstId);
    await until(`clicking the node of ${firstV ? firstV.name : firstId} listed no sub-tasks`, 10000,
      async () => (await page.locator('[data-testid="subtask-row"]').count()) === (firstV ? firstV.parallelism : 1));
    await shot('job.png');

    // 3. Savepoint: the button, then COMPLETED with a location (up to 60 s).
    step('trigger a savepoint');
    const btn = page.locator('[data-testid="savepoint-button"]');
    await until('the Savepoint button stays disabled', 10000, () => btn.isEnabled());
    await btn.click();
    const status = page.locator('[data-testid="savepoint-status"]').last();
    await status.waitFor({ state: 'visible', timeout: 10000 });
    await until(async () => {
      const st = await status.getAttribute('data-status');
      const err = await page.locator('[data-testid="operation-error"]').allTextContents();
      return `the savepoint is ${st}, not COMPLETED${err.length ? `: ${err.join('; ')}` : ''}`;
    }, 60000, async () => {
      const st = await status.getAttribute('data-status');
      if (st === 'FAILED') fail(`the savepoint FAILED: ${(await page.locator('[data-testid="operation-error"]').allTextContents()).join('; ')}`);
      return st === 'COMPLETED';
    }, 500);
    const location = ((await page.locator('[data-testid="savepoint-location"]').last().textContent()) || '').trim();
    if (!location || location.startsWith('(')) fail(`the completed savepoint shows no location ("${location}")`);
    step(`savepoint COMPLETED at ${location}`);
    await shot('savepoint.png');

    // 4. Checkpoints tab: the history table and the chart.
    step('open the checkpoints tab');
    await page.locator('[data-testid="tab-checkpoints"]').click();
    await until('the checkpoints tab lists no checkpoint', 20000, async () => (await page.locator('[data-testid="checkpoint-row"]').count()) >= 1);
    await until('the checkpoint chart has no points', 10000, async () => +(await page.locator('[data-testid="checkpoint-chart"]').getAttribute('data-samples')) >= 1);
    await shot('checkpoints.png');

    // 5. Workers: one row per registered worker; a worker's page lists its sub-tasks.
    step('open the workers page');
    await page.locator('[data-testid="nav-workers"]').click();
    await until(async () => `the workers page lists ${await page.locator('[data-testid="worker-row"]').count()} workers, not ${tms.length}`, 10000,
      async () => (await page.locator('[data-testid="worker-row"]').count()) === tms.length);
    await shot('workers.png');
    if (tms.length) {
      await page.locator('[data-testid="worker-row"] a').first().click();
      await page.locator('[data-testid="worker-title"]').waitFor();
      await until('the worker page lists none of the job\'s sub-tasks', 15000, async () => (await page.locator('[data-testid="worker-subtask-row"]').count()) >= 1);
      await shot('worker.png');
    }

    // 6. Submit page renders (no upload: the script's job is already running).
    await page.locator('[data-testid="nav-submit"]').click();
    await page.locator('[data-testid="jars"]').waitFor();
    await shot('submit.png');

    for (const w of new Set(warnings)) console.log(`dashboard test: warning: ${w}`);
    if (consoleErrors.length) fail(`the page logged ${consoleErrors.length} console error(s):\n  ${[...new Set(consoleErrors)].join('\n  ')}`);
    step('all checks passed');
  } finally {
    await browser.close();
  }
}

main().then(() => process.exit(0), e => {
  console.error(`dashboard test FAILED: ${e instanceof TestFailure ? e.message : (e && e.stack) || e}`);
  process.exit(1);
});
