#!/usr/bin/python3
"""Followers' forward links are peer sessions, not clients (issue 12):

- on the leader, INFO's connected_clients and CLIENT LIST count only the
  test's own client; the followers' forward links show as connected_peers.

Run by ctest as: peer_sessions_test.py --lockqd PATH
"""
import unittest

import lockq_cluster
from lockq_cluster import Cluster, retry, wait_until


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


if __name__ == "__main__":
    lockq_cluster.main()
