#!/usr/bin/python3
"""Event-loop stalls while lockqd snapshots a large state (issue 13, item 1).

    bench/snapshot-stall/run.py --lockqd build/src/server/lockqd [--messages N]

Starts 3 lockqd on 127.0.0.1 with default flags (like scripts/local-cluster,
no --election-timeout-ms), then runs two scenarios and prints one JSON line
per scenario:

1. pile: N persistent 100 B messages are published into one queue
   (Q.PUBLISH through the default exchange, pipelined 1,000 at a time over
   RESP to the leader). Snapshots are taken on their own (--snapshot-bytes
   64 MiB by default). A PING every 10 ms goes to every node; we report the
   worst PING round trip per node (the longest the node's event loop did not
   answer), the snapshots each node took, and leader changes (raft_term
   steps seen by polling INFO every 100 ms).
2. catchup: a follower is killed -9, the leader gets 9,000 single-command
   entries (past --snapshot-entries 8192, so it snapshots and compacts the
   log beyond the follower), then the follower restarts and must install
   the snapshot (follower_snapshot_index = leader_snapshot_index shows it
   did). Reported: the leader's and the follower's worst PING while the
   follower catches up (the follower's counted from its first answer: its
   start, loading its own older snapshot, is follower_first_ping_s), and
   how long catching up took.

Every wait is bounded; the nodes die with this process (PR_SET_PDEATHSIG).
"""
import argparse
import ctypes
import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time

import redis

_libc = ctypes.CDLL(None, use_errno=True)
WAIT_S = 120


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def client(port, timeout=30):
    return redis.Redis(host="127.0.0.1", port=port, socket_timeout=timeout, socket_connect_timeout=2)


class Cluster:
    def __init__(self, lockqd, n=3, extra=()):
        self.lockqd, self.n, self.extra = lockqd, n, list(extra)
        self.dir = tempfile.mkdtemp(prefix="lockq-snapstall-")
        self.resp = [free_port() for _ in range(n)]
        self.raft = [free_port() for _ in range(n)]
        self.procs = [None] * n
        for i in range(n):
            self.start(i)

    def start(self, i):
        peers = ",".join("%d=127.0.0.1:%d" % (j + 1, p) for j, p in enumerate(self.raft))
        argv = [self.lockqd, "--node-id", str(i + 1), "--data-dir", os.path.join(self.dir, "n%d" % (i + 1)),
                "--resp-port", str(self.resp[i]), "--raft-addr", "127.0.0.1:%d" % self.raft[i],
                "--amqp-port", "0", "--http-port", "0", "--initial-cluster", peers] + self.extra
        log = open(os.path.join(self.dir, "node%d.log" % (i + 1)), "ab")
        self.procs[i] = subprocess.Popen(argv, stdout=log, stderr=subprocess.STDOUT,
                                         preexec_fn=lambda: _libc.prctl(1, signal.SIGKILL))

    def kill(self, i):
        self.procs[i].kill()
        self.procs[i].wait(timeout=10)

    def info(self, i, timeout=2):
        return client(self.resp[i], timeout).info("replication")

    def client_for(self, i, timeout=10):
        return client(self.resp[i], timeout)

    def leader(self):
        deadline = time.monotonic() + WAIT_S
        while time.monotonic() < deadline:
            for i in range(self.n):
                try:
                    if self.procs[i].poll() is None and self.info(i)["raft_role"] == "leader":
                        client(self.resp[i], 5).set("ready", "1")
                        return i
                except redis.RedisError:
                    pass
            time.sleep(0.1)
        raise RuntimeError("no leader within %ss" % WAIT_S)

    def stop(self):
        for p in self.procs:
            if p is not None and p.poll() is None:
                p.kill()
                p.wait(timeout=10)
        shutil.rmtree(self.dir, ignore_errors=True)


class Probe:
    """PING every 10 ms against each given node; worst round trip per node.
    A refused or timed-out PING counts from its send until the next success."""

    def __init__(self, cluster, nodes, interval_s=0.010):
        self.cluster, self.nodes, self.interval_s = cluster, nodes, interval_s
        self.worst_ms = {i: 0.0 for i in nodes}
        self.pings = {i: 0 for i in nodes}
        self.first_ping_s = {i: None for i in nodes}
        self.worst_at = {i: None for i in nodes}  # UTC wall time the worst PING was sent
        self.over_100ms = {i: 0 for i in nodes}
        self.t_start = time.monotonic()
        self.terms = set()
        self.stop_ev = threading.Event()
        self.threads = [threading.Thread(target=self._ping, args=(i,), daemon=True) for i in nodes]
        self.threads.append(threading.Thread(target=self._roles, daemon=True))

    def __enter__(self):
        for t in self.threads:
            t.start()
        return self

    def __exit__(self, *exc):
        self.stop_ev.set()
        for t in self.threads:
            t.join(timeout=40)

    def _ping(self, i):
        r = client(self.cluster.resp[i], timeout=30)
        failing_since = None
        while not self.stop_ev.is_set():
            t0 = time.monotonic()
            try:
                r.ping()
                if self.pings[i] == 0:  # a node starting: count from its first answer
                    self.first_ping_s[i] = t0 - self.t_start
                    failing_since = None
                start = failing_since if failing_since is not None else t0
                failing_since = None
                took_ms = (time.monotonic() - start) * 1000
                if took_ms > self.worst_ms[i]:
                    self.worst_ms[i] = took_ms
                    self.worst_at[i] = time.strftime("%H:%M:%S", time.gmtime(time.time() - took_ms / 1000))
                if took_ms > 100:
                    self.over_100ms[i] += 1
                self.pings[i] += 1
            except redis.RedisError:
                if failing_since is None:
                    failing_since = t0
            time.sleep(max(0.0, self.interval_s - (time.monotonic() - t0)))

    def _roles(self):
        while not self.stop_ev.is_set():
            for i in range(self.cluster.n):
                try:
                    info = self.cluster.info(i, timeout=1)
                    if info["raft_role"] == "leader":
                        self.terms.add(int(info["raft_term"]))
                except (redis.RedisError, KeyError):
                    pass
            self.stop_ev.wait(0.1)

    def leader_changes(self):
        return max(0, len(self.terms) - 1)


def pile(cluster, leader, n, body_bytes, pipeline_n):
    """Publishes n messages to queue `snapq`; returns seconds taken."""
    r = client(cluster.resp[leader], timeout=60)
    r.execute_command("Q.DECLARE", "snapq", "DURABLE")
    body = b"m" * body_bytes
    done, t0 = 0, time.monotonic()
    deadline = t0 + 1800
    while done < n and time.monotonic() < deadline:
        k = min(pipeline_n, n - done)
        p = r.pipeline(transaction=False)
        for _ in range(k):
            p.execute_command("Q.PUBLISH", "", "snapq", body)
        try:
            res = p.execute(raise_on_error=False)
        except redis.ConnectionError:
            time.sleep(0.5)
            r = client(cluster.resp[cluster.leader()], timeout=60)
            continue
        done += sum(1 for x in res if not isinstance(x, Exception))
        if any(isinstance(x, Exception) for x in res):
            time.sleep(0.1)  # TRYAGAIN during an election; find the leader again
            r = client(cluster.resp[cluster.leader()], timeout=60)
    return time.monotonic() - t0, done


def snapshot_counts(cluster):
    out = []
    for i in range(cluster.n):
        try:
            out.append(int(cluster.info(i, 10)["snapshots_taken"]))
        except (redis.RedisError, KeyError):
            out.append(None)
    return out


def reset_loop_lag(cluster, nodes):
    for i in nodes:
        cluster.client_for(i).execute_command("CONFIG", "RESETSTAT")


def loop_lag(cluster, nodes):
    """Each node's own measure (INFO latency, src/server/loop_lag.h): its
    longest loop turn and how many turns took over 100 ms, since RESETSTAT."""
    out = {}
    for i in nodes:
        try:
            info = cluster.client_for(i).info("latency")
            over = sum(int(info[k]) for k in ("loop_busy_le_200ms", "loop_busy_le_500ms", "loop_busy_le_1000ms",
                                              "loop_busy_gt_1000ms"))
            out[str(i + 1)] = {"max_ms": round(int(info["loop_busy_max_us"]) / 1000, 1), "turns_over_100ms": over}
        except (redis.RedisError, KeyError):
            out[str(i + 1)] = None
    return out


def scenario_pile(cluster, args):
    leader = cluster.leader()
    nodes = list(range(cluster.n))
    reset_loop_lag(cluster, nodes)
    with Probe(cluster, nodes) as probe:
        secs, done = pile(cluster, leader, args.messages, args.body_bytes, args.pipeline)
        time.sleep(2)  # a snapshot started by the last entries finishes
    return {"scenario": "pile", "messages": done, "publish_s": round(secs, 1),
            "msgs_per_s": round(done / secs), "first_leader": leader + 1,
            "worst_ping_ms": {str(i + 1): round(v, 1) for i, v in probe.worst_ms.items()},
            "worst_ping_at_utc": {str(i + 1): v for i, v in probe.worst_at.items()},
            "pings_over_100ms": {str(i + 1): v for i, v in probe.over_100ms.items()},
            "pings": {str(i + 1): v for i, v in probe.pings.items()},
            "loop_lag": loop_lag(cluster, nodes),
            "leader_changes": probe.leader_changes(), "snapshots_taken": snapshot_counts(cluster)}


def scenario_catchup(cluster, args):
    leader = cluster.leader()
    follower = (leader + 1) % cluster.n
    cluster.kill(follower)
    # 9,000 entries of one command each (one client, one at a time: group
    # commit would merge concurrent ones): past the 8192-entry threshold, so
    # the leader snapshots and keeps only 1024 entries behind it.
    r = client(cluster.resp[leader], timeout=30)
    before_snap = int(cluster.info(leader, 10)["snapshot_index"])
    for k in range(9000):
        try:
            r.set("catchup-%d" % k, "x")
        except redis.RedisError:
            pass
    deadline = time.monotonic() + 60
    while int(cluster.info(leader, 10)["snapshot_index"]) == before_snap and time.monotonic() < deadline:
        time.sleep(0.2)
    target = int(cluster.info(leader, 10)["applied_index"])
    snap_index = int(cluster.info(leader, 10)["snapshot_index"])
    reset_loop_lag(cluster, [leader])
    with Probe(cluster, [leader]) as probe_leader:
        t0 = time.monotonic()
        cluster.start(follower)
        caught_up = None
        with Probe(cluster, [follower]) as probe_follower:
            deadline = t0 + 600
            while time.monotonic() < deadline:
                try:
                    if int(cluster.info(follower, 5)["applied_index"]) >= target:
                        caught_up = time.monotonic() - t0
                        break
                except (redis.RedisError, KeyError):
                    pass
                time.sleep(0.05)
            time.sleep(1)
        finfo = cluster.info(follower, 10)
        restored = int(finfo["snapshots_restored"])
        decoded_off_loop = int(finfo.get("snapshots_decoded_off_loop", 0))
        follower_snap = int(finfo["snapshot_index"])
    return {"scenario": "catchup", "leader": leader + 1, "follower": follower + 1,
            "leader_snapshot_index": snap_index, "target_index": target,
            "catchup_s": None if caught_up is None else round(caught_up, 2),
            "follower_snapshots_restored": restored, "follower_snapshot_index": follower_snap,
            "follower_first_ping_s": probe_follower.first_ping_s[follower] and round(probe_follower.first_ping_s[follower], 2),
            "worst_ping_ms_leader": round(probe_leader.worst_ms[leader], 1),
            "worst_ping_ms_follower": round(probe_follower.worst_ms[follower], 1),
            "follower_snapshots_decoded_off_loop": decoded_off_loop,
            "loop_lag": loop_lag(cluster, [leader, follower]),
            "leader_changes": probe_leader.leader_changes()}


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--lockqd", required=True)
    ap.add_argument("--messages", type=int, default=1_000_000)
    ap.add_argument("--body-bytes", type=int, default=100)
    ap.add_argument("--pipeline", type=int, default=1000)
    ap.add_argument("--scenario", choices=["pile", "catchup", "both"], default="both")
    ap.add_argument("--nodes", type=int, default=3, help="1 separates the snapshot from replication load (pile only)")
    ap.add_argument("--keep", action="store_true", help="leave the data dirs (printed)")
    ap.add_argument("--lockqd-arg", action="append", default=[],
                    help="extra lockqd flag (repeat), e.g. --lockqd-arg=--snapshot-bytes=100000000000")
    args = ap.parse_args()
    if args.nodes < 3 and args.scenario != "pile":
        ap.error("catchup needs 3 nodes")
    cluster = Cluster(os.path.abspath(args.lockqd), n=args.nodes, extra=args.lockqd_arg)
    try:
        if args.scenario in ("pile", "both"):
            print(json.dumps(scenario_pile(cluster, args)), flush=True)
        if args.scenario in ("catchup", "both"):
            if args.scenario == "catchup":
                pile(cluster, cluster.leader(), args.messages, args.body_bytes, args.pipeline)
            print(json.dumps(scenario_catchup(cluster, args)), flush=True)
    finally:
        if args.keep:
            print("data: " + cluster.dir, file=sys.stderr)
            for p in cluster.procs:
                if p.poll() is None:
                    p.kill()
        else:
            cluster.stop()


if __name__ == "__main__":
    main()
