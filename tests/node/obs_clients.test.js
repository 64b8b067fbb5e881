// The object endpoint (S3/OBS protocol) driven by two real clients: MinIO's
// JavaScript client 8.0.7 (AWS Signature V4) and Huawei's OBS SDK for Node
// 3.26.8 (esdk-obs-nodejs): AWS Signature V2 in path style, and the OBS
// signature in virtual-hosted style (<bucket>.obs.localtest, resolved to
// this machine by the client's own http agent). Each client creates a
// bucket, uploads a folder of 100 images and a 64 MiB file in parts, lists
// with a delimiter and page by page, downloads and compares SHA-256s,
// copies, deletes one and many; a wrong secret and another account's key
// are refused. Run: node --test tests/node/obs_clients.test.js
'use strict';

const { test, before, after } = require('node:test');
const assert = require('node:assert/strict');
const crypto = require('node:crypto');
const dns = require('node:dns');
const fs = require('node:fs');
const http = require('node:http');
const os = require('node:os');
const path = require('node:path');
const zlib = require('node:zlib');
const { execFileSync } = require('node:child_process');

const Minio = require('minio');
const ObsClient = require('esdk-obs-nodejs');

const { BIN, envFor, startServer, stopServer } = require('./server');

const DOMAIN = 'obs.localtest';  // the server's obs_domain (virtual-hosted style)
const MiB = 1 << 20;
const BIG_SIZE = 64 * MiB;
const IMAGE_COUNT = 100;

let srv = null;
let work = null;    // a temporary folder of the files to upload and download
let owner = null;   // {ak, sk} of the account owner "admin"
let other = null;   // {ak, sk} of another account's owner
let images = [];    // [{key, data, sha256}]: images/cat/... and images/dog/...
let big = null;     // {file, sha256, md5}

// ------------------------------------------------------------------ fixtures

function adminCli(...args) {
  return JSON.parse(execFileSync(BIN, ['admin', '--data-dir', srv.dir, ...args], { env: envFor(srv.dir), encoding: 'utf8', timeout: 60000 }));
}

function unique(prefix) {
  return prefix + crypto.randomBytes(5).toString('hex');
}

function sha256(buf) {
  return crypto.createHash('sha256').update(buf).digest('hex');
}

async function streamSha256(stream) {
  const h = crypto.createHash('sha256');
  for await (const chunk of stream) h.update(chunk);
  return h.digest('hex');
}

function fileSha256(file) {
  return streamSha256(fs.createReadStream(file));
}

// S3's ETag of an object uploaded in parts of `partSize`: the MD5 of the
// parts' MD5s, "-" the number of parts.
function multipartEtag(file, partSize) {
  const data = fs.readFileSync(file);
  const digests = [];
  for (let off = 0; off < data.length; off += partSize) {
    digests.push(crypto.createHash('md5').update(data.subarray(off, off + partSize)).digest());
  }
  return crypto.createHash('md5').update(Buffer.concat(digests)).digest('hex') + '-' + digests.length;
}

const CRC_TABLE = Array.from({ length: 256 }, (_, n) => {
  let c = n;
  for (let k = 0; k < 8; k++) c = c & 1 ? 0xedb88320 ^ (c >>> 1) : c >>> 1;
  return c >>> 0;
});

function crc32(buf) {
  let c = 0xffffffff;
  for (const b of buf) c = CRC_TABLE[(c ^ b) & 0xff] ^ (c >>> 8);
  return (c ^ 0xffffffff) >>> 0;
}

function pngChunk(type, data) {
  const len = Buffer.alloc(4);
  len.writeUInt32BE(data.length);
  const body = Buffer.concat([Buffer.from(type, 'latin1'), data]);
  const crc = Buffer.alloc(4);
  crc.writeUInt32BE(crc32(body));
  return Buffer.concat([len, body, crc]);
}

// A complete RGB PNG of w x h pixels whose colours depend on `seed`.
function png(w, h, seed) {
  const ihdr = Buffer.alloc(13);
  ihdr.writeUInt32BE(w, 0);
  ihdr.writeUInt32BE(h, 4);
  ihdr.set([8, 2, 0, 0, 0], 8);  // 8 bits, RGB, deflate, no filter, no interlace
  const raw = Buffer.alloc(h * (1 + 3 * w));
  for (let y = 0; y < h; y++) {
    for (let x = 0; x < w; x++) {
      const p = y * (1 + 3 * w) + 1 + 3 * x;
      raw[p] = (seed * 37 + x * 8) & 0xff;
      raw[p + 1] = (seed * 11 + y * 8) & 0xff;
      raw[p + 2] = (seed * 5 + x * y) & 0xff;
    }
  }
  return Buffer.concat([Buffer.from([0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a]), pngChunk('IHDR', ihdr),
    pngChunk('IDAT', zlib.deflateSync(raw)), pngChunk('IEND', Buffer.alloc(0))]);
}

// The owner of a new account, and an access key of theirs made through the IAM API.
async function otherAccountKey() {
  const name = unique('acct');
  const password = 'Pw-12345678';
  adminCli('account-create', '--name', name, '--password', password);
  const r = await fetch(srv.url + '/v3/auth/tokens', {
    method: 'POST', headers: { 'Content-Type': 'application/json' },
    body: JSON.stringify({ auth: { identity: { methods: ['password'], password: { user: { name, password, domain: { name } } } }, scope: { project: { name: 'local' } } } }),
  });
  assert.equal(r.status, 201, await r.clone().text());
  const token = r.headers.get('x-subject-token');
  const userId = (await r.json()).token.user.id;
  const c = await fetch(srv.url + '/v3.0/OS-CREDENTIAL/credentials', {
    method: 'POST', headers: { 'Content-Type': 'application/json', 'X-Auth-Token': token },
    body: JSON.stringify({ credential: { user_id: userId, description: 'obs clients test' } }),
  });
  assert.equal(c.status, 201, await c.clone().text());
  const cred = (await c.json()).credential;
  return { ak: cred.access, sk: cred.secret };
}

function wrongSecret(key) {
  return { ak: key.ak, sk: key.sk.slice(0, -1) + (key.sk.endsWith('A') ? 'B' : 'A') };
}

// Runs `fn` over `items`, `width` at a time.
async function eachLimited(items, width, fn) {
  let next = 0;
  const worker = async () => {
    while (next < items.length) {
      const i = next++;
      await fn(items[i], i);
    }
  };
  await Promise.all(Array.from({ length: width }, worker));
}

before(async () => {
  srv = await startServer({ ATELIER_OBS_DOMAIN: DOMAIN }, { obs: true });
  const cred = adminCli('credential-create', '--user', 'admin').credential;
  owner = { ak: cred.access, sk: cred.secret };
  other = await otherAccountKey();
  work = fs.mkdtempSync(path.join(os.tmpdir(), 'atelier-obs-clients-'));
  // The folder <work>/images/{cat,dog}/ uploaded as images/...
  images = Array.from({ length: IMAGE_COUNT }, (_, i) => {
    const data = png(8 + (i % 7), 8 + (i % 5), i);
    const key = `images/${i % 2 ? 'dog' : 'cat'}/img-${String(i).padStart(3, '0')}.png`;
    const file = path.join(work, key);
    fs.mkdirSync(path.dirname(file), { recursive: true });
    fs.writeFileSync(file, data);
    return { key, file, data, sha256: sha256(data) };
  }).sort((a, b) => (a.key < b.key ? -1 : 1));
  const file = path.join(work, 'big.bin');
  const fd = fs.openSync(file, 'w');
  for (let off = 0; off < BIG_SIZE; off += 8 * MiB) fs.writeSync(fd, crypto.randomBytes(8 * MiB));
  fs.closeSync(fd);
  big = { file, sha256: await fileSha256(file) };
});

after(async () => {
  if (srv && !(await stopServer(srv))) console.log(`# atelier pid ${srv.proc.pid} ignored SIGTERM for 10 s; killed`);
  if (work) fs.rmSync(work, { recursive: true, force: true });
});

test('the images are valid PNGs, all different', () => {
  assert.equal(images.length, IMAGE_COUNT);
  assert.equal(new Set(images.map((i) => i.sha256)).size, IMAGE_COUNT);
  for (const { data } of images) {
    assert.equal(data.subarray(1, 4).toString(), 'PNG');
    assert.equal(data.readUInt32BE(8), 13);  // IHDR first
    assert.equal(data.subarray(-8, -4).toString(), 'IEND');
  }
});

// ------------------------------------------------------------------ MinIO

// No region given: the client asks GET /<bucket>?location (signed for
// us-east-1) before its first call on a bucket.
function minio(key, extra = {}) {
  return new Minio.Client({ endPoint: '127.0.0.1', port: srv.obsPort, useSSL: false, pathStyle: true, accessKey: key.ak, secretKey: key.sk, ...extra });
}

async function minioError(promise) {
  const err = await promise.then(() => null, (e) => e);
  assert.ok(err, 'the call should have failed');
  return err.code;
}

// Every page of a V2 listing of `prefix`, `max` keys at a time: [[names]].
async function minioPages(mc, bucket, prefix, max) {
  const pages = [];
  let token = '';
  for (;;) {
    const r = await mc.listObjectsV2Query(bucket, prefix, token, '', max, '');
    pages.push(r.objects.map((o) => o.name));
    if (!r.isTruncated) return pages;
    assert.ok(r.nextContinuationToken);
    token = r.nextContinuationToken;
  }
}

test('minio 8.0.7: AWS Signature V4', async (t) => {
  const partSize = 8 * MiB;
  const mc = minio(owner, { partSize });
  const bucket = unique('mc');
  const bigKey = 'big/random.bin';

  await t.test('makeBucket; the bucket exists in region local', async () => {
    await mc.makeBucket(bucket);
    assert.equal(await mc.bucketExists(bucket), true);
    assert.equal(await mc.bucketExists(unique('none')), false);
    assert.equal(await mc.getBucketRegionAsync(bucket), 'local');
    assert.ok((await mc.listBuckets()).some((b) => b.name === bucket));
  });

  await t.test('fPutObject of a folder of 100 images', async () => {
    await eachLimited(images, 8, async (img) => {
      const r = await mc.fPutObject(bucket, img.key, img.file);
      assert.equal(r.etag, crypto.createHash('md5').update(img.data).digest('hex'));
    });
    const st = await mc.statObject(bucket, images[0].key);
    assert.equal(st.metaData['content-type'], 'image/png');
    assert.equal(st.size, images[0].data.length);
  });

  await t.test('fPutObject of 64 MiB in 8 MiB parts', async () => {
    const r = await mc.fPutObject(bucket, bigKey, big.file, { 'x-amz-meta-origin': 'minio' });
    const etag = multipartEtag(big.file, partSize);
    assert.equal(r.etag, etag);
    const st = await mc.statObject(bucket, bigKey);
    assert.equal(st.size, BIG_SIZE);
    assert.equal(st.etag, etag);
    assert.equal(st.metaData.origin, 'minio');
    const pending = [];
    for await (const u of mc.listIncompleteUploads(bucket, '', true)) pending.push(u);
    assert.deepEqual(pending, []);
  });

  await t.test('listing: delimiter, V2 pages, V1 stream', async () => {
    const top = await mc.listObjectsV2Query(bucket, '', '', '/', 1000, '');
    assert.deepEqual(top.objects.map((o) => o.prefix || o.name).sort(), ['big/', 'images/']);
    const classes = await mc.listObjectsV2Query(bucket, 'images/', '', '/', 1000, '');
    assert.deepEqual(classes.objects.map((o) => o.prefix), ['images/cat/', 'images/dog/']);
    const pages = await minioPages(mc, bucket, 'images/', 30);
    assert.deepEqual(pages.map((p) => p.length), [30, 30, 30, 10]);
    assert.deepEqual(pages.flat(), images.map((i) => i.key));
    const all = [];
    for await (const o of mc.listObjects(bucket, '', true)) all.push(o);
    assert.equal(all.length, IMAGE_COUNT + 1);
    assert.equal(all.find((o) => o.name === bigKey).size, BIG_SIZE);
  });

  await t.test('downloads match: every image, a range, the 64 MiB file', async () => {
    await eachLimited(images, 8, async (img) => {
      assert.equal(await streamSha256(await mc.getObject(bucket, img.key)), img.sha256, img.key);
    });
    const range = await streamSha256(await mc.getPartialObject(bucket, bigKey, 10 * MiB + 3, 1000));
    const fd = fs.openSync(big.file, 'r');
    const want = Buffer.alloc(1000);
    fs.readSync(fd, want, 0, 1000, 10 * MiB + 3);
    fs.closeSync(fd);
    assert.equal(range, sha256(want));
    const out = path.join(work, 'mc-down.bin');
    await mc.fGetObject(bucket, bigKey, out);
    assert.equal(await fileSha256(out), big.sha256);
  });

  await t.test('copyObject', async () => {
    const src = new Minio.CopySourceOptions({ Bucket: bucket, Object: bigKey });
    const dst = new Minio.CopyDestinationOptions({ Bucket: bucket, Object: 'big/copy.bin' });
    await mc.copyObject(src, dst);
    assert.equal(await streamSha256(await mc.getObject(bucket, 'big/copy.bin')), big.sha256);
    const st = await mc.statObject(bucket, 'big/copy.bin');
    assert.equal(st.size, BIG_SIZE);
    assert.equal(st.metaData.origin, 'minio');
  });

  await t.test('a wrong secret: SignatureDoesNotMatch, nothing written', async () => {
    const bad = minio(wrongSecret(owner));
    assert.equal(await minioError(bad.statObject(bucket, images[0].key)), 'SignatureDoesNotMatch');
    assert.equal(await minioError(bad.putObject(bucket, 'bad.txt', Buffer.from('x'))), 'SignatureDoesNotMatch');
    assert.equal(await minioError(mc.statObject(bucket, 'bad.txt')), 'NotFound');
  });

  await t.test('another account: AccessDenied, nothing changed', async () => {
    const stranger = minio(other);
    assert.equal(await minioError(stranger.getObject(bucket, images[0].key)), 'AccessDenied');
    assert.equal(await minioError(stranger.listObjectsV2Query(bucket, '', '', '/', 10, '')), 'AccessDenied');
    assert.equal(await minioError(stranger.putObject(bucket, 'theirs.txt', Buffer.from('x'))), 'AccessDenied');
    assert.equal(await minioError(stranger.removeObject(bucket, images[0].key)), 'AccessDenied');
    assert.equal((await mc.statObject(bucket, images[0].key)).size, images[0].data.length);
    assert.equal(await minioError(mc.statObject(bucket, 'theirs.txt')), 'NotFound');
    assert.ok(!(await stranger.listBuckets()).some((b) => b.name === bucket));
  });

  await t.test('removeObject, removeObjects, removeBucket', async () => {
    await mc.removeObject(bucket, 'big/copy.bin');
    assert.equal(await minioError(mc.statObject(bucket, 'big/copy.bin')), 'NotFound');
    const errors = await mc.removeObjects(bucket, images.map((i) => i.key));
    assert.deepEqual(errors, []);
    assert.deepEqual((await minioPages(mc, bucket, 'images/', 1000)).flat(), []);
    assert.equal(await minioError(mc.removeBucket(bucket)), 'BucketNotEmpty');
    await mc.removeObject(bucket, bigKey);
    await mc.removeBucket(bucket);
    assert.equal(await mc.bucketExists(bucket), false);
  });
});

// ------------------------------------------------------------------ Huawei OBS SDK

// Every name under obs.localtest is this machine (no /etc/hosts entry needed).
function localLookup(hostname, options, cb) {
  if (hostname !== DOMAIN && !hostname.endsWith('.' + DOMAIN)) return dns.lookup(hostname, options, cb);
  if (options && options.all) return cb(null, [{ address: '127.0.0.1', family: 4 }]);
  return cb(null, '127.0.0.1', 4);
}

// style 'path': an IP endpoint; the SDK then signs AWS V2 (x-amz- headers).
// style 'virtual': <bucket>.obs.localtest; the SDK asks HEAD /?apiversion
// first and, told x-obs-api: 3.0, signs with the OBS signature.
async function esdk(key, style) {
  const server = style === 'path' ? `http://127.0.0.1:${srv.obsPort}` : `http://${DOMAIN}:${srv.obsPort}`;
  const client = new ObsClient({
    access_key_id: key.ak, secret_access_key: key.sk, server, max_retry_count: 0, timeout: 120,
    http_agent: new http.Agent({ keepAlive: true, lookup: localLookup }),
  });
  // The constructor starts an initialisation it does not await; its
  // signature context is set once it is done.
  for (let i = 0; i < 200 && !client.util.signatureContext; i++) await new Promise((r) => setTimeout(r, 10));
  assert.equal(client.util.pathStyle, style === 'path');
  assert.equal(client.util.signatureContext.signature, style === 'path' ? 'v2' : 'obs');
  return client;
}

// The SDK's callback API as a promise of its result {CommonMsg, InterfaceResult}.
function call(client, method, param) {
  return new Promise((resolve, reject) => client[method](param, (err, r) => (err ? reject(err) : resolve(r))));
}

// A result of status `status`; its InterfaceResult.
function ok(r, status = 200) {
  assert.equal(r.CommonMsg.Status, status, JSON.stringify(r.CommonMsg));
  return r.InterfaceResult;
}

function refused(r, status, code) {
  assert.equal(r.CommonMsg.Status, status, JSON.stringify(r.CommonMsg));
  assert.equal(r.CommonMsg.Code, code, JSON.stringify(r.CommonMsg));
}

// Every page of a V1 listing of `prefix`, `max` keys at a time: [[keys]].
async function esdkPages(client, bucket, prefix, max) {
  const pages = [];
  let marker;
  for (;;) {
    const r = ok(await call(client, 'listObjects', { Bucket: bucket, Prefix: prefix, MaxKeys: max, Marker: marker }));
    pages.push((r.Contents || []).map((c) => c.Key));
    if (String(r.IsTruncated) !== 'true') return pages;
    assert.ok(r.NextMarker);
    marker = r.NextMarker;
  }
}

// initiateMultipartUpload, uploadPart of the file's slices, completeMultipartUpload.
async function esdkMultipartByHand(client, bucket, key, file, partSize) {
  const init = ok(await call(client, 'initiateMultipartUpload', { Bucket: bucket, Key: key, ContentType: 'application/octet-stream' }));
  assert.ok(init.UploadId);
  const parts = [];
  const size = fs.statSync(file).size;
  for (let n = 1, off = 0; off < size; n++, off += partSize) parts.push({ n, off });
  const etags = [];
  await eachLimited(parts, 3, async ({ n, off }) => {
    const r = ok(await call(client, 'uploadPart', { Bucket: bucket, Key: key, UploadId: init.UploadId, PartNumber: n, SourceFile: file, Offset: off, PartSize: Math.min(partSize, size - off) }));
    etags[n - 1] = { PartNumber: n, ETag: r.ETag };
  });
  const listed = ok(await call(client, 'listParts', { Bucket: bucket, Key: key, UploadId: init.UploadId }));
  assert.deepEqual(listed.Parts.map((p) => Number(p.PartNumber)), parts.map((p) => p.n));
  return ok(await call(client, 'completeMultipartUpload', { Bucket: bucket, Key: key, UploadId: init.UploadId, Parts: etags }));
}

function esdkScenario(style) {
  return async (t) => {
    const client = await esdk(owner, style);
    const bucket = unique(style === 'path' ? 'v2' : 'ob');
    const bigKey = 'big/random.bin';
    const partSize = 5 * MiB;
    // The answers are in the dialect of the signature: x-obs- headers to
    // the OBS signature, x-amz- to AWS V2.
    const requestId = (r) => r.CommonMsg.RequestId;
    // A HEAD answer has no body: the OBS dialect names its error in
    // x-obs-error-code, AWS V2 only by the status.
    const headCode = (code) => (style === 'path' ? '' : code);

    await t.test('createBucket, headBucket, getBucketLocation', async () => {
      // the SDK names the region LocationConstraint (V2) or Location (OBS)
      refused(await call(client, 'createBucket', { Bucket: bucket, Location: 'elsewhere-1' }), 400, 'InvalidLocationConstraint');
      const r = await call(client, 'createBucket', { Bucket: bucket, Location: 'local' });
      ok(r);
      assert.ok(requestId(r), JSON.stringify(r.CommonMsg));
      ok(await call(client, 'headBucket', { Bucket: bucket }));
      assert.equal(ok(await call(client, 'getBucketLocation', { Bucket: bucket })).Location, 'local');
      refused(await call(client, 'headBucket', { Bucket: unique('none') }), 404, headCode('NoSuchBucket'));
      const buckets = ok(await call(client, 'listBuckets', {})).Buckets;
      assert.ok(buckets.some((b) => b.BucketName === bucket), JSON.stringify(buckets));
    });

    // (a Body is sent as a string: the SDK uploads binary content from a file or a stream)
    await t.test('putObject of a folder of 100 images', async () => {
      await eachLimited(images, 8, async (img) => {
        const r = ok(await call(client, 'putObject', { Bucket: bucket, Key: img.key, SourceFile: img.file }));
        assert.equal(r.ETag, `"${crypto.createHash('md5').update(img.data).digest('hex')}"`);
      });
      const meta = ok(await call(client, 'getObjectMetadata', { Bucket: bucket, Key: images[0].key }));
      assert.equal(meta.ContentType, 'image/png');
      assert.equal(Number(meta.ContentLength), images[0].data.length);
    });

    await t.test('the 64 MiB file in 5 MiB parts', async () => {
      let etag;
      if (style === 'path') {
        const r = await new Promise((resolve, reject) => client.uploadFile(
          { Bucket: bucket, Key: bigKey, UploadFile: big.file, PartSize: partSize, TaskNum: 3, Metadata: { origin: 'esdk' } },
          (err, res) => (err ? reject(err) : resolve(res))));
        etag = ok(r).ETag;
      } else {
        etag = (await esdkMultipartByHand(client, bucket, bigKey, big.file, partSize)).ETag;
      }
      assert.equal(etag, `"${multipartEtag(big.file, partSize)}"`);
      const meta = ok(await call(client, 'getObjectMetadata', { Bucket: bucket, Key: bigKey }));
      assert.equal(Number(meta.ContentLength), BIG_SIZE);
      assert.equal(meta.ETag, etag);
      const uploads = ok(await call(client, 'listMultipartUploads', { Bucket: bucket }));
      assert.deepEqual(uploads.Uploads || [], []);
    });

    await t.test('listing: delimiter and pages', async () => {
      const top = ok(await call(client, 'listObjects', { Bucket: bucket, Delimiter: '/' }));
      assert.deepEqual((top.CommonPrefixes || []).map((p) => p.Prefix), ['big/', 'images/']);
      assert.deepEqual(top.Contents || [], []);
      const classes = ok(await call(client, 'listObjects', { Bucket: bucket, Prefix: 'images/', Delimiter: '/' }));
      assert.deepEqual(classes.CommonPrefixes.map((p) => p.Prefix), ['images/cat/', 'images/dog/']);
      const pages = await esdkPages(client, bucket, 'images/', 30);
      assert.deepEqual(pages.map((p) => p.length), [30, 30, 30, 10]);
      assert.deepEqual(pages.flat(), images.map((i) => i.key));
      const bigEntry = ok(await call(client, 'listObjects', { Bucket: bucket, Prefix: 'big/' })).Contents;
      assert.deepEqual(bigEntry.map((c) => [c.Key, Number(c.Size)]), [[bigKey, BIG_SIZE]]);
    });

    await t.test('downloads match: every image, a range, the 64 MiB file', async () => {
      await eachLimited(images, 8, async (img) => {
        const r = ok(await call(client, 'getObject', { Bucket: bucket, Key: img.key, SaveAsStream: true }));
        assert.equal(await streamSha256(r.Content), img.sha256, img.key);
      });
      const part = ok(await call(client, 'getObject', { Bucket: bucket, Key: bigKey, Range: 'bytes=100-1099', SaveAsStream: true }), 206);
      const fd = fs.openSync(big.file, 'r');
      const want = Buffer.alloc(1000);
      fs.readSync(fd, want, 0, 1000, 100);
      fs.closeSync(fd);
      assert.equal(await streamSha256(part.Content), sha256(want));
      const out = path.join(work, `${style}-down.bin`);
      if (style === 'path') {
        ok(await call(client, 'getObject', { Bucket: bucket, Key: bigKey, SaveAsFile: out }));
      } else {
        const r = await new Promise((resolve, reject) => client.downloadFile(
          { Bucket: bucket, Key: bigKey, DownloadFile: out, PartSize: 16 * MiB, TaskNum: 3 },
          (err, res) => (err ? reject(err) : resolve(res))));
        ok(r);
      }
      assert.equal(await fileSha256(out), big.sha256);
    });

    await t.test('copyObject', async () => {
      ok(await call(client, 'copyObject', { Bucket: bucket, Key: 'big/copy.bin', CopySource: `${bucket}/${bigKey}` }));
      const r = ok(await call(client, 'getObject', { Bucket: bucket, Key: 'big/copy.bin', SaveAsStream: true }));
      assert.equal(await streamSha256(r.Content), big.sha256);
      ok(await call(client, 'copyObject', { Bucket: bucket, Key: 'copied.png', CopySource: `${bucket}/${images[0].key}`, MetadataDirective: 'REPLACE', ContentType: 'image/x-copied', Metadata: { source: 'copy' } }));
      const meta = ok(await call(client, 'getObjectMetadata', { Bucket: bucket, Key: 'copied.png' }));
      assert.equal(meta.ContentType, 'image/x-copied');
      assert.equal(meta.Metadata.source, 'copy');
    });

    await t.test('a wrong secret: SignatureDoesNotMatch, nothing written', async () => {
      const bad = await esdk(wrongSecret(owner), style);
      refused(await call(bad, 'listObjects', { Bucket: bucket }), 403, 'SignatureDoesNotMatch');
      refused(await call(bad, 'putObject', { Bucket: bucket, Key: 'bad.txt', Body: 'x' }), 403, 'SignatureDoesNotMatch');
      refused(await call(client, 'getObjectMetadata', { Bucket: bucket, Key: 'bad.txt' }), 404, headCode('NoSuchKey'));
    });

    await t.test('another account: AccessDenied, nothing changed', async () => {
      const stranger = await esdk(other, style);
      refused(await call(stranger, 'getObject', { Bucket: bucket, Key: images[0].key }), 403, 'AccessDenied');
      refused(await call(stranger, 'listObjects', { Bucket: bucket }), 403, 'AccessDenied');
      refused(await call(stranger, 'putObject', { Bucket: bucket, Key: 'theirs.txt', Body: 'x' }), 403, 'AccessDenied');
      refused(await call(stranger, 'deleteObject', { Bucket: bucket, Key: images[0].key }), 403, 'AccessDenied');
      refused(await call(stranger, 'deleteBucket', { Bucket: bucket }), 403, 'AccessDenied');
      ok(await call(client, 'getObjectMetadata', { Bucket: bucket, Key: images[0].key }));
      refused(await call(client, 'getObjectMetadata', { Bucket: bucket, Key: 'theirs.txt' }), 404, headCode('NoSuchKey'));
      const theirs = ok(await call(stranger, 'listBuckets', {})).Buckets || [];
      assert.ok(!theirs.some((b) => b.BucketName === bucket));
    });

    await t.test('deleteObject, deleteObjects, deleteBucket', async () => {
      ok(await call(client, 'deleteObject', { Bucket: bucket, Key: 'big/copy.bin' }), 204);
      refused(await call(client, 'getObjectMetadata', { Bucket: bucket, Key: 'big/copy.bin' }), 404, headCode('NoSuchKey'));
      const r = ok(await call(client, 'deleteObjects', { Bucket: bucket, Quiet: false, Objects: images.map((i) => ({ Key: i.key })) }));
      assert.deepEqual(r.Deleteds.map((d) => d.Key).sort(), images.map((i) => i.key));
      assert.deepEqual(r.Errors || [], []);
      assert.deepEqual((await esdkPages(client, bucket, 'images/', 1000)).flat(), []);
      refused(await call(client, 'deleteBucket', { Bucket: bucket }), 409, 'BucketNotEmpty');
      ok(await call(client, 'deleteObjects', { Bucket: bucket, Quiet: true, Objects: [{ Key: bigKey }, { Key: 'copied.png' }] }));
      ok(await call(client, 'deleteBucket', { Bucket: bucket }), 204);
      refused(await call(client, 'headBucket', { Bucket: bucket }), 404, headCode('NoSuchBucket'));
    });
  };
}

test('esdk-obs-nodejs 3.26.8, path style: AWS Signature V2', esdkScenario('path'));
test('esdk-obs-nodejs 3.26.8, virtual-hosted style: the OBS signature', esdkScenario('virtual'));
