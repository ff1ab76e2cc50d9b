// npm ioredis, unchanged, against a real lockqd with --requirepass (issue 12):
// NOAUTH without a password, WRONGPASS with a bad one (ioredis treats it as
// fatal: it rejects commands), NOPERM on a key pattern and on a category,
// and a user limited to ~jobs:* that locks jobs:x but not other.
// Run by ctest: node --test ioredis_acl.test.js, LOCKQD=path/to/lockqd.
'use strict';
const { test, before, after } = require('node:test');
const assert = require('node:assert');
const { spawn } = require('node:child_process');
const fs = require('node:fs');
const net = require('node:net');
const os = require('node:os');
const path = require('node:path');
const { freePort } = require('./harness');
const Redis = require('ioredis');

const PASS = 'ioredis-default-pw';
let dir, proc, port, admin;
const clients = [];

function connect(opts) {
  // No reconnect loop and no offline queue: an AUTH failure or a refused
  // command surfaces at once (every wait stays bounded).
  const r = new Redis({ port, host: '127.0.0.1', lazyConnect: true, maxRetriesPerRequest: 0, enableReadyCheck: false,
    enableOfflineQueue: false, retryStrategy: () => null, ...opts });
  r.on('error', () => {});
  clients.push(r);
  return r;
}

before(async () => {
  const lockqd = process.env.LOCKQD;
  assert.ok(lockqd, 'set LOCKQD to the lockqd binary');
  dir = fs.mkdtempSync(path.join(os.tmpdir(), 'lockq-ioredis-acl-'));
  port = await freePort();
  const raft = await freePort();
  const log = fs.openSync(path.join(dir, 'lockqd.log'), 'a');
  proc = spawn(lockqd, ['--data-dir', path.join(dir, 'data'), '--resp-port', String(port),
    '--raft-addr', `127.0.0.1:${raft}`, '--amqp-port', '0', '--http-port', '0', '--requirepass', PASS],
    { stdio: ['ignore', log, log] });
  const deadline = Date.now() + 30000;
  for (;;) {
    admin = connect({ password: PASS });
    try {
      await admin.connect();
      if ((await admin.set('ready', '1')) === 'OK') break;
    } catch (e) {
      admin.disconnect();
    }
    if (Date.now() > deadline) throw new Error('lockqd did not start; see ' + dir);
    await new Promise((r) => setTimeout(r, 200));
  }
  await admin.call('ACL', 'SETUSER', 'jobs', 'on', '>jobs-pw', '~jobs:*', '+@all', '-@dangerous');
  await admin.call('ACL', 'SETUSER', 'reader', 'on', '>reader-pw', '~*', '+@read', '+@connection');
});

after(async () => {
  for (const c of clients) c.disconnect();
  if (proc) proc.kill('SIGKILL');
  if (dir) fs.rmSync(dir, { recursive: true, force: true });
});

test('NOAUTH without a password', async () => {
  const r = connect({});
  await r.connect();
  await assert.rejects(r.get('k'), /NOAUTH Authentication required/);
});

test('WRONGPASS with a bad password', async () => {
  const r = connect({ username: 'jobs', password: 'bad' });
  // ioredis sends AUTH first and reports its failure as an 'error' event
  // (fatal: it disconnects), bounded here by a timer.
  const failed = new Promise((resolve, reject) => {
    r.once('error', resolve);
    setTimeout(() => reject(new Error('no AUTH error within 10 s')), 10000).unref();
  });
  r.connect().catch(() => {});
  const err = await failed;
  assert.match(err.message, /WRONGPASS invalid username-password pair or user is disabled/);
});

test('a user limited to ~jobs:* locks jobs:x but not other', async () => {
  const r = connect({ username: 'jobs', password: 'jobs-pw' });
  await r.connect();
  assert.strictEqual(await r.call('ACL', 'WHOAMI'), 'jobs');
  assert.strictEqual(await r.set('jobs:x', 'tok', 'PX', 10000, 'NX'), 'OK');
  assert.ok(await r.call('LOCK.ACQUIRE', 'jobs:lock', 'TTL', '10000'));
  await assert.rejects(r.call('LOCK.ACQUIRE', 'other'), /NOPERM No permissions to access a key/);
  await assert.rejects(r.set('other', 'v'), /NOPERM No permissions to access a key/);
});

test('NOPERM on a category', async () => {
  const r = connect({ username: 'reader', password: 'reader-pw' });
  await r.connect();
  await admin.set('shared', '1');
  assert.strictEqual(await r.get('shared'), '1');
  await assert.rejects(r.set('shared', '2'), /NOPERM User reader has no permissions to run the 'set' command/);
});
