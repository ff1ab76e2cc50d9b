#!/usr/bin/python3
"""Markdown report of a `bench/run-all --suite amqp` run (bench/out/<run>/):
one table per node count with every system side by side, then the issue-5
targets per shape with met / not met. Rows come from bench/amqp_loadgen."""
import json
import os
import sys

out = sys.argv[1]
rows = [json.loads(l) for l in open(os.path.join(out, "results.jsonl")) if l.strip()]
machine = dict(l.rstrip("\n").split("=", 1) for l in open(os.path.join(out, "machine.txt")) if "=" in l)
commands = open(os.path.join(out, "commands.txt")).read().rstrip("\n")
amqp = [r for r in rows if r.get("gen") == "amqp"]
probes = [r for r in rows if r.get("gen") == "dd"]

PHASES = [
    ("1 node", [("lockq1", "lockq"), ("rabbit-quorum1", "rabbitmq quorum"), ("rabbit-classic1", "rabbitmq classic")]),
    ("3 nodes", [("lockq3", "lockq"), ("rabbit-quorum3", "rabbitmq quorum")]),
]
TARGETS = [("1 node", "lockq1", "rabbit-quorum1"), ("3 nodes", "lockq3", "rabbit-quorum3")]


def shape(r):
    return (r.get("size"), r.get("producers"), r.get("consumers"), r.get("window"), r.get("prefetch"))


def shape_name(s):
    size, p, c, w, pf = s
    return f"{size} B, {p}P/{c}C, window {w}, prefetch {pf}"


def find(system, s):
    for r in amqp:
        if r.get("system") == system and shape(r) == s:
            return r
    return None


def ms(v):
    if v is None or v < 0:
        return "—"
    return ("%.2f" % v) if v < 10 else ("%.1f" % v) if v < 100 else ("%.0f" % v)


def rate(v):
    return "—" if v is None else f"{v:,.0f}"


def cpu_per_k(r):
    n = r.get("published_all") or 0
    if "server_cpu_s" not in r or n == 0:
        return "—"
    return "%.1f" % (r["server_cpu_s"] * 1e6 / n)


def ok(r):
    return r is not None and "confirmed_per_s" in r


shapes = []
for r in amqp:
    if shape(r) not in shapes and r.get("size") is not None:
        shapes.append(shape(r))

print("# lockq queue benchmark (issue 5): AMQP 0-9-1, persistent messages, publisher confirms\n")
print(f"Run {machine.get('date_utc', '?')} ({machine.get('mode', '?')}); {machine.get('nproc', '?')} cores "
      f"{machine.get('cpu', '?')}; {machine.get('kernel', '?')}; data on {machine.get('data_fs', '?')}; "
      f"rabbitmq-server {machine.get('rabbitmq', '?')}, erlang {machine.get('erlang', '?')}; "
      f"lockq {machine.get('lockq_rev', '?')}. Load before: {machine.get('load_before', '?')}, after: "
      f"{machine.get('load_after', '?')}. fsync probe (4 KiB + O_DSYNC): {machine.get('dd_ms_per_write', '?')} ms.\n")
print("Columns: confirmed publishes/s; confirm latency p50 / p99 / max (ms); consumed/s while publishing; "
      "publish→consume lag p99 (ms); server CPU (all its nodes' processes, user+system) per 1,000 messages "
      "published, and the load generator's CPU seconds for the whole run; 1-minute load average before the run.\n")

# Side by side: one row per shape, one column per system.
ALL = [sys for _, systems in PHASES for sys in systems]
print("## Side by side: confirmed publishes/s (confirm p99 ms)\n")
print("| shape | " + " | ".join(f"{label} {'1 node' if sysname.endswith('1') else '3 nodes'}"
                                for sysname, label in ALL) + " |")
print("|---|" + "---:|" * len(ALL))
for s in shapes:
    cells = []
    for sysname, _ in ALL:
        r = find(sysname, s)
        if not ok(r):
            cells.append("—")
            continue
        bad = " *" if (r.get("errors") or r.get("unconfirmed")) else ""
        cells.append(f"{rate(r['confirmed_per_s'])} ({ms(r['confirm_p99_ms'])}){bad}")
    print(f"| {shape_name(s)} | " + " | ".join(cells) + " |")
print("\n\\* the run had errors (connections closed by a leader change; see the per-phase tables).\n")

for phase, systems in PHASES:
    print(f"## {phase}\n")
    print("| shape | system | confirmed/s | confirm p50 / p99 / max ms | consumed/s | lag p99 ms "
          "| server CPU ms / 1k msgs | loadgen CPU s | errors | load |")
    print("|---|---|---:|---:|---:|---:|---:|---:|---|---:|")
    for s in shapes:
        for sysname, label in systems:
            r = find(sysname, s)
            if r is None:
                continue
            errs = r.get("errors") or []
            if r.get("unconfirmed"):
                errs = errs + [f"{r['unconfirmed']} unconfirmed"]
            if r.get("nacked"):
                errs = errs + [f"{r['nacked']} nacked"]
            if not ok(r):
                print(f"| {shape_name(s)} | {label} | — | — | — | — | — | — | "
                      f"{'; '.join(errs) or r.get('error', 'failed')} | |")
                continue
            print(f"| {shape_name(s)} | {label} | {rate(r['confirmed_per_s'])} | "
                  f"{ms(r['confirm_p50_ms'])} / {ms(r['confirm_p99_ms'])} / {ms(r['confirm_max_ms'])} | "
                  f"{rate(r['consumed_per_s'])} | {ms(r['lag_p99_ms'])} | {cpu_per_k(r)} | "
                  f"{'—' if r.get('loadgen_cpu_s') is None else '%.1f' % r['loadgen_cpu_s']} | {'; '.join(errs) or '0'} | "
                  f"{r.get('load_before', '')} |")
    print()

print("## Targets (lockq against RabbitMQ's quorum queue at the same node count)\n")
print("Throughput: lockq confirmed/s ≥ 2x RabbitMQ's. Latency: lockq confirm p99 below RabbitMQ's. "
      "Consumers keep up: lockq consumed/s while publishing ≥ 95% of its confirmed/s (with consumers).\n")
print("| nodes | shape | lockq / rabbitmq confirmed/s | ≥ 2x | p99 lockq / rabbitmq ms | p99 lower | consumers keep up |")
print("|---|---|---:|---|---:|---|---|")
tally = {"2x": [0, 0], "p99": [0, 0], "keep": [0, 0]}
for phase, lq, rq in TARGETS:
    for s in shapes:
        a, b = find(lq, s), find(rq, s)
        if not (ok(a) and ok(b)):
            continue
        ratio = a["confirmed_per_s"] / b["confirmed_per_s"] if b["confirmed_per_s"] > 0 else float("inf")
        t2 = ratio >= 2
        tp = a["confirm_p99_ms"] < b["confirm_p99_ms"]
        keep = a["consumed_per_s"] >= 0.95 * a["confirmed_per_s"] if s[2] > 0 else None
        tally["2x"][0] += t2; tally["2x"][1] += 1
        tally["p99"][0] += tp; tally["p99"][1] += 1
        if keep is not None:
            tally["keep"][0] += keep; tally["keep"][1] += 1
        print(f"| {phase} | {shape_name(s)} | {rate(a['confirmed_per_s'])} / {rate(b['confirmed_per_s'])} "
              f"= {ratio:.2f}x | {'met' if t2 else 'NOT met'} | {ms(a['confirm_p99_ms'])} / {ms(b['confirm_p99_ms'])} | "
              f"{'met' if tp else 'NOT met'} | "
              f"{'—' if keep is None else ('met' if keep else 'NOT met')} "
              f"({rate(a['consumed_per_s'])}/s) |")
print()
print(f"Met: throughput ≥ 2x in {tally['2x'][0]} of {tally['2x'][1]} shapes; p99 lower in "
      f"{tally['p99'][0]} of {tally['p99'][1]}; consumers keep up in {tally['keep'][0]} of {tally['keep'][1]}.\n")

print("## fsync probe and load before each shape\n")
print("| block | dd ms per 4 KiB O_DSYNC write | load |")
print("|---|---:|---:|")
for p in probes:
    print(f"| {p['system']} | {p['dd_ms']} | {p['load']} |")
print()
print("## Commands\n")
print("```")
print(commands)
print("```")
