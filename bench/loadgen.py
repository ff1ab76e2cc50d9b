"""Shared closed-loop load driver for bench/resp_set.py and bench/etcd_put.py.

Thread model (identical for both generators, so lockq-vs-etcd is measured with
the same client code): N threads, one persistent connection per thread, each
thread sends one request, waits for its reply, records the latency
(time.perf_counter), repeats until the deadline. Keys are drawn uniformly from
a keyspace of K keys ("key:%012d"); every value is the same V-byte string.
After a warm-up (not recorded), the run lasts --duration seconds.

CPython threads share one interpreter lock, so on this 2-core machine the
generator itself caps throughput (run it against redis-server default to see
the ceiling). That is why both systems are driven by the same generator.
"""
import argparse
import json
import random
import sys
import threading
import time


def parse_args(description, default_port):
    p = argparse.ArgumentParser(description=description)
    p.add_argument("--host", default="127.0.0.1")
    p.add_argument("--port", type=int, default=default_port)
    p.add_argument("--clients", type=int, default=1)
    p.add_argument("--duration", type=float, default=5.0, help="seconds measured")
    p.add_argument("--warmup", type=float, default=0.5, help="seconds not measured")
    p.add_argument("--value-size", type=int, default=64)
    p.add_argument("--keyspace", type=int, default=100000)
    p.add_argument("--label", default="")
    return p.parse_args()


def percentile(sorted_vals, q):
    if not sorted_vals:
        return float("nan")
    i = min(len(sorted_vals) - 1, max(0, int(round(q * len(sorted_vals) + 0.5)) - 1))
    return sorted_vals[i]


def run(args, make_client):
    """make_client() -> object with .request(key: bytes) raising on error."""
    value = b"v" * args.value_size
    start_barrier = threading.Barrier(args.clients + 1)
    state = {"t_measure": None, "t_end": None}
    per_thread = []
    errors = []
    lock = threading.Lock()

    def worker(seed):
        rng = random.Random(seed)
        lats = []
        errs = 0
        try:
            client = make_client(value)
        except Exception as e:  # connection failure
            with lock:
                errors.append("connect: %r" % (e,))
            start_barrier.wait()
            return
        start_barrier.wait()
        t_measure = state["t_measure"]
        t_end = state["t_end"]
        pc = time.perf_counter
        while True:
            key = b"key:%012d" % rng.randrange(args.keyspace)
            t0 = pc()
            if t0 >= t_end:
                break
            try:
                client.request(key)
            except Exception as e:
                errs += 1
                if errs <= 3:
                    with lock:
                        errors.append(repr(e))
                if errs > 100:
                    break
                continue
            t1 = pc()
            if t0 >= t_measure:
                lats.append(t1 - t0)
        with lock:
            per_thread.append((lats, errs))
        try:
            client.close()
        except Exception:
            pass

    threads = [threading.Thread(target=worker, args=(i * 7919 + 1,), daemon=True)
               for i in range(args.clients)]
    for t in threads:
        t.start()
    now = time.perf_counter()
    state["t_measure"] = now + args.warmup
    state["t_end"] = now + args.warmup + args.duration
    start_barrier.wait()
    for t in threads:
        t.join(args.warmup + args.duration + 30)
    lats = sorted(x for l, _ in per_thread for x in l)
    nerr = sum(e for _, e in per_thread)
    out = {
        "label": args.label,
        "clients": args.clients,
        "duration_s": args.duration,
        "value_size": args.value_size,
        "requests": len(lats),
        "errors": nerr + (args.clients - len(per_thread)),
        "rps": round(len(lats) / args.duration, 1),
        "p50_ms": round(percentile(lats, 0.50) * 1000, 3),
        "p99_ms": round(percentile(lats, 0.99) * 1000, 3),
        "error_samples": errors[:3],
    }
    print(json.dumps(out))
    sys.stdout.flush()
    return 0 if out["requests"] > 0 else 1
