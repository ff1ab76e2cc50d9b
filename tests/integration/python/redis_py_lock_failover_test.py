#!/usr/bin/python3
"""python3-redis's Lock on a 3-node lockq cluster while the leader is killed
and restarted during the run (issue 4): 8 processes x 100 rounds of
lock -> GET -> SET+1 -> unlock must give exactly 800. Clients know all three
nodes and move to another on a connection error or TRYAGAIN.

Run by ctest as: redis_py_lock_failover_test.py --lockqd PATH
"""
import argparse
import multiprocessing
import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
import unittest

import redis
from redis.exceptions import ConnectionError, LockError, ResponseError, TimeoutError

LOCKQD = None
PROCS, ROUNDS = 8, 100
RETRYABLE = (ConnectionError, TimeoutError, ResponseError)


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class Cluster:
    """Three lockqd processes on loopback, each with its own data dir."""

    def __init__(self, n=3):
        self.dir = tempfile.mkdtemp(prefix="lockq-pyfail-")
        self.resp = [free_port() for _ in range(n)]
        self.raft = [free_port() for _ in range(n)]
        self.spec = ",".join("%d=127.0.0.1:%d" % (i + 1, p) for i, p in enumerate(self.raft))
        self.procs = [None] * n
        for i in range(n):
            self.start(i)
        self.wait_leader()

    def start(self, i):
        log = open(os.path.join(self.dir, "node%d.log" % (i + 1)), "ab")
        self.procs[i] = subprocess.Popen(
            [LOCKQD, "--node-id", str(i + 1), "--data-dir", os.path.join(self.dir, "n%d" % (i + 1)),
             "--resp-port", str(self.resp[i]), "--raft-addr", "127.0.0.1:%d" % self.raft[i],
             "--initial-cluster", self.spec, "--amqp-port", "0", "--http-port", "0",
             "--election-timeout-ms", "300", "--heartbeat-timeout-ms", "50"],
            stdout=log, stderr=subprocess.STDOUT)
        log.close()

    def leader(self):
        for i, port in enumerate(self.resp):
            if self.procs[i] is None or self.procs[i].poll() is not None:
                continue
            try:
                info = redis.Redis(port=port, socket_timeout=1).info("replication")
                if info.get("raft_role") == "leader":
                    return i
            except redis.RedisError:
                pass
        return None

    def wait_leader(self, timeout=20):
        deadline = time.time() + timeout
        while time.time() < deadline:
            i = self.leader()
            if i is not None:
                try:
                    redis.Redis(port=self.resp[i], socket_timeout=2).set("ready", "1")
                    return i
                except redis.RedisError:
                    pass
            time.sleep(0.1)
        raise RuntimeError("no leader within %ss" % timeout)

    def kill(self, i):
        self.procs[i].send_signal(signal.SIGKILL)
        self.procs[i].wait(timeout=10)

    def stop(self):
        for p in self.procs:
            if p is not None and p.poll() is None:
                p.kill()
                p.wait(timeout=10)

    def logs(self):
        out = []
        for i in range(len(self.procs)):
            with open(os.path.join(self.dir, "node%d.log" % (i + 1)), "rb") as f:
                out.append("--- node %d ---\n%s" % (i + 1, f.read()[-3000:].decode(errors="replace")))
        return "\n".join(out)


class Nodes:
    """A client that moves to the next node when one fails or has no leader."""

    def __init__(self, ports, start):
        self.clients = [redis.Redis(port=p, socket_timeout=5, socket_connect_timeout=1) for p in ports]
        self.i = start % len(ports)

    def run(self, fn, deadline_s=60):
        deadline = time.time() + deadline_s
        while True:
            try:
                return fn(self.clients[self.i])
            except RETRYABLE as e:
                if isinstance(e, ResponseError) and "TRYAGAIN" not in str(e):
                    raise
                if time.time() > deadline:
                    raise
                self.i = (self.i + 1) % len(self.clients)
                time.sleep(0.05)


def acquire(nodes):
    """A held redis-py Lock; retries on another node. A lost reply to a
    successful SET NX leaves our own stale lock, which expires by its TTL."""
    while True:
        lock = nodes.clients[nodes.i].lock("counter-lock", timeout=10, sleep=0.005, blocking_timeout=60)
        try:
            if lock.acquire():
                return lock
        except RETRYABLE:
            nodes.i = (nodes.i + 1) % len(nodes.clients)
            time.sleep(0.05)


def release(nodes, lock):
    token = lock.local.token

    def do(client):
        same = client.lock("counter-lock", timeout=10)
        same.local.token = token
        try:
            same.release()
        except LockError:
            pass  # an earlier attempt whose reply was lost already released it
    nodes.run(do)


def worker(ports, index, results):
    nodes = Nodes(ports, index)
    done = 0
    for _ in range(ROUNDS):
        lock = acquire(nodes)
        value = nodes.run(lambda c: int(c.get("counter") or 0))
        nodes.run(lambda c: c.set("counter", value + 1))  # idempotent if retried
        release(nodes, lock)
        done += 1
    results.put(done)


class RedisPyLockFailoverTest(unittest.TestCase):
    def test_counting_while_the_leader_is_killed(self):
        cluster = Cluster()
        try:
            results = multiprocessing.Queue()
            procs = [multiprocessing.Process(target=worker, args=(cluster.resp, i, results)) for i in range(PROCS)]
            for p in procs:
                p.start()
            kills = 0
            deadline = time.time() + 240
            while any(p.is_alive() for p in procs) and time.time() < deadline:
                time.sleep(0.3)
                if kills < 3:
                    leader = cluster.leader()
                    if leader is not None:
                        cluster.kill(leader)  # kill -9 the leader mid-run
                        kills += 1
                        print("killed leader node %d" % (leader + 1), flush=True)
                        time.sleep(0.7)
                        cluster.start(leader)
            for p in procs:
                p.join(timeout=60)
            done = sum(results.get(timeout=5) for _ in procs)
            final = Nodes(cluster.resp, 0).run(lambda c: int(c.get("counter")))
            print("leader kills: %d, rounds done: %d, counter: %d" % (kills, done, final), flush=True)
            self.assertGreaterEqual(kills, 1)
            self.assertEqual(done, PROCS * ROUNDS)
            self.assertEqual(final, PROCS * ROUNDS, cluster.logs())
        finally:
            cluster.stop()
            shutil.rmtree(cluster.dir, ignore_errors=True)


if __name__ == "__main__":
    parser = argparse.ArgumentParser()
    parser.add_argument("--lockqd", required=True)
    args, rest = parser.parse_known_args()
    LOCKQD = args.lockqd
    unittest.main(argv=[sys.argv[0]] + rest, verbosity=2)
