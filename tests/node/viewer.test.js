// The visualization job's viewer in a real browser: Debian's headless
// Chromium, driven by playwright-core. A person opens the job's service_url,
// is sent to the sign-in page, signs in, and sees one chart per metric of the
// job's folder (TensorBoard event files written by python/atelier_metrics.py
// and JSON lines), which follow the files as the training writes more.
// Run: node --test tests/node/
'use strict';

const { test, before, after } = require('node:test');
const assert = require('node:assert/strict');
const { execFileSync } = require('node:child_process');
const fs = require('node:fs');
const path = require('node:path');
const { chromium } = require('playwright-core');

const { ROOT, ADMIN_PASSWORD, startServer, stopServer, adminToken, BROWSER } = require('./server');


let srv = null;
let browser = null;
let token = null;
let projectId = null;

// Writes an object straight into the server's embedded object store.
function putFile(key, data) {
  const full = path.join(srv.dir, 'obs', key);
  fs.mkdirSync(path.dirname(full), { recursive: true });
  fs.writeFileSync(full, data);
  return full;
}

// Scalars as a TensorBoard event file, written by the platform's helper.
function writeEvents(dir, points) {
  fs.mkdirSync(dir, { recursive: true });
  const script = `import sys; sys.path.insert(0, ${JSON.stringify(path.join(ROOT, 'python'))})
from atelier_metrics import SummaryWriter
with SummaryWriter(${JSON.stringify(dir)}) as w:
${points.map(([tag, step, v]) => `    w.add_scalar(${JSON.stringify(tag)}, ${v}, ${step})`).join('\n')}
`;
  execFileSync('/usr/bin/python3', ['-c', script]);
}

async function api(method, p, body) {
  const r = await fetch(`${srv.url}/v1/${projectId}${p}`, {
    method, headers: { 'X-Auth-Token': token, 'Content-Type': 'application/json' }, body: body && JSON.stringify(body),
  });
  return { status: r.status, body: await r.json() };
}

before(async () => {
  srv = await startServer();
  ({ token, projectId } = await adminToken(srv));
  browser = await chromium.launch(BROWSER);
});

after(async () => {
  if (browser) await browser.close();
  if (srv) await stopServer(srv);
});

test('the viewer signs a person in and draws the metrics, following the files', async () => {
  const tmp = path.join(srv.dir, 'tmp-events');
  writeEvents(tmp, Array.from({ length: 20 }, (_, s) => ['loss', s, 1 / (s + 1)]).concat([['accuracy', 5, 0.5], ['accuracy', 10, 0.75]]));
  const events = fs.readdirSync(tmp).find((n) => n.includes('tfevents'));
  putFile(`vbkt/run/logs/${events}`, fs.readFileSync(path.join(tmp, events)));
  putFile('vbkt/run/metrics.jsonl', '{"step": 0, "lr": 0.1}\n{"step": 1, "lr": 0.05}\n');
  const job = await api('POST', '/visualization-jobs', { job_name: 'browser-view', train_url: '/vbkt/run/' });
  assert.equal(job.status, 200, JSON.stringify(job.body));
  const url = job.body.service_url;

  const context = await browser.newContext();
  const page = await context.newPage();
  const errors = [];
  page.on('pageerror', (e) => errors.push(String(e)));
  // not signed in: the sign-in page, which leads back
  await page.goto(url);
  assert.match(page.url(), /\/login\?next=%2Fv1%2F/);
  await page.fill('#account', 'admin');
  await page.fill('#user', 'admin');
  await page.fill('#password', 'Wrong-pass-1');
  await page.click('#submit');
  assert.match(await page.textContent('#error'), /wrong/);
  await page.fill('#password', ADMIN_PASSWORD);
  await Promise.all([page.waitForURL(url), page.click('#submit')]);
  const cookies = await context.cookies();
  const session = cookies.find((c) => c.name === 'atelier_session');
  assert.ok(session && session.httpOnly && session.sameSite === 'Lax', JSON.stringify(cookies));

  // one chart per metric, each line through every point
  await page.waitForSelector('#chart-lr svg path.line');
  const charts = await page.$$eval('.chart', (els) => els.map((e) => [e.querySelector('h2').textContent, Number(e.dataset.points)]));
  assert.deepEqual(charts.sort(), [['accuracy', 2], ['loss', 20], ['lr', 2]]);
  const segments = await page.$eval('#chart-loss path.line', (p) => p.getAttribute('d').split(/[ML]/).filter(Boolean).length);
  assert.equal(segments, 20);
  // the loss falls: the line ends lower on the chart (larger y) than it starts
  const [first, last] = await page.$eval('#chart-loss path.line', (p) => {
    const pts = p.getAttribute('d').split(/[ML]/).filter(Boolean).map((s) => s.trim().split(' ').map(Number));
    return [pts[0], pts[pts.length - 1]];
  });
  assert.ok(last[0] > first[0] && last[1] > first[1], JSON.stringify([first, last]));
  assert.match(await page.textContent('#title'), /browser-view/);
  assert.match(await page.textContent('#status'), /3 metrics from 2 files/);

  // the training writes more: the page follows without a reload
  putFile('vbkt/run/metrics.jsonl', '{"step": 0, "lr": 0.1}\n{"step": 1, "lr": 0.05}\n{"step": 2, "lr": 0.01, "epoch_time": 3.5}\n');
  await page.waitForFunction(() => {
    const lr = document.getElementById('chart-lr');
    return lr && lr.dataset.points === '3' && document.getElementById('chart-epoch_time');
  }, null, { timeout: 10000 });
  const shot = await page.screenshot();
  assert.ok(shot.length > 1000);
  assert.deepEqual(errors, []);

  // signing out ends the session: the page asks for sign-in again
  await page.goto(srv.url + '/login/session');
  await Promise.all([page.waitForURL(/\/login$/), page.click('button[type=submit]')]);
  await page.goto(url);
  assert.match(page.url(), /\/login\?next=/);
  await context.close();
});

test('a stopped job tells the person why there is nothing to see', async () => {
  const job = await api('POST', '/visualization-jobs', { job_name: 'browser-stop', train_url: '/vbkt/run/' });
  assert.equal((await api('POST', `/visualization-jobs/${job.body.job_id}/stop`)).status, 200);
  const context = await browser.newContext();
  const page = await context.newPage();
  await page.goto(job.body.service_url);
  await page.fill('#account', 'admin');
  await page.fill('#user', 'admin');
  await page.fill('#password', ADMIN_PASSWORD);
  const [resp] = await Promise.all([page.waitForResponse((r) => r.url() === job.body.service_url), page.click('#submit')]);
  assert.equal(resp.status(), 400);
  assert.match(await page.textContent('body'), /not running/);
  await context.close();
});
