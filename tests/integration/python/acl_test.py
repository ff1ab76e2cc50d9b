#!/usr/bin/python3
"""Users and permissions over RESP (issue 12 items 2, 3 and 5), with real
lockqd processes, python3-redis 4.3.4 and redis-cli:

- NOAUTH before AUTH, WRONGPASS (a plain ResponseError in redis-py 4.3.4),
  AUTH <password> without a password configured, AUTH and HELLO syntax,
  HELLO 3 AUTH, NOPERM on a key pattern and on a category; a user limited
  to ~jobs:* can SET jobs:x NX PX and LOCK.ACQUIRE jobs:x but not `other`;
  ACL GETUSER / LIST / DRYRUN / LOG shapes;
- brute force: repeated wrong passwords from one address get delayed
  replies; the server records a growing delay (measured and printed, never
  asserted on time) while another client is served;
- 3 nodes: ACL DELUSER issued on the leader closes that user's connection
  on a follower; users survive kill -9 of every node, and reach a follower
  that catches up through a snapshot install.

Run by ctest as: acl_test.py --lockqd PATH
"""
import socket
import subprocess
import time
import unittest

import redis
from redis.exceptions import ConnectionError, ResponseError

import lockq_cluster
from lockq_cluster import Cluster, wait_until

PASS = "s3cret-default"


def raw(port, *commands, timeout=5):
    """Sends RESP commands on one fresh socket; returns the bytes read until
    every reply arrived (bounded by `timeout`)."""
    with socket.create_connection(("127.0.0.1", port), timeout=timeout) as s:
        out = b""
        for cmd in commands:
            s.sendall(b"*%d\r\n" % len(cmd) + b"".join(b"$%d\r\n%s\r\n" % (len(a), a.encode()) for a in cmd))
            deadline = time.monotonic() + timeout
            before = len(out)
            while len(out) == before or not out.endswith(b"\r\n"):
                if time.monotonic() > deadline:
                    break
                chunk = s.recv(65536)
                if not chunk:
                    break
                out += chunk
                time.sleep(0.05)  # a map reply may come in pieces
        return out


def pairs(flat):
    return {flat[i]: flat[i + 1] for i in range(0, len(flat), 2)}


class SingleNode(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.cluster = Cluster(1, prefix="lockq-acl-", extra_args=["--requirepass", PASS], password=PASS)
        cls.port = cls.cluster.resp[0]
        admin = cls.cluster.client(0)
        admin.execute_command("ACL", "SETUSER", "jobs", "on", ">jobs-pw", "~jobs:*", "+@all", "-@dangerous")
        admin.execute_command("ACL", "SETUSER", "reader", "on", ">reader-pw", "~*", "+@read", "+@connection")

    @classmethod
    def tearDownClass(cls):
        cls.cluster.stop()

    def user(self, name, pw):
        return lockq_cluster.client(self.port, username=name, password=pw)

    def test_noauth_before_auth(self):
        r = lockq_cluster.client(self.port)
        with self.assertRaises(redis.RedisError) as e:
            r.get("k")
        self.assertIn("Authentication required.", str(e.exception))  # NOAUTH (4.3.4 may strip the code)
        out = raw(self.port, ["HELLO", "3"])
        self.assertTrue(out.startswith(b"-NOAUTH HELLO must be called with the client already authenticated"), out)
        out = raw(self.port, ["HELLO", "3", "AUTH", "jobs", "jobs-pw"], ["ACL", "WHOAMI"])
        self.assertTrue(out.startswith(b"%"), out)  # a RESP3 map
        self.assertIn(b"$4\r\njobs\r\n", out)

    def test_wrongpass(self):
        for name, pw in (("default", "bad"), ("jobs", "bad"), ("nobody", "x")):
            with self.assertRaises(ResponseError) as e:
                self.user(name, pw).ping()
            self.assertEqual(str(e.exception), "WRONGPASS invalid username-password pair or user is disabled.")
        self.assertTrue(self.user("default", PASS).ping())

    def test_key_pattern_and_locks(self):
        jobs = self.user("jobs", "jobs-pw")
        self.assertEqual(jobs.execute_command("ACL", "WHOAMI"), b"jobs")
        self.assertTrue(jobs.set("jobs:x", "tok", nx=True, px=10000))
        token = jobs.execute_command("LOCK.ACQUIRE", "jobs:lock", "TTL", "10000")
        self.assertTrue(token)
        for cmd in (["SET", "other", "v"], ["LOCK.ACQUIRE", "other"], ["GET", "other"]):
            with self.assertRaises(ResponseError) as e:
                jobs.execute_command(*cmd)
            self.assertIn("No permissions to access a key", str(e.exception))
        with self.assertRaises(ResponseError) as e:
            jobs.execute_command("FLUSHALL")
        self.assertIn("has no permissions to run the 'flushall' command", str(e.exception))
        with self.assertRaises(ResponseError) as e:
            jobs.execute_command("LOCKQ.CLUSTER", "STATUS")
        self.assertIn("has no permissions to run the 'lockq.cluster|status' command", str(e.exception))

    def test_category(self):
        reader = self.user("reader", "reader-pw")
        self.cluster.client(0).set("shared", "1")
        self.assertEqual(reader.get("shared"), b"1")
        with self.assertRaises(ResponseError) as e:
            reader.set("shared", "2")
        self.assertIn("User reader has no permissions to run the 'set' command", str(e.exception))
        with self.assertRaises(ResponseError):
            reader.execute_command("ACL", "SETUSER", "evil", "on", "nopass", "+@all")

    def test_acl_shapes(self):
        admin = self.cluster.client(0)
        g = pairs(admin.execute_command("ACL", "GETUSER", "jobs"))
        self.assertEqual(sorted(g), [b"channels", b"commands", b"flags", b"keys", b"passwords", b"selectors"])
        self.assertEqual(g[b"flags"], [b"on"])
        self.assertEqual(len(g[b"passwords"]), 1)
        self.assertEqual(len(g[b"passwords"][0]), 64)
        self.assertEqual(g[b"keys"], b"~jobs:*")
        self.assertEqual(g[b"commands"], b"+@all -@dangerous")
        self.assertIsNone(admin.execute_command("ACL", "GETUSER", "nobody"))
        lines = admin.execute_command("ACL", "LIST")
        self.assertIn(b"user default on #", lines[0] if lines[0].startswith(b"user default") else lines[1])
        self.assertTrue(all(line.startswith(b"user ") for line in lines))
        self.assertEqual(admin.execute_command("ACL", "DRYRUN", "jobs", "SET", "jobs:1", "v"), b"OK")
        self.assertEqual(admin.execute_command("ACL", "DRYRUN", "jobs", "SET", "other", "v"),
                         b"No permissions to access a key")
        self.assertEqual(len(admin.execute_command("ACL", "GENPASS")), 64)
        self.assertIn(b"lock", admin.execute_command("ACL", "CAT"))
        self.assertIn(b"lock.acquire", admin.execute_command("ACL", "CAT", "lock"))
        with self.assertRaises(ResponseError) as e:
            admin.execute_command("ACL", "SETUSER", "x", "bogus")
        self.assertEqual(str(e.exception), "Error in ACL SETUSER modifier 'bogus': Syntax error")

    def test_acl_log_records_denials_and_failed_logins(self):
        admin = self.cluster.client(0)
        admin.execute_command("ACL", "LOG", "RESET")
        with self.assertRaises(ResponseError):
            self.user("jobs", "wrong").ping()
        with self.assertRaises(ResponseError):
            self.user("jobs", "jobs-pw").set("other", "v")
        entries = [pairs(e) for e in admin.execute_command("ACL", "LOG")]
        reasons = {e[b"reason"]: e for e in entries}
        self.assertIn(b"auth", reasons)
        self.assertEqual(reasons[b"auth"][b"object"], b"AUTH")
        self.assertIn(b"key", reasons)
        self.assertEqual(reasons[b"key"][b"object"], b"other")
        self.assertEqual(reasons[b"key"][b"username"], b"jobs")
        for e in entries:
            self.assertNotIn(b"wrong", b" ".join(v for v in e.values() if isinstance(v, bytes)))
        # redis-py's own parser of ACL LOG (it parses client-info too).
        parsed = admin.acl_log()
        self.assertTrue(any(e["reason"] == "auth" and e["username"] == "jobs" for e in parsed), parsed)
        self.assertEqual(admin.acl_getuser("jobs")["keys"], ["~jobs:*"])

    def test_redis_cli(self):
        base = ["redis-cli", "-p", str(self.port)]
        def cli(*args):
            return subprocess.run(base + list(args), capture_output=True, text=True, timeout=20).stdout
        self.assertIn("NOAUTH", cli("GET", "k"))
        self.assertIn("WRONGPASS", cli("--no-auth-warning", "-a", "bad", "PING") +
                      subprocess.run(base + ["--no-auth-warning", "-a", "bad", "PING"], capture_output=True,
                                     text=True, timeout=20).stderr)
        self.assertIn("OK", cli("--no-auth-warning", "--user", "jobs", "--pass", "jobs-pw", "SET", "jobs:cli", "1"))
        self.assertIn("NOPERM", cli("--no-auth-warning", "--user", "jobs", "--pass", "jobs-pw", "SET", "other", "1"))

    def test_brute_force_is_delayed_per_address(self):
        admin = self.cluster.client(0)
        delays, took = [], []
        for i in range(10):
            t0 = time.monotonic()
            with self.assertRaises(ResponseError):
                self.user("jobs", "guess-%d" % i).ping()
            took.append(time.monotonic() - t0)
            info = admin.info("stats")
            delays.append(int(info["auth_last_delay_ms"]))
        # Another client is served meanwhile (the loop never blocks).
        t0 = time.monotonic()
        self.assertTrue(admin.ping())
        print("[acl] wrong-password reply times (s): %s; server delays (ms): %s; other client's PING %.3fs"
              % (["%.3f" % t for t in took], delays, time.monotonic() - t0), flush=True)
        self.assertGreater(delays[-1], 0)
        self.assertGreaterEqual(delays[-1], delays[5])
        self.assertGreater(delays[5], delays[3])
        self.assertGreater(int(admin.info("stats")["auth_delayed_replies"]), 0)
        # Pipelined guesses queue up behind each other: 12 wrong AUTHs in
        # one write, from a fresh loopback address (127.0.0.2: the brake is
        # per address). Another client is served while they wait.
        n = 12
        with socket.create_connection(("127.0.0.1", self.port), timeout=60,
                                      source_address=("127.0.0.2", 0)) as s:
            s.sendall(b"".join(b"*3\r\n$4\r\nAUTH\r\n$4\r\njobs\r\n$6\r\nguess%d\r\n" % (i % 10)
                               for i in range(n)))
            t0 = time.monotonic()
            self.assertTrue(admin.ping())
            ping_s = time.monotonic() - t0
            s.setblocking(False)
            try:
                early = s.recv(65536).count(b"-WRONGPASS")
            except BlockingIOError:
                early = 0
            s.setblocking(True)
            got = early
            data = b""
            while got < n:
                chunk = s.recv(65536)
                self.assertTrue(chunk, "connection closed after %d replies" % got)
                data += chunk
                got = early + data.count(b"-WRONGPASS")
            took = time.monotonic() - t0
        print("[acl] %d pipelined wrong passwords answered in %.2fs (%d at once); another client's PING %.3fs"
              % (n, took, early, ping_s), flush=True)
        self.assertLess(early, n)  # the other client was answered before the guesses
        self.assertTrue(self.user("jobs", "jobs-pw").ping())


class NoPassword(unittest.TestCase):
    def test_default_user_without_password(self):
        c = Cluster(1, prefix="lockq-acl0-")
        c.run(self.check, c)

    def check(self, c):
        port = c.resp[0]
        out = raw(port, ["AUTH", "anything"])
        self.assertEqual(out, b"-ERR AUTH <password> called without any password configured for the default "
                              b"user. Are you sure your configuration is correct?\r\n")
        # nopass: any password works for `default`, as in Redis.
        self.assertEqual(raw(port, ["AUTH", "default", "anything"], ["ACL", "WHOAMI"]),
                         b"+OK\r\n$7\r\ndefault\r\n")
        self.assertEqual(raw(port, ["AUTH", "a", "b", "c"]), b"-ERR syntax error\r\n")
        self.assertEqual(raw(port, ["HELLO", "4"]), b"-NOPROTO unsupported protocol version\r\n")


class ThreeNodes(unittest.TestCase):
    def test_deluser_closes_follower_connections_and_users_survive(self):
        c = Cluster(3, prefix="lockq-acl3-", password=PASS,
                    extra_args=["--requirepass", PASS, "--snapshot-entries", "64", "--snapshot-trailing", "16"])
        c.run(self.run_cluster, c)

    def auth_works(self, c, i, user, pw):
        try:
            return c.client(i, 5, username=user, password=pw).ping()
        except redis.RedisError:
            return False

    def run_cluster(self, c):
        li = c.wait_leader()
        fi = (li + 1) % 3
        leader = c.client(li)
        leader.execute_command("ACL", "SETUSER", "alice", "on", ">alice-pw", "~*", "+@all")
        wait_until(lambda: self.auth_works(c, fi, "alice", "alice-pw"), "alice replicated to the follower")
        alice = c.client(fi, 5, username="alice", password="alice-pw")
        self.assertEqual(alice.execute_command("ACL", "WHOAMI"), b"alice")
        self.assertTrue(alice.set("a", "1"))  # forwarded to the leader as LOCKQ.USER alice SET a 1
        # A raw connection of alice on the follower, to see the server close it.
        sock = socket.create_connection(("127.0.0.1", c.resp[fi]), timeout=30)
        sock.sendall(b"*3\r\n$4\r\nAUTH\r\n$5\r\nalice\r\n$8\r\nalice-pw\r\n")
        self.assertEqual(sock.recv(100), b"+OK\r\n")
        self.assertEqual(leader.execute_command("ACL", "DELUSER", "alice"), 1)
        self.assertEqual(sock.recv(100), b"")  # EOF: the follower closed it (bounded by the timeout)
        sock.close()
        with self.assertRaises(redis.RedisError):
            alice.ping()  # its pooled connection was closed; reconnecting fails AUTH
        self.assertFalse(self.auth_works(c, fi, "alice", "alice-pw"))

        # Users survive kill -9 of every node.
        leader.execute_command("ACL", "SETUSER", "bob", "on", ">bob-pw", "~bob:*", "+@all")
        c.kill_all()
        for i in range(3):
            c.start(i)
        c.wait_ready(timeout=60)
        for i in range(3):
            wait_until(lambda: self.auth_works(c, i, "bob", "bob-pw"), "bob after kill -9 on node %d" % (i + 1))
            with self.assertRaises(ResponseError):
                c.client(i, 5, username="bob", password="bob-pw").set("other", "v")
        self.assertFalse(self.auth_works(c, 0, "default", "wrong"))

        # A follower that catches up through a snapshot install learns users.
        li = c.wait_leader()
        lag = (li + 1) % 3
        lag_last = int(c.client(lag).info("all")["last_index"])
        c.kill(lag)
        leader = c.client(li)
        leader.execute_command("ACL", "SETUSER", "carol", "on", ">carol-pw", "~c:*", "+@all")
        k = 0

        def compacted_past_lag():
            # The leader's log no longer holds what the lagging node lacks:
            # it can only catch up from a snapshot (--snapshot-trailing 16).
            # One snapshot more (every 64 entries) than that needs: a
            # snapshot still being written has not truncated the log yet.
            nonlocal k
            for _ in range(50):
                lockq_cluster.retry(lambda: leader.set("fill-%d" % k, "x"), "fill")
                k += 1
            return int(leader.info("all")["snapshot_index"]) - 16 > lag_last + 1 + 64
        wait_until(compacted_past_lag, "leader snapshot past the lagging node", step=0)
        c.start(lag)
        commit = int(leader.info("all")["commit_index"])

        def caught_up():
            try:
                return int(c.client(lag, 2).info("all")["applied_index"]) >= commit
            except redis.RedisError:
                return False
        wait_until(caught_up, "the restarted follower applies up to the leader's commit index")
        self.assertTrue(self.auth_works(c, lag, "carol", "carol-pw"))
        stats = c.client(lag).info("all")
        lead = leader.info("all")
        print("[acl] node %d restarted at last_index %d; leader node %d snapshot_index=%s; the follower now: "
              "snapshots_restored=%s snapshot_index=%s last_index=%s" %
              (lag + 1, lag_last, li + 1, lead.get("snapshot_index"), stats.get("snapshots_restored"),
               stats.get("snapshot_index"), stats.get("last_index")), flush=True)
        self.assertGreaterEqual(int(stats.get("snapshots_restored", 0)), 1)
        with self.assertRaises(ResponseError):
            c.client(lag, 5, username="carol", password="carol-pw").set("other", "v")


if __name__ == "__main__":
    lockq_cluster.main()
