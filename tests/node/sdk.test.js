// Black-box tests with the real Huawei Cloud SDK for Node (core 3.1.211, IAM 3.1.172):
// every request below is signed by the SDK's own AK/SK signer, never by us.
// Run: node --test tests/node/
'use strict';

const { test, before, after } = require('node:test');
const assert = require('node:assert/strict');
const { execFileSync } = require('node:child_process');
const fs = require('node:fs');
const path = require('node:path');

const core = require('@huaweicloud/huaweicloud-sdk-core');
const { ClientBuilder } = require('@huaweicloud/huaweicloud-sdk-core/ClientBuilder');
const iam = require('@huaweicloud/huaweicloud-sdk-iam/v3/public-api');
// The SDK logs every failed call (with the full axios config) at ERROR on the
// console; the failures below are expected, keep the TAP output readable.
require('log4js').configure({ appenders: { out: { type: 'stdout' } }, categories: { default: { appenders: ['out'], level: 'off' } } });

const { BIN, ADMIN_PASSWORD, envFor, startServer, stopServer } = require('./server');
const REGION = 'local';
const HEX32 = /^[0-9a-f]{32}$/;

let dataDir = null;
let endpoint = null;
let adminKey = null;   // {access, secret, user_id}
let projectId = null;  // the region project, as the admin CLI sees it
let domainId = null;

// `atelier admin` on a data dir (the server may be running); parsed JSON output.
function adminCli(dir, ...args) {
  return JSON.parse(execFileSync(BIN, ['admin', '--data-dir', dir, ...args], { env: envFor(dir), encoding: 'utf8', timeout: 60000 }));
}

// The server flushes its info-level log once a second: poll for the line.
async function serverLogLine(needle, timeoutMs = 5000) {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const text = fs.existsSync(path.join(dataDir, 'server.log')) ? fs.readFileSync(path.join(dataDir, 'server.log'), 'utf8') : '';
    const line = text.split('\n').find((l) => l.includes(needle));
    if (line || Date.now() > deadline) return line;
    await new Promise((r) => setTimeout(r, 100));
  }
}

function unique(prefix) {
  return prefix + Math.random().toString(16).slice(2, 12);
}

// A bare core client that signs and sends any path (BasicCredentials: X-Project-Id).
function coreClient(ak, sk) {
  const cred = new core.BasicCredentials().withAk(ak).withSk(sk).withProjectId(projectId);
  return new ClientBuilder((h) => h).withCredential(cred).withEndpoint(endpoint).build();
}

function get(client, url, queryParams = {}) {
  return client.sendRequest({ method: 'GET', url, pathParams: {}, queryParams, headers: {}, contentType: 'application/json' });
}

function iamClient(ak, sk) {
  const cred = new core.GlobalCredentials().withAk(ak).withSk(sk).withDomainId(domainId);
  return iam.IamClient.newBuilder().withCredential(cred).withEndpoint(endpoint).build();
}

let main = null;

before(async () => {
  main = await startServer();
  dataDir = main.dir;
  endpoint = main.url;
  adminKey = adminCli(dataDir, 'credential-create', '--user', 'admin').credential;
  assert.match(adminKey.access, /^[A-Z0-9]{20}$/);
  assert.ok(adminKey.secret.length >= 20);
  const projects = adminCli(dataDir, 'call', 'GET', `/v3/projects?name=${REGION}`).projects;
  assert.equal(projects.length, 1);
  projectId = projects[0].id;
  domainId = projects[0].domain_id;
  assert.match(projectId, HEX32);
  assert.match(domainId, HEX32);
});

after(async () => {
  if (main && !(await stopServer(main))) {
    console.log(`# atelier pid ${main.proc.pid} ignored SIGTERM for 10 s; killed`);
  }
});

test('core ClientBuilder signs GET /v3/auth/projects', async () => {
  const res = await get(coreClient(adminKey.access, adminKey.secret), '/v3/auth/projects');
  assert.equal(res.httpStatusCode, 200);
  const local = res.projects.filter((p) => p.name === REGION);
  assert.equal(local.length, 1);
  assert.equal(local[0].id, projectId);
  assert.equal(local[0].domain_id, domainId);
  assert.equal(local[0].enabled, true);
});

test('core ClientBuilder signs GET /v3/projects?name=local: exactly one project', async () => {
  const res = await get(coreClient(adminKey.access, adminKey.secret), '/v3/projects', { name: REGION });
  assert.equal(res.httpStatusCode, 200);
  assert.equal(res.projects.length, 1);
  assert.equal(res.projects[0].id, projectId);
  assert.equal(res.projects[0].name, REGION);
  assert.equal(res.projects[0].parent_id, domainId);
});

test('core ClientBuilder signs GET /v3/users', async () => {
  const res = await get(coreClient(adminKey.access, adminKey.secret), '/v3/users');
  assert.equal(res.httpStatusCode, 200);
  const admin = res.users.find((u) => u.name === 'admin');
  assert.ok(admin, JSON.stringify(res.users));
  assert.equal(admin.id, adminKey.user_id);
  assert.equal(admin.domain_id, domainId);
});

test('IAM SDK: user, group, membership, access key, token, projects, permissions', async (t) => {
  const client = iamClient(adminKey.access, adminKey.secret);
  const userName = unique('sdkuser');
  const password = 'Sdk-pass-123';
  let userId, groupId, newKey, roleId;

  await t.test('createUser (OS-USER)', async () => {
    const opt = new iam.CreateUserOption(userName, domainId).withPassword(password).withDescription('from the SDK');
    const res = await client.createUser(new iam.CreateUserRequest().withBody(new iam.CreateUserRequestBody(opt)));
    assert.equal(res.httpStatusCode, 201);
    assert.equal(res.user.name, userName);
    assert.equal(res.user.domain_id, domainId);
    assert.equal(res.user.description, 'from the SDK');
    assert.match(res.user.id, HEX32);
    userId = res.user.id;
  });

  await t.test('keystoneListUsers by name', async () => {
    const res = await client.keystoneListUsers(new iam.KeystoneListUsersRequest().withName(userName));
    assert.equal(res.httpStatusCode, 200);
    assert.equal(res.users.length, 1);
    assert.equal(res.users[0].id, userId);
    assert.equal(res.users[0].enabled, true);
  });

  await t.test('keystoneCreateGroup', async () => {
    const name = unique('sdkgrp');
    const body = new iam.KeystoneCreateGroupRequestBody(new iam.KeystoneCreateGroupOption(name).withDescription('sdk group'));
    const res = await client.keystoneCreateGroup(new iam.KeystoneCreateGroupRequest().withBody(body));
    assert.equal(res.httpStatusCode, 201);
    assert.equal(res.group.name, name);
    assert.equal(res.group.domain_id, domainId);
    assert.match(res.group.id, HEX32);
    groupId = res.group.id;
  });

  await t.test('keystoneAddUserToGroup', async () => {
    const res = await client.keystoneAddUserToGroup(new iam.KeystoneAddUserToGroupRequest(groupId, userId));
    assert.equal(res.httpStatusCode, 204);
    const check = await client.keystoneCheckUserInGroup(new iam.KeystoneCheckUserInGroupRequest(groupId, userId));
    assert.equal(check.httpStatusCode, 204);
  });

  await t.test('createPermanentAccessKey for the new user', async () => {
    const body = new iam.CreatePermanentAccessKeyRequestBody(new iam.CreateCredentialOption(userId).withDescription('sdk key'));
    const res = await client.createPermanentAccessKey(new iam.CreatePermanentAccessKeyRequest().withBody(body));
    assert.equal(res.httpStatusCode, 201);
    assert.equal(res.credential.user_id, userId);
    assert.equal(res.credential.status, 'active');
    assert.equal(res.credential.description, 'sdk key');
    assert.match(res.credential.access, /^[A-Z0-9]{20}$/);
    assert.ok(res.credential.secret.length >= 20);
    newKey = res.credential;
    // The key works: the new user (no policies yet) signs a member call...
    const mine = await get(coreClient(newKey.access, newKey.secret), '/v3/auth/projects');
    assert.equal(mine.httpStatusCode, 200);
    assert.deepEqual(mine.projects.map((p) => p.id).sort(), [projectId]);
    // ...but may not list users.
    await assert.rejects(iamClient(newKey.access, newKey.secret).keystoneListUsers(new iam.KeystoneListUsersRequest()),
      (e) => {
        assert.equal(e.httpStatusCode, 403, JSON.stringify(e));
        assert.match(e.errorMsg, /iam:users:listUsers/);
        return true;
      });
  });

  await t.test('keystoneCreateUserTokenByPassword (signed POST) with project scope', async () => {
    const user = new iam.PwdPasswordUser(new iam.PwdPasswordUserDomain('admin'), userName, password);
    const identity = new iam.PwdIdentity(['password'], new iam.PwdPassword(user));
    const scope = new iam.AuthScope().withProject(new iam.AuthScopeProject().withName(REGION));
    const req = new iam.KeystoneCreateUserTokenByPasswordRequest()
      .withNocatalog('true')
      .withBody(new iam.KeystoneCreateUserTokenByPasswordRequestBody(new iam.PwdAuth(identity, scope)));
    const res = await client.keystoneCreateUserTokenByPassword(req);
    assert.equal(res.httpStatusCode, 201);
    const token = res['X-Subject-Token'];
    assert.equal(typeof token, 'string');
    assert.ok(token.length >= 20, token);
    assert.equal(res.token.user.id, userId);
    assert.equal(res.token.user.name, userName);
    assert.equal(res.token.project.id, projectId);
    assert.equal(res.token.project.name, REGION);
    assert.deepEqual(res.token.methods, ['password']);
    assert.deepEqual(res.token.catalog, []);  // nocatalog
    // The header value is a working token for that user.
    const r = await fetch(endpoint + '/v3/auth/projects', { headers: { 'X-Auth-Token': token } });
    assert.equal(r.status, 200);
    const body = await r.json();
    assert.deepEqual(body.projects.map((p) => p.id), [projectId]);
  });

  await t.test('keystoneListProjects by name', async () => {
    const res = await client.keystoneListProjects(new iam.KeystoneListProjectsRequest().withName(REGION));
    assert.equal(res.httpStatusCode, 200);
    assert.equal(res.projects.length, 1);
    assert.equal(res.projects[0].id, projectId);
    const none = await client.keystoneListProjects(new iam.KeystoneListProjectsRequest().withName(unique('nope')));
    assert.equal(none.projects.length, 0);
  });

  await t.test('keystoneListPermissions with display_name', async () => {
    const res = await client.keystoneListPermissions(new iam.KeystoneListPermissionsRequest().withDisplayName('Security Administrator'));
    assert.equal(res.httpStatusCode, 200);
    const hits = res.roles.filter((r) => r.display_name === 'Security Administrator');
    assert.equal(hits.length, 1, JSON.stringify(res.roles.map((r) => r.display_name)));
    assert.equal(hits[0].name, 'secu_admin');
    assert.equal(hits[0].type, 'AX');
    roleId = hits[0].id;
  });

  await t.test('grant on the account, showDomainRoleAssignments, and the grant takes effect', async () => {
    const grant = await client.keystoneAssociateGroupWithDomainPermission(
      new iam.KeystoneAssociateGroupWithDomainPermissionRequest(domainId, groupId, roleId));
    assert.equal(grant.httpStatusCode, 204);
    const res = await client.showDomainRoleAssignments(
      new iam.ShowDomainRoleAssignmentsRequest(domainId).withSubjectGroupId(groupId));
    assert.equal(res.httpStatusCode, 200);
    assert.equal(res.total_num, 1);
    assert.deepEqual(res.role_assignments, [
      { group: { id: groupId }, role: { id: roleId }, scope: { domain: { id: domainId } }, is_inherited: false },
    ]);
    // Security Administrator now lets the new user's own key list users.
    const users = await iamClient(newKey.access, newKey.secret).keystoneListUsers(new iam.KeystoneListUsersRequest().withName(userName));
    assert.equal(users.httpStatusCode, 200);
    assert.deepEqual(users.users.map((u) => u.id), [userId]);
  });
});

test('wrong secret key: the SDK throws 401 with the body\'s error and the X-Request-Id', async () => {
  const bad = coreClient(adminKey.access, adminKey.secret.slice(0, -4) + 'XXXX');
  let err = null;
  try {
    await get(bad, '/v3/users');
  } catch (e) {
    err = e;
  }
  assert.ok(err, 'a request signed with a wrong secret key must fail');
  assert.equal(err.name, 'ClientRequestException');
  assert.equal(err.httpStatusCode, 401);
  // IAM routes answer the Keystone shape plus error_code/error_msg; the SDK
  // takes error.code (the numeric status) before error_code.
  assert.equal(err.errorCode, 401);
  assert.match(err.errorMsg, /signature does not match/);
  assert.equal(typeof err.requestId, 'string');
  assert.ok(err.requestId.length >= 8, err.requestId);
  // The id the SDK surfaced is the server's id of that very request.
  const line = await serverLogLine(`"request_id":"${err.requestId}"`);
  assert.ok(line, `request id ${err.requestId} not in the server log`);
  assert.match(line, /"status":401/);
  assert.match(line, /"route":"\/v3\/users"/);

  // Same through the IAM client (GlobalCredentials, X-Domain-Id signed).
  // Change the first character for sure: a secret may itself start with 'x'.
  const badIam = iamClient(adminKey.access, (adminKey.secret[0] === 'x' ? 'y' : 'x') + adminKey.secret.slice(1));
  await assert.rejects(badIam.keystoneListUsers(new iam.KeystoneListUsersRequest()), (e) => {
    assert.equal(e.httpStatusCode, 401);
    assert.equal(e.errorCode, 401);
    assert.match(e.errorMsg, /signature does not match/);
    assert.ok(e.requestId && e.requestId !== err.requestId, e.requestId);
    return true;
  });
});

// Regression: stop() used to walk the sessions holding Server::Impl::mu while
// dropping references; the last one ran ~Session -> session_closed(), which
// locks mu again (self-deadlock, SIGTERM ignored). Seen with the SDK's
// keep-alive connections in about 1 of 10 stops.
test('SIGTERM with keep-alive client connections open stops the server', async () => {
  const rounds = 8;
  // Servers in parallel; each gets SIGTERM with the SDK's idle keep-alive
  // connections open and 12 s (drain timeout 10 s + margin) to exit.
  const results = await Promise.all(Array.from({ length: rounds }, async () => {
    const srv = await startServer();
    const key = adminCli(srv.dir, 'credential-create', '--user', 'admin').credential;
    const cred = new core.BasicCredentials().withAk(key.access).withSk(key.secret).withProjectId('x');
    const c = new ClientBuilder((h) => h).withCredential(cred).withEndpoint(srv.url).build();
    await Promise.all(Array.from({ length: 6 }, () => get(c, '/v3/auth/projects')));
    return stopServer(srv, 12000);
  }));
  const hung = results.filter((graceful) => !graceful).length;
  assert.equal(hung, 0, `${hung} of ${rounds} servers ignored SIGTERM for 12 s with open keep-alive connections`);
});
