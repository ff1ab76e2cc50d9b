// npm amqplib, unchanged, against a real lockqd with --requirepass (issue 12,
// docs/security.md "AMQP"): a bad password is refused the way RabbitMQ
// refuses it (403 ACCESS_REFUSED before connection.tune); user `default`
// with the password works; a refused vhost is refused at connection.open; a publish to
// a forbidden exchange closes the channel with 403 and the connection lives.
// Run by ctest: node --test amqplib_auth.test.js, LOCKQD=path/to/lockqd.
'use strict';
const { test, before, after } = require('node:test');
const assert = require('node:assert');
const { spawn } = require('node:child_process');
const fs = require('node:fs');
const os = require('node:os');
const path = require('node:path');
const { freePort } = require('./harness');
const amqp = require('amqplib');
const Redis = require('ioredis');

const PASS = 'amqplib-default-pw';
let dir, proc, amqpPort, admin;

before(async () => {
  const lockqd = process.env.LOCKQD;
  assert.ok(lockqd, 'set LOCKQD to the lockqd binary');
  dir = fs.mkdtempSync(path.join(os.tmpdir(), 'lockq-amqplib-auth-'));
  const [resp, raft, port] = [await freePort(), await freePort(), await freePort()];
  amqpPort = port;
  const log = fs.openSync(path.join(dir, 'lockqd.log'), 'a');
  proc = spawn(lockqd, ['--data-dir', path.join(dir, 'data'), '--resp-port', String(resp),
    '--raft-addr', `127.0.0.1:${raft}`, '--amqp-port', String(port), '--http-port', '0', '--requirepass', PASS],
    { stdio: ['ignore', log, log] });
  const deadline = Date.now() + 30000;
  for (;;) {
    admin = new Redis({ port: resp, host: '127.0.0.1', lazyConnect: true, password: PASS, maxRetriesPerRequest: 0,
      enableOfflineQueue: false, retryStrategy: () => null });
    admin.on('error', () => {});
    try {
      await admin.connect();
      await admin.call('ACL', 'SETUSER', 'app', 'on', '>app-pw', '~*', '+@all');
      await admin.call('LOCKQ.PERMISSIONS', 'SET', 'app', '/', '^app\\.', '^app\\.', '^app\\.');
      await admin.call('ACL', 'SETUSER', 'nohost', 'on', '>nohost-pw', '~*', '+@all');
      await admin.call('LOCKQ.PERMISSIONS', 'SET', 'nohost', 'other', '.*', '.*', '.*');
      const c = await amqp.connect(`amqp://default:${PASS}@127.0.0.1:${port}`);
      await c.close();
      break;
    } catch (e) {
      admin.disconnect();
      if (Date.now() > deadline) throw new Error('lockqd did not start: ' + e + '; see ' + dir);
      await new Promise((r) => setTimeout(r, 100));
    }
  }
});

after(async () => {
  if (admin) admin.disconnect();
  if (proc) proc.kill('SIGKILL');
  if (dir) fs.rmSync(dir, { recursive: true, force: true });
});

test('bad password is refused with 403 ACCESS_REFUSED', async () => {
  await assert.rejects(amqp.connect(`amqp://app:wrong@127.0.0.1:${amqpPort}`), (e) => {
    assert.match(String(e.message), /ACCESS_REFUSED|403/);
    return true;
  });
  await assert.rejects(amqp.connect(`amqp://guest:guest@127.0.0.1:${amqpPort}`), /ACCESS_REFUSED|403/);
});

test('default with the --requirepass password works', async () => {
  const c = await amqp.connect(`amqp://default:${PASS}@127.0.0.1:${amqpPort}`);
  const ch = await c.createChannel();
  await ch.assertQueue('any.q', { autoDelete: true });
  await c.close();
});

test('refused vhost: connection.close in reply to connection.open', async () => {
  // amqplib reports a close after tune-ok without its text (as with RabbitMQ).
  await assert.rejects(amqp.connect(`amqp://nohost:nohost-pw@127.0.0.1:${amqpPort}`),
    /Expected ConnectionOpenOk; got <ConnectionClose/);
});

test('publish to a forbidden exchange closes the channel, not the connection', async () => {
  const own = await amqp.connect(`amqp://default:${PASS}@127.0.0.1:${amqpPort}`);
  await (await own.createChannel()).assertExchange('secret.x', 'fanout');
  await own.close();
  const c = await amqp.connect(`amqp://app:app-pw@127.0.0.1:${amqpPort}`);
  const ch = await c.createChannel();
  const closed = new Promise((resolve) => ch.on('error', resolve));
  ch.publish('secret.x', '', Buffer.from('no'));
  const err = await closed;
  assert.strictEqual(err.code, 403);
  assert.match(err.message, /write access to exchange 'secret\.x' in vhost '\/' refused for user 'app'/);
  const ch2 = await c.createChannel();
  await ch2.assertQueue('app.ok', { autoDelete: true });
  await c.close();
});
