"""Checkers for the chaos histories other than the register's
(linearizable.py). Each takes plain recorded data and returns a list of
anomaly strings (empty: the history is accepted), so a planted bug can be
fed to it without a cluster (checkers_test.py).
"""


def counter(ops, final):
    """INCR-style counter ops (f "incr": ok result = the counter after it;
    or f "add": a read-modify-write increment whose ok means applied) and
    the counter's value read after the run (all nodes healed).

    An acknowledged increment was applied, an info one may have been, a fail
    one was not: final must lie in [acknowledged, acknowledged + info]. Two
    acknowledged INCRs answering the same value mean one was lost."""
    acked = [op for op in ops if op.outcome == "ok"]
    maybe = [op for op in ops if op.outcome == "info"]
    out = []
    if not len(acked) <= final <= len(acked) + len(maybe):
        out.append("counter %r: final %d outside [acknowledged %d, attempted %d]"
                   % (ops[0].key if ops else "?", final, len(acked), len(acked) + len(maybe)))
    seen = {}
    for op in acked:
        if op.f != "incr":
            continue
        if op.result in seen:
            out.append("counter %r: two acknowledged INCRs answered %r (invoked %.3f and %.3f)"
                       % (op.key, op.result, seen[op.result].invoke, op.invoke))
        seen[op.result] = op
        if op.result > final:
            out.append("counter %r: an INCR answered %r, above the final %d" % (op.key, op.result, final))
    return out


def lock_holds(grants):
    """Native lock grants: dicts with lock, token, start (the ACQUIRE's
    complete time) and end (the earliest of its invoke + guaranteed_ms and
    the holder's RELEASE invoke). [start, end] is when the client knows it
    holds the lock; lockq promises the lease from the grant, which happened
    after the invoke, so that window is inside the real lease. Two windows
    of one lock that overlap are two holders at once."""
    out = []
    by_lock = {}
    for g in grants:
        if g["end"] > g["start"]:
            by_lock.setdefault(g["lock"], []).append(g)
    for lock, gs in by_lock.items():
        gs.sort(key=lambda g: g["start"])
        latest = None  # the window, among those seen, that ends last
        for g in gs:
            if latest is not None and g["start"] < latest["end"] and g["token"] != latest["token"]:
                out.append("lock %r: token %d held [%.3f, %.3f] while token %d held [%.3f, %.3f]"
                           % (lock, g["token"], g["start"], g["end"], latest["token"], latest["start"],
                              latest["end"]))
            if latest is None or g["end"] > latest["end"]:
                latest = g
    tokens = {}
    for g in grants:
        if g["token"] in tokens and tokens[g["token"]]["lock"] != g["lock"]:
            out.append("token %d granted for two locks" % g["token"])
        tokens[g["token"]] = g
    return out


def fenced_writes(writes):
    """Accepted fenced writes: dicts with seq (their position in the applied
    order, from an INCR in the same script) and token. Fencing means tokens
    never go down in that order, and no position is taken twice."""
    out = []
    ordered = sorted(writes, key=lambda w: w["seq"])
    for a, b in zip(ordered, ordered[1:]):
        if a["seq"] == b["seq"]:
            out.append("fenced writes: position %d taken twice (tokens %d and %d)" % (a["seq"], a["token"], b["token"]))
        elif b["token"] < a["token"]:
            out.append("fenced writes: token %d accepted at %d after token %d at %d"
                       % (b["token"], b["seq"], a["token"], a["seq"]))
    return out


def total_queue(confirmed, maybe, deliveries):
    """AMQP: `confirmed` ids the broker confirmed, `maybe` ids published
    without a confirm (connection lost), `deliveries` (id, redelivered) in
    the order consumers got them. No confirmed message may be lost, nothing
    unpublished may appear, and a message delivered again must carry the
    redelivered flag (an ack lost with a connection). Returns (anomalies,
    number of duplicate deliveries)."""
    out = []
    got = [d[0] for d in deliveries]
    lost = set(confirmed) - set(got)
    if lost:
        out.append("queue: %d confirmed messages never delivered, e.g. %s" % (len(lost), sorted(lost)[:5]))
    phantom = set(got) - set(confirmed) - set(maybe)
    if phantom:
        out.append("queue: %d delivered messages never published, e.g. %s" % (len(phantom), sorted(phantom)[:5]))
    seen, dups = set(), 0
    for msg, redelivered in deliveries:
        if msg in seen:
            dups += 1
            if not redelivered:
                out.append("queue: message %r delivered again without the redelivered flag" % (msg,))
        seen.add(msg)
    return out, dups


def bounds(ops, down, bound_s):
    """Ops that waited past bound_s on a node that was running throughout
    (down: node -> [(start, end)] of pauses and kills). A timeout counts
    with its wait. Returns anomaly strings."""
    out = []
    for op in ops:
        if op.complete is None or op.latency <= bound_s:
            continue
        if any(s < op.complete and op.invoke < e for s, e in down.get(op.node, [])):
            continue
        out.append("bound: %s %r on node %d waited %.2f s > %.2f s (%s %s)"
                   % (op.f, op.key, op.node + 1, op.latency, bound_s, op.outcome, op.error[:120]))
    return out


def longest_gap(times, start, end):
    """The longest interval inside [start, end] with no time from `times`
    (completions of accepted writes): a fault's availability figure."""
    pts = sorted(t for t in times if start <= t <= end)
    edges = [start] + pts + [end]
    return max(b - a for a, b in zip(edges, edges[1:]))
