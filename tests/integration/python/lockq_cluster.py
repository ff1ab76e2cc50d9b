"""Real lockqd processes for the Python integration tests (python3-redis,
under /usr/bin/python3).

    lockq_cluster.main(__doc__)          # parses --lockqd, runs unittest
    cluster = Cluster(3)                 # n nodes on 127.0.0.1, own data dirs
    cluster.resp[i], cluster.amqp[i]     # node i's RESP and AMQP ports
    i = cluster.wait_leader()
    cluster.kill(i); cluster.start(i)    # kill -9, restart with the same data
    cluster.terminate(i)                 # SIGTERM (clean shutdown), waits for the exit
    cluster.stop()                       # kills and removes the data
    LOCKQ_MIXED_LOCKQD=PATH              # the last node runs that binary (mixed versions)
    LOCKQ_PEER_TLS=1                     # clusters run with --peer-tls (scripts/dev-certs)

Every child process dies with the test process, even when ctest SIGKILLs it
on a timeout (PR_SET_PDEATHSIG); SIGTERM kills them all and exits at once.
Every wait is bounded.
"""
import argparse
import ctypes
import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
import unittest

import redis
from redis.exceptions import ConnectionError, ResponseError, TimeoutError

LOCKQD = None          # set by main()
WAIT_S = 60            # bound on waits for the cluster (slow, busy machine)
RETRYABLE = (ConnectionError, TimeoutError, ResponseError)

_libc = ctypes.CDLL(None, use_errno=True)
_PR_SET_PDEATHSIG = 1
_children = []  # every Popen started through spawn()
_dirs = []      # data dirs, removed on SIGTERM too


def _die_with_parent():
    _libc.prctl(_PR_SET_PDEATHSIG, signal.SIGKILL)


def spawn(argv, **kw):
    """subprocess.Popen whose process dies with this one."""
    p = subprocess.Popen(argv, preexec_fn=_die_with_parent, **kw)
    _children.append(p)
    return p


def kill_all():
    for p in _children:
        if p.poll() is None:
            p.kill()  # SIGKILL also ends a stopped process
            try:
                p.wait(timeout=10)
            except subprocess.TimeoutExpired:
                pass


def _on_sigterm(signum, frame):
    kill_all()
    for d in _dirs:
        shutil.rmtree(d, ignore_errors=True)
    sys.stdout.flush()
    os._exit(128 + signum)


DEV_CERTS = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "..", "..", "scripts", "dev-certs")


def dev_certs(d):
    """A CA and certificates for 127.0.0.1 in d (scripts/dev-certs); returns d."""
    subprocess.run([DEV_CERTS, d], check=True, stdout=subprocess.DEVNULL, timeout=120)
    return d


def peer_tls_args(certs, i):
    """--peer-tls flags for node i with dev_certs(certs) (node1..3 certificates)."""
    name = os.path.join(certs, "node%d" % (i % 3 + 1))
    return ["--peer-tls", "--peer-cert-file", name + ".crt", "--peer-key-file", name + ".key",
            "--peer-ca-file", os.path.join(certs, "ca.crt")]


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def client(port, timeout=10, host="127.0.0.1", username=None, password=None):
    return redis.Redis(host=host, port=port, socket_timeout=timeout, socket_connect_timeout=2,
                       username=username, password=password)


def is_tryagain(e):
    return not isinstance(e, ResponseError) or "TRYAGAIN" in str(e)


def retry(fn, what, deadline_s=WAIT_S):
    """fn() until it stops failing with TRYAGAIN or a connection error (an
    election on a busy machine); other errors propagate."""
    deadline = time.monotonic() + deadline_s
    while True:
        try:
            return fn()
        except RETRYABLE as e:
            if not is_tryagain(e):
                raise
            if time.monotonic() > deadline:
                raise AssertionError("%s: still failing after %ss: %s" % (what, deadline_s, e))
            time.sleep(0.1)


def wait_until(pred, what, timeout=WAIT_S, step=0.02):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if pred():
            return
        time.sleep(step)
    raise AssertionError("timed out after %ss waiting until %s" % (timeout, what))


def pairs(flat):
    """A RESP2 map (flat key/value array) as a dict with str keys."""
    return {flat[i].decode(): flat[i + 1] for i in range(0, len(flat), 2)}


def lock_info(r, name):
    """LOCK.INFO as a dict; holders and waiters as lists of dicts."""
    info = pairs(retry(lambda: r.execute_command("LOCK.INFO", name), "LOCK.INFO"))
    info["holders"] = [pairs(h) for h in info["holders"]]
    info["waiters"] = [pairs(w) for w in info["waiters"]]
    return info


class Cluster:
    """n lockqd processes on loopback (n == 1: a plain single node), with a
    fast election timeout so failover tests stay short. With `net`
    (netns.Netns) node i runs in its own network namespace at net.host(i),
    on the default ports, with --protected-mode no unless extra_args sets it."""

    def __init__(self, n, prefix="lockq-py-", extra_args=(), net=None, password=None, peer_tls=None,
                 fast_elections=True):
        self.n = n
        # False: lockqd's default election and heartbeat timeouts (bench/failover).
        self.fast_elections = fast_elections
        self.password = password  # the default user's, for this harness's own clients
        self.net = net
        self.hosts = [net.host(i) if net else "127.0.0.1" for i in range(n)]
        self.extra_args = list(extra_args)
        self.dir = tempfile.mkdtemp(prefix=prefix)
        _dirs.append(self.dir)
        if peer_tls is None:
            peer_tls = os.environ.get("LOCKQ_PEER_TLS") == "1"
        self.peer_tls = peer_tls and n > 1
        if self.peer_tls:
            self.certs = dev_certs(os.path.join(self.dir, "certs"))
        for self.attempt in range(3):  # a picked port may be taken meanwhile
            self.resp = [6379 if net else free_port() for _ in range(n)]
            self.raft = [7001 if net else free_port() for _ in range(n)]
            self.amqp = [5672 if net else free_port() for _ in range(n)]
            self.procs = [None] * n
            for i in range(n):
                self.start(i)
            try:
                self.wait_ready()
                return
            except RuntimeError as e:
                print("cluster start attempt %d failed: %s\n%s" % (self.attempt + 1, e, self.logs()), flush=True)
                self.kill_all()
        raise RuntimeError("could not start %d lockqd node(s)" % n)

    def start(self, i, extra_args=None, certs=None):
        """Starts node i (again: same ports and data dir); `extra_args`
        replaces the cluster's extra arguments for this start, `certs` the
        cluster's dev_certs directory (with peer TLS)."""
        # LOCKQ_MIXED_LOCKQD: the last node of a cluster runs that binary (a
        # mixed-version cluster, e.g. the previous release's lockqd).
        mixed = os.environ.get("LOCKQ_MIXED_LOCKQD")
        binary = mixed if mixed and self.n > 1 and i == self.n - 1 else LOCKQD
        argv = [binary, "--node-id", str(i + 1),
                "--data-dir", os.path.join(self.dir, "try%d-n%d" % (self.attempt, i + 1)),
                "--bind", self.hosts[i],
                "--resp-port", str(self.resp[i]), "--raft-addr", "%s:%d" % (self.hosts[i], self.raft[i]),
                "--amqp-port", str(self.amqp[i]), "--http-port", "0"]
        if self.fast_elections:
            argv += ["--election-timeout-ms", "300", "--heartbeat-timeout-ms", "50"]
        argv += self.extra_args if extra_args is None else list(extra_args)
        if self.peer_tls:
            argv += peer_tls_args(certs or self.certs, i)
        if self.net:
            # The test's clients sit in the router namespace, outside the
            # node's loopback: without a password, protected mode would
            # refuse them (docs/security.md). A test may still ask for it.
            if "--protected-mode" not in self.extra_args:
                argv += ["--protected-mode", "no"]
            argv = self.net.wrap(i) + argv
        if self.n > 1:
            argv += ["--initial-cluster", ",".join("%d=%s:%d" % (j + 1, self.hosts[j], p)
                                                   for j, p in enumerate(self.raft))]
        with open(os.path.join(self.dir, "node%d.log" % (i + 1)), "ab") as log:
            self.procs[i] = spawn(argv, stdout=log, stderr=subprocess.STDOUT)

    def client(self, i, timeout=10, username=None, password=None):
        """A redis-py client of node i (as `default` with the cluster's password
        unless a user is given)."""
        if username is None and password is None:
            password = self.password
        return client(self.resp[i], timeout, self.hosts[i], username, password)

    def alive(self, i):
        return self.procs[i] is not None and self.procs[i].poll() is None

    def wait_ready(self, timeout=30):
        """Every node answers a write (a follower by forwarding it)."""
        deadline = time.monotonic() + timeout
        pending = set(range(self.n))
        while pending:
            for i in sorted(pending):
                if not self.alive(i):
                    raise RuntimeError("node %d exited with %s" % (i + 1, self.procs[i].returncode))
                try:
                    if self.client(i).set("ready-%d" % (i + 1), "1"):
                        pending.discard(i)
                except redis.RedisError:
                    pass
            if pending and time.monotonic() > deadline:
                raise RuntimeError("nodes %s not ready within %ss" % (sorted(pending), timeout))
            if pending:
                time.sleep(0.1)

    def roles(self):
        out = []
        for i in range(self.n):
            try:
                out.append(self.client(i, 1).info("replication").get("raft_role") if self.alive(i) else None)
            except redis.RedisError:
                out.append(None)
        return out

    def leader(self):
        """The index of the node that says it leads, or None (one look)."""
        roles = self.roles()
        return roles.index("leader") if roles.count("leader") == 1 else None

    def wait_leader(self, timeout=WAIT_S):
        """The leader's index once it accepts a write."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            i = self.leader()
            if i is not None:
                try:
                    self.client(i, 2).set("ready", "1")
                    return i
                except redis.RedisError:
                    pass
            time.sleep(0.1)
        raise AssertionError("no leader within %ss: %s" % (timeout, self.roles()))

    def kill(self, i):
        """kill -9 node i."""
        self.procs[i].send_signal(signal.SIGKILL)
        self.procs[i].wait(timeout=10)

    def terminate(self, i, timeout=30):
        """SIGTERM node i (a clean shutdown) and wait until it exits; returns
        its exit status."""
        self.procs[i].send_signal(signal.SIGTERM)
        return self.procs[i].wait(timeout=timeout)

    def log(self, i):
        """Node i's whole log (every start appends to it)."""
        with open(os.path.join(self.dir, "node%d.log" % (i + 1)), "rb") as f:
            return f.read().decode(errors="replace")

    def kill_all(self):
        for i in range(self.n):
            if self.alive(i):
                self.kill(i)

    def stop(self):
        self.kill_all()
        shutil.rmtree(self.dir, ignore_errors=True)

    def run(self, fn, *args):
        """fn(*args); the nodes' logs are printed if it fails, and the
        cluster is stopped whatever happens."""
        try:
            return fn(*args)
        except BaseException:
            print(self.logs(), flush=True)
            raise
        finally:
            self.stop()

    def logs(self):
        out = []
        for i in range(self.n):
            path = os.path.join(self.dir, "node%d.log" % (i + 1))
            if os.path.exists(path):
                with open(path, "rb") as f:
                    out.append("--- node %d ---\n%s" % (i + 1, f.read()[-3000:].decode(errors="replace")))
        return "\n".join(out)


class Nodes:
    """A client that moves to the next node when one fails or answers TRYAGAIN."""

    def __init__(self, ports, start, timeout=10):
        self.clients = [client(p, timeout) for p in ports]
        self.i = start % len(ports)

    def current(self):
        return self.clients[self.i]

    def next(self):
        self.i = (self.i + 1) % len(self.clients)
        time.sleep(0.05)

    def run(self, fn, deadline_s=90):
        deadline = time.monotonic() + deadline_s
        while True:
            try:
                return fn(self.current())
            except RETRYABLE as e:
                if not is_tryagain(e) or time.monotonic() > deadline:
                    raise
                self.next()


def count_with_workers(cluster, worker, n_workers, kill_leaders=0, deadline_s=300):
    """Runs worker(ports, index, results) in n_workers processes; while they
    run, kill -9s the leader up to kill_leaders times (restarting it 0.7 s
    later). Returns (kills, the sum of what the workers put in results)."""
    import multiprocessing
    results = multiprocessing.Queue()
    procs = [multiprocessing.Process(target=worker, args=(cluster.resp, i, results)) for i in range(n_workers)]
    for p in procs:
        p.start()
    kills = 0
    deadline = time.monotonic() + deadline_s
    while any(p.is_alive() for p in procs) and time.monotonic() < deadline:
        time.sleep(0.4)
        if kills < kill_leaders:
            leader = cluster.leader()
            if leader is not None:
                cluster.kill(leader)
                kills += 1
                print("killed leader node %d" % (leader + 1), flush=True)
                time.sleep(0.7)
                cluster.start(leader)
    for p in procs:
        p.join(timeout=60)
        if p.is_alive():
            p.kill()
    return kills, sum(results.get(timeout=5) for _ in procs)


def take_option(name):
    """Removes `name VALUE` from sys.argv (before main() parses it) and
    returns VALUE as an absolute path, or None when absent."""
    if name not in sys.argv:
        return None
    at = sys.argv.index(name)
    value = os.path.abspath(sys.argv[at + 1])
    del sys.argv[at:at + 2]
    return value


def main():
    """Parses --lockqd, then runs the calling module's unittest cases."""
    global LOCKQD
    parser = argparse.ArgumentParser()
    parser.add_argument("--lockqd", required=True)
    args, rest = parser.parse_known_args()
    LOCKQD = os.path.abspath(args.lockqd)
    signal.signal(signal.SIGTERM, _on_sigterm)
    try:
        unittest.main(module="__main__", argv=[sys.argv[0]] + rest, verbosity=2)
    finally:
        kill_all()
