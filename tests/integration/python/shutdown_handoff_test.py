#!/usr/bin/python3
"""A leader stopped cleanly hands leadership over first (issue 13 item 5,
docs/consensus.md "Clean shutdown and rolling restarts").

A rolling restart of a 3-node cluster: each round SIGTERMs the current
leader while clients keep writing through the other two nodes and one
client writes to the stopping leader itself, then restarts it. The
evidence that no election timeout was waited for is structural, not a
clock: the old leader's log says the transfer completed and names the new
leader and its term before the process exits, and that term is exactly
one above the old one (a timed-out follower would first have to win a
pre-vote; a transfer's target skips it, so one round, one term). Every
write acknowledged during the round is read back afterwards, and the
client of the stopping node gets answers or a closed connection, never
a hang (its socket timeout would raise TimeoutError).

A follower stopped cleanly just stops: no transfer, the leader and its
term stay.

Run by ctest as: shutdown_handoff_test.py --lockqd PATH
"""
import re
import threading
import unittest

import redis

import lockq_cluster
from lockq_cluster import Cluster, retry, wait_until

ROUNDS = 3
TRANSFERRED = re.compile(r"shutdown: leadership transferred to node (\d+) in term (\d+)")


def info(cluster, i):
    return retry(lambda: cluster.client(i, 2).info("replication"), "INFO on node %d" % (i + 1))


class Writer(threading.Thread):
    """Writes key, value pairs through one node until stopped, recording what
    was acknowledged and how each failure showed (bounded: `limit` writes)."""

    def __init__(self, cluster, node, prefix, limit=20000):
        super().__init__(daemon=True)
        self.client = cluster.client(node, timeout=10)
        self.prefix = prefix
        self.limit = limit
        self.acked = {}
        self.errors = {"tryagain": 0, "connection": 0, "timeout": 0, "other": []}
        self.halt = threading.Event()

    def run(self):
        for n in range(self.limit):
            if self.halt.is_set():
                return
            key = "%s:%d" % (self.prefix, n)
            try:
                if self.client.set(key, n):
                    self.acked[key] = n
            except redis.exceptions.TimeoutError:
                self.errors["timeout"] += 1
            except redis.exceptions.ConnectionError:
                self.errors["connection"] += 1
                self.halt.wait(0.05)
            except redis.exceptions.ResponseError as e:
                if "TRYAGAIN" in str(e):
                    self.errors["tryagain"] += 1
                else:
                    self.errors["other"].append(str(e))
                self.halt.wait(0.02)


class ShutdownHandOffTest(unittest.TestCase):
    def test_rolling_restart_hands_leadership_over(self):
        cluster = Cluster(3)
        cluster.run(self.rolling_restart, cluster)

    def rolling_restart(self, cluster):
        for rnd in range(ROUNDS):
            leader = cluster.wait_leader()
            term = int(info(cluster, leader)["raft_term"])
            survivors = [i for i in range(3) if i != leader]
            writers = [Writer(cluster, i, "r%d-n%d" % (rnd, i + 1)) for i in survivors]
            on_leader = Writer(cluster, leader, "r%d-old" % rnd)
            for w in writers + [on_leader]:
                w.start()
            wait_until(lambda: all(len(w.acked) > 0 for w in writers), "the writers' first acknowledgements")
            before = len(TRANSFERRED.findall(cluster.log(leader)))
            self.assertEqual(cluster.terminate(leader), 0, "a clean shutdown exits 0")

            done = TRANSFERRED.findall(cluster.log(leader))
            self.assertEqual(len(done), before + 1, "the old leader logs a completed transfer before exiting")
            new, new_term = int(done[-1][0]) - 1, int(done[-1][1])
            self.assertIn(new, survivors)
            self.assertEqual(new_term, term + 1, "one election round, no timeout: the term went up by one")
            now = info(cluster, new)
            self.assertEqual(now["raft_role"], "leader")
            self.assertEqual(int(now["raft_term"]), term + 1)

            # Writes continue through both survivors, then stop.
            for w in writers:
                seen = len(w.acked)
                wait_until(lambda: len(w.acked) > seen, "writes continue through every survivor")
            for w in writers + [on_leader]:
                w.halt.set()
                w.join(timeout=30)
                self.assertFalse(w.is_alive())
            self.assertEqual(on_leader.errors["timeout"], 0, "the stopping node's client never hangs")
            for w in writers + [on_leader]:
                self.assertEqual(w.errors["other"], [])
            print("round %d: node %d -> node %d, term %d -> %d; acked %s; old leader's client: %d acked, %s"
                  % (rnd + 1, leader + 1, new + 1, term, new_term, [len(w.acked) for w in writers],
                     len(on_leader.acked), on_leader.errors), flush=True)

            # Nothing acknowledged is lost.
            reader = cluster.client(new)
            for w in writers + [on_leader]:
                keys = sorted(w.acked)
                for start in range(0, len(keys), 500):
                    chunk = keys[start:start + 500]
                    values = retry(lambda: reader.mget(chunk), "MGET")
                    self.assertEqual([int(v) for v in values], [w.acked[k] for k in chunk])

            cluster.start(leader)
            cluster.wait_ready()

    def test_follower_shutdown_keeps_the_leader(self):
        cluster = Cluster(3)
        cluster.run(self.stop_follower, cluster)

    def stop_follower(self, cluster):
        leader = cluster.wait_leader()
        term = int(info(cluster, leader)["raft_term"])
        follower = (leader + 1) % 3
        self.assertEqual(cluster.terminate(follower), 0)
        self.assertNotIn("handing leadership over", cluster.log(follower))
        now = info(cluster, leader)
        self.assertEqual((now["raft_role"], int(now["raft_term"])), ("leader", term))
        retry(lambda: cluster.client(leader).set("after-follower-stop", "1"), "write after a follower stopped")


if __name__ == "__main__":
    lockq_cluster.main()
