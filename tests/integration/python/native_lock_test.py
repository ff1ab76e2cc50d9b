#!/usr/bin/python3
"""Native blocking locks (issue 4) with real lockqd processes and python3-redis:

- counting: 8 processes x 100 rounds of LOCK.ACQUIRE ... WAIT -> GET ->
  SET+1 (fenced) -> LOCK.RELEASE gives exactly 800, on 1 node, and on 3
  nodes while the leader is killed and restarted during the run (clients
  move to another node);
- FIFO: waiters queued one after another (on different nodes) are granted
  in the order they queued, and LOCK.INFO lists them in that order;
- a waiter whose connection closes leaves the queue.

Run by ctest as: native_lock_test.py --lockqd PATH
"""
import socket
import threading
import time
import unittest

from redis.exceptions import ResponseError

import lockq_cluster
from lockq_cluster import RETRYABLE, Cluster, Nodes, client, count_with_workers, is_tryagain, lock_info, wait_until

PROCS, ROUNDS = 8, 100
LOCK = "counter-lock"
TTL_MS = 3000    # a grant to a client whose node died is held this long
WAIT_MS = 20000  # server-side wait per attempt


def nodes_for(ports, index):
    return Nodes(ports, index, timeout=WAIT_MS / 1000 + 10)


def acquire(nodes, owner):
    """Blocks in the server until granted; returns the token. A request whose
    outcome is unknown (TRYAGAIN, lost connection) is simply asked again: the
    server cancels an unanswered grant, or it expires with its lease."""
    deadline = time.time() + 120
    while time.time() < deadline:
        try:
            r = nodes.current().execute_command(
                "LOCK.ACQUIRE", LOCK, "TTL", TTL_MS, "WAIT", WAIT_MS, "OWNER", owner)
            if r is not None:
                return int(r[0])
        except RETRYABLE as e:
            if not is_tryagain(e):
                raise
            nodes.next()
    raise RuntimeError("no grant within 120 s")


def release(nodes, token):
    def do(client):
        try:
            client.execute_command("LOCK.RELEASE", LOCK, token)
        except ResponseError as e:
            # An earlier attempt whose reply was lost released it already.
            if "NOTOWNER" not in str(e) and "STALETOKEN" not in str(e):
                raise
    nodes.run(do)


def worker(ports, index, results):
    nodes = nodes_for(ports, index)
    done = 0
    for _ in range(ROUNDS):
        token = acquire(nodes, "w%d" % index)
        value = nodes.run(lambda c: int(c.get("counter") or 0))
        # Fenced: if our lease ran out and someone else holds the lock now,
        # the write is refused instead of clobbering theirs.
        nodes.run(lambda c: c.execute_command("SET", "counter", value + 1, "FENCE", LOCK, token))
        release(nodes, token)
        done += 1
    results.put(done)


def count(cluster, kill_leaders):
    kills, done = count_with_workers(cluster, worker, PROCS, kill_leaders=kill_leaders)
    final = nodes_for(cluster.resp, 0).run(lambda c: int(c.get("counter")))
    print("nodes: %d, leader kills: %d, rounds done: %d, counter: %d"
          % (len(cluster.resp), kills, done, final), flush=True)
    return kills, done, final


class NativeLockTest(unittest.TestCase):
    def test_counting_single_node(self):
        cluster = Cluster(1)
        try:
            kills, done, final = count(cluster, kill_leaders=0)
            self.assertEqual(done, PROCS * ROUNDS)
            self.assertEqual(final, PROCS * ROUNDS, cluster.logs())
        finally:
            cluster.stop()

    def test_counting_three_nodes_while_leaders_die(self):
        cluster = Cluster(3)
        try:
            kills, done, final = count(cluster, kill_leaders=3)
            self.assertGreaterEqual(kills, 1)
            self.assertEqual(done, PROCS * ROUNDS)
            self.assertEqual(final, PROCS * ROUNDS, cluster.logs())
        finally:
            cluster.stop()

    def check_fifo(self, cluster, n_waiters=9):
        ports = cluster.resp
        admin = client(ports[0])
        first = admin.execute_command("LOCK.ACQUIRE", "fifo", "TTL", 60000)
        grants = []  # (waiter index, token) in grant order
        lock = threading.Lock()

        def waiter(i):
            c = client(ports[i % len(ports)], 60)
            r = c.execute_command("LOCK.ACQUIRE", "fifo", "TTL", 60000, "WAIT", 50000, "OWNER", "w%d" % i)
            with lock:
                grants.append((i, int(r[0])))
            c.execute_command("LOCK.RELEASE", "fifo", int(r[0]))

        threads = []
        for i in range(n_waiters):
            t = threading.Thread(target=waiter, args=(i,))
            t.start()
            threads.append(t)
            # The next waiter starts only once this one is in the queue.
            wait_until(lambda: len(lock_info(admin, "fifo")["waiters"]) == i + 1, "waiter %d queued" % i)
        owners = [w["owner"].decode() for w in lock_info(admin, "fifo")["waiters"]]
        print("queue:", owners, flush=True)
        self.assertEqual(owners, ["w%d" % i for i in range(n_waiters)])
        admin.execute_command("LOCK.RELEASE", "fifo", int(first[0]))
        for t in threads:
            t.join(timeout=60)
        print("grants (waiter, token):", grants, flush=True)
        self.assertEqual([i for i, _ in grants], list(range(n_waiters)))
        tokens = [t for _, t in grants]
        self.assertEqual(tokens, sorted(tokens))
        self.assertGreater(tokens[0], int(first[0]))

    def check_disconnect_leaves_queue(self, cluster):
        ports = cluster.resp
        admin = client(ports[0])
        held = admin.execute_command("LOCK.ACQUIRE", "gone", "TTL", 60000)
        # A raw connection (to the last node: a follower on 3 nodes) that
        # queues and then vanishes without reading its reply.
        s = socket.create_connection(("127.0.0.1", ports[-1]))
        s.sendall(b"*6\r\n$12\r\nLOCK.ACQUIRE\r\n$4\r\ngone\r\n$4\r\nWAIT\r\n$1\r\n0\r\n$5\r\nOWNER\r\n$4\r\nlost\r\n")
        wait_until(lambda: len(lock_info(admin, "gone")["waiters"]) == 1, "the waiter queued")
        s.close()
        wait_until(lambda: len(lock_info(admin, "gone")["waiters"]) == 0, "the waiter left the queue")
        admin.execute_command("LOCK.RELEASE", "gone", int(held[0]))
        info = lock_info(admin, "gone")
        self.assertEqual((info["holders"], info["waiters"]), ([], []))

    def test_fifo_and_disconnect_single_node(self):
        cluster = Cluster(1)
        try:
            self.check_fifo(cluster)
            self.check_disconnect_leaves_queue(cluster)
        finally:
            cluster.stop()

    def test_fifo_and_disconnect_three_nodes(self):
        cluster = Cluster(3)
        try:
            self.check_fifo(cluster)
            self.check_disconnect_leaves_queue(cluster)
        finally:
            cluster.stop()


if __name__ == "__main__":
    lockq_cluster.main()
