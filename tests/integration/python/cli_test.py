#!/usr/bin/python3
"""The lockq CLI (issue 6, src/cli/) against real lockqd processes:

- `lockq lock L -- sh -c 'read-modify-write a file'`: 8 concurrent loops x 25
  give an exact count on 1 node (8 x 10 on 3 nodes, each loop entering
  through a different node, also while the leader is killed once), and the
  fencing tokens seen inside the lock strictly increase in the order of the
  critical sections;
- a `lockq lock` killed with SIGKILL (with its command) frees the lock by
  session expiry (--ttl 2s): the next `--wait 20s` run proceeds;
- the exit status is the command's (128+N for a signal); LOCKQ_FENCING_TOKEN
  and LOCKQ_LOCK_NAME are exported and the token grows between runs;
  `--wait 0` on a held lock exits 1 with a message; SIGTERM to `lockq lock`
  reaches the command and the lock is released; a lock lost while the
  command runs (its session closed) SIGTERMs the command;
- publish / consume / queue ls|info|purge|declare / lock ls|info / cluster
  status|transfer / call / bench, with --json output parsed and checked.

Every wait and loop is bounded; no timing assertions.
Run by ctest as: cli_test.py --lockqd PATH --lockq PATH
"""
import json
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import threading
import time
import unittest

import lockq_cluster
from lockq_cluster import Cluster, spawn, wait_until

LOCKQ = None  # set from --lockq
RUN_TIMEOUT_S = 60  # bound on any one lockq invocation


def lockq(server, *args, timeout=RUN_TIMEOUT_S, input=None, env=None):
    """Runs lockq -s server args...; returns the CompletedProcess (text)."""
    full_env = dict(os.environ)
    full_env.pop("LOCKQ_SERVER", None)
    full_env.update(env or {})
    return subprocess.run([LOCKQ, "-s", server] + list(args), capture_output=True, text=True,
                          timeout=timeout, input=input, env=full_env, preexec_fn=lockq_cluster._die_with_parent)


def lockq_json(server, *args, **kw):
    p = lockq(server, "--json", *args, **kw)
    if p.returncode != 0:
        raise AssertionError("lockq %s failed (%d): %s" % (" ".join(args), p.returncode, p.stderr))
    return json.loads(p.stdout)


def counting_loops(servers, lock, path, log, loops, rounds, ttl="30s"):
    """loops threads, each running `lockq lock` rounds times to add 1 to the
    number in `path` and append its token to `log`; returns the failures."""
    script = 'n=$(cat "$F"); echo "$LOCKQ_FENCING_TOKEN" >> "$LOG"; echo $((n + 1)) > "$F"'
    failures = []

    def loop(i):
        server = servers[i % len(servers)]
        for _ in range(rounds):
            try:
                p = lockq(server, "lock", lock, "--wait", "60s", "--ttl", ttl, "--", "sh", "-c", script,
                          env={"F": path, "LOG": log}, timeout=90)
            except subprocess.TimeoutExpired as e:
                failures.append(("timeout", e.stderr))
                continue
            if p.returncode != 0:
                failures.append((p.returncode, p.stderr))

    threads = [threading.Thread(target=loop, args=(i,)) for i in range(loops)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=600)
    return failures


class CliTestBase(unittest.TestCase):
    def setUp(self):
        self.tmp = tempfile.mkdtemp(prefix="lockq-cli-")
        self.addCleanup(shutil.rmtree, self.tmp, True)

    def path(self, name):
        return os.path.join(self.tmp, name)

    def assert_counted(self, servers, lock, loops, rounds):
        path, log = self.path(lock + ".count"), self.path(lock + ".tokens")
        with open(path, "w") as f:
            f.write("0\n")
        failures = counting_loops(servers, lock, path, log, loops, rounds)
        self.assertEqual(failures, [])
        with open(path) as f:
            self.assertEqual(int(f.read()), loops * rounds)
        with open(log) as f:
            tokens = [int(t) for t in f.read().split()]
        self.assertEqual(len(tokens), loops * rounds)
        self.assertEqual(tokens, sorted(set(tokens)), "tokens must strictly increase across critical sections")


class OneNode(CliTestBase):
    @classmethod
    def setUpClass(cls):
        cls.cluster = Cluster(1, prefix="lockq-cli-1-")
        cls.s = "127.0.0.1:%d" % cls.cluster.resp[0]

    @classmethod
    def tearDownClass(cls):
        cls.cluster.stop()

    def holders(self, lock):
        return lockq_json(self.s, "lock", "info", lock)["holders"]

    def start_holder(self, lock, command, *opts):
        """A `lockq lock` in its own process group, once it holds the lock."""
        p = spawn([LOCKQ, "-s", self.s, "lock", lock] + list(opts) + ["--"] + command,
                  stderr=subprocess.PIPE, text=True, start_new_session=True)
        wait_until(lambda: self.holders(lock) or p.poll() is not None, "%s is held" % lock, timeout=30, step=0.05)
        if p.poll() is not None:  # (stderr is read only then: the command holds it open)
            self.fail("the holder exited early (%d): %s" % (p.returncode, p.stderr.read()))
        return p

    def test_mutual_exclusion_8x25(self):
        self.assert_counted([self.s], "counter", loops=8, rounds=25)

    def test_exit_status_env_and_tokens(self):
        self.assertEqual(lockq(self.s, "lock", "st", "--", "sh", "-c", "exit 7").returncode, 7)
        self.assertEqual(lockq(self.s, "lock", "st", "--", "sh", "-c", "kill -9 $$").returncode, 128 + 9)
        self.assertEqual(lockq(self.s, "lock", "st", "--", "/nonexistent/cmd").returncode, 127)
        seen = []
        for _ in range(3):
            p = lockq(self.s, "lock", "st", "--owner", "t", "--", "sh", "-c", 'echo "$LOCKQ_FENCING_TOKEN $LOCKQ_LOCK_NAME"')
            self.assertEqual(p.returncode, 0, p.stderr)
            token, name = p.stdout.split()
            self.assertEqual(name, "st")
            seen.append(int(token))
        self.assertEqual(seen, sorted(set(seen)))
        shared = lockq(self.s, "lock", "st", "--shared", "--", "sh", "-c", 'test -n "$LOCKQ_FENCING_TOKEN"')
        self.assertEqual(shared.returncode, 0, shared.stderr)

    def test_wait0_busy_then_sigterm_forwarded_and_released(self):
        marker = self.path("got-term")
        script = 'trap \'kill $s; echo term > "%s"; exit 5\' TERM; sleep 30 & s=$!; wait' % marker
        holder = self.start_holder("busy", ["sh", "-c", script], "--owner", "holder-1")
        p = lockq(self.s, "lock", "busy", "--wait", "0", "--", "true")
        self.assertEqual(p.returncode, 1)
        self.assertIn("busy", p.stderr)
        self.assertIn("holder-1", p.stderr)
        p = lockq(self.s, "lock", "busy", "--wait", "300ms", "--", "true")
        self.assertEqual(p.returncode, 1)
        self.assertIn("not acquired", p.stderr)
        # lock ls / lock info while it is held.
        info = lockq_json(self.s, "lock", "info", "busy")
        self.assertEqual(info["mode"], "exclusive")
        self.assertEqual([h["owner"] for h in info["holders"]], ["holder-1"])
        self.assertGreater(info["holders"][0]["remaining_ms"], 0)
        listed = {l["name"]: l for l in lockq_json(self.s, "lock", "ls", "--match", "bu*")}
        self.assertEqual(list(listed), ["busy"])
        self.assertEqual(listed["busy"]["holders"][0]["token"], info["holders"][0]["token"])
        human = lockq(self.s, "lock", "info", "busy")
        self.assertIn("holder-1", human.stdout)
        # SIGTERM reaches the command, whose status lockq returns; then released.
        holder.send_signal(signal.SIGTERM)
        self.assertEqual(holder.wait(timeout=30), 5)
        with open(marker) as f:
            self.assertEqual(f.read().strip(), "term")
        self.assertEqual(self.holders("busy"), [])
        self.assertEqual(lockq(self.s, "lock", "busy", "--wait", "0", "--", "true").returncode, 0)

    def test_sigkill_released_by_session_expiry(self):
        holder = self.start_holder("crash", ["sleep", "30"], "--ttl", "2s")
        os.killpg(holder.pid, signal.SIGKILL)  # lockq and its command
        holder.wait(timeout=10)
        started = time.monotonic()
        p = lockq(self.s, "lock", "crash", "--wait", "20s", "--", "true", timeout=40)
        self.assertEqual(p.returncode, 0, p.stderr)
        print("next holder got the lock %.1fs after the kill" % (time.monotonic() - started), flush=True)

    def test_lost_lock_terminates_command(self):
        holder = self.start_holder("lose", ["sleep", "30"], "--ttl", "10s")
        session = self.holders("lose")[0]["session"]
        self.assertEqual(lockq(self.s, "call", "SESSION.CLOSE", str(session)).returncode, 0)
        self.assertEqual(holder.wait(timeout=30), 128 + signal.SIGTERM)
        self.assertIn("lost lock 'lose'", holder.stderr.read())

    def test_queue_commands(self):
        declared = lockq_json(self.s, "queue", "declare", "jobs", "--arg", "x-max-length=1000")
        self.assertEqual(declared["queue"], "jobs")
        pub = lockq_json(self.s, "publish", "jobs", input="m1\nm2\nm3\nm4\nm5\n")
        self.assertEqual((pub["published"], pub["confirmed"], pub["failed"]), (5, 5, 0))
        pub = lockq_json(self.s, "publish", "--header", "k=v", "--header", "a=b", "jobs", "m6")
        self.assertEqual(pub["confirmed"], 1)
        unrouted = lockq_json(self.s, "publish", "no-such-queue", "x")
        self.assertEqual(unrouted["unrouted"], 1)
        info = lockq_json(self.s, "queue", "info", "jobs")
        self.assertEqual((info["name"], info["messages_ready"], info["durable"]), ("jobs", 6, 1))
        self.assertIn("jobs", [q["name"] for q in lockq_json(self.s, "queue", "ls")])
        self.assertIn("jobs", lockq(self.s, "queue", "ls").stdout)

        # --no-ack: a peek; the messages return to the queue when lockq exits.
        peek = lockq(self.s, "--json", "consume", "jobs", "--count", "2", "--no-ack", "--timeout", "10s")
        self.assertEqual(peek.returncode, 0, peek.stderr)
        peeked = [json.loads(line) for line in peek.stdout.splitlines()]
        self.assertEqual([m["body"] for m in peeked], ["m1", "m2"])
        wait_until(lambda: lockq_json(self.s, "queue", "info", "jobs")["messages_ready"] == 6,
                   "peeked messages are back", timeout=30, step=0.1)
        # Default: ack each once printed.
        got = lockq(self.s, "--json", "consume", "jobs", "--count", "6", "--timeout", "10s")
        self.assertEqual(got.returncode, 0, got.stderr)
        msgs = [json.loads(line) for line in got.stdout.splitlines()]
        self.assertEqual(sorted(m["body"] for m in msgs), ["m%d" % i for i in range(1, 7)])
        for m in msgs:
            self.assertEqual(m["routing_key"], "jobs")
            self.assertEqual(m["redelivered"], m["body"] in ("m1", "m2"))
            self.assertEqual(m["delivery_count"] >= 1, m["body"] in ("m1", "m2"))
        wait_until(lambda: lockq_json(self.s, "queue", "info", "jobs")["messages_unacked"] == 0,
                   "acks applied", timeout=30, step=0.1)
        self.assertEqual(lockq_json(self.s, "queue", "info", "jobs")["messages_ready"], 0)
        # Nothing left: exits after --timeout with no message.
        empty = lockq(self.s, "consume", "jobs", "--timeout", "300ms")
        self.assertEqual((empty.returncode, empty.stdout), (0, ""))
        # Plain output: one body per line.
        lockq_json(self.s, "publish", "jobs", input="p1\np2\n")
        plain = lockq(self.s, "consume", "jobs", "--count", "2", "--timeout", "10s")
        self.assertEqual(plain.stdout.splitlines(), ["p1", "p2"])
        # Purge.
        lockq_json(self.s, "publish", "jobs", input="x\ny\nz\n")
        self.assertEqual(lockq_json(self.s, "queue", "purge", "jobs")["purged"], 3)
        missing = lockq(self.s, "queue", "info", "no-such-queue")
        self.assertNotEqual(missing.returncode, 0)
        self.assertTrue(missing.stderr.startswith("lockq: "), missing.stderr)

    def test_fenced_publish(self):
        lockq_json(self.s, "queue", "declare", "fenced")
        tokens = []
        for _ in range(2):
            p = lockq(self.s, "lock", "fence-lock", "--", "sh", "-c", 'echo "$LOCKQ_FENCING_TOKEN"')
            tokens.append(int(p.stdout))
        stale = lockq(self.s, "publish", "--fence", "fence-lock:%d" % tokens[0], "fenced", "late")
        self.assertNotEqual(stale.returncode, 0)
        self.assertIn("STALETOKEN", stale.stderr)
        ok = lockq_json(self.s, "publish", "--fence", "fence-lock:%d" % tokens[1], "fenced", "current")
        self.assertEqual(ok["confirmed"], 1)

    def test_bench_json(self):
        for op in ("set", "lock", "publish"):
            r = lockq_json(self.s, "bench", "--op", op, "--clients", "4", "--requests", "200", "--duration", "20s")
            self.assertEqual((r["op"], r["ops"], r["errors"]), (op, 200, 0))
            self.assertGreater(r["ops_per_sec"], 0)
            self.assertLessEqual(r["p50_ms"], r["p99_ms"])
            self.assertLessEqual(r["p99_ms"], r["max_ms"])
        table = lockq(self.s, "bench", "--duration", "1s", "--clients", "2")
        self.assertEqual(table.returncode, 0, table.stderr)
        self.assertIn("OPS/S", table.stdout)

    def test_call_and_errors(self):
        self.assertEqual(lockq_json(self.s, "call", "SET", "k", "v"), "OK")
        self.assertEqual(lockq(self.s, "call", "GET", "k").stdout.strip(), '"v"')
        bad = lockq(self.s, "call", "GET")
        self.assertEqual(bad.returncode, 1)
        self.assertEqual(len(bad.stderr.splitlines()), 1)
        self.assertEqual(lockq(self.s, "lock", "x", "--ttl", "5x", "--", "true").returncode, 1)
        self.assertEqual(lockq(self.s, "queue").returncode, 2)
        self.assertEqual(lockq(self.s, "lock", "--help").returncode, 0)
        env = lockq(self.s, "cluster", "status")  # -s wins over LOCKQ_SERVER
        self.assertIn("(leader)", env.stdout)
        p = subprocess.run([LOCKQ, "--json", "cluster", "status"], capture_output=True, text=True, timeout=30,
                           env=dict(os.environ, LOCKQ_SERVER="127.0.0.1:1," + self.s))
        self.assertEqual(p.returncode, 0, p.stderr)
        self.assertEqual(json.loads(p.stdout)["role"], "leader")
        # Nobody answers: a clear error after --retry-for, not the 20 s default.
        down = lockq("127.0.0.1:1", "--retry-for", "300ms", "queue", "ls")
        self.assertEqual(down.returncode, 1)
        self.assertIn("gave up after retrying for 300 ms", down.stderr)
        self.assertEqual(lockq(self.s, "--retry-for", "soon", "queue", "ls").returncode, 2)


class ThreeNodes(CliTestBase):
    @classmethod
    def setUpClass(cls):
        cls.cluster = Cluster(3, prefix="lockq-cli-3-")
        ports = cls.cluster.resp
        # Loop i enters through node i % 3 (the others are fallbacks).
        cls.servers = [",".join("127.0.0.1:%d" % ports[(i + k) % 3] for k in range(3)) for i in range(3)]

    @classmethod
    def tearDownClass(cls):
        cls.cluster.stop()

    def test_mutual_exclusion_8x10(self):
        self.assert_counted(self.servers, "counter3", loops=8, rounds=10)

    def test_mutual_exclusion_leader_killed(self):
        """8 x 10 while the leader is killed (and restarted) once. A run may
        fail across the failover (e.g. its lock lost, its command SIGTERMed),
        so the check is that every critical section that ran saw the last
        write: the count equals the number of sections (tokens logged), the
        tokens strictly increase, and nearly every run succeeded."""
        path, log = self.path("failover.count"), self.path("failover.tokens")
        with open(path, "w") as f:
            f.write("0\n")
        result = {}
        runner = threading.Thread(target=lambda: result.setdefault(
            "failures", counting_loops(self.servers, "counter-fo", path, log, 8, 10, ttl="3s")))
        runner.start()
        time.sleep(1.0)
        leader = self.cluster.wait_leader()
        self.cluster.kill(leader)
        print("killed leader node %d" % (leader + 1), flush=True)
        time.sleep(0.7)
        self.cluster.start(leader)
        runner.join(timeout=600)
        self.assertFalse(runner.is_alive())
        with open(log) as f:
            tokens = [int(t) for t in f.read().split()]
        with open(path) as f:
            self.assertEqual(int(f.read()), len(tokens))
        self.assertEqual(tokens, sorted(set(tokens)))
        print("%d sections, %d failed runs: %s" % (len(tokens), len(result["failures"]), result["failures"][:3]),
              flush=True)
        self.assertLessEqual(len(result["failures"]), 8)
        self.cluster.wait_ready()

    def test_cluster_status_and_transfer(self):
        leader = self.cluster.wait_leader()
        s = lockq_json(self.servers[0], "cluster", "status")
        self.assertEqual(len(s["members"]), 3)
        self.assertEqual(s["leader_id"], leader + 1)
        follower = (leader + 1) % 3
        p = lockq(self.servers[follower], "cluster", "transfer", str(follower + 1))
        self.assertEqual(p.returncode, 0, p.stderr)
        wait_until(lambda: self.cluster.leader() == follower, "node %d leads" % (follower + 1), timeout=30, step=0.1)
        self.cluster.wait_leader()
        self.assertEqual(lockq_json(self.servers[0], "cluster", "status")["leader_id"], follower + 1)


def main():
    global LOCKQ
    LOCKQ = lockq_cluster.take_option("--lockq")
    if LOCKQ is None:
        sys.exit("usage: cli_test.py --lockqd PATH --lockq PATH")
    lockq_cluster.main()


if __name__ == "__main__":
    main()
