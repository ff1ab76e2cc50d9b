#!/usr/bin/python3
"""Turns bench/out/<run>/ (results.jsonl, machine.txt, commands.txt) into the
Markdown report that bench/run-all prints. The SET suite's tables are here,
the lock suite's in bench/locks_report.py; each appears when the run has it."""
import json
import os
import sys

out = sys.argv[1]
rows = [json.loads(l) for l in open(os.path.join(out, "results.jsonl")) if l.strip()]
machine = dict(l.rstrip("\n").split("=", 1) for l in open(os.path.join(out, "machine.txt")) if "=" in l)
commands = open(os.path.join(out, "commands.txt")).read().rstrip("\n")

SYSTEMS = [
    ("lockq1", "lockq 1 node"),
    ("lockq3", "lockq 3 nodes (leader)"),
    ("lockq3-follower", "lockq 3 nodes (via follower)"),
    ("redis-always", "redis AOF fsync always"),
    ("redis-default", "redis default (no AOF)"),
    ("etcd3", "etcd 3 members"),
]


def find(system, gen, op, clients, pipeline=1):
    for r in rows:
        if (r.get("system") == system and r.get("gen") == gen and r.get("op") == op
                and r.get("clients") == clients and r.get("pipeline") == pipeline and "rps" in r):
            return r
    return None


def cell(r):
    if r is None:
        return "—"
    return "%s (%s / %s)" % (f"{r['rps']:,.0f}", fmt(r["p50_ms"]), fmt(r["p99_ms"]))


def fmt(ms):
    return ("%.2f" % ms) if ms < 10 else ("%.1f" % ms) if ms < 100 else ("%.0f" % ms)


def ratio(a, b):
    if a is None or b is None or not b.get("rps"):
        return None
    return a["rps"] / b["rps"]


p = print
p("## lockq benchmark (%s run, suite %s, %s)" % (machine.get("mode"), machine.get("suite", "set"), machine.get("date_utc")))
p()
set_rows = [r for r in rows if r.get("gen") in ("redis-benchmark", "resp_set", "etcd_put")]
if set_rows:
    p("Cells: **requests/s (p50 / p99 latency in ms)**. Value 64 bytes, keys drawn at random from 100,000. "
      "Each system ran alone (started, measured, stopped), all on 127.0.0.1.")
    p()
    p("### redis-benchmark (`-t set,get -d 64 -r 100000`)")
    p()
    rb_systems = [s for s in SYSTEMS if s[0] != "etcd3"]
    p("| op | clients | pipeline | " + " | ".join(n for _, n in rb_systems) + " |")
    p("|---|---:|---:|" + "---:|" * len(rb_systems))
    for op in ("SET", "GET"):
        for c, pl in ((1, 1), (1, 16), (50, 1), (50, 16)):
            p("| %s | %d | %s | " % (op, c, pl if pl > 1 else "no")
              + " | ".join(cell(find(s, "redis-benchmark", op, c, pl)) for s, _ in rb_systems) + " |")
    p()
    p("### Same Python generator for every system (`bench/resp_set.py`, `bench/etcd_put.py`)")
    p()
    p("One thread and one persistent connection per client, closed loop, SET (etcd: v3 put through "
      "its JSON gateway), fixed duration.")
    p()
    p("| clients | " + " | ".join(n for s, n in SYSTEMS if s != "lockq3-follower") + " |")
    p("|---:|" + "---:|" * (len(SYSTEMS) - 1))
    for c in (1, 50):
        cells = []
        for s, _ in SYSTEMS:
            if s == "lockq3-follower":
                continue
            gen = "etcd_put" if s == "etcd3" else "resp_set"
            cells.append(cell(find(s, gen, "PUT" if s == "etcd3" else "SET", c)))
        p("| %d | " % c + " | ".join(cells) + " |")
    probes = [r for r in rows if r.get("gen") == "dd" and not r["system"].endswith("-locks")]
    if probes:
        names = dict(SYSTEMS)
        p()
        p("Disk probe (4 KiB O_DSYNC write, ms) and 1-min load average right before each system ran: "
          + "; ".join("%s %.2f ms, load %s" % (names.get(r["system"], r["system"]), r["dd_ms"], r["load"])
                      for r in probes) + ".")
    errs = [r for r in set_rows if r.get("error") or r.get("errors")]
    if errs:
        p()
        p("Errors: " + "; ".join("%s %s c%s: %s" % (r.get("system"), r.get("gen"), r.get("clients"),
                                                    r.get("error") or "%s errors %s" % (r.get("errors"), r.get("error_samples")))
                                 for r in errs))
    p()
    p("### Targets")
    p()
    p("| target | shape | lockq | reference | ratio | met |")
    p("|---|---|---:|---:|---:|---|")
    def target_row(target, shape, a, b, need, digits):
        """One row of the targets table: lockq result a vs reference b, met when a/b >= need."""
        r = ratio(a, b)
        num = lambda x: "—" if x is None else f"{x['rps']:,.0f}"
        p("| %s | %s | %s | %s | %s | %s |" % (
            target, shape, num(a), num(b), "—" if r is None else "%.*fx" % (digits, r),
            "—" if r is None else ("yes" if r >= need else "no")))


    REDIS_TARGET = "1-node SET ≥ redis fsync always"
    ETCD_TARGET = "3-node SET ≥ 10x etcd put"
    for c, pl in ((1, 1), (1, 16), (50, 1), (50, 16)):
        target_row(REDIS_TARGET, "redis-benchmark c%d%s" % (c, " P16" if pl > 1 else ""),
                   find("lockq1", "redis-benchmark", "SET", c, pl), find("redis-always", "redis-benchmark", "SET", c, pl), 1, 2)
    for c in (1, 50):
        target_row(REDIS_TARGET, "resp_set.py c%d" % c,
                   find("lockq1", "resp_set", "SET", c), find("redis-always", "resp_set", "SET", c), 1, 2)
    for c in (1, 50):
        target_row(ETCD_TARGET, "resp_set.py vs etcd_put.py c%d" % c,
                   find("lockq3", "resp_set", "SET", c), find("etcd3", "etcd_put", "PUT", c), 10, 1)
    for c in (1, 50):
        target_row(ETCD_TARGET + " (different generators)", "redis-benchmark c%d vs etcd_put.py c%d" % (c, c),
                   find("lockq3", "redis-benchmark", "SET", c, 1), find("etcd3", "etcd_put", "PUT", c), 10, 1)
lock_rows = [r for r in rows if r.get("gen") == "locks"]
if lock_rows:
    import locks_report
    locks_report.render(lock_rows, rows, p)
ab_rows = [r for r in rows if r.get("gen") == "locks-ab"]
if ab_rows:
    import locks_report
    locks_report.render_ab(ab_rows, rows, p)
p()
p("### Machine")
p()
for k, label in (("nproc", "nproc"), ("cpu", "CPU"), ("kernel", "kernel"), ("load_before", "load average before"),
                 ("load_after", "load average after"), ("data_fs", "data dirs on"), ("dd_cmd", "fsync probe"),
                 ("dd_out", "fsync probe output"), ("dd_ms_per_write", "ms per 4 KiB O_DSYNC write"),
                 ("lockq_rev", "lockq commit"), ("lockqd_binary", "lockqd binary"), ("redis", "redis-server"), ("etcd", "etcd"), ("python", "python")):
    if k in machine:
        p("- %s: `%s`" % (label, machine[k]))
p()
p("### Commands (in order)")
p()
p("```")
p(commands)
p("```")
