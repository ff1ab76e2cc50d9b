// npm ioredis, unchanged, against a real lockqd (issue 4): SET NX PX locks
// and the Lua lock scripts through ioredis's defineCommand (EVALSHA with
// its EVAL fallback on NOSCRIPT), eval, and SCRIPT LOAD + evalsha.
// Run by ctest: node --test ioredis_scripts.test.js, LOCKQD=path/to/lockqd.
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

const RELEASE = `if redis.call("get", KEYS[1]) == ARGV[1] then
  return redis.call("del", KEYS[1])
else
  return 0
end`;
const EXTEND = `if redis.call("get", KEYS[1]) == ARGV[1] then
  return redis.call("pexpire", KEYS[1], ARGV[2])
else
  return 0
end`;

let dir, proc, redis;

before(async () => {
  const lockqd = process.env.LOCKQD;
  assert.ok(lockqd, 'set LOCKQD to the lockqd binary');
  dir = fs.mkdtempSync(path.join(os.tmpdir(), 'lockq-ioredis-'));
  const port = await freePort();
  const raft = await freePort();
  const log = fs.openSync(path.join(dir, 'lockqd.log'), 'a');
  proc = spawn(lockqd, ['--data-dir', path.join(dir, 'data'), '--resp-port', String(port),
    '--raft-addr', `127.0.0.1:${raft}`, '--amqp-port', '0', '--http-port', '0'],
    { stdio: ['ignore', log, log] });
  // Wait until lockqd accepts connections, then talk to it with ioredis.
  const deadline = Date.now() + 20000;
  for (;;) {
    const up = await new Promise((resolve) => {
      const sock = net.connect(port, '127.0.0.1', () => { sock.end(); resolve(true); });
      sock.on('error', () => resolve(false));
    });
    if (up) break;
    if (Date.now() > deadline) throw new Error('lockqd did not start; see ' + dir);
    await new Promise((r) => setTimeout(r, 100));
  }
  redis = new Redis({ port, host: '127.0.0.1', maxRetriesPerRequest: 50 });
  assert.strictEqual(await redis.set('ready', '1'), 'OK');
  redis.defineCommand('lockRelease', { numberOfKeys: 1, lua: RELEASE });
  redis.defineCommand('lockExtend', { numberOfKeys: 1, lua: EXTEND });
});

after(async () => {
  if (redis) redis.disconnect();
  if (proc) proc.kill('SIGKILL');
  if (dir) fs.rmSync(dir, { recursive: true, force: true });
});

test('SET NX PX lock, compare-then-delete release via defineCommand', async () => {
  assert.strictEqual(await redis.set('lock:a', 'token-1', 'PX', 5000, 'NX'), 'OK');
  assert.strictEqual(await redis.set('lock:a', 'token-2', 'PX', 5000, 'NX'), null);
  assert.strictEqual(await redis.lockRelease('lock:a', 'token-2'), 0, 'a stranger cannot release');
  assert.strictEqual(await redis.get('lock:a'), 'token-1');
  assert.strictEqual(await redis.lockRelease('lock:a', 'token-1'), 1);
  assert.strictEqual(await redis.exists('lock:a'), 0);
});

test('extend only by the owner', async () => {
  await redis.set('lock:b', 'mine', 'PX', 1000);
  assert.strictEqual(await redis.lockExtend('lock:b', 'other', 60000), 0);
  assert.strictEqual(await redis.lockExtend('lock:b', 'mine', 60000), 1);
  assert.ok((await redis.pttl('lock:b')) > 30000);
});

test('defineCommand recovers from NOSCRIPT after SCRIPT FLUSH', async () => {
  await redis.set('lock:c', 't', 'PX', 5000);
  await redis.script('FLUSH');
  assert.strictEqual(await redis.lockRelease('lock:c', 't'), 1);
});

test('eval, SCRIPT LOAD + evalsha, NOSCRIPT wording, script errors', async () => {
  assert.strictEqual(await redis.eval('return ARGV[1] .. KEYS[1]', 1, 'k', 'v'), 'vk');
  const sha = await redis.script('LOAD', RELEASE);
  assert.strictEqual(sha.length, 40);
  assert.deepStrictEqual(await redis.script('EXISTS', sha, '0'.repeat(40)), [1, 0]);
  assert.strictEqual(await redis.evalsha(sha, 1, 'lock:none', 'x'), 0);
  await assert.rejects(redis.evalsha('f'.repeat(40), 0), /NOSCRIPT/);
  await assert.rejects(redis.eval('return redis.call("nosuchcommand")', 0), /Unknown Redis command/);
  await assert.rejects(redis.eval('while true do end', 0), /instruction budget/);
});
