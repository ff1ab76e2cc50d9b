#!/usr/bin/python3
"""python3-redis's Lock on a 3-node lockq cluster while the leader is killed
and restarted during the run (issue 4): 8 processes x 100 rounds of
lock -> GET -> SET+1 -> unlock must give exactly 800. Clients know all three
nodes and move to another on a connection error or TRYAGAIN.

Run by ctest as: redis_py_lock_failover_test.py --lockqd PATH
"""
import unittest

from redis.exceptions import LockError

import lockq_cluster
from lockq_cluster import RETRYABLE, Cluster, Nodes, count_with_workers

PROCS, ROUNDS = 8, 100


def acquire(nodes):
    """A held redis-py Lock; retries on another node. A lost reply to a
    successful SET NX leaves our own stale lock, which expires by its TTL."""
    while True:
        lock = nodes.current().lock("counter-lock", timeout=10, sleep=0.005, blocking_timeout=60)
        try:
            if lock.acquire():
                return lock
        except RETRYABLE:
            nodes.next()


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
        cluster = Cluster(3)
        try:
            kills, done = count_with_workers(cluster, worker, PROCS, kill_leaders=3, deadline_s=240)
            final = Nodes(cluster.resp, 0).run(lambda c: int(c.get("counter")))
            print("leader kills: %d, rounds done: %d, counter: %d" % (kills, done, final), flush=True)
            self.assertGreaterEqual(kills, 1)
            self.assertEqual(done, PROCS * ROUNDS)
            self.assertEqual(final, PROCS * ROUNDS, cluster.logs())
        finally:
            cluster.stop()


if __name__ == "__main__":
    lockq_cluster.main()
