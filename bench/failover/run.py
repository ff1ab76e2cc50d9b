#!/usr/bin/python3
"""Failover time of a 3-node lockq cluster (issue 13 item 5; results in
bench/RESULTS.md "Failover (issue 13 item 5)").

    sudo /usr/bin/python3 bench/failover/run.py --lockqd build/src/server/lockqd \\
        [--faults 20] [--kinds kill,isolate,pause,term] [--json out.json] [-- lockqd flags...]

Three lockqd nodes, each in its own network namespace (tests/integration/
python/netns.py: created here, removed on every exit path), lockqd's
default flags unless flags follow `--`. One client per node writes
continuously (SET, short socket timeouts) from the router namespace. Each
fault hits the current leader:

    kill     kill -9, then restart it
    isolate  cut it from both followers (clients still reach it), then heal
    pause    SIGSTOP, then SIGCONT
    term     SIGTERM (a clean shutdown: it hands leadership over), then restart

and measures the time from the fault to the first write acknowledged
through a survivor that was *sent* after the fault (a reply to an earlier
write proves nothing). Between faults the cluster is restored and waited
on until it is healthy: one leader that every node agrees on, and every
node applied the leader's commit index. Every loop is bounded in count
and time; a fault with no write within --bound-s is reported as such.
Prints p50/p99/max per kind (nearest rank: with 20 faults p99 is the
maximum) and the load average before and after.
"""
import argparse
import json
import os
import shutil
import signal
import sys
import threading
import time

import redis

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(HERE, "..", "..", "tests", "integration", "python"))
import lockq_cluster  # noqa: E402
import netns  # noqa: E402

KINDS = ("kill", "isolate", "pause", "term")


class Writers:
    """One thread per node writing through it; `acks` holds (node, sent,
    acknowledged) of each acknowledged write since the last mark()."""

    def __init__(self, cluster, interval_s, timeout_s):
        self.acks = []
        self.halt = threading.Event()
        self.threads = [threading.Thread(target=self.run, args=(cluster, i, interval_s, timeout_s), daemon=True)
                        for i in range(cluster.n)]
        for t in self.threads:
            t.start()

    def run(self, cluster, i, interval_s, timeout_s):
        r = redis.Redis(host=cluster.hosts[i], port=cluster.resp[i], socket_timeout=timeout_s,
                        socket_connect_timeout=timeout_s)
        seq = 0
        while not self.halt.is_set():  # bounded by stop()
            sent = time.monotonic()
            try:
                r.set("failover:%d" % i, seq)
                self.acks.append((i, sent, time.monotonic()))
                seq += 1
                self.halt.wait(interval_s)
            except redis.RedisError:
                self.halt.wait(0.005)  # refused or TRYAGAIN: again soon

    def mark(self):
        self.acks = []  # writers append to whichever list is current

    def first_after(self, fault_t, survivors, bound_s):
        """Seconds from fault_t to the first acknowledgement, through a
        survivor, of a write sent after it; None past bound_s."""
        deadline = fault_t + bound_s
        while time.monotonic() < deadline:
            done = [a for n, s, a in list(self.acks) if n in survivors and s >= fault_t]
            if done:
                return min(done) - fault_t
            time.sleep(0.002)
        return None

    def stop(self):
        self.halt.set()
        for t in self.threads:
            t.join(timeout=10)


def replication(cluster, i):
    try:
        return cluster.client(i, 1).info("replication")
    except redis.RedisError:
        return None


def wait_healthy(cluster, bound_s):
    """One leader all nodes agree on, each node caught up; False past bound_s."""
    deadline = time.monotonic() + bound_s
    while time.monotonic() < deadline:
        infos = [replication(cluster, i) if cluster.alive(i) else None for i in range(cluster.n)]
        if all(infos):
            leaders = {(x["leader_id"], x["raft_term"]) for x in infos}
            lead = [x for x in infos if x["raft_role"] == "leader"]
            if len(leaders) == 1 and len(lead) == 1 and lead[0]["leader_id"] != 0:
                # Caught up: every node applied what the leader had committed
                # when asked (read again: writes keep the indexes moving).
                commit = int(lead[0]["commit_index"])
                again = [replication(cluster, i) for i in range(cluster.n)]
                if all(x and int(x["applied_index"]) >= commit for x in again):
                    return True
        time.sleep(0.05)
    return False


def healthy_leader(cluster, bound_s):
    """The leader's index once the cluster is healthy (None past bound_s)."""
    deadline = time.monotonic() + bound_s
    while time.monotonic() < deadline:
        if wait_healthy(cluster, deadline - time.monotonic()):
            leader = cluster.leader()  # one look: a node may be slow to answer
            if leader is not None:
                return leader
        time.sleep(0.05)
    return None


def inject(kind, cluster, net, leader):
    """Starts the fault; returns the function that ends it."""
    proc = cluster.procs[leader]
    if kind == "kill":
        proc.send_signal(signal.SIGKILL)
        return lambda: (proc.wait(timeout=10), cluster.start(leader))
    if kind == "term":
        proc.send_signal(signal.SIGTERM)
        return lambda: (proc.wait(timeout=30), cluster.start(leader))
    if kind == "pause":
        proc.send_signal(signal.SIGSTOP)
        return lambda: proc.send_signal(signal.SIGCONT)
    if kind == "isolate":
        for other in range(cluster.n):
            if other != leader:
                net.cut(leader, other)
        return net.heal
    raise ValueError(kind)


def percentile(sorted_values, p):
    """Nearest rank."""
    rank = max(1, -(-len(sorted_values) * p // 100))
    return sorted_values[int(rank) - 1]


def summary(samples):
    ok = sorted(s for s in samples if s is not None)
    if not ok:
        return {"n": len(samples), "missed": len(samples)}
    return {"n": len(samples), "missed": len(samples) - len(ok), "p50_ms": round(percentile(ok, 50) * 1000),
            "p99_ms": round(percentile(ok, 99) * 1000), "max_ms": round(ok[-1] * 1000),
            "min_ms": round(ok[0] * 1000)}


def measure(args, net, cluster):
    results = {k: [] for k in args.kinds}
    if not wait_healthy(cluster, 60):
        raise RuntimeError("the cluster never became healthy")
    writers = Writers(cluster, args.interval_ms / 1000, args.client_timeout_ms / 1000)
    try:
        for round_no in range(args.faults):
            for kind in args.kinds:
                leader = healthy_leader(cluster, 60)
                if leader is None:
                    raise RuntimeError("no healthy leader before %s fault %d" % (kind, round_no + 1))
                survivors = {i for i in range(cluster.n) if i != leader}
                writers.mark()
                end_fault = inject(kind, cluster, net, leader)
                fault_t = time.monotonic()  # once in place (a cut takes a few `ip rule` calls)
                took = writers.first_after(fault_t, survivors, args.bound_s)
                time.sleep(args.hold_s)  # the fault lasts a little past the failover
                end_fault()
                healthy = wait_healthy(cluster, 60)
                results[kind].append(took)
                print("%-7s %2d  leader node %d  first write %s  healthy again: %s" % (
                    kind, round_no + 1, leader + 1, "none" if took is None else "%.0f ms" % (took * 1000), healthy),
                    flush=True)
                if not healthy:
                    codes = [p.poll() for p in cluster.procs]
                    raise RuntimeError("not healthy after %s fault %d (exit codes %s)" % (kind, round_no + 1, codes))
    finally:
        writers.stop()
    return results


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--lockqd", required=True)
    parser.add_argument("--faults", type=int, default=20, help="faults per kind")
    parser.add_argument("--kinds", default=",".join(KINDS))
    parser.add_argument("--interval-ms", type=float, default=5, help="pause between one client's writes")
    parser.add_argument("--client-timeout-ms", type=float, default=500, help="socket timeout of the writers")
    parser.add_argument("--bound-s", type=float, default=15, help="give up on one fault's first write after this")
    parser.add_argument("--hold-s", type=float, default=0.3, help="the fault lasts this long past the failover")
    parser.add_argument("--json", help="write the samples and summaries here")
    parser.add_argument("--keep-logs", help="copy the nodes' logs to this directory at the end")
    argv = sys.argv[1:]
    extra = argv[argv.index("--") + 1:] if "--" in argv else []
    args = parser.parse_args(argv[:argv.index("--")] if "--" in argv else argv)
    args.kinds = [k for k in args.kinds.split(",") if k]
    if any(k not in KINDS for k in args.kinds) or args.faults < 1:
        parser.error("--kinds from %s, --faults >= 1" % ",".join(KINDS))
    if not netns.available():
        sys.exit("needs root and ip(8): the nodes run in network namespaces")
    lockq_cluster.LOCKQD = os.path.abspath(args.lockqd)
    load_before = os.getloadavg()
    net = netns.Netns(3)
    try:
        net.enter_router()
        cluster = lockq_cluster.Cluster(3, prefix="lockq-failover-", net=net, fast_elections=False,
                                        extra_args=extra)
        try:
            results = measure(args, net, cluster)
        finally:
            if args.keep_logs:
                os.makedirs(args.keep_logs, exist_ok=True)
                for i in range(cluster.n):
                    name = "node%d.log" % (i + 1)
                    shutil.copy(os.path.join(cluster.dir, name), os.path.join(args.keep_logs, name))
            cluster.stop()
    finally:
        net.remove()
        lockq_cluster.kill_all()
    load_after = os.getloadavg()
    out = {"lockqd_flags": extra, "faults_per_kind": args.faults, "load_before": load_before,
           "load_after": load_after, "samples_s": results, "summary": {k: summary(v) for k, v in results.items()}}
    print("\nload average before %s, after %s; lockqd flags: %s" % (
        " ".join("%.2f" % x for x in load_before), " ".join("%.2f" % x for x in load_after), extra or "defaults"))
    print("%-8s %4s %7s %7s %7s %7s %7s" % ("kind", "n", "missed", "p50 ms", "p99 ms", "max ms", "min ms"))
    for k, s in out["summary"].items():
        print("%-8s %4d %7d %7s %7s %7s %7s" % (k, s["n"], s["missed"], s.get("p50_ms", "-"), s.get("p99_ms", "-"),
                                              s.get("max_ms", "-"), s.get("min_ms", "-")))
    if args.json:
        with open(args.json, "w") as f:
            json.dump(out, f, indent=1)


if __name__ == "__main__":
    main()
