#!/usr/bin/python3
"""Protected mode (issue 12 item 3): while the user `default` has no
password, lockqd refuses clients from outside the loopback interface with
Redis's DENIED error, unless started with --protected-mode no.

The node runs in a network namespace the test creates (netns.py) at
10.77.1.2 and the test's clients come from the router namespace
(10.77.1.1), so they are not loopback clients. The namespaces are removed
on every exit path. Needs root (CI runs as root); skipped otherwise.

Run by ctest as: acl_protected_mode_test.py --lockqd PATH
"""
import socket
import unittest

import lockq_cluster
import netns
from lockq_cluster import wait_until

PASS = "protected-pw"


def ping_reply(host, port):
    """The first reply to PING on a fresh connection, and whether the
    server closed the connection after it."""
    with socket.create_connection((host, port), timeout=10) as s:
        s.sendall(b"*1\r\n$4\r\nPING\r\n")
        data = s.recv(4096)
        try:
            rest = s.recv(4096)
        except socket.timeout:
            rest = None
        return data, rest == b""


class ProtectedModeTest(unittest.TestCase):
    def test_denied_from_outside_loopback_without_password(self):
        netns.run_cluster(self, 1, self.run_node, prefix="lockq-prot-", password=PASS,
                          extra_args=["--requirepass", PASS, "--protected-mode", "yes"])

    def run_node(self, net, cluster):
        host, port = cluster.hosts[0], cluster.resp[0]
        # A password is set: remote clients may connect (and must AUTH).
        data, _ = ping_reply(host, port)
        self.assertTrue(data.startswith(b"-NOAUTH"), data)
        # No password for `default` any more: protected mode refuses them.
        cluster.client(0).execute_command("ACL", "SETUSER", "default", "nopass")
        data, closed = ping_reply(host, port)
        print("[protected] remote client got: %r" % data[:120], flush=True)
        self.assertTrue(data.startswith(b"-DENIED lockq is running in protected mode"), data)
        self.assertTrue(closed)
        # --protected-mode no: the same node serves them.
        cluster.kill(0)
        cluster.extra_args[-1] = "no"  # the value of --protected-mode
        cluster.password = None
        cluster.start(0)

        def pong():
            try:
                return ping_reply(host, port)[0] == b"+PONG\r\n"
            except OSError:
                return False
        wait_until(pong, "PONG with --protected-mode no")


if __name__ == "__main__":
    lockq_cluster.main()
