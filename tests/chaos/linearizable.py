"""Linearizability of a read/write register history (Wing & Gong's search
with Lowe's memoization, as Porcupine does it; written here from the papers'
ideas, not from their code).

A history is linearizable if every op can be given one point between its
invoke and complete such that, in the order of those points, every read
returns the latest write. Linearizability is compositional (Herlihy & Wing),
so each key is checked on its own: the search is exponential only in the
number of ops that overlap in time on one key.

Ops (history.Op, f "read" or "write"):
- ok write: applied somewhere inside [invoke, complete].
- info write ("may have been applied"): it completes at infinity, so it
  may take effect at any point after its invoke, or never. An info write
  whose value no read returned changes nothing observable (linearizing it
  last is always possible), so it is dropped before the search.
- fail write: never applied; dropped. info/fail reads: nothing observed;
  dropped.

Values are unique per write (the workload makes them so), which keeps the
search small and lets a read of a value never written be reported at once.
"""
import math

INITIAL = None      # the value of a register never written (GET -> nil)
MAX_STATES = 2_000_000  # bound on the search; past it the key is reported as undecided


class Result:
    def __init__(self, ok, key, reason="", ops=0):
        self.ok, self.key, self.reason, self.ops = ok, key, reason, ops

    def __repr__(self):
        return "Result(%s, key=%r, ops=%d%s)" % (self.ok, self.key, self.ops, ", " + self.reason if self.reason else "")


def _prepare(ops):
    """The ops the search must place: (invoke, complete, f, value)."""
    read_values = {op.result for op in ops if op.f == "read" and op.outcome == "ok"}
    out = []
    for op in ops:
        if op.f == "read" and op.outcome == "ok":
            out.append((op.invoke, op.complete, "read", op.result))
        elif op.f == "write" and op.outcome == "ok":
            out.append((op.invoke, op.complete, "write", op.value))
        elif op.f == "write" and op.outcome == "info" and op.value in read_values:
            out.append((op.invoke, math.inf, "write", op.value))
    out.sort(key=lambda o: o[0])
    return out


def check_key(key, ops):
    """Result for one key's ops (history.Op)."""
    entries = _prepare(ops)
    written = {e[3] for e in entries if e[2] == "write"}
    for inv, comp, f, value in entries:
        if f == "read" and value != INITIAL and value not in written:
            return Result(False, key, "read %r at %.3f, a value never written" % (value, inv), len(entries))
    n = len(entries)
    full = (1 << n) - 1
    seen = set()
    stack = [(0, INITIAL, 0, 0)]  # (ops placed as a bit set, register value, lowest unplaced op, ops placed)
    best = 0  # most ops placed on any path, for the report
    while stack:
        done, state, first, count = stack.pop()
        if count == n:
            return Result(True, key, ops=n)
        if (done, state) in seen:
            continue
        seen.add((done, state))
        if len(seen) > MAX_STATES:
            return Result(False, key, "undecided: search passed %d states" % MAX_STATES, n)
        best = max(best, count)
        # Candidates to take effect next: not yet placed, and invoked before
        # the earliest completion among the ops not yet placed (that op must
        # take effect before anything invoked after it completed).
        horizon = math.inf
        i = first
        while i < n and entries[i][0] <= horizon:
            if not done >> i & 1:
                horizon = min(horizon, entries[i][1])
            i += 1
        for j in range(first, i):
            if done >> j & 1 or entries[j][0] > horizon:
                continue
            _, _, f, value = entries[j]
            if f == "read" and value != state:
                continue
            placed = done | 1 << j
            nxt = first
            while nxt < n and placed >> nxt & 1:
                nxt += 1
            stack.append((placed, value if f == "write" else state, nxt, count + 1))
    return Result(False, key, _stuck_report(entries, best), n)


def _stuck_report(entries, best):
    if not entries:
        return ""
    e = sorted(entries, key=lambda x: x[1])[min(best, len(entries) - 1)]
    return ("not linearizable: at most %d of %d ops can be placed; near %s %r invoked %.3f completed %.3f"
            % (best, len(entries), e[2], e[3], e[0], e[1]))


def check(ops):
    """A list of Results, one per key, for register ops (f read/write)."""
    by_key = {}
    for op in ops:
        if op.f in ("read", "write"):
            by_key.setdefault(op.key, []).append(op)
    return [check_key(k, v) for k, v in sorted(by_key.items(), key=lambda kv: str(kv[0]))]
