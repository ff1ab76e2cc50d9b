"""Network namespaces for partition tests (needs root; CI runs as root).

    net = Netns(3)          # a router namespace + one namespace per node
    net.host(i)             # node i's address, 10.77.<i+1>.2
    net.wrap(i)             # argv prefix that runs a command in node i's namespace
    net.enter_router()      # this process's sockets now live in the router namespace
    net.cut(a, b)           # drop every packet between nodes a and b
    net.lose(i, p)          # drop each packet between node i and other nodes with probability p
    net.slow(i, kbit, queue_packets=30)  # cap node i's traffic with other nodes at kbit/s each way (HTB)
    net.heal()              # remove every cut, loss and cap
    net.remove()            # delete the namespaces (also at exit and on SIGTERM)

Node i sits behind a veth pair to the router (router side 10.77.<i+1>.1);
the router forwards between nodes and is where the test's clients run, so
a cut between two nodes leaves both reachable by clients. A cut is an
`ip rule ... blackhole` in the router: packets are dropped silently, as by a
failed switch, so TCP keeps retransmitting what it holds until the cut heals
(a link cut, not a killed process). Loss is iptables' `statistic` match
on the router's FORWARD chain, so it touches node-to-node packets only,
never the test's clients (they talk to the router's own addresses). A cap is
an HTB class on both ends of node i's veth whose filter lets the router's
own (client) traffic through uncapped; `tc netem` would do both, but kernels
without it exist (this project's CI machine), so neither needs it. Nothing is sent to any address outside
these namespaces. Namespaces left by a test process that was SIGKILLed are
removed at the next start (their names carry the owner's pid).
"""
import atexit
import ctypes
import os
import re
import signal
import subprocess

_CLONE_NEWNET = 0x40000000
_PREFIX = "lqt"
_libc = ctypes.CDLL(None, use_errno=True)


def _ip(*args, check=True):
    return subprocess.run(["ip"] + list(args), check=check, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                          timeout=20)


def available():
    """Whether this process may create network namespaces (root and ip(8))."""
    if os.geteuid() != 0:
        return False
    try:
        return _ip("netns", "list", check=False).returncode == 0
    except (OSError, subprocess.TimeoutExpired):
        return False


def require(testcase):
    """Skips `testcase` (unittest) unless namespaces can be made; under CI
    (which runs as root) their absence is a failure instead."""
    if available():
        return
    if os.environ.get("CI") == "true":
        testcase.fail("CI runs as root: network namespaces must be available")
    testcase.skipTest("needs root and ip(8) to create network namespaces")


def run_cluster(testcase, n, fn, **cluster_args):
    """The usual shape of a namespace test: skip or fail as require() says,
    make n namespaces, move this process into the router, start a
    lockq_cluster.Cluster(n, net=..., **cluster_args) and run fn(net,
    cluster) (the cluster is stopped and the namespaces removed however it
    ends)."""
    from lockq_cluster import Cluster  # lockq_cluster does not import this module back
    require(testcase)
    net = Netns(n)
    try:
        net.enter_router()
        cluster = Cluster(n, net=net, **cluster_args)
        cluster.run(fn, net, cluster)
    finally:
        net.remove()


def _remove_stale():
    out = _ip("netns", "list", check=False).stdout.decode()
    for name in re.findall(r"^(%s(\d+)-\w+)" % _PREFIX, out, re.M):
        ns, pid = name
        if int(pid) != os.getpid() and not os.path.exists("/proc/%s" % pid):
            _ip("netns", "del", ns, check=False)


class Netns:
    def __init__(self, n):
        _remove_stale()
        self.n = n
        self.tag = "%s%d" % (_PREFIX, os.getpid())
        self.router = self.tag + "-r"
        self.nodes = ["%s-n%d" % (self.tag, i + 1) for i in range(n)]
        self.cuts = []
        self.losses = []  # iptables rule specs in the router's FORWARD chain
        self.caps = []    # (namespace, device) with an HTB root qdisc
        self.removed = False
        atexit.register(self.remove)
        previous = signal.getsignal(signal.SIGTERM)

        def on_term(signum, frame):
            self.remove()
            if callable(previous):
                previous(signum, frame)
            os._exit(128 + signum)
        signal.signal(signal.SIGTERM, on_term)
        try:
            self._create()
        except BaseException:
            self.remove()
            raise

    def _create(self):
        _ip("netns", "add", self.router)
        _ip("-n", self.router, "link", "set", "lo", "up")
        subprocess.run(["ip", "netns", "exec", self.router, "sysctl", "-qw", "net.ipv4.ip_forward=1"], check=True,
                       timeout=20)
        for i, ns in enumerate(self.nodes):
            _ip("netns", "add", ns)
            _ip("-n", ns, "link", "set", "lo", "up")
            r_if, n_if = "r%d" % (i + 1), "eth0"
            _ip("link", "add", r_if, "netns", self.router, "type", "veth", "peer", "name", n_if, "netns", ns)
            _ip("-n", self.router, "addr", "add", "10.77.%d.1/24" % (i + 1), "dev", r_if)
            _ip("-n", self.router, "link", "set", r_if, "up")
            _ip("-n", ns, "addr", "add", "%s/24" % self.host(i), "dev", n_if)
            _ip("-n", ns, "link", "set", n_if, "up")
            _ip("-n", ns, "route", "add", "default", "via", "10.77.%d.1" % (i + 1))

    def host(self, i):
        return "10.77.%d.2" % (i + 1)

    def wrap(self, i):
        return ["ip", "netns", "exec", self.nodes[i]]

    def enter_router(self):
        """Moves this (single-threaded) process into the router namespace."""
        fd = os.open("/run/netns/" + self.router, os.O_RDONLY)
        try:
            if _libc.setns(fd, _CLONE_NEWNET) != 0:
                raise OSError(ctypes.get_errno(), "setns into " + self.router)
        finally:
            os.close(fd)

    def cut(self, a, b):
        for src, dst in ((a, b), (b, a)):
            rule = ["rule", "add", "from", self.host(src), "to", self.host(dst), "blackhole"]
            _ip("-n", self.router, *rule)
            self.cuts.append(rule)

    def lose(self, i, p):
        for spec in (["-s", self.host(i)], ["-d", self.host(i)]):
            rule = spec + ["-m", "statistic", "--mode", "random", "--probability", str(p), "-j", "DROP"]
            self._in(self.router, "iptables", "-A", "FORWARD", *rule)
            self.losses.append(rule)

    def slow(self, i, kbit, queue_packets=30):
        # Router side: packets to node i from other nodes are capped; from the
        # router itself (src 10.77.<i+1>.1, the clients) they are not. Node
        # side: the same for packets leaving node i.
        router_addr = "10.77.%d.1/32" % (i + 1)
        for ns, dev, match in ((self.router, "r%d" % (i + 1), "src"), (self.nodes[i], "eth0", "dst")):
            self._in(ns, "tc", "qdisc", "add", "dev", dev, "root", "handle", "1:", "htb", "default", "20")
            self.caps.append((ns, dev))
            self._in(ns, "tc", "class", "add", "dev", dev, "parent", "1:", "classid", "1:10", "htb", "rate", "1gbit")
            self._in(ns, "tc", "class", "add", "dev", dev, "parent", "1:", "classid", "1:20", "htb",
                     "rate", "%dkbit" % kbit, "ceil", "%dkbit" % kbit)
            # The queue bounds the delay: at 256 kbit/s the device's usual
            # 1000 packets are about 45 s, and every vote waits behind them.
            self._in(ns, "tc", "qdisc", "add", "dev", dev, "parent", "1:20", "handle", "20:", "pfifo",
                     "limit", str(queue_packets))
            self._in(ns, "tc", "filter", "add", "dev", dev, "parent", "1:", "protocol", "ip", "prio", "1", "u32",
                     "match", "ip", match, router_addr, "flowid", "1:10")

    def _in(self, ns, *argv, check=True):
        return subprocess.run(["ip", "netns", "exec", ns] + list(argv), check=check, stdout=subprocess.PIPE,
                              stderr=subprocess.PIPE, timeout=20)

    def heal(self):
        for rule in self.cuts:
            _ip("-n", self.router, "rule", "del", *rule[2:], check=False)
        self.cuts = []
        for rule in self.losses:
            self._in(self.router, "iptables", "-D", "FORWARD", *rule, check=False)
        self.losses = []
        for ns, dev in self.caps:
            self._in(ns, "tc", "qdisc", "del", "dev", dev, "root", check=False)
        self.caps = []

    def remove(self):
        if self.removed:
            return
        self.removed = True
        for ns in [self.router] + self.nodes:
            _ip("netns", "del", ns, check=False)
