#!/usr/bin/python3
"""Issue 4, must-demonstrate: a paused holder (SIGSTOP past its lease, then
SIGCONT) has its fenced write rejected while the new holder's write stands.

Holder A is its own OS process (a small python script on a pipe). It takes
LOCK.ACQUIRE with a 1000 ms lease, reports its token, and then only acts on
commands from the parent. The parent SIGSTOPs A, waits (bounded) until
LOCK.INFO no longer lists A's token, takes the lock as B with a larger
token and writes `SET resource B FENCE lock tokenB`. Only then is A told to
write `SET resource A FENCE lock tokenA` and resumed with SIGCONT: the write
must be refused with STALETOKEN, GET resource must still be "B", A's
LOCK.RELEASE with its old token must fail and B must still hold the lock.

Runs on one node and on three (A on a follower, B on the other follower,
the final reads on every node). Assertions are about order and outcome
only; every wait has a deadline. Run by ctest as:
fenced_pause_test.py --lockqd PATH (python3-redis, under /usr/bin/python3).
"""
import os
import queue
import signal
import subprocess
import sys
import threading
import unittest

import lockq_cluster
from lockq_cluster import WAIT_S, Cluster, client, retry, spawn, wait_until

LOCK, RESOURCE = "lock", "resource"
A_TTL_MS = 1000    # A's lease: short, it runs out while A is stopped
B_TTL_MS = 60000   # B's lease: long, so B still holds the lock at the end


def lock_info(r):
    return lockq_cluster.lock_info(r, LOCK)


def holder_tokens(info):
    return [h["token"] for h in info["holders"]]


def proc_state(pid):
    """The one-letter state in /proc/PID/stat ('T' when stopped)."""
    with open("/proc/%d/stat" % pid) as f:
        return f.read().rsplit(")", 1)[1].split()[0]


# Holder A. Prints GRANTED token lease_ms once it holds the lock, then does
# what the parent writes on stdin, one line each: WRITE (the fenced SET)
# and RELEASE (LOCK.RELEASE with its token). Replies OK/ERR lines.
HOLDER_A = r'''
import sys
import redis
port, lock, resource, ttl = int(sys.argv[1]), sys.argv[2], sys.argv[3], sys.argv[4]
r = redis.Redis(host="127.0.0.1", port=port, socket_timeout=30, socket_connect_timeout=5)

def say(line):
    sys.stdout.write(line + "\n")
    sys.stdout.flush()

def attempt(fn):
    try:
        return "OK %s" % (fn(),)
    except redis.ResponseError as e:
        return "ERR %s" % (e,)

grant = r.execute_command("LOCK.ACQUIRE", lock, "TTL", ttl, "OWNER", "A")
if grant is None:
    say("HELD")
    sys.exit(1)
token = grant[0]
say("GRANTED %d %d" % (token, grant[1]))
for line in sys.stdin:
    cmd = line.strip()
    if cmd == "WRITE":
        say("WRITE " + attempt(lambda: r.execute_command("SET", resource, "A", "FENCE", lock, token)))
    elif cmd == "RELEASE":
        say("RELEASE " + attempt(lambda: r.execute_command("LOCK.RELEASE", lock, token)))
    elif cmd == "EXIT":
        break
'''


class HolderA:
    def __init__(self, port):
        self.proc = spawn([sys.executable, "-c", HOLDER_A, str(port), LOCK, RESOURCE, str(A_TTL_MS)],
                          stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True, bufsize=1)
        self.lines = queue.Queue()
        threading.Thread(target=self._read, daemon=True).start()

    def _read(self):
        for line in self.proc.stdout:
            self.lines.put(line.rstrip("\n"))
        self.lines.put(None)  # EOF

    def expect(self, prefix, timeout=WAIT_S):
        try:
            line = self.lines.get(timeout=timeout)
        except queue.Empty:
            raise AssertionError("holder A said nothing within %ss (waiting for %s)" % (timeout, prefix))
        if line is None or not line.startswith(prefix + " "):
            raise AssertionError("holder A: expected %s, got %r (exit %s)" % (prefix, line, self.proc.poll()))
        return line[len(prefix) + 1:]

    def send(self, cmd):
        self.proc.stdin.write(cmd + "\n")
        self.proc.stdin.flush()

    def stop(self):
        os.kill(self.proc.pid, signal.SIGSTOP)
        wait_until(lambda: proc_state(self.proc.pid) == "T", "holder A is stopped")

    def cont(self):
        os.kill(self.proc.pid, signal.SIGCONT)

    def state(self):
        return proc_state(self.proc.pid)

    def finish(self):
        if self.proc.poll() is None:
            try:
                self.cont()  # a test that failed may have left A stopped
                self.send("EXIT")
                self.proc.stdin.close()
                self.proc.wait(timeout=10)
            except (OSError, subprocess.TimeoutExpired):
                self.proc.kill()
                self.proc.wait(timeout=10)


class FencedPauseTest(unittest.TestCase):
    def scenario(self, cluster, a_node, b_node, check_nodes):
        say = lambda msg: print("  [%d node%s] %s" % (cluster.n, "s" if cluster.n > 1 else "", msg), flush=True)
        say("A talks to node %d, B to node %d (raft roles: %s)" % (a_node + 1, b_node + 1, cluster.roles()))
        b = client(cluster.resp[b_node])

        a = HolderA(cluster.resp[a_node])
        try:
            token_a, lease_a = map(int, a.expect("GRANTED").split())
            say("A (pid %d) acquired %r: token %d, lease %d ms" % (a.proc.pid, LOCK, token_a, lease_a))
            self.assertEqual(lease_a, A_TTL_MS)

            a.stop()
            say("A stopped with SIGSTOP (state %s)" % a.state())

            # Past A's lease: the lock no longer lists A's token. INFO goes
            # through the log, so it uses the same clock the next grant will.
            seen = {}

            def a_expired():
                seen["info"] = lock_info(b)
                return token_a not in holder_tokens(seen["info"])
            wait_until(a_expired, "A's lease has run out (LOCK.INFO)", step=0.1)
            say("A's lease ran out while A is stopped: LOCK.INFO mode=%s holders=%s last_token=%d"
                % (seen["info"]["mode"].decode(), holder_tokens(seen["info"]), seen["info"]["last_token"]))
            self.assertEqual(a.state(), "T", "A must still be stopped")
            self.assertEqual(seen["info"]["last_token"], token_a)

            # B takes the lock (try-lock, retried within a deadline).
            grant = {}

            def b_acquired():
                g = retry(lambda: b.execute_command("LOCK.ACQUIRE", LOCK, "TTL", B_TTL_MS, "OWNER", "B"),
                          "B's LOCK.ACQUIRE")
                if g is None:  # a retried grant whose reply was lost is ours
                    mine = [h for h in lock_info(b)["holders"] if h["owner"] == b"B"]
                    g = [mine[0]["token"], B_TTL_MS] if mine else None
                if g is not None:
                    grant["token"], grant["lease"] = g
                return g is not None
            wait_until(b_acquired, "B acquires %r" % LOCK, step=0.05)
            token_b = grant["token"]
            say("B acquired %r: token %d, lease %d ms" % (LOCK, token_b, grant["lease"]))
            self.assertGreater(token_b, token_a)

            self.assertIsNone(retry(lambda: b.get(RESOURCE), "GET"), "nobody has written yet")
            self.assertTrue(retry(lambda: b.execute_command("SET", RESOURCE, "B", "FENCE", LOCK, token_b),
                                  "B's fenced SET"))
            say("B: SET %s B FENCE %s %d -> OK" % (RESOURCE, LOCK, token_b))
            self.assertEqual(a.state(), "T", "A must still be stopped")

            # A wakes with its write already requested: the first thing it
            # does after SIGCONT is the stale fenced write.
            a.send("WRITE")
            a.cont()
            write = a.expect("WRITE")
            say("A resumed with SIGCONT: SET %s A FENCE %s %d -> %s" % (RESOURCE, LOCK, token_a, write))
            self.assertTrue(write.startswith("ERR STALETOKEN"), write)

            a.send("RELEASE")
            release = a.expect("RELEASE")
            say("A: LOCK.RELEASE %s %d -> %s" % (LOCK, token_a, release))
            self.assertTrue(release.startswith("ERR STALETOKEN") or release.startswith("ERR NOTOWNER"), release)
        finally:
            a.finish()

        for i in check_nodes:
            r = client(cluster.resp[i])
            value = retry(lambda: r.get(RESOURCE), "GET")
            info = lock_info(r)
            say("node %d: GET %s -> %r; LOCK.INFO mode=%s holders=%s last_token=%d"
                % (i + 1, RESOURCE, value, info["mode"].decode(),
                   [(h["token"], h["owner"].decode()) for h in info["holders"]], info["last_token"]))
            self.assertEqual(value, b"B")
            self.assertEqual(info["mode"], b"exclusive")
            self.assertEqual(holder_tokens(info), [token_b])
            self.assertEqual(info["holders"][0]["owner"], b"B")
            self.assertEqual(info["last_token"], token_b)

        self.assertEqual(retry(lambda: b.execute_command("LOCK.RELEASE", LOCK, token_b), "B's LOCK.RELEASE"), 1)
        say("B released %r with token %d" % (LOCK, token_b))

    def test_single_node(self):
        cluster = Cluster(1)
        try:
            self.scenario(cluster, a_node=0, b_node=0, check_nodes=[0])
        except BaseException:
            print(cluster.logs(), flush=True)
            raise
        finally:
            cluster.stop()

    def test_three_nodes_a_on_a_follower(self):
        cluster = Cluster(3)
        try:
            leader = cluster.wait_leader()
            followers = [i for i in range(3) if i != leader]
            self.scenario(cluster, a_node=followers[0], b_node=followers[1], check_nodes=[0, 1, 2])
        except BaseException:
            print(cluster.logs(), flush=True)
            raise
        finally:
            cluster.stop()


if __name__ == "__main__":
    lockq_cluster.main()
