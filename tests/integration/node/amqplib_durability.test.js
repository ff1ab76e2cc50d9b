// Issue 5, must-demonstrate: on a single node, 100k persistent messages
// published through AMQP with publisher confirms (npm amqplib), then
// kill -9 and a restart on the same data: all 100k are there, in order.
// Run by ctest: node --test amqplib_durability.test.js, LOCKQD=path/to/lockqd.
'use strict';
const { test } = require('node:test');
const assert = require('node:assert');
const { spawn } = require('node:child_process');
const fs = require('node:fs');
const os = require('node:os');
const path = require('node:path');
const { freePort } = require('./harness');
const amqp = require('amqplib');

const MESSAGES = 100000;
const BATCH = 2000;  // publishes between waitForConfirms

function start(dir, ports) {
  const log = fs.openSync(path.join(dir, 'lockqd.log'), 'a');
  return spawn(process.env.LOCKQD, ['--data-dir', path.join(dir, 'data'), '--resp-port', String(ports.resp),
    '--raft-addr', `127.0.0.1:${ports.raft}`, '--amqp-port', String(ports.amqp), '--http-port', '0'],
  { stdio: ['ignore', log, log] });
}

async function connect(port) {
  const deadline = Date.now() + 30000;
  for (;;) {
    try {
      // No heartbeat timers: the first connection is cut by kill -9, and a
      // timer left behind would keep node (and so ctest) waiting.
      const conn = await amqp.connect(`amqp://guest:guest@127.0.0.1:${port}?heartbeat=0`);
      conn.on('error', () => {});  // the kill -9 below is expected
      const ch = await conn.createChannel();
      await ch.assertQueue('durable-q', { durable: true });  // proves a leader and a working log
      await ch.close();
      return conn;
    } catch (e) {
      if (Date.now() > deadline) throw new Error('lockqd AMQP not ready: ' + e);
      await new Promise((r) => setTimeout(r, 100));
    }
  }
}

test('100k persistent confirmed messages survive kill -9, in order', async () => {
  assert.ok(process.env.LOCKQD, 'set LOCKQD to the lockqd binary');
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'lockq-amqp-durable-'));
  const ports = { resp: await freePort(), raft: await freePort(), amqp: await freePort() };
  let proc = start(dir, ports);
  try {
    let conn = await connect(ports.amqp);
    const ch = await conn.createConfirmChannel();
    const t0 = Date.now();
    for (let i = 0; i < MESSAGES; i += BATCH) {
      for (let j = i; j < i + BATCH; j++) ch.sendToQueue('durable-q', Buffer.from('m' + j), { persistent: true });
      await ch.waitForConfirms();  // every message so far is committed (fsync'd)
    }
    const publishMs = Date.now() - t0;
    // kill -9 with everything confirmed, then restart on the same data.
    ch.on('error', () => {});
    conn.connection.stream.destroy();
    proc.kill('SIGKILL');
    await new Promise((r) => proc.once('exit', r));
    proc = start(dir, ports);
    conn = await connect(ports.amqp);
    const rx = await conn.createChannel();
    await rx.prefetch(1000);
    let next = 0;
    await new Promise((resolve, reject) => {
      rx.consume('durable-q', (msg) => {
        const body = msg.content.toString();
        if (body !== 'm' + next) {
          reject(new Error(`expected m${next}, got ${body}`));
          return;
        }
        next++;
        rx.ack(msg);
        if (next === MESSAGES) resolve();
      }).catch(reject);
    });
    console.log(`100000 persistent messages confirmed in ${publishMs} ms; after kill -9 and restart all ${next} came back in order`);
    const left = await rx.checkQueue('durable-q');
    assert.strictEqual(next, MESSAGES);
    assert.ok(left.messageCount >= 0);
    await conn.close();
  } finally {
    proc.kill('SIGKILL');
    fs.rmSync(dir, { recursive: true, force: true });
  }
});
