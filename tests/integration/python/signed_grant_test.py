#!/usr/bin/python3
"""Signed grants (issue 12 item 7) with real lockqd processes, redis-py and
the lockq CLI:

- single node: LOCK.SIGNKEY ROTATE, LOCK.ACQUIRE ... SIGNED, and `lockq lock
  verify` with the exported keys file accepts the grant offline; a tampered
  token, another lock's signature and a grant for another lock (--lock) are
  rejected; after a rotation the old grant verifies until its key is
  removed, then it is rejected; a blocked WAIT acquire is granted a signed
  grant when the holder releases; the keys survive kill -9 and restart;
  `lockq lock NAME --signed -- cmd` hands the command LOCKQ_GRANT.
- three nodes: a follower's client gets a valid signed grant (forwarded
  acquire, and a blocked WAIT granted by the follower's own apply); a node
  that was down while the key rotated and the log was compacted learns the
  key from an installed snapshot, and signs its own waiter's grant with it.

No timing assertions; every wait is bounded.
Run by ctest as: signed_grant_test.py --lockqd PATH --lockq PATH
"""
import argparse
import os
import subprocess
import sys
import tempfile
import threading
import time
import unittest

from redis.exceptions import ResponseError

import lockq_cluster
from lockq_cluster import RETRYABLE, Cluster, is_tryagain, wait_until

LOCKQ = None  # set from --lockq
RUN_TIMEOUT_S = 60


def lockq(port, *args):
    return subprocess.run([LOCKQ, "-s", "127.0.0.1:%d" % port] + list(args), capture_output=True, text=True,
                          timeout=RUN_TIMEOUT_S)


def retry(fn, what, deadline_s=60):
    """fn() until it does not raise TRYAGAIN/connection errors (bounded)."""
    deadline = time.monotonic() + deadline_s
    while True:
        try:
            return fn()
        except RETRYABLE as e:
            if isinstance(e, ResponseError) and not is_tryagain(e):
                raise
            if time.monotonic() > deadline:
                raise AssertionError("%s: still failing after %ss: %s" % (what, deadline_s, e))
            time.sleep(0.1)


def field(grant, i, value):
    f = grant.split(".")
    f[i] = value
    return ".".join(f)


class Verifier:
    """The storage service's side: a keys file and `lockq lock verify`."""

    def __init__(self, tmp):
        self.path = os.path.join(tmp, "keys")

    def refresh(self, port):
        p = lockq(port, "lock", "keys", "export", "-o", self.path)
        assert p.returncode == 0, p.stderr
        assert oct(os.stat(self.path).st_mode & 0o777) == "0o600"

    def check(self, grant, *extra):
        # The CLI never contacts a server here: point it at a closed port.
        p = subprocess.run([LOCKQ, "-s", "127.0.0.1:1", "lock", "verify", "--keys", self.path, grant] + list(extra),
                           capture_output=True, text=True, timeout=RUN_TIMEOUT_S)
        return p.returncode, p.stdout + p.stderr


def decode(v):
    return v.decode() if isinstance(v, bytes) else v


class SingleNode(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.cluster = Cluster(1, prefix="lockq-sign-1-")

    @classmethod
    def tearDownClass(cls):
        cls.cluster.stop()

    def setUp(self):
        self.tmp = tempfile.mkdtemp(prefix="lockq-sign-")
        self.v = Verifier(self.tmp)
        self.r = self.cluster.client(0)

    def port(self):
        return self.cluster.resp[0]

    def test_1_sign_verify_tamper_rotate_remove(self):
        r = self.r
        with self.assertRaisesRegex(ResponseError, "no grant signing key"):
            r.execute_command("LOCK.ACQUIRE", "never", "SIGNED")
        key1 = int(r.execute_command("LOCK.SIGNKEY", "ROTATE"))
        token, guaranteed, grant = r.execute_command("LOCK.ACQUIRE", "orders", "TTL", 600000, "OWNER", "w1",
                                                     "SIGNED")
        grant = decode(grant)
        self.assertTrue(grant.startswith("lqg1.%d." % key1), grant)
        self.v.refresh(self.port())
        code, out = self.v.check(grant, "--lock", "orders")
        self.assertEqual(code, 0, out)
        self.assertIn("token %d holder 'w1'" % token, out)
        # Tampered token, another lock's signature, wrong lock.
        code, out = self.v.check(field(grant, 3, str(token + 1)))
        self.assertEqual(code, 1)
        self.assertIn("bad grant signature", out)
        _, _, other = r.execute_command("LOCK.ACQUIRE", "payments", "TTL", 600000, "OWNER", "w1", "SIGNED")
        code, out = self.v.check(field(grant, 6, decode(other).split(".")[6]))
        self.assertEqual(code, 1)
        self.assertIn("bad grant signature", out)
        code, out = self.v.check(decode(other), "--lock", "orders")
        self.assertEqual(code, 1)
        self.assertIn("not 'orders'", out)
        code, out = self.v.check("lqg1.garbage")
        self.assertEqual(code, 1)
        self.assertIn("malformed grant", out)
        # Expired by the verifier's clock (--now-ms past the lease end).
        code, out = self.v.check(grant, "--now-ms", grant.split(".")[5])
        self.assertEqual(code, 1)
        self.assertIn("grant expired", out)
        # Rotation: the old grant verifies while its key is kept ...
        key2 = int(r.execute_command("LOCK.SIGNKEY", "ROTATE"))
        _, _, newer = r.execute_command("LOCK.ACQUIRE", "fresh", "TTL", 600000, "SIGNED")
        newer = decode(newer)
        self.assertTrue(newer.startswith("lqg1.%d." % key2))
        self.v.refresh(self.port())
        self.assertEqual(self.v.check(grant)[0], 0)
        self.assertEqual(self.v.check(newer)[0], 0)
        p = lockq(self.port(), "--json", "lock", "keys", "list")
        self.assertEqual(p.returncode, 0, p.stderr)
        self.assertIn('"signing"', p.stdout)
        # ... and is rejected once it is removed.
        self.assertEqual(lockq(self.port(), "lock", "keys", "remove", str(key1)).returncode, 0)
        self.v.refresh(self.port())
        code, out = self.v.check(grant)
        self.assertEqual(code, 1)
        self.assertIn("unknown signing key %d" % key1, out)
        self.assertEqual(self.v.check(newer)[0], 0)

    def test_2_blocked_wait_gets_a_signed_grant(self):
        r = self.r
        if not r.execute_command("LOCK.SIGNKEY", "LIST"):
            r.execute_command("LOCK.SIGNKEY", "ROTATE")
        token, _ = r.execute_command("LOCK.ACQUIRE", "w", "TTL", 600000)
        result = {}

        def waiter():
            c = self.cluster.client(0, timeout=60)
            result["r"] = c.execute_command("LOCK.ACQUIRE", "w", "TTL", 600000, "WAIT", 50000, "OWNER", "second",
                                            "SIGNED")

        t = threading.Thread(target=waiter)
        t.start()
        wait_until(lambda: len(lockq_cluster.lock_info(r, "w")["waiters"]) == 1, "the waiter queued")
        r.execute_command("LOCK.RELEASE", "w", token)
        t.join(60)
        self.assertFalse(t.is_alive())
        t2, _, grant = result["r"]
        self.v.refresh(self.port())
        code, out = self.v.check(decode(grant), "--lock", "w")
        self.assertEqual(code, 0, out)
        self.assertIn("token %d holder 'second'" % t2, out)

    def test_3_cli_signed_run_passes_the_grant(self):
        if not self.r.execute_command("LOCK.SIGNKEY", "LIST"):
            self.r.execute_command("LOCK.SIGNKEY", "ROTATE")
        p = lockq(self.port(), "lock", "cli-signed", "--signed", "--owner", "job", "--", "sh", "-c",
                  'echo "$LOCKQ_GRANT"')
        self.assertEqual(p.returncode, 0, p.stderr)
        self.v.refresh(self.port())
        code, out = self.v.check(p.stdout.strip(), "--lock", "cli-signed")
        self.assertEqual(code, 0, out)
        self.assertIn("holder 'job'", out)

    def test_4_keys_survive_kill_9(self):
        r = self.r
        if not r.execute_command("LOCK.SIGNKEY", "LIST"):
            r.execute_command("LOCK.SIGNKEY", "ROTATE")
        before = decode(r.execute_command("LOCK.SIGNKEY", "EXPORT"))
        _, _, grant = r.execute_command("LOCK.ACQUIRE", "durable", "TTL", 600000, "SIGNED")
        self.cluster.kill(0)
        self.cluster.start(0)
        self.cluster.wait_ready()
        r = self.cluster.client(0)
        after = retry(lambda: decode(r.execute_command("LOCK.SIGNKEY", "EXPORT")), "export after restart")
        self.assertEqual(before, after)
        self.v.refresh(self.port())
        self.assertEqual(self.v.check(decode(grant))[0], 0)
        # The restarted node still signs with the same key.
        _, _, again = retry(lambda: r.execute_command("LOCK.ACQUIRE", "durable2", "TTL", 600000, "SIGNED"),
                            "signed acquire after restart")
        self.assertEqual(self.v.check(decode(again))[0], 0)


class ThreeNodes(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        # Small snapshot thresholds, so a node that was down catches up by
        # InstallSnapshot rather than the log.
        cls.cluster = Cluster(3, prefix="lockq-sign-3-",
                              extra_args=["--snapshot-entries", "16", "--snapshot-trailing", "4"])

    @classmethod
    def tearDownClass(cls):
        cls.cluster.stop()

    def setUp(self):
        self.tmp = tempfile.mkdtemp(prefix="lockq-sign-3-")
        self.v = Verifier(self.tmp)

    def follower(self, leader):
        return next(i for i in range(3) if i != leader)

    def wait_signed(self, i, name, holder_token_fn):
        """A client of node i blocks in LOCK.ACQUIRE ... WAIT SIGNED until
        holder_token_fn() (run once it queued) releases the lock."""
        result = {}

        def waiter():
            c = self.cluster.client(i, timeout=60)
            result["r"] = c.execute_command("LOCK.ACQUIRE", name, "TTL", 600000, "WAIT", 50000, "SIGNED")

        t = threading.Thread(target=waiter)
        t.start()
        any_client = self.cluster.client(i)
        wait_until(lambda: len(lockq_cluster.lock_info(any_client, name)["waiters"]) == 1, "the waiter queued")
        holder_token_fn()
        t.join(60)
        self.assertFalse(t.is_alive())
        return decode(result["r"][2])

    def test_follower_clients_get_valid_signed_grants_and_snapshot_carries_keys(self):
        leader = self.cluster.wait_leader()
        f = self.follower(leader)
        fc = self.cluster.client(f)
        retry(lambda: fc.execute_command("LOCK.SIGNKEY", "ROTATE"), "rotate through a follower")
        _, _, grant = retry(lambda: fc.execute_command("LOCK.ACQUIRE", "f1", "TTL", 600000, "SIGNED"),
                            "signed acquire on a follower")
        self.v.refresh(self.cluster.resp[f])
        code, out = self.v.check(decode(grant), "--lock", "f1")
        self.assertEqual(code, 0, out)
        # A blocked WAIT on the follower is granted by the follower's own apply.
        token, _ = fc.execute_command("LOCK.ACQUIRE", "f2", "TTL", 600000)
        g2 = self.wait_signed(f, "f2", lambda: fc.execute_command("LOCK.RELEASE", "f2", token))
        self.assertEqual(self.v.check(g2, "--lock", "f2")[0], 0)

        # A node down while the key rotates and the log is compacted.
        down = next(i for i in range(3) if i not in (leader, f))
        self.cluster.kill(down)
        lc = self.cluster.client(leader)
        new_key = int(retry(lambda: lc.execute_command("LOCK.SIGNKEY", "ROTATE"), "rotate with a node down"))
        for k in range(200):  # far past --snapshot-entries: the leader snapshots and compacts its log
            retry(lambda: lc.set("fill-%d" % k, "x"), "fill")
        self.cluster.start(down)
        self.cluster.wait_ready()
        dc = self.cluster.client(down)
        token, _ = retry(lambda: dc.execute_command("LOCK.ACQUIRE", "d1", "TTL", 600000), "acquire on the restarted node")
        g3 = self.wait_signed(down, "d1", lambda: dc.execute_command("LOCK.RELEASE", "d1", token))
        self.assertTrue(g3.startswith("lqg1.%d." % new_key), g3)
        self.v.refresh(self.cluster.resp[down])
        self.assertEqual(self.v.check(g3, "--lock", "d1")[0], 0)
        # The ROTATE entry is far behind the leader's last snapshot minus
        # --snapshot-trailing, so the leader no longer has it in its log:
        # the restarted node can only have learned the key from a snapshot.
        restored = int(dc.info("replication").get("snapshots_restored", 0))
        self.assertGreaterEqual(restored, 1)


if __name__ == "__main__":
    parser = argparse.ArgumentParser()
    parser.add_argument("--lockq", required=True)
    args, rest = parser.parse_known_args()
    LOCKQ = os.path.abspath(args.lockq)
    sys.argv = [sys.argv[0]] + rest
    lockq_cluster.main()
