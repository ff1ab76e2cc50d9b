#!/usr/bin/python3
"""Lock benchmark (issue 4): acquire+release cycles with N client threads, on
distinct locks (client i uses lock i) or on one contended lock, through one of
four lock protocols:

  setnx        `SET lock:<i> <token> NX PX <ttl>`; release `EVALSHA <sha> 1
               lock:<i> <token>` of the compare-then-delete script (the
               pattern of redis-py's Lock). Works on lockqd and redis-server.
  native-try   `LOCK.ACQUIRE lock:<i> TTL <ttl>` -> [token, lease_ms] | nil;
               release `LOCK.RELEASE lock:<i> <token>` (lockqd).
  native-wait  `LOCK.ACQUIRE lock:<i> TTL <ttl> WAIT <ms>` (server-side
               blocking FIFO acquire). When the server answers `ERR WAIT is
               not supported yet` the run stops at once and prints
               {"unavailable": "..."} instead of failing.
  etcd         etcd v3 lock API through the JSON gateway: one lease per
               client (POST /v3/lease/grant, TTL 600 s, revoked at the end),
               then POST /v3/lock/lock {name, lease} -> key and POST
               /v3/lock/unlock {key}. etcd blocks the lock call server-side
               until the lock is free (FIFO by creation revision).

A try-lock that is refused (setnx, native-try) is retried after --poll-ms
(default 1 ms; redis-py's Lock sleeps 0.1 s), the way a Redis client must
poll. A refused attempt is still a request the server had to serve (on lockqd
one log entry); the poll rate is reported.

Thread model as bench/loadgen.py: one thread and one persistent connection
per client, closed loop: acquire, release at once (nothing is done while
holding), repeat until the deadline. All timestamps come from one clock
(time.perf_counter, CLOCK_MONOTONIC) in this one process, so times from
different clients compare directly:

  cycle latency   acquire sent (first attempt) -> release acknowledged
  handoff         release *sent* by the holder -> next grant *received* by
                  another client. Causality makes grants and releases of one
                  lock alternate in this clock (a grant can only arrive after
                  the previous holder sent its release), which is also checked:
                  two grants without a release between them count as
                  `exclusion_violations`. Grants that go back to the client
                  that just released are counted (`self_regrant_pct`) but
                  not used as handoffs.

--procs P spreads the clients over P processes (default 1); they share the
system-wide CLOCK_MONOTONIC, so the timeline merges the same way.

Every loop is bounded by the deadline; a blocking acquire by --wait-ms (lockq
WAIT) or the HTTP timeout (etcd). Prints one JSON line."""
import argparse
import base64
import http.client
import json
import multiprocessing
import socket
import sys
import threading
import time

TLS_CTX = None  # --tls-ca: an ssl.SSLContext every RESP connection is wrapped in

RELEASE_SCRIPT = ('if redis.call("get",KEYS[1]) == ARGV[1] then '
                  'return redis.call("del",KEYS[1]) else return 0 end')


class Unavailable(Exception):
    pass


class ServerError(Exception):
    pass


# ------------------------------------------------------------------ RESP

class Resp:
    def __init__(self, host, port, timeout):
        self.sock = socket.create_connection((host, port), timeout=timeout)
        self.sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        if TLS_CTX is not None:
            self.sock = TLS_CTX.wrap_socket(self.sock, server_hostname=host)
        self.rfile = self.sock.makefile("rb")

    def call(self, *args):
        parts = [b"*%d\r\n" % len(args)]
        for a in args:
            if not isinstance(a, bytes):
                a = str(a).encode()
            parts.append(b"$%d\r\n%s\r\n" % (len(a), a))
        self.sock.sendall(b"".join(parts))
        return self.read()

    def read(self):
        line = self.rfile.readline()
        if not line:
            raise ConnectionError("connection closed")
        t, rest = line[:1], line[1:-2]
        if t == b"+":
            return rest
        if t == b"-":
            return ServerError(rest.decode(errors="replace"))
        if t == b":":
            return int(rest)
        if t == b"$":
            n = int(rest)
            if n < 0:
                return None
            data = self.rfile.read(n + 2)
            return data[:-2]
        if t in (b"*", b"%", b">"):
            n = int(rest)
            if n < 0:
                return None
            if t == b"%":
                n *= 2
            return [self.read() for _ in range(n)]
        if t == b"_":
            return None
        raise ConnectionError("bad reply %r" % line[:100])

    def close(self):
        self.sock.close()


def check(r):
    if isinstance(r, ServerError):
        raise r
    return r


class SetNxLocker:
    blocking = False

    def __init__(self, args, cid, sha):
        self.c = Resp(args.host, args.port, args.timeout)
        self.cid, self.seq, self.sha, self.ttl = cid, 0, sha, args.ttl_ms

    def acquire(self, name):
        self.seq += 1
        token = b"%d-%d" % (self.cid, self.seq)
        r = check(self.c.call(b"SET", name, token, b"NX", b"PX", self.ttl))
        if r is None:
            return None
        if r != b"OK":
            raise ServerError("SET NX reply %r" % (r,))
        return token

    def release(self, name, token):
        r = check(self.c.call(b"EVALSHA", self.sha, b"1", name, token))
        if r != 1:
            raise ServerError("release script returned %r (lock lost)" % (r,))

    def close(self):
        self.c.close()


class NativeLocker:
    def __init__(self, args, cid, wait_ms=None):
        self.c = Resp(args.host, args.port, args.timeout)
        self.extra = [b"TTL", args.ttl_ms] + ([b"WAIT", wait_ms] if wait_ms is not None else [])
        self.blocking = wait_ms is not None

    def acquire(self, name):
        r = self.c.call(b"LOCK.ACQUIRE", name, *self.extra)
        if isinstance(r, ServerError):
            if self.blocking and "WAIT" in str(r) and "not supported" in str(r):
                raise Unavailable(str(r))
            raise r
        if r is None:
            return None  # refused (try-lock) or WAIT elapsed
        if not isinstance(r, list) or len(r) < 1:
            raise ServerError("LOCK.ACQUIRE reply %r" % (r,))
        return r[0] if isinstance(r[0], bytes) else str(r[0]).encode()

    def release(self, name, token):
        r = check(self.c.call(b"LOCK.RELEASE", name, token))
        if r != 1:
            raise ServerError("LOCK.RELEASE reply %r" % (r,))

    def close(self):
        self.c.close()


# ------------------------------------------------------------------ etcd

class EtcdLocker:
    blocking = True

    def __init__(self, args, cid):
        self.conn = http.client.HTTPConnection(args.host, args.port, timeout=args.timeout)
        self.conn.connect()
        self.conn.sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        self.headers = {"Content-Type": "application/json"}
        self.lease = self.post("/v3/lease/grant", {"TTL": 600})["ID"]
        self.keys = {}

    def post(self, path, obj):
        self.conn.request("POST", path, body=json.dumps(obj), headers=self.headers)
        resp = self.conn.getresponse()
        data = resp.read()
        if resp.status != 200:
            raise ServerError("%s HTTP %d %r" % (path, resp.status, data[:200]))
        out = json.loads(data)
        if "error" in out or "header" not in out:
            raise ServerError("%s %r" % (path, data[:200]))
        return out

    def acquire(self, name):
        return self.post("/v3/lock/lock", {"name": base64.b64encode(name).decode(),
                                           "lease": self.lease})["key"]

    def release(self, name, key):
        self.post("/v3/lock/unlock", {"key": key})

    def close(self):
        try:
            self.post("/v3/lease/revoke", {"ID": self.lease})
        finally:
            self.conn.close()


# ------------------------------------------------------------------ driver

def percentile(sorted_vals, q):
    if not sorted_vals:
        return float("nan")
    i = min(len(sorted_vals) - 1, max(0, int(round(q * len(sorted_vals) + 0.5)) - 1))
    return sorted_vals[i]


def ms(x):
    return None if x != x else round(x * 1000, 3)


def run_clients(args, cids, sha, sync):
    """Runs clients `cids` as threads of this process; sync() is called once
    all have connected and returns the window (t_measure, t_end)."""
    def make(cid):
        if args.mode == "setnx":
            return SetNxLocker(args, cid, sha)
        if args.mode == "native-try":
            return NativeLocker(args, cid)
        if args.mode == "native-wait":
            return NativeLocker(args, cid, args.wait_ms)
        return EtcdLocker(args, cid)

    state = {}

    def set_times():
        state["t_measure"], state["t_end"] = sync()
    # All clients connect first; the window opens once all are connected.
    barrier = threading.Barrier(len(cids) + 1, action=set_times)
    results = []
    errors = []
    unavailable = []
    mu = threading.Lock()
    stop = threading.Event()
    poll_s = args.poll_ms / 1000.0

    def worker(cid):
        name = (args.prefix + ("%d" % cid if args.locks == "distinct" else "0")).encode()
        grants, releases, cycles, acq_lat = [], [], [], []
        polls = errs = timeouts = 0
        try:
            locker = make(cid)
        except Exception as e:
            with mu:
                errors.append("connect: %r" % (e,))
            barrier.wait()
            return
        barrier.wait()
        t_measure, t_end = state["t_measure"], state["t_end"]
        pc = time.perf_counter
        try:
            while not stop.is_set():
                t0 = pc()
                if t0 >= t_end:
                    break
                token = None
                try:
                    while True:
                        token = locker.acquire(name)
                        if token is not None:
                            break
                        if t0 >= t_measure:
                            if locker.blocking:
                                timeouts += 1
                            else:
                                polls += 1
                        if pc() >= t_end or stop.is_set():
                            break
                        if not locker.blocking:
                            time.sleep(poll_s)
                except Unavailable as e:
                    with mu:
                        unavailable.append(str(e))
                    stop.set()
                    break
                except Exception as e:
                    errs += 1
                    with mu:
                        if len(errors) < 5:
                            errors.append("acquire: %r" % (e,))
                    if errs > 100:
                        break
                    continue
                if token is None:
                    break
                tg = pc()
                tr = pc()
                try:
                    locker.release(name, token)
                except Exception as e:
                    errs += 1
                    with mu:
                        if len(errors) < 5:
                            errors.append("release: %r" % (e,))
                    if errs > 100:
                        break
                    continue
                t1 = pc()
                grants.append(tg)
                releases.append(tr)
                if t0 >= t_measure:
                    cycles.append(t1 - t0)
                    acq_lat.append(tg - t0)
        finally:
            with mu:
                results.append({"cid": cid, "name": name, "grants": grants, "releases": releases,
                                "cycles": cycles, "acq": acq_lat, "polls": polls,
                                "timeouts": timeouts, "errors": errs})
            try:
                locker.close()
            except Exception:
                pass

    threads = [threading.Thread(target=worker, args=(i,), daemon=True) for i in cids]
    for t in threads:
        t.start()
    barrier.wait()
    for t in threads:
        t.join(args.warmup + args.duration + args.timeout + max(args.wait_ms / 1000.0, 1) + 10)
    hung = sum(t.is_alive() for t in threads)
    with mu:
        return {"results": list(results), "errors": list(errors), "unavailable": list(unavailable),
                "hung": hung, "times": (state["t_measure"], state["t_end"])}


def main():
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--host", default="127.0.0.1")
    p.add_argument("--port", type=int, required=True)
    p.add_argument("--mode", choices=("setnx", "native-try", "native-wait", "etcd"), required=True)
    p.add_argument("--clients", type=int, default=1)
    p.add_argument("--locks", choices=("distinct", "one"), default="distinct")
    p.add_argument("--duration", type=float, default=5.0, help="seconds measured")
    p.add_argument("--warmup", type=float, default=0.5, help="seconds not measured")
    p.add_argument("--ttl-ms", type=int, default=30000)
    p.add_argument("--wait-ms", type=int, default=2000, help="native-wait: WAIT per attempt")
    p.add_argument("--poll-ms", type=float, default=1.0, help="sleep after a refused try-lock")
    p.add_argument("--timeout", type=float, default=10.0, help="socket/HTTP timeout, s")
    p.add_argument("--prefix", default="lock:", help="lock names are <prefix><i>")
    p.add_argument("--procs", type=int, default=1,
                   help="spread the clients over this many processes (one clock: CLOCK_MONOTONIC)")
    p.add_argument("--tls-ca", default=None, help="RESP over TLS, verifying the server with this CA file")
    args = p.parse_args()
    if args.tls_ca:
        import ssl
        global TLS_CTX
        TLS_CTX = ssl.create_default_context(cafile=args.tls_ca)

    sha = None
    if args.mode == "setnx":
        c = Resp(args.host, args.port, args.timeout)
        sha = check(c.call(b"SCRIPT", b"LOAD", RELEASE_SCRIPT))
        c.close()

    procs = max(1, min(args.procs, args.clients))
    if procs == 1:
        def sync():
            now = time.perf_counter()
            return now + args.warmup, now + args.warmup + args.duration
        got = run_clients(args, list(range(args.clients)), sha, sync)
        times = got.pop("times")
    else:
        # Child processes, clients dealt round-robin. Every process reads the
        # same system-wide CLOCK_MONOTONIC (time.perf_counter on Linux), and
        # the parent fixes the measurement window once all have connected.
        ctx = multiprocessing.get_context("fork")
        ready, go = ctx.Barrier(procs + 1), ctx.Barrier(procs + 1)
        shared = ctx.Array("d", 2)
        q = ctx.Queue()

        def child(cids):
            def sync():
                ready.wait()
                go.wait()
                return shared[0], shared[1]
            r = run_clients(args, cids, sha, sync)
            q.put(r)

        kids = [ctx.Process(target=child, args=(list(range(k, args.clients, procs)),), daemon=True)
                for k in range(procs)]
        for k in kids:
            k.start()
        ready.wait(timeout=60)
        now = time.perf_counter()
        shared[0], shared[1] = now + args.warmup, now + args.warmup + args.duration
        go.wait(timeout=60)
        got = {"results": [], "errors": [], "unavailable": [], "hung": 0}
        deadline = time.perf_counter() + args.warmup + args.duration + args.timeout + args.wait_ms / 1000.0 + 30
        for _ in kids:
            r = q.get(timeout=max(1.0, deadline - time.perf_counter()))
            r.pop("times")
            for key in ("results", "errors", "unavailable"):
                got[key].extend(r[key])
            got["hung"] += r["hung"]
        for k in kids:
            k.join(5)
        times = (shared[0], shared[1])
    results, errors, unavailable, hung = got["results"], got["errors"], got["unavailable"], got["hung"]
    t_measure, t_end = times

    out = {"mode": args.mode, "clients": args.clients, "locks": args.locks,
           "duration_s": args.duration, "poll_ms": args.poll_ms if args.mode in ("setnx", "native-try") else None,
           "ttl_ms": args.ttl_ms, "procs": procs}
    if args.mode == "native-wait":
        out["wait_ms"] = args.wait_ms
    if unavailable:
        out["unavailable"] = "not available in this build: " + unavailable[0]
        print(json.dumps(out))
        return 0

    cycles = sorted(x for r in results for x in r["cycles"])
    acq = sorted(x for r in results for x in r["acq"])
    # Grants/handoffs per lock, from the merged event timeline.
    by_lock = {}
    for r in results:
        ev = by_lock.setdefault(r["name"], [])
        ev.extend((t, 1, r["cid"]) for t in r["grants"])
        ev.extend((t, 0, r["cid"]) for t in r["releases"])
    handoffs, self_regrants, violations, grants_in_window = [], 0, 0, 0
    per_client = {}
    for ev in by_lock.values():
        ev.sort()
        prev = None
        for t, kind, cid in ev:
            if kind == 1:
                if prev is not None and prev[1] == 1:
                    violations += 1
                if t_measure <= t < t_end:
                    grants_in_window += 1
                    per_client[cid] = per_client.get(cid, 0) + 1
                    if prev is not None and prev[1] == 0:
                        if prev[2] == cid:
                            self_regrants += 1
                        else:
                            handoffs.append(t - prev[0])
            prev = (t, kind, cid)
    handoffs.sort()
    counts = [per_client.get(i, 0) for i in range(args.clients)]
    out.update({
        "cycles": len(cycles),
        "cycles_per_s": round(len(cycles) / args.duration, 1),
        "cycle_p50_ms": ms(percentile(cycles, 0.5)),
        "cycle_p99_ms": ms(percentile(cycles, 0.99)),
        "acquire_p50_ms": ms(percentile(acq, 0.5)),
        "acquire_p99_ms": ms(percentile(acq, 0.99)),
        "grants_per_s": round(grants_in_window / args.duration, 1),
        "refused_polls_per_s": round(sum(r["polls"] for r in results) / args.duration, 1),
        "wait_timeouts": sum(r["timeouts"] for r in results),
        "exclusion_violations": violations,
        "errors": sum(r["errors"] for r in results) + (args.clients - len(results)) + hung,
        "error_samples": errors[:3],
    })
    if args.locks == "one":
        out.update({
            "handoffs": len(handoffs),
            "handoff_p50_ms": ms(percentile(handoffs, 0.5)),
            "handoff_p99_ms": ms(percentile(handoffs, 0.99)),
            "self_regrant_pct": round(100.0 * self_regrants / grants_in_window, 1) if grants_in_window else None,
            "grants_per_client_min": min(counts) if counts else 0,
            "grants_per_client_max": max(counts) if counts else 0,
        })
    print(json.dumps(out))
    sys.stdout.flush()
    return 0 if cycles or grants_in_window else 1


if __name__ == "__main__":
    sys.exit(main())
