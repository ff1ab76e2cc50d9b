#!/usr/bin/python3
"""A write forwarded through a follower that is cut off from the leader is
applied within its bound or never (issue 11, item 7).

3 nodes, each in its own network namespace (netns.py). A redis-py Lock
holder talks to a follower; the follower is cut off from the leader (packets
dropped, so TCP keeps retransmitting) while the holder's `SET counter 101`
is on its way. The follower must answer within --no-leader-timeout-ms with
TRYAGAIN, and the SET must then never be applied: the holder gives up (as
redis-py code does), another client makes 10 locked increments through the
leader, the cut lasts 30 s and heals, and the counter must stay exact while
workers keep counting with redis-py's Lock through the follower and the
leader for another 30 s (the window in which TCP would have delivered the
stale bytes: its retransmission timeout grows to ~20 s over a 30 s cut).

Before the fix the follower held the SET with no deadline: the client's
socket timed out, and after the heal the leader applied it, rolling the
counter back.

Run by ctest as: forward_cut_test.py --lockqd PATH (root: CI fails, a
developer without root skips).
"""
import threading
import time
import unittest

from redis.exceptions import LockError, ResponseError

import lockq_cluster
import netns
from lockq_cluster import RETRYABLE, wait_until

NO_LEADER_TIMEOUT_MS = 3000
CUT_S = 30
WATCH_AFTER_HEAL_S = 30
WORKER_ROUNDS = 20


def locked_increments(c, rounds, name="counter-lock"):
    """rounds x (redis-py Lock, GET, SET+1, release); retries an attempt that
    failed with TRYAGAIN or a connection error (a re-election after the heal)
    and returns the first value read."""
    first = None
    done = 0
    deadline = time.monotonic() + 120
    while done < rounds:
        lock = c.lock(name, timeout=10, sleep=0.02, blocking_timeout=30)
        try:
            if not lock.acquire():
                continue
        except RETRYABLE:
            assert time.monotonic() < deadline, "no progress for 120 s"
            time.sleep(0.1)
            continue
        try:
            v = int(c.get("counter"))
            first = v if first is None else first
            c.set("counter", v + 1)
            done += 1
        except RETRYABLE:
            # Unknown outcome of the SET: a real client cannot tell either;
            # this test's workers only run with a healthy cluster.
            raise
        finally:
            try:
                lock.release()
            except (LockError,) + RETRYABLE:
                pass
    return first


class ForwardCutTest(unittest.TestCase):
    def test_forwarded_write_applied_within_bound_or_never(self):
        netns.run_cluster(self, 3, self.cut_while_pending,
                          extra_args=["--no-leader-timeout-ms", str(NO_LEADER_TIMEOUT_MS)])

    def cut_while_pending(self, net, cluster):
        leader = cluster.wait_leader()
        follower = (leader + 1) % 3
        lead = cluster.client(leader)
        # The follower's client waits longer than the bound: the answer must
        # come from lockq, not from the client's own timeout.
        fol = cluster.client(follower, timeout=NO_LEADER_TIMEOUT_MS / 1000 + 12)
        lead.set("counter", 100)
        holder = fol.lock("counter-lock", timeout=6)
        self.assertTrue(holder.acquire(blocking=False))
        self.assertEqual(int(fol.get("counter")), 100)

        net.cut(leader, follower)
        cut_at = time.monotonic()
        with self.assertRaises(ResponseError) as raised:
            fol.set("counter", 101)
        answered_ms = (time.monotonic() - cut_at) * 1000
        print("follower answered after %.0f ms: %s" % (answered_ms, raised.exception), flush=True)
        self.assertIn("TRYAGAIN", str(raised.exception))
        # The bound plus the forwarder's 50 ms tick and a busy machine's slack.
        self.assertLess(answered_ms, NO_LEADER_TIMEOUT_MS + 2000)
        try:
            holder.release()  # what redis-py code does after an error; it fails too (cut)
        except (LockError,) + RETRYABLE:
            pass

        # Another client, through the leader, once the holder's lease ends.
        first = locked_increments(lead, 10)
        print("first value read through the leader: %d" % first, flush=True)
        self.assertIn(first, (100, 101), "101 only if the SET applied before the follower answered")
        self.assertEqual(int(lead.get("counter")), first + 10)

        time.sleep(max(0.0, cut_at + CUT_S - time.monotonic()))
        net.heal()
        healed_at = time.monotonic()
        print("healed after a %.1f s cut" % (healed_at - cut_at), flush=True)
        wait_until(lambda: self.serves(cluster, follower), "the follower serves writes again", timeout=60, step=0.2)
        # The leader declared the follower down during the cut; the follower
        # learns it (and closes its clients' connections: their state is
        # gone) only when it applies that entry, which may come just after
        # it can forward again. Start the workers once it has caught up.
        wait_until(lambda: self.caught_up(cluster, follower, leader), "the follower catches up", timeout=60, step=0.2)

        # Count through both nodes while the stale bytes would arrive.
        firsts, errors = [], []

        def work(i):
            try:
                firsts.append(locked_increments(cluster.client(i), WORKER_ROUNDS))
            except BaseException as e:  # reported below
                errors.append(e)
        threads = [threading.Thread(target=work, args=(i,)) for i in (follower, leader)]
        for t in threads:
            t.start()
        for t in threads:
            t.join(timeout=180)
        self.assertEqual(errors, [])
        expected = first + 10 + 2 * WORKER_ROUNDS
        while time.monotonic() < healed_at + WATCH_AFTER_HEAL_S:
            self.assertEqual(self.read_counter(cluster), expected)
            time.sleep(1)
        self.assertEqual(self.read_counter(cluster), expected)
        self.assertEqual(int(cluster.client(follower).get("counter")), expected)

    @staticmethod
    def serves(cluster, i):
        try:
            return bool(cluster.client(i, 2).set("healed", "1"))
        except RETRYABLE:
            return False

    @staticmethod
    def caught_up(cluster, follower, leader):
        try:
            commit = int(cluster.client(leader, 2).info("replication")["commit_index"])
            return int(cluster.client(follower, 2).info("replication")["applied_index"]) >= commit
        except RETRYABLE:
            return False

    @staticmethod
    def read_counter(cluster):
        return lockq_cluster.retry(lambda: int(cluster.client(cluster.wait_leader()).get("counter")), "GET counter")


if __name__ == "__main__":
    lockq_cluster.main()
