// A notebook instance used the way people use it: Debian's headless Chromium
// (driven by playwright-core) opens the instance's url, signs in at the
// server's sign-in page, and works in Jupyter's own pages through the
// server's proxy — the file tree, then a notebook whose cell runs in a
// kernel over the proxied WebSocket.
// Run: node --test tests/node/
'use strict';

const { test, before, after } = require('node:test');
const assert = require('node:assert/strict');
const { chromium } = require('playwright-core');

const { ADMIN_PASSWORD, startServer, stopServer, adminToken, BROWSER } = require('./server');


let srv = null;
let browser = null;
let token = null;
let projectId = null;
let instance = null;

async function api(method, p, body) {
  const r = await fetch(`${srv.url}/v1/${projectId}/demanager/instances${p}`, {
    method, headers: { 'X-Auth-Token': token, 'Content-Type': 'application/json' }, body: body && JSON.stringify(body),
  });
  return { status: r.status, body: await r.json() };
}

async function waitFor(id, status) {
  const deadline = Date.now() + 60000;
  for (;;) {
    const g = await api('GET', `/${id}`);
    if (g.body.status === status) return g.body;
    assert.ok(Date.now() < deadline, `instance still ${g.body.status}`);
    await new Promise((r) => setTimeout(r, 100));
  }
}

before(async () => {
  srv = await startServer();
  ({ token, projectId } = await adminToken(srv));
  browser = await chromium.launch(BROWSER);
});

after(async () => {
  if (browser) await browser.close();
  if (instance) {
    await api('POST', `/${instance}/action`, { action: 'stop' });
    await waitFor(instance, 'STOPPED').catch(() => {});
    await api('DELETE', `/${instance}`);
  }
  if (srv) await stopServer(srv);
});

test('a person signs in and runs a cell in Jupyter through the proxy', async () => {
  const c = await api('POST', '', {
    name: 'browser-nb', profile_id: 'Python3', flavor: 'modelarts.vm.cpu.2u', spec: { storage: { type: 'evs' } },
  });
  assert.equal(c.status, 200, JSON.stringify(c.body));
  instance = c.body.id;
  const url = (await waitFor(instance, 'RUNNING')).spec.annotations.url;
  // a notebook with one cell, put through the contents API
  const nbDoc = {
    type: 'notebook', format: 'json',
    content: {
      nbformat: 4, nbformat_minor: 5, metadata: { kernelspec: { name: 'python3', display_name: 'Python 3', language: 'python' } },
      cells: [{ cell_type: 'code', id: 'c1', metadata: {}, execution_count: null, outputs: [], source: 'import math\nprint(math.factorial(10) // 3628800 * 42)' }],
    },
  };
  const put = await fetch(url + 'api/contents/ui.ipynb', {
    method: 'PUT', headers: { 'X-Auth-Token': token, 'Content-Type': 'application/json' }, body: JSON.stringify(nbDoc),
  });
  assert.equal(put.status, 201);

  const context = await browser.newContext();
  const page = await context.newPage();
  const errors = [];
  page.on('pageerror', (e) => errors.push(String(e)));
  await page.goto(url + 'tree');
  assert.match(page.url(), /\/login\?next=/);
  await page.fill('#account', 'admin');
  await page.fill('#user', 'admin');
  await page.fill('#password', ADMIN_PASSWORD);
  await Promise.all([page.waitForURL(/\/jupyter\/tree/), page.click('#submit')]);
  // Jupyter's file tree lists the notebook
  await page.waitForSelector('#notebook_list .item_link >> text=ui.ipynb', { timeout: 30000 });

  // the notebook: its kernel starts, the cell runs, the output shows
  // (A page that never loads names the requests still open: the proxy once
  // held a 304 answer back.)
  const pending = new Set();
  page.on('request', (r) => pending.add(r.url()));
  page.on('requestfinished', (r) => pending.delete(r.url()));
  page.on('requestfailed', (r) => pending.delete(r.url()));
  try {
    await page.goto(url + 'notebooks/ui.ipynb');
  } catch (e) {
    throw new Error(`${e.message}; still open: ${[...pending].join(', ')}`);
  }
  await page.waitForFunction(() => window.Jupyter && Jupyter.notebook && Jupyter.notebook.kernel &&
    Jupyter.notebook.kernel.is_connected(), null, { timeout: 60000 });
  await page.evaluate(() => Jupyter.notebook.execute_all_cells());
  const out = await page.waitForSelector('.output_area pre', { timeout: 60000 });
  assert.equal((await out.textContent()).trim(), '42');
  // what the browser sees carries neither Jupyter's token nor the server's
  const html = await page.content();
  assert.ok(!html.includes(token));
  assert.deepEqual(errors.filter((e) => !/MathJax/.test(e)), []);
  await context.close();
});
