#!/usr/bin/python3
"""Peers prove who they are (issue 12, item 1), with real lockqd processes:

- a plain client's internal commands (LOCKQ.FORWARD, LOCKQ.AS,
  LOCKQ.INCARNATION, LOCKQ.CANCEL) are refused on every node as unknown
  commands; the attack that used to work (one LOCKQ.FORWARD carrying
  LOCKQ.INCARNATION, which closed every client of the node) changes nothing;
- a node restarted with the wrong --cluster-secret cannot rejoin or forward:
  its peer links are dropped and logged on both sides; restarted with the
  right secret it catches up;
- on the raft port: a RESP client, and a client that speaks the peer
  handshake but does not know the secret, are dropped; one that knows the
  secret is welcomed (the handshake is as docs/formats.md says).

Run by ctest as: peer_auth_test.py --lockqd PATH
"""
import hashlib
import hmac
import os
import socket
import struct
import subprocess
import time
import unittest

from redis.exceptions import ResponseError

import lockq_cluster
from lockq_cluster import Cluster, is_tryagain, wait_until
from redis.exceptions import ConnectionError, TimeoutError

SECRET = "correct horse battery staple"


def argv_list(*commands):
    """sm::EncodeArgvList: varint count, then per command varint argc and
    varint-prefixed strings."""
    def varint(n):
        out = b""
        while True:
            b = n & 0x7F
            n >>= 7
            out += bytes([b | (0x80 if n else 0)])
            if not n:
                return out
    out = varint(len(commands))
    for argv in commands:
        out += varint(len(argv))
        for a in argv:
            a = a.encode() if isinstance(a, str) else a
            out += varint(len(a)) + a
    return out


def peer_hello(node_id, address, channel=2):
    nonce = os.urandom(32)
    addr = address.encode()
    return b"LQPEER" + struct.pack("<BBQH", 1, channel, node_id, len(addr)) + addr + nonce


def peer_handshake(port, secret, node_id=99):
    """Runs the dialer's side of the peer handshake; returns what the
    acceptor finally sent (b"\\x01" when welcomed, b"" when dropped)."""
    s = socket.create_connection(("127.0.0.1", port), timeout=10)
    try:
        hello = peer_hello(node_id, "127.0.0.1:1")
        s.sendall(hello)
        challenge = b""
        while len(challenge) < 64:
            chunk = s.recv(64 - len(challenge))
            if not chunk:
                return b""
            challenge += chunk
        nonce_a, mac_a = challenge[:32], challenge[32:]
        key = secret.encode()
        expect = hmac.new(key, b"lockq peer acceptor" + hello + nonce_a, hashlib.sha256).digest()
        # The acceptor proves itself first: a wrong secret on our side shows
        # here already (we still answer, to see what the acceptor does).
        s.sendall(hmac.new(key, b"lockq peer dialer" + hello + nonce_a, hashlib.sha256).digest())
        try:
            reply = s.recv(1)
        except ConnectionResetError:
            reply = b""
        return reply if mac_a == expect else b"mac_a mismatch:" + reply
    finally:
        s.close()


def raw_roundtrip(port, payload):
    """Sends payload to the port, returns what came back before it closed."""
    s = socket.create_connection(("127.0.0.1", port), timeout=10)
    try:
        s.sendall(payload)
        out = b""
        while True:
            try:
                chunk = s.recv(4096)
            except (ConnectionResetError, socket.timeout):
                break
            if not chunk:
                break
            out += chunk
        return out
    finally:
        s.close()


class ClusterCase(unittest.TestCase):
    """One 3-node cluster per class, made by make_cluster()."""

    @classmethod
    def setUpClass(cls):
        cls.c = cls.make_cluster()

    @classmethod
    def tearDownClass(cls):
        cls.c.stop()

    def log(self, i):
        with open(os.path.join(self.c.dir, "node%d.log" % (i + 1)), "rb") as f:
            return f.read().decode(errors="replace")

    def refused_then_rejoins(self, victim, key):
        """Node `victim` (started with a wrong secret or certificate) never
        forwards a write; restarted with the cluster's own, it catches up
        (reads `key`, written before)."""
        c = self.c
        for _ in range(5):
            try:
                c.client(victim, 5).set("from-victim", "1")
                self.fail("a node the cluster refused forwarded a write")
            except ResponseError as e:
                self.assertTrue(is_tryagain(e), str(e))
            except (ConnectionError, TimeoutError):
                pass
            time.sleep(0.3)
        c.kill(victim)
        c.start(victim)

        def caught_up():
            try:
                return c.client(victim, 5).get(key) == b"yes"
            except Exception:
                return False
        wait_until(caught_up, "the node rejoins with the cluster's secret and certificates")


class PeerAuthTest(ClusterCase):
    @classmethod
    def make_cluster(cls):
        return Cluster(3, extra_args=["--cluster-secret", SECRET])

    def test_internal_commands_refused_on_client_ports(self):
        c = self.c
        leader = c.wait_leader()
        holder = c.client(leader)
        holder.execute_command("LOCK.ACQUIRE", "peer-auth-lock", "TTL", 30000)
        attack = argv_list(["LOCKQ.INCARNATION", "1", "0"], ["LOCKQ.INCARNATION", "2", "0"],
                           ["LOCKQ.INCARNATION", "3", "0"])
        for i in range(c.n):
            r = c.client(i)
            for argv in (["LOCKQ.FORWARD", attack], ["LOCKQ.AS", "1", "1", "1", "0", "SET", "k", "v"],
                         ["LOCKQ.INCARNATION", "1", "0"], ["LOCKQ.CANCEL", "1", "1", "1", "0"]):
                with self.assertRaises(ResponseError) as e:
                    r.execute_command(*argv)
                self.assertIn("unknown command", str(e.exception), argv[0])
        # The holder's connection and its lock survived the attempts.
        self.assertEqual(holder.ping(), True)
        info = holder.execute_command("LOCK.INFO", "peer-auth-lock")
        self.assertIsNotNone(info)
        holder.close()

    def test_wrong_secret_cannot_join_then_right_secret_can(self):
        c = self.c
        leader = c.wait_leader()
        victim = (leader + 1) % c.n
        c.kill(victim)
        c.start(victim, extra_args=["--cluster-secret", "not the secret"])
        # It can never learn of a leader: writes it receives are refused
        # (TRYAGAIN), never forwarded; the others log the dropped links.
        wait_until(lambda: c.alive(victim) and "peer link" in self.log(victim), "the victim logs its dropped links")
        others = [i for i in range(c.n) if i != victim]
        wait_until(lambda: any("cluster-secret" in self.log(i) or "cluster secret" in self.log(i) for i in others),
                   "the other nodes log why the link was dropped")
        c.client(c.wait_leader()).set("written-while-out", "yes")
        self.refused_then_rejoins(victim, "written-while-out")

    def test_raft_port_accepts_only_peers_that_know_the_secret(self):
        c = self.c
        leader = c.wait_leader()
        port = c.raft[leader]
        # A Redis client on the raft port: dropped, nothing answered.
        out = raw_roundtrip(port, b"*2\r\n$13\r\nLOCKQ.FORWARD\r\n$1\r\nx\r\n")
        self.assertEqual(out, b"")
        # The handshake with a wrong secret: our proof is refused.
        self.assertTrue(peer_handshake(port, "guess").startswith(b"mac_a mismatch:"))
        self.assertEqual(peer_handshake(port, "guess"), b"mac_a mismatch:")
        # With the secret: welcomed (byte 1), as docs/formats.md says.
        self.assertEqual(peer_handshake(port, SECRET), b"\x01")
        wait_until(lambda: "bad magic" in self.log(leader), "the leader logs the RESP client it dropped")
        # The cluster still works.
        c.client(leader).set("after-probes", "1")


class PeerTlsTest(ClusterCase):
    """--peer-tls: 3 nodes elect, replicate and fail over over mutual TLS; a
    node whose certificate comes from another CA is refused and logged."""

    @classmethod
    def make_cluster(cls):
        return Cluster(3, peer_tls=True)

    def test_elect_replicate_fail_over_and_refuse_a_foreign_certificate(self):
        c = self.c
        leader = c.wait_leader()
        follower = (leader + 1) % c.n
        c.client(follower).set("via-follower", "1")  # forwarded over a TLS peer link
        self.assertEqual(c.client(leader).get("via-follower"), b"1")
        c.kill(leader)
        new_leader = c.wait_leader()
        self.assertNotEqual(new_leader, leader)
        self.assertEqual(c.client(new_leader).get("via-follower"), b"1")
        c.start(leader)
        # A certificate from another CA: the others refuse it and say why.
        victim = (new_leader + 1) % c.n
        c.kill(victim)
        other = lockq_cluster.dev_certs(os.path.join(c.dir, "other-ca"))
        c.start(victim, certs=other)
        others = [i for i in range(c.n) if i != victim]
        wait_until(lambda: any("certificate verify failed" in self.log(i) or "unknown ca" in self.log(i)
                               for i in others + [victim]), "a refused TLS handshake is logged")
        c.client(c.wait_leader()).set("written-while-foreign", "yes")
        self.refused_then_rejoins(victim, "written-while-foreign")


class TlsOnlyClusterTest(unittest.TestCase):
    """Clients on TLS ports only (--resp-port 0), peers on --peer-tls: a
    follower forwards (its forward link is adopted by a listener that never
    listened) and the user sees one cluster."""

    def test_follower_forwards_with_tls_only_client_ports(self):
        import redis
        import shutil
        import tempfile
        d = tempfile.mkdtemp(prefix="lockq-tls-only-")
        procs = []
        try:
            certs = lockq_cluster.dev_certs(os.path.join(d, "certs"))
            tls = [lockq_cluster.free_port() for _ in range(3)]
            raft = [lockq_cluster.free_port() for _ in range(3)]
            cluster = ",".join("%d=127.0.0.1:%d" % (i + 1, p) for i, p in enumerate(raft))
            for i in range(3):
                argv = [lockq_cluster.LOCKQD, "--node-id", str(i + 1), "--data-dir", os.path.join(d, "n%d" % i),
                        "--resp-port", "0", "--tls-port", str(tls[i]), "--amqp-port", "0", "--amqps-port", "0",
                        "--http-port", "0", "--raft-addr", "127.0.0.1:%d" % raft[i], "--initial-cluster", cluster,
                        "--election-timeout-ms", "300", "--heartbeat-timeout-ms", "50",
                        "--tls-cert-file", os.path.join(certs, "server.crt"),
                        "--tls-key-file", os.path.join(certs, "server.key"), "--tls-auth-clients", "no",
                        "--cluster-secret", SECRET] + lockq_cluster.peer_tls_args(certs, i)
                with open(os.path.join(d, "node%d.log" % (i + 1)), "ab") as log:
                    procs.append(lockq_cluster.spawn(argv, stdout=log, stderr=subprocess.STDOUT))

            def tls_client(i):
                return redis.Redis(host="127.0.0.1", port=tls[i], ssl=True,
                                   ssl_ca_certs=os.path.join(certs, "ca.crt"), socket_timeout=10)

            def all_write():
                try:
                    return all(tls_client(i).set("tls-only-%d" % i, i) for i in range(3))
                except redis.RedisError:
                    return False
            # Every node answers a write: two of them by forwarding it.
            wait_until(all_write, "every node answers a write over TLS")
            self.assertEqual(tls_client(0).get("tls-only-2"), b"2")
        finally:
            for p in procs:
                p.kill()
                p.wait(timeout=10)
            shutil.rmtree(d, ignore_errors=True)


if __name__ == "__main__":
    lockq_cluster.main()
