// npm amqplib, unchanged, against a real lockqd's AMQP 0-9-1 port (issue 5,
// docs/amqp.md): a confirm channel publishing to a topic exchange, a
// consumer with prefetch and manual acks, nack with requeue (redelivered),
// basic.get, a channel error (404) that leaves the connection usable, a work
// queue with 2 competing consumers at prefetch 10, a topic fan-out, and
// pipelined confirms (merged acks, individual nacks), and close() right after
// a burst of sendToQueue (issue 11 item 8).
// Run by ctest: node --test amqplib.test.js, LOCKQD=path/to/lockqd.
'use strict';
const { test, before, after } = require('node:test');
const assert = require('node:assert');
const { spawn } = require('node:child_process');
const fs = require('node:fs');
const os = require('node:os');
const path = require('node:path');
const { freePort } = require('./harness');
const amqp = require('amqplib');

let dir, proc, conn, amqpPort;

before(async () => {
  const lockqd = process.env.LOCKQD;
  assert.ok(lockqd, 'set LOCKQD to the lockqd binary');
  dir = fs.mkdtempSync(path.join(os.tmpdir(), 'lockq-amqplib-'));
  const [resp, raft, port] = [await freePort(), await freePort(), await freePort()];
  amqpPort = port;
  const log = fs.openSync(path.join(dir, 'lockqd.log'), 'a');
  proc = spawn(lockqd, ['--data-dir', path.join(dir, 'data'), '--resp-port', String(resp),
    '--raft-addr', `127.0.0.1:${raft}`, '--amqp-port', String(port), '--http-port', '0'],
    { stdio: ['ignore', log, log] });
  // Wait until lockqd has a leader and answers AMQP.
  const deadline = Date.now() + 20000;
  for (;;) {
    try {
      conn = await amqp.connect(`amqp://guest:guest@127.0.0.1:${port}`);
      const ch = await conn.createChannel();
      await ch.assertQueue('ready');
      await ch.close();
      break;
    } catch (e) {
      if (conn) { try { await conn.close(); } catch (_) { /* gone */ } conn = undefined; }
      if (Date.now() > deadline) throw new Error('lockqd AMQP not ready: ' + e + '; see ' + dir);
      await new Promise((r) => setTimeout(r, 100));
    }
  }
});

after(async () => {
  if (conn) { try { await conn.close(); } catch (_) { /* already closed */ } }
  if (proc) proc.kill('SIGKILL');
  if (dir) fs.rmSync(dir, { recursive: true, force: true });
});

test('confirm channel, topic exchange, consumer with prefetch and acks', async () => {
  const ch = await conn.createConfirmChannel();
  await ch.assertExchange('logs', 'topic', { durable: true });
  const { queue } = await ch.assertQueue('', { exclusive: true });
  assert.match(queue, /^amq\.gen-/);
  await ch.bindQueue(queue, 'logs', 'app.*.error');
  for (let i = 0; i < 20; i++) {
    ch.publish('logs', i % 2 ? 'app.web.error' : 'app.web.info', Buffer.from(String(i)),
      { contentType: 'text/plain', headers: { n: i } });
  }
  await ch.waitForConfirms();
  await ch.prefetch(3);
  const got = [];
  await new Promise((resolve) => {
    ch.consume(queue, (msg) => {
      got.push(Number(msg.content.toString()));
      assert.strictEqual(msg.properties.contentType, 'text/plain');
      assert.strictEqual(msg.properties.headers.n, got[got.length - 1]);
      ch.ack(msg);
      if (got.length === 10) resolve();
    });
  });
  assert.deepStrictEqual(got, [1, 3, 5, 7, 9, 11, 13, 15, 17, 19]);
  await ch.close();
});

test('nack with requeue comes back redelivered; get and get-empty', async () => {
  const ch = await conn.createChannel();
  await ch.assertQueue('amqplib-get');
  await ch.purgeQueue('amqplib-get');
  ch.sendToQueue('amqplib-get', Buffer.from('again'));
  let msg;
  for (let i = 0; i < 100 && !msg; i++) {
    msg = await ch.get('amqplib-get');
    if (!msg) await new Promise((r) => setTimeout(r, 20));
  }
  assert.ok(msg, 'the message arrived');
  assert.strictEqual(msg.fields.redelivered, false);
  ch.nack(msg, false, true);
  const again = await ch.get('amqplib-get');
  assert.strictEqual(again.content.toString(), 'again');
  assert.strictEqual(again.fields.redelivered, true);
  ch.ack(again);
  assert.strictEqual(await ch.get('amqplib-get'), false);
  await ch.close();
});

test('a channel error (404) closes the channel, not the connection', async () => {
  const ch = await conn.createChannel();
  ch.on('error', () => {});  // amqplib emits the channel close as an error too
  await assert.rejects(ch.checkQueue('no-such-queue'), /404/);
  const ok = await conn.createChannel();
  await ok.checkQueue('amqplib-get');
  await ok.close();
});

test('work queue: 2 competing consumers with prefetch 10 share the work, each message once', async () => {
  const pub = await conn.createConfirmChannel();
  await pub.assertQueue('work', { durable: true });
  const total = 200;
  for (let i = 0; i < total; i++) pub.sendToQueue('work', Buffer.from(String(i)), { persistent: true });
  await pub.waitForConfirms();
  const seen = new Map();  // message -> consumer
  const perConsumer = [0, 0];
  const channels = [await conn.createChannel(), await conn.createChannel()];
  let acked = 0;
  await new Promise((resolve) => {
    channels.forEach((ch, who) => {
      ch.prefetch(10);
      ch.consume('work', (msg) => {
        const n = Number(msg.content.toString());
        assert.ok(!seen.has(n) || msg.fields.redelivered, `message ${n} delivered twice without redelivered`);
        seen.set(n, who);
        perConsumer[who]++;
        // Hold each ack briefly so both consumers stay busy at prefetch 10;
        // the channels close only after the last ack went out.
        setTimeout(() => {
          ch.ack(msg);
          if (++acked === total) resolve();
        }, 2);
      });
    });
  });
  assert.strictEqual(seen.size, total);
  assert.ok(perConsumer[0] > 0 && perConsumer[1] > 0, `both consumers got work: ${perConsumer}`);
  console.log(`work queue: ${total} messages, consumer 1 got ${perConsumer[0]}, consumer 2 got ${perConsumer[1]}`);
  for (const ch of channels) await ch.close();
  await pub.close();
});

test('topic exchange fan-out: every matching queue gets its copy', async () => {
  const ch = await conn.createConfirmChannel();
  await ch.assertExchange('events', 'topic', { durable: false });
  const bindings = { all: '#', orders: 'orders.*', eu: '*.eu', none: 'billing.#' };
  for (const [q, pattern] of Object.entries(bindings)) {
    await ch.assertQueue('fan-' + q, { exclusive: true });
    await ch.bindQueue('fan-' + q, 'events', pattern);
  }
  for (const key of ['orders.eu', 'orders.us', 'users.eu']) ch.publish('events', key, Buffer.from(key));
  await ch.waitForConfirms();
  const drain = async (q) => {
    const out = [];
    for (;;) {
      const msg = await ch.get('fan-' + q, { noAck: true });
      if (!msg) return out;
      out.push(msg.content.toString());
    }
  };
  assert.deepStrictEqual(await drain('all'), ['orders.eu', 'orders.us', 'users.eu']);
  assert.deepStrictEqual(await drain('orders'), ['orders.eu', 'orders.us']);
  assert.deepStrictEqual(await drain('eu'), ['orders.eu', 'users.eu']);
  assert.deepStrictEqual(await drain('none'), []);
  await ch.close();
});

// lockqd merges the confirms that are ready together into one basic.ack
// with multiple=true (amqp_connection.cc, FlushOutput); a nack must still
// reach exactly the publishes it is for. 30 publishes without waiting, to a
// queue that takes 10 (x-max-length, reject-publish): 10 acks then 20
// nacks, whichever of them were merged.
test('pipelined confirms: merged acks and individual nacks reach the right publishes', async () => {
  const ch = await conn.createConfirmChannel();
  await ch.assertQueue('confirm-merge', { exclusive: true, arguments: { 'x-max-length': 10, 'x-overflow': 'reject-publish' } });
  const outcomes = [];
  const pending = [];
  for (let i = 0; i < 30; i++) {
    pending.push(new Promise((resolve) => {
      ch.sendToQueue('confirm-merge', Buffer.from(String(i)), {}, (err) => { outcomes[i] = err ? 'nack' : 'ack'; resolve(); });
    }));
  }
  await Promise.all(pending);
  assert.deepStrictEqual(outcomes, Array.from({ length: 30 }, (_, i) => (i < 10 ? 'ack' : 'nack')));
  await ch.close();
});

// Issue 11 item 8: a client-initiated connection.close is answered with
// close-ok and the server then waits for the client to close the socket
// (as RabbitMQ does). Closing at once made the frames the client was still
// flushing hit a reset socket: close() after a burst of sendToQueue never
// called back.
test('close() right after a burst of sendToQueue calls back', async () => {
  for (let round = 0; round < 5; round++) {
    const c = await amqp.connect(`amqp://guest:guest@127.0.0.1:${amqpPort}`);
    const ch = await c.createChannel();
    await ch.assertQueue('amqplib-burst-close');
    for (let i = 0; i < 10; i++) ch.sendToQueue('amqplib-burst-close', Buffer.from(`m${round}-${i}`));
    let timer;
    const hung = new Promise((_, reject) => {
      timer = setTimeout(() => reject(new Error(`close() did not call back (round ${round})`)), 5000);
    });
    try {
      await Promise.race([c.close(), hung]);
    } finally {
      clearTimeout(timer);
    }
  }
  // amqplib writes the publishes it still buffers after connection.close,
  // which section 2.2.4 tells the server to discard: no count to check
  // here, only that close() completes and the server carries on.
  const check = await conn.createChannel();
  await check.deleteQueue('amqplib-burst-close');
  await check.close();
});
