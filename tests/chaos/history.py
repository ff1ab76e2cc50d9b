"""Operations recorded by the chaos workloads, and what an error means.

Every operation a workload issues becomes one Op: its invoke and complete
times (time.monotonic(), one process, so all ops share one clock), the node
its client talked to, and its outcome in Jepsen's three words:

    ok    answered: the reply is in `result` (for a write: it was applied)
    fail  definitely not applied (an error lockqd documents as "not executed",
          or an answer such as STALETOKEN that refuses the command)
    info  may or may not have been applied (timeout, dropped connection,
          "outcome unknown"); the checkers treat it as applied at any time
          from its invoke on, or never

The classification follows lockqd's one table of error lines
(src/common/error_class.cc, docs/architecture.md "Outcomes"): specific
TRYAGAIN lines first, and any other TRYAGAIN is "may have been applied".
"""
import threading
import time
from dataclasses import dataclass, field
from typing import Any, Optional

# (prefix, outcome) in the server table's order: first match wins.
_TRYAGAIN = (
    ("TRYAGAIN no leader elected", "fail"),
    ("TRYAGAIN this node is not the leader", "fail"),
    ("TRYAGAIN cannot reach the leader; not executed", "fail"),
    ("TRYAGAIN server shutting down; outcome unknown", "info"),
    ("TRYAGAIN server shutting down", "fail"),
    ("TRYAGAIN", "info"),
)


def classify(error):
    """'fail' or 'info' for an exception raised by a client call.

    A RESP error line is classified by the table above; any other RESP error
    (ERR, STALETOKEN, NOTOWNER ...) is an answer that changed nothing, so
    'fail'. A timeout or a broken connection may have carried the request to
    the server: 'info'."""
    import redis
    if isinstance(error, redis.ResponseError):
        msg = str(error)
        for prefix, outcome in _TRYAGAIN:
            if msg.startswith(prefix):
                return outcome
        return "fail"
    return "info"


@dataclass
class Op:
    process: int          # the workload thread that issued it
    f: str                # "read", "write", "incr", "acquire", "release", "publish", ...
    key: Any              # what it acts on (a register key, a lock name ...)
    value: Any            # the argument (a written value), None for reads
    invoke: float
    node: int
    complete: Optional[float] = None
    result: Any = None    # the reply of an ok op
    outcome: str = "info"
    error: str = ""
    extra: dict = field(default_factory=dict)

    @property
    def latency(self):
        return (self.complete if self.complete is not None else time.monotonic()) - self.invoke


class History:
    """A thread-safe list of Ops. `call` runs one client call and records it."""

    def __init__(self):
        self.t0 = time.monotonic()  # reports give times relative to this
        self.ops = []
        self._lock = threading.Lock()

    def call(self, process, f, key, value, node, fn):
        """Runs fn() as one op; returns the Op (outcome ok with fn's result in
        result, or fail/info with the error's text). Never raises a client
        error: the workloads go on after every fault."""
        import redis
        from pika.exceptions import AMQPError
        op = Op(process, f, key, value, time.monotonic(), node)
        try:
            result = fn()
            op.complete = time.monotonic()
            op.outcome, op.result = "ok", result
        except (redis.RedisError, AMQPError, OSError, ValueError) as e:
            op.complete = time.monotonic()
            op.outcome, op.error = classify(e), "%s: %s" % (type(e).__name__, e)
        self.add(op)
        return op

    def add(self, op):
        with self._lock:
            self.ops.append(op)

    def snapshot(self):
        with self._lock:
            return list(self.ops)
