"""Markdown for the lock suite of bench/run-all (rows with gen == "locks",
written by bench/locks.py); called from bench/report.py."""

SYSTEMS = [
    ("lockq1", "lockq 1 node"),
    ("lockq3", "lockq 3 nodes (leader)"),
    ("redis-always", "redis AOF fsync always"),
    ("redis-default", "redis default (no AOF)"),
    ("etcd3", "etcd 3 members"),
    ("fake", "in-memory test double (generator ceiling)"),
]
MODES = [
    ("setnx", "SET NX PX + EVALSHA release"),
    ("native-try", "LOCK.ACQUIRE (try, poll) + LOCK.RELEASE"),
    ("native-wait", "LOCK.ACQUIRE WAIT (blocking) + LOCK.RELEASE"),
    ("etcd", "v3 lock API (lease, /v3/lock/lock, /v3/lock/unlock)"),
]
SHAPES = [(1, "distinct"), (50, "distinct"), (50, "one")]


def fmt(ms):
    if ms is None:
        return "?"
    return ("%.2f" % ms) if ms < 10 else ("%.1f" % ms) if ms < 100 else ("%.0f" % ms)


def render(lock_rows, all_rows, p):
    def find(system, mode, clients, locks):
        for r in lock_rows:
            if (r.get("system"), r.get("mode"), r.get("clients"), r.get("locks")) == (system, mode, clients, locks):
                return r
        return None

    def ok(r):
        return r is not None and "cycles_per_s" in r

    def cyc(r):
        if r is None:
            return "—"
        if r.get("unavailable"):
            return "n/a in this build"
        if not ok(r):
            return "failed"
        return "%s (%s / %s)" % (f"{r['cycles_per_s']:,.0f}", fmt(r["cycle_p50_ms"]), fmt(r["cycle_p99_ms"]))

    def contended(r):
        if r is None:
            return ["—"] * 4
        if r.get("unavailable"):
            return ["n/a in this build"] + ["—"] * 3
        if not ok(r):
            return ["failed"] + ["—"] * 3
        return [f"{r['grants_per_s']:,.0f}",
                "%s / %s" % (fmt(r.get("handoff_p50_ms")), fmt(r.get("handoff_p99_ms"))),
                "%s%%; %s–%s" % (r.get("self_regrant_pct"), r.get("grants_per_client_min"), r.get("grants_per_client_max")),
                f"{r.get('refused_polls_per_s', 0):,.0f}" if r.get("poll_ms") else "(blocks)"]

    p()
    p("### Locks (issue 4): `bench/locks.py`")
    p()
    p("One Python thread and one connection per client, closed loop: acquire, release at once, repeat. "
      "*Own lock*: client i uses `lock:i`; *one lock*: every client uses `lock:0`. Cycles/s count "
      "acquire+release cycles; latency is the whole cycle (acquire sent → release acknowledged), "
      "which on one lock includes the wait. *Handoff*: release sent by the holder → grant received by "
      "another client, on one clock in one process. Try-locks (SET NX, LOCK.ACQUIRE without WAIT) that are "
      "refused are retried after a 1 ms sleep (redis-py's Lock sleeps 100 ms); etcd and WAIT block in "
      "the server. TTL 30 s (etcd: one 600 s lease per client).")
    p()
    p("| system | lock protocol | 1 client, own lock: cycles/s (p50 / p99 ms) | 50 clients, own locks: cycles/s (p50 / p99 ms) "
      "| 50 clients, one lock: grants/s | handoff p50 / p99 ms | regrants to the releaser; grants per client min–max | refused polls/s |")
    p("|---|---|---:|---:|---:|---:|---:|---:|")
    for s, sname in SYSTEMS:
        for m, mname in MODES:
            rs = [find(s, m, c, l) for c, l in SHAPES]
            if all(r is None for r in rs):
                continue
            p("| %s | %s | %s | %s | %s |" % (sname, mname, cyc(rs[0]), cyc(rs[1]), " | ".join(contended(rs[2]))))
    bad = [r for r in lock_rows if r.get("error") or r.get("errors") or r.get("exclusion_violations")]
    if bad:
        p()
        p("Errors / mutual-exclusion violations: " + "; ".join(
            "%s %s c%s %s: %s" % (r.get("system"), r.get("mode"), r.get("clients"), r.get("locks"),
                                  r.get("error") or "%s errors %s, %s violations" % (
                                      r.get("errors"), r.get("error_samples"), r.get("exclusion_violations")))
            for r in bad))
    else:
        p()
        p("No errors; no mutual-exclusion violation seen (grants and releases of each lock alternate on the shared clock).")
    probes = [r for r in all_rows if r.get("gen") == "dd" and r["system"].endswith("-locks")]
    if probes:
        names = dict(SYSTEMS)
        p()
        p("Disk probe (4 KiB O_DSYNC write, ms) and 1-min load average right before each system ran: "
          + "; ".join("%s %.2f ms, load %s" % (names.get(r["system"][:-6], r["system"]), r["dd_ms"], r["load"])
                      for r in probes) + ".")

    p()
    p("### Lock targets")
    p()
    p("| target | shape | lockq | reference | ratio / value | met |")
    p("|---|---|---:|---:|---:|---|")

    def rate(r, key):
        return r[key] if ok(r) else None

    def row(target, shape, a, b, key, need):
        if a is not None and a.get("unavailable"):
            p("| %s | %s | n/a in this build | — | — | not measurable |" % (target, shape))
            return
        x, y = rate(a, key) if a else None, rate(b, key) if b else None
        r = (x / y) if x is not None and y else None
        p("| %s | %s | %s | %s | %s | %s |" % (
            target, shape, "—" if x is None else f"{x:,.0f}", "—" if y is None else f"{y:,.0f}",
            "—" if r is None else ("%.2fx" % r if need < 2 else "%.1fx" % r),
            "—" if r is None else ("yes" if r >= need else "no")))

    short = {"setnx": "SET NX", "native-try": "LOCK try", "native-wait": "LOCK WAIT"}
    for c, l in SHAPES:
        key = "cycles_per_s" if l == "distinct" else "grants_per_s"
        what = "c%d %s" % (c, "own locks" if l == "distinct" else "one lock")
        for m in ("setnx", "native-try", "native-wait"):
            row("1 node ≥ redis fsync always (SET NX)", "%s, lockq %s" % (what, short[m]),
                find("lockq1", m, c, l), find("redis-always", "setnx", c, l), key, 1)
    for c, l in SHAPES:
        key = "cycles_per_s" if l == "distinct" else "grants_per_s"
        what = "c%d %s" % (c, "own locks" if l == "distinct" else "one lock")
        for m in ("setnx", "native-try", "native-wait"):
            row("3 nodes ≥ 10x etcd lock", "%s, lockq %s" % (what, short[m]),
                find("lockq3", m, c, l), find("etcd3", "etcd", c, l), key, 10)
    for m in ("native-wait", "native-try", "setnx"):
        r = find("lockq1", m, 50, "one")
        if r is None:
            continue
        if r.get("unavailable"):
            p("| contended handoff p50 < 1 ms, 1 node | c50 one lock, lockq %s | n/a in this build | — | — | not measurable |" % short[m])
            continue
        v = r.get("handoff_p50_ms") if ok(r) else None
        p("| contended handoff p50 < 1 ms, 1 node | c50 one lock, lockq %s | %s ms | — | — | %s |" % (
            short[m], fmt(v), "—" if v is None else ("yes" if v < 1 else "no")))


def render_ab(ab_rows, all_rows, p):
    """Rows of `run-all --suite locks-ab`: the target comparisons, one block
    per round, every system up at once."""
    rounds = sorted({r["round"] for r in ab_rows})
    names = dict(SYSTEMS)
    mnames = {"setnx": "SET NX + EVALSHA", "native-try": "LOCK.ACQUIRE try", "etcd": "etcd lock API"}

    def find(system, mode, c, l, rnd):
        for r in ab_rows:
            if (r.get("system"), r.get("mode"), r.get("clients"), r.get("locks"), r.get("round")) == (system, mode, c, l, rnd):
                return r if "cycles_per_s" in r else None
        return None

    def val(r, l):
        if r is None:
            return None
        return r["cycles_per_s"] if l == "distinct" else r["grants_per_s"]

    def median(xs):
        xs = sorted(x for x in xs if x is not None)
        if not xs:
            return None
        n = len(xs)
        return xs[n // 2] if n % 2 else (xs[n // 2 - 1] + xs[n // 2]) / 2

    p()
    p("### Locks, interleaved rounds (`--suite locks-ab`)")
    p()
    p("All four systems up at once; each round runs every comparison back to back (same generator and "
      "shapes as above). Cells: cycles/s (own locks) or grants/s (one lock), with cycle p50 ms "
      "(own locks) or handoff p50 ms (one lock).")
    p()
    p("| shape | system | protocol | " + " | ".join("round %d" % r for r in rounds) + " | median |")
    p("|---|---|---|" + "---:|" * (len(rounds) + 1))
    combos = [("lockq1", "native-try"), ("lockq1", "setnx"), ("redis-always", "setnx"),
              ("lockq3", "native-try"), ("lockq3", "setnx"), ("etcd3", "etcd")]
    for c, l in SHAPES:
        for s, m in combos:
            rs = [find(s, m, c, l, rnd) for rnd in rounds]
            if all(r is None for r in rs):
                continue
            cells = []
            for r in rs:
                if r is None:
                    cells.append("—")
                else:
                    lat = r["cycle_p50_ms"] if l == "distinct" else r.get("handoff_p50_ms")
                    cells.append("%s (%s)" % (f"{val(r, l):,.0f}", fmt(lat)))
            med = median(val(r, l) for r in rs)
            p("| c%d %s | %s | %s | %s | %s |" % (c, "own locks" if l == "distinct" else "one lock", names[s], mnames[m],
                                                " | ".join(cells), "—" if med is None else f"{med:,.0f}"))
    p()
    p("Ratios per round (median of the rounds' ratios last):")
    p()
    p("| target | shape | lockq protocol | " + " | ".join("round %d" % r for r in rounds) + " | median | met (median) |")
    p("|---|---|---|" + "---:|" * (len(rounds) + 1) + "---|")
    for target, a_sys, b_sys, b_mode, need in (("1 node ≥ redis fsync always", "lockq1", "redis-always", "setnx", 1),
                                               ("3 nodes ≥ 10x etcd", "lockq3", "etcd3", "etcd", 10)):
        for c, l in SHAPES:
            for m in ("native-try", "setnx"):
                ratios = []
                for rnd in rounds:
                    a, b = val(find(a_sys, m, c, l, rnd), l), val(find(b_sys, b_mode, c, l, rnd), l)
                    ratios.append(a / b if a is not None and b else None)
                med = median(ratios)
                f = (lambda x: "—" if x is None else "%.2fx" % x) if need < 2 else (lambda x: "—" if x is None else "%.1fx" % x)
                p("| %s | c%d %s | %s | %s | %s | %s |" % (target, c, "own locks" if l == "distinct" else "one lock", mnames[m],
                                                         " | ".join(f(x) for x in ratios), f(med),
                                                         "—" if med is None else ("yes" if med >= need else "no")))
    hand = [find("lockq1", "native-try", 50, "one", rnd) for rnd in rounds]
    hv = [r.get("handoff_p50_ms") for r in hand if r]
    if hv:
        p()
        p("Contended handoff p50 on 1 node with the try-lock + 1 ms poll, per round: "
          + ", ".join("%s ms" % fmt(x) for x in hv) + " (WAIT, the intended path, is not in this build).")
    bad = [r for r in ab_rows if r.get("error") or r.get("errors") or r.get("exclusion_violations")]
    p()
    p("Errors / violations: " + ("none." if not bad else "; ".join(
        "%s %s c%s %s r%s: %s errors %s, %s violations" % (r.get("system"), r.get("mode"), r.get("clients"), r.get("locks"),
                                                          r.get("round"), r.get("errors"), r.get("error_samples") or r.get("error"),
                                                          r.get("exclusion_violations")) for r in bad)))
    probes = [r for r in all_rows if r.get("gen") == "dd" and r["system"].startswith("ab-")]
    if probes:
        p()
        p("Disk probe (ms per 4 KiB O_DSYNC write) and load before each round: " + "; ".join(
            "%s %.2f ms, load %s" % (r["system"][3:], r["dd_ms"], r["load"]) for r in probes) + ".")
