"""The chaos workloads: client threads that run until `stop` is set, record
every op in a history.History, and then say what they saw.

Each thread talks to one node (its index modulo the cluster size), so every
node, leader or follower, paused or cut off, serves some client, and keeps
talking to it through faults (redis-py reconnects on the next call). After
the run, `final(cluster)` reads what the checkers need through a live node
and `check()` returns anomaly strings.

    Register    SET/GET of unique values on a few keys -> linearizable.check
    Counter     INCR on one key -> checkers.counter
    NativeLock  LOCK.ACQUIRE try-locks, fenced writes (SET ... FENCE plus an
                INCR in one script, giving the accepted-write order),
                LOCK.RELEASE -> checkers.lock_holds, checkers.fenced_writes
    Election    the same with ELECT.CAMPAIGN / ELECT.RESIGN
    RedisPyLock redis-py's Lock around GET; SET n+1 -> checkers.counter
    Amqp        pika publisher confirms and a manual-ack consumer
                -> checkers.total_queue
"""
import random
import threading
import time

import pika
import redis
from pika.exceptions import AMQPError

import checkers
import linearizable
from lockq_cluster import client

PAUSE_S = 0.01   # between one thread's ops: keeps 2 shared cores for the nodes
ERROR_PAUSE_S = 0.1


class Workload:
    """Base: threads(n) workers; subclasses define step(proc, r, rng)."""
    name = "?"
    threads = 2

    def __init__(self, history, cluster, timeout_s, seed):
        self.h, self.cluster, self.timeout_s, self.seed = history, cluster, timeout_s, seed

    def client(self, node):
        return client(self.cluster.resp[node], self.timeout_s, self.cluster.hosts[node])

    def start(self, stop, first_proc):
        self.procs = range(first_proc, first_proc + self.threads)
        out = []
        for k in range(self.threads):
            proc = first_proc + k
            t = threading.Thread(target=self._loop, args=(proc, proc % self.cluster.n, stop), daemon=True,
                                 name="%s-%d" % (self.name, proc))
            t.start()
            out.append(t)
        self.started = out
        return out

    def _loop(self, proc, node, stop):
        rng = random.Random(self.seed * 1000 + proc)
        r = self.client(node)
        while not stop.is_set():
            ok = self.step(proc, node, r, rng)
            time.sleep(PAUSE_S if ok else ERROR_PAUSE_S)

    def call(self, proc, f, key, value, node, fn):
        return self.h.call(proc, f, key, value, node, fn)

    def drain(self):
        pass

    def final(self, cluster):
        pass

    def check(self):
        return []

    def summary(self):
        ops = [op for op in self.h.snapshot() if op.process in self.procs]
        return " (%d ops, %d ok)" % (len(ops), sum(op.outcome == "ok" for op in ops))


def read_final(cluster, fn, what):
    """fn(client) through any node that answers, retried (bounded)."""
    deadline = time.monotonic() + 60
    while True:
        for i in range(cluster.n):
            try:
                return fn(cluster.client(i, 5))
            except redis.RedisError as e:
                err = e
        if time.monotonic() > deadline:
            raise AssertionError("could not read %s: %s" % (what, err))
        time.sleep(0.2)


class Register(Workload):
    name, threads, keys = "register", 4, 3

    def __init__(self, *a):
        super().__init__(*a)
        self.seq = 0

    def step(self, proc, node, r, rng):
        key = "reg%d" % rng.randrange(self.keys)
        if rng.random() < 0.5:
            self.seq += 1  # unique values: the GIL makes += atomic enough, and proc is in the value too
            value = "%d-%d" % (proc, self.seq)
            op = self.call(proc, "write", key, value, node, lambda: r.set(key, value))
        else:
            op = self.call(proc, "read", key, None, node, lambda: r.get(key))
            if op.outcome == "ok" and op.result is not None:
                op.result = op.result.decode()
        return op.outcome == "ok"

    def ops(self):
        return [op for op in self.h.snapshot() if op.f in ("read", "write")]

    def check(self):
        return ["register %r: %s" % (res.key, res.reason) for res in linearizable.check(self.ops()) if not res.ok]


class Counter(Workload):
    name, threads, key = "counter", 2, "ctr"

    def step(self, proc, node, r, rng):
        return self.call(proc, "incr", self.key, 1, node, lambda: r.incr(self.key)).outcome == "ok"

    def final(self, cluster):
        self.value = int(read_final(cluster, lambda c: c.get(self.key) or 0, self.key))

    def check(self):
        return checkers.counter([op for op in self.h.snapshot() if op.key == self.key], self.value)


# One script: the fenced SET, then the position of this accepted write.
# A refused SET raises inside the script, so a refused write takes no position.
FENCED_WRITE = "redis.call('SET', KEYS[1], ARGV[1], 'FENCE', ARGV[2], ARGV[3]); return redis.call('INCR', KEYS[2])"


class NativeLock(Workload):
    name, threads, lock, ttl_ms = "native-lock", 3, "nl", 1500

    def __init__(self, *a):
        super().__init__(*a)
        self.grants, self.writes = [], []

    def acquire(self, r, proc):
        return r.execute_command("LOCK.ACQUIRE", self.lock, "TTL", self.ttl_ms, "OWNER", proc)

    def release(self, r, token):
        return r.execute_command("LOCK.RELEASE", self.lock, token)

    def step(self, proc, node, r, rng):
        acq = self.call(proc, "acquire", self.lock, None, node, lambda: self.acquire(r, proc))
        if acq.outcome != "ok" or acq.result is None:
            time.sleep(rng.uniform(0, 0.05))
            return acq.outcome == "ok"
        token, guaranteed_ms = int(acq.result[0]), int(acq.result[1])
        res, seq = self.lock + "-res", self.lock + "-seq"
        for _ in range(rng.randint(1, 2)):
            if rng.random() < 0.1:
                time.sleep(self.ttl_ms / 1000 * 1.5)  # past the lease: the write must then be fenced
            op = self.call(proc, "fenced-write", res, token, node,
                           lambda: r.eval(FENCED_WRITE, 2, res, seq, "%d-%d" % (proc, token), self.fence_lock, token))
            if op.outcome == "ok":
                self.writes.append({"seq": int(op.result), "token": token})
        release_at = time.monotonic()
        self.call(proc, "release", self.lock, token, node, lambda: self.release(r, token))
        self.grants.append({"lock": self.lock, "token": token, "start": acq.complete,
                            "end": min(acq.invoke + guaranteed_ms / 1000, release_at)})
        return True

    @property
    def fence_lock(self):
        return self.lock

    def check(self):
        return checkers.lock_holds(self.grants) + checkers.fenced_writes(self.writes)


class Election(NativeLock):
    """The same checks for leader election: ELECT.CAMPAIGN is an exclusive
    lock named elect:<name> (docs/locks.md "Elections"), so its leaders'
    terms must not overlap and their tokens fence writes the same way."""
    name, threads, lock = "election", 2, "el"

    def acquire(self, r, proc):
        return r.execute_command("ELECT.CAMPAIGN", self.lock, "candidate-%d" % proc, "TTL", self.ttl_ms)

    def release(self, r, token):
        return r.execute_command("ELECT.RESIGN", self.lock, token)

    @property
    def fence_lock(self):
        return "elect:" + self.lock


class RedisPyLock(Workload):
    """redis-py's Lock (SET NX PX + a release script), unchanged client code,
    guarding GET; SET n+1. A holder writes only while its lock is surely
    still held when the SET is answered: lockq answers every request within
    `bound_s` (applied by then or never), so it skips the SET when less
    than that is left of the lease, as a careful user would."""
    name, threads, key, ttl_s = "redis-py-lock", 2, "rp-count", 8

    def __init__(self, history, cluster, timeout_s, seed, bound_s):
        super().__init__(history, cluster, timeout_s, seed)
        self.bound_s = bound_s

    def step(self, proc, node, r, rng):
        lock = r.lock("rp-lock", timeout=self.ttl_s)
        # Not blocking: one SET NX per op, so the op's wait is one request's.
        acq = self.call(proc, "rp-acquire", "rp-lock", None, node, lambda: lock.acquire(blocking=False))
        if acq.outcome != "ok" or not acq.result:
            time.sleep(rng.uniform(0, 0.02))
            return acq.outcome == "ok"
        get = self.call(proc, "rp-get", self.key, None, node, lambda: int(r.get(self.key) or 0))
        if get.outcome == "ok" and time.monotonic() + self.bound_s < acq.invoke + self.ttl_s:
            self.call(proc, "add", self.key, get.result + 1, node, lambda: r.set(self.key, get.result + 1))
        self.call(proc, "rp-release", "rp-lock", None, node, lock.release)
        return True

    def final(self, cluster):
        self.value = int(read_final(cluster, lambda c: c.get(self.key) or 0, self.key))

    def check(self):
        return checkers.counter([op for op in self.h.snapshot() if op.f == "add"], self.value)


class Amqp(Workload):
    """One producer (publisher confirms; a message without a confirm is a
    'maybe' and is not republished) and one consumer (manual acks), each on
    its own node, moving to the next node on a connection error."""
    name, threads, queue = "amqp", 2, "chaos-q"

    def __init__(self, *a):
        super().__init__(*a)
        self.confirmed, self.maybe, self.deliveries, self.sessions = set(), set(), [], []
        self.drained = threading.Event()  # set by drain(): the consumer stops

    def connect(self, node):
        params = pika.ConnectionParameters(host=self.cluster.hosts[node], port=self.cluster.amqp[node],
                                           heartbeat=5, blocked_connection_timeout=self.timeout_s,
                                           connection_attempts=1, socket_timeout=self.timeout_s)
        conn = pika.BlockingConnection(params)
        ch = conn.channel()
        ch.queue_declare(self.queue, durable=True)
        return conn, ch

    def _loop(self, proc, node, stop):
        (self._produce if proc == self.procs[0] else self._consume)(proc, node, stop)

    def _produce(self, proc, node, stop):
        seq, ch = 0, None
        while not stop.is_set():
            try:
                if ch is None:
                    conn, ch = self.connect(node)
                    ch.confirm_delivery()
                seq += 1
                msg = "%d-%d" % (proc, seq)
                self.maybe.add(msg)
                op = self.h.call(proc, "publish", self.queue, msg, node,
                                 lambda: ch.basic_publish("", self.queue, msg.encode(),
                                                          pika.BasicProperties(delivery_mode=2), mandatory=True))
                if op.outcome != "ok":
                    raise ConnectionError(op.error)  # unknown outcome: reconnect, elsewhere
                self.maybe.discard(msg)
                self.confirmed.add(msg)
                time.sleep(PAUSE_S)
            except (AMQPError, OSError):
                self._drop(ch)
                ch, node = None, (node + 1) % self.cluster.n
                time.sleep(ERROR_PAUSE_S)
        self._drop(ch)

    def _consume(self, proc, node, stop):
        while not self.drained.is_set():
            ch = None
            # One record per consumer connection, so a consumer the server
            # still lists after the run can be traced to its node and its end.
            session = {"node": node + 1, "opened": time.monotonic(), "tags": [], "end": "drained"}
            self.sessions.append(session)
            try:
                conn, ch = self.connect(node)
                ch.basic_qos(prefetch_count=20)
                for method, props, body in ch.consume(self.queue, inactivity_timeout=0.3):
                    session["tags"] = session["tags"] or list(ch.consumer_tags)
                    if self.drained.is_set():
                        break
                    if method is None:
                        continue
                    self.deliveries.append((body.decode(), method.redelivered))
                    ch.basic_ack(method.delivery_tag)
            except (AMQPError, OSError) as e:
                session["end"] = "%s: %s" % (type(e).__name__, str(e)[:80])
                node = (node + 1) % self.cluster.n
                time.sleep(ERROR_PAUSE_S)
            session["closed"] = time.monotonic()
            self._drop(ch)

    @staticmethod
    def _drop(ch):
        try:
            if ch is not None and ch.connection.is_open:
                ch.connection.close()
        except (AMQPError, OSError):
            pass

    def drain(self):
        # The producer's last publish may still await its confirm: only then
        # is the confirmed set final.
        self.started[0].join(timeout=self.timeout_s + 5)
        deadline = time.monotonic() + 30  # the consumer takes what is left
        while time.monotonic() < deadline and not self.confirmed <= {m for m, _ in self.deliveries}:
            time.sleep(0.1)
        self.queue_info = ""
        if not self.confirmed <= {m for m, _ in self.deliveries}:
            self.queue_info = self.describe_queue()
            listed = str(self.queue_info)
            self.queue_info += "; consumer connections the server still lists: %s" % [
                {k: (round(v - self.h.t0, 1) if k in ("opened", "closed") else v) for k, v in sess.items()}
                for sess in self.sessions if any(t in listed for t in sess["tags"])]
        self.drained.set()

    def describe_queue(self):
        """Q.INFO on every node, for the report of a message not delivered."""
        out = []
        for i in range(self.cluster.n):
            try:
                flat = self.cluster.client(i, 5).execute_command("Q.INFO", self.queue)
                out.append("node %d: %s" % (i + 1, {flat[k].decode(): flat[k + 1] for k in range(0, len(flat), 2)}))
            except redis.RedisError as e:
                out.append("node %d: %s" % (i + 1, e))
        return "; ".join(out)

    def check(self):
        out, self.duplicates = checkers.total_queue(self.confirmed, self.maybe, list(self.deliveries))
        if out and self.queue_info:
            lost = self.confirmed - {m for m, _ in self.deliveries}
            pubs = [op for op in self.h.snapshot() if op.f == "publish" and op.value in lost]
            out.append("queue after the drain: %s; lost publishes: %s" % (self.queue_info, ", ".join(
                "%s via node %d at %.1f s (%.2f s)" % (op.value, op.node + 1, op.invoke - self.h.t0, op.latency)
                for op in pubs[:8])))
        return out

    def summary(self):
        return " (%d confirmed, %d unconfirmed, %d deliveries, %d duplicates, all redelivered)" % (
            len(self.confirmed), len(self.maybe), len(self.deliveries), self.duplicates)
