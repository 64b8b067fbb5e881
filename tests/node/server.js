// Starting and stopping `atelier serve` for the node tests: a fresh data dir
// and a free port below 32768, stopped by its PID.
'use strict';

const { spawn } = require('node:child_process');
const fs = require('node:fs');
const os = require('node:os');
const path = require('node:path');
const net = require('node:net');

const ROOT = path.resolve(__dirname, '..', '..');
const BIN = process.env.ATELIER_BIN || path.join(ROOT, 'build', 'atelier');
const ADMIN_PASSWORD = 'Admin-pass-1';

function freePort() {
  return new Promise((resolve, reject) => {
    const tryOne = (left) => {
      if (left === 0) return reject(new Error('no free port in 20000-32000'));
      const port = 20000 + Math.floor(Math.random() * 12000);
      const srv = net.createServer();
      srv.once('error', () => tryOne(left - 1));
      srv.listen(port, '127.0.0.1', () => srv.close(() => resolve(port)));
    };
    tryOne(200);
  });
}

function envFor(dir) {
  return { ...process.env, ATELIER_ADMIN_PASSWORD: ADMIN_PASSWORD, ATELIER_LOG_FILE: path.join(dir, 'server.log') };
}

// `extraEnv`: more of the server's environment (ATELIER_<KEY> settings).
// `opts.obs`: also start the object endpoint (S3/OBS protocol) on a port of
// its own, given back as obsPort and obsUrl.
async function startServer(extraEnv = {}, opts = {}) {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'atelier-node-'));
  const port = await freePort();
  const url = `http://127.0.0.1:${port}`;
  const args = ['serve', '--listen', `127.0.0.1:${port}`, '--data-dir', dir];
  let obsPort = null;
  if (opts.obs) {
    do obsPort = await freePort(); while (obsPort === port);
    args.push('--obs-listen', `127.0.0.1:${obsPort}`);
  }
  const child = spawn(BIN, args, { env: { ...envFor(dir), ...extraEnv }, stdio: 'ignore' });
  const deadline = Date.now() + 20000;
  for (;;) {
    if (child.exitCode !== null || child.signalCode !== null) throw new Error(`server exited with ${child.exitCode}`);
    try {
      const r = await fetch(url + '/health');
      if (r.status === 200) break;
    } catch (e) { /* not up yet */ }
    if (Date.now() > deadline) throw new Error('server did not become healthy');
    await new Promise((r) => setTimeout(r, 50));
  }
  return { proc: child, dir, url, obsPort, obsUrl: obsPort && `http://127.0.0.1:${obsPort}` };
}

function waitExit(child, ms) {
  if (child.exitCode !== null || child.signalCode !== null) return Promise.resolve(true);
  return new Promise((resolve) => {
    const timer = setTimeout(() => resolve(false), ms);
    child.once('exit', () => { clearTimeout(timer); resolve(true); });
  });
}

// SIGTERM by PID; SIGKILL if it has not exited within graceMs. Returns true
// when SIGTERM alone stopped it.
async function stopServer(srv, graceMs = 10000) {
  let graceful = true;
  if (srv.proc.exitCode === null && srv.proc.signalCode === null) {
    process.kill(srv.proc.pid, 'SIGTERM');
    graceful = await waitExit(srv.proc, graceMs);
    if (!graceful) {
      process.kill(srv.proc.pid, 'SIGKILL');
      await waitExit(srv.proc, 5000);
    }
  }
  fs.rmSync(srv.dir, { recursive: true, force: true });
  return graceful;
}

// Debian's Chromium, headless, as root in a container on a machine without
// outside network (machine facts): for playwright-core's chromium.launch.
const BROWSER = {
  executablePath: '/usr/bin/chromium',
  headless: true,
  args: ['--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run', '--disable-background-networking',
    '--disable-component-update', '--disable-sync'],
};

// A token of the account owner "admin", scoped to the region project: {token, projectId}.
async function adminToken(srv) {
  const r = await fetch(srv.url + '/v3/auth/tokens', {
    method: 'POST', headers: { 'Content-Type': 'application/json' },
    body: JSON.stringify({ auth: { identity: { methods: ['password'], password: { user: { name: 'admin', password: ADMIN_PASSWORD, domain: { name: 'admin' } } } }, scope: { project: { name: 'local' } } } }),
  });
  if (r.status !== 201) throw new Error(`token: ${r.status} ${await r.text()}`);
  return { token: r.headers.get('x-subject-token'), projectId: (await r.json()).token.project.id };
}

module.exports = { ROOT, BIN, ADMIN_PASSWORD, freePort, envFor, startServer, stopServer, adminToken, BROWSER };
