#!/usr/bin/python3
"""Followers' forward links are peer sessions, not clients (issue 12):

- on the leader, INFO's connected_clients and CLIENT LIST count only the
  test's own client; the followers' forward links show as connected_peers;
- a leader with no client port at all (--resp-port 0, no --tls-port) still
  takes its followers' forward links: a write sent to a follower is applied
  instead of being answered TRYAGAIN until the client gives up.

Run by ctest as: peer_sessions_test.py --lockqd PATH
"""
import unittest

import lockq_cluster
from lockq_cluster import RETRYABLE, Cluster, retry, wait_until


def info_clients(r):
    return r.info("clients")


class PeerSessionsTest(unittest.TestCase):
    def test_forward_links_are_not_clients(self):
        c = Cluster(3, prefix="lockq-peers-")

        def body():
            leader = c.wait_leader()
            followers = [i for i in range(3) if i != leader]
            for i in followers:  # each follower forwards a write: its link is up
                retry(lambda i=i: c.client(i).set("via-%d" % i, "1"), "write through node %d" % (i + 1))
            r = c.client(leader)
            # Other harness clients may still be closing: wait for ours alone.
            wait_until(lambda: info_clients(r)["connected_clients"] == 1, "only this client is counted")
            info = info_clients(r)
            self.assertEqual(info["connected_peers"], 2, info)
            lines = [l for l in r.execute_command("CLIENT", "LIST").decode().splitlines() if l]
            self.assertEqual(len(lines), 1, lines)

        c.run(body)

    def test_leader_without_client_ports_takes_forward_links(self):
        c = Cluster(3, prefix="lockq-noresp-")

        def body():
            leader = c.wait_leader()
            quiet = (leader + 1) % 3  # restarted without a client port, then made leader
            other = [i for i in range(3) if i not in (leader, quiet)][0]
            c.kill(quiet)
            c.resp[quiet] = 0
            c.start(quiet)

            def quiet_leads():
                """Asks whoever leads to hand over to `quiet` until both others see it lead."""
                if all(c.client(i, 2).info("replication")["leader_id"] == quiet + 1 for i in (leader, other)):
                    return True
                current = c.leader()  # `quiet` has no client port: roles() cannot see it lead
                if current is not None:
                    try:  # fails until the restarted node has caught up
                        c.client(current, 5).execute_command("LOCKQ.CLUSTER", "TRANSFER", str(quiet + 1))
                    except RETRYABLE:
                        pass
                return False
            wait_until(quiet_leads, "node %d leads" % (quiet + 1), step=0.5)
            for i in (leader, other):
                self.assertTrue(retry(lambda i=i: c.client(i).set("k%d" % i, "v"), "SET through node %d" % (i + 1),
                                      deadline_s=20))
                self.assertEqual(c.client(i).get("k%d" % i), b"v")

        c.run(body)


if __name__ == "__main__":
    lockq_cluster.main()
