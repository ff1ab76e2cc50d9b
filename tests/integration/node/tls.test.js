// TLS for clients (issue 12, docs/security.md "TLS") with npm clients,
// unchanged: amqplib over amqps:// with a client certificate (mTLS,
// --tls-auth-clients yes), ioredis with {tls: {ca, cert, key}}, and both
// refused without a client certificate. Certificates from scripts/dev-certs.
// Run by ctest: node --test tls.test.js, LOCKQD=path/to/lockqd.
'use strict';
const { test, before, after } = require('node:test');
const assert = require('node:assert');
const { spawn, execFileSync } = require('node:child_process');
const fs = require('node:fs');
const os = require('node:os');
const path = require('node:path');
const { freePort } = require('./harness');
const amqp = require('amqplib');
const Redis = require('ioredis');

let dir, proc, certs, amqpsPort, tlsPort;

const read = (f) => fs.readFileSync(path.join(certs, f));
const tlsOpts = (withCert) => ({
  ca: [read('ca.crt')], servername: 'localhost',
  ...(withCert ? { cert: read('client.crt'), key: read('client.key') } : {}),
});

function redisClient(withCert) {
  return new Redis({ host: '127.0.0.1', port: tlsPort, tls: tlsOpts(withCert), lazyConnect: true,
    maxRetriesPerRequest: 0, retryStrategy: () => null, connectTimeout: 5000 });
}

before(async () => {
  const lockqd = process.env.LOCKQD;
  assert.ok(lockqd, 'set LOCKQD to the lockqd binary');
  dir = fs.mkdtempSync(path.join(os.tmpdir(), 'lockq-node-tls-'));
  certs = path.join(dir, 'certs');
  execFileSync(path.join(__dirname, '..', '..', '..', 'scripts', 'dev-certs'), [certs], { stdio: 'ignore' });
  const [resp, raft] = [await freePort(), await freePort()];
  [amqpsPort, tlsPort] = [await freePort(), await freePort()];
  const log = fs.openSync(path.join(dir, 'lockqd.log'), 'a');
  proc = spawn(lockqd, ['--data-dir', path.join(dir, 'data'), '--resp-port', String(resp),
    '--raft-addr', `127.0.0.1:${raft}`, '--amqp-port', '0', '--http-port', '0',
    '--tls-port', String(tlsPort), '--amqps-port', String(amqpsPort),
    '--tls-cert-file', path.join(certs, 'server.crt'), '--tls-key-file', path.join(certs, 'server.key'),
    '--tls-ca-cert-file', path.join(certs, 'ca.crt')],
  { stdio: ['ignore', log, log] });
  // Wait until lockqd has a leader and answers AMQP over TLS.
  const deadline = Date.now() + 20000;
  for (;;) {
    let conn;
    try {
      conn = await amqp.connect(`amqps://guest:guest@127.0.0.1:${amqpsPort}`, tlsOpts(true));
      const ch = await conn.createChannel();
      await ch.assertQueue('ready');
      await conn.close();
      break;
    } catch (e) {
      if (conn) { try { await conn.close(); } catch (_) { /* gone */ } }
      if (Date.now() > deadline) throw new Error('lockqd AMQPS not ready: ' + e + '; see ' + dir);
      await new Promise((r) => setTimeout(r, 100));
    }
  }
});

after(async () => {
  if (proc) proc.kill('SIGKILL');
  if (dir) fs.rmSync(dir, { recursive: true, force: true });
});

test('amqplib over amqps:// with a client certificate: confirms, get, consume', async () => {
  const conn = await amqp.connect(`amqps://guest:guest@127.0.0.1:${amqpsPort}`, tlsOpts(true));
  try {
    const ch = await conn.createConfirmChannel();
    await ch.assertQueue('tls-jobs');
    for (let i = 0; i < 50; i++) ch.sendToQueue('tls-jobs', Buffer.from(String(i)));
    await ch.waitForConfirms();
    const first = await ch.get('tls-jobs', { noAck: true });
    assert.strictEqual(first.content.toString(), '0');
    const got = [];
    await new Promise((resolve) => {
      ch.consume('tls-jobs', (msg) => {
        got.push(Number(msg.content.toString()));
        ch.ack(msg);
        if (got.length === 49) resolve();
      });
    });
    assert.strictEqual(got.length, 49);
    await ch.close();
  } finally {
    await conn.close();
  }
});

test('amqplib without a client certificate is refused', async () => {
  await assert.rejects(amqp.connect(`amqps://guest:guest@127.0.0.1:${amqpsPort}`, tlsOpts(false)));
});

test('ioredis with tls: SET, GET, a native lock; refused without a certificate', async () => {
  const r = redisClient(true);
  await r.connect();
  try {
    assert.strictEqual(await r.set('tls:node', 'v'), 'OK');
    assert.strictEqual(await r.get('tls:node'), 'v');
    const grant = await r.call('LOCK.ACQUIRE', 'tls:node-lock', 'TTL', '10000');
    assert.ok(Array.isArray(grant) && grant.length >= 1, String(grant));
  } finally {
    r.disconnect();
  }
  const anon = redisClient(false);
  anon.on('error', () => {});
  await assert.rejects(async () => {
    await anon.connect();
    await anon.ping();
  });
  anon.disconnect();
});
