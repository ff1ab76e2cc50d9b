"""Faults for the chaos runs, on a lockq_cluster.Cluster in netns.Netns
namespaces. A fault is a function (Faults, rng) -> a heal function; it
says what it did through Faults.say and records in Faults.down the
intervals during which a node was not running (paused or killed), so the
bounds checker does not expect answers from it.

Partitions are sets of node pairs cut in the router (netns.cut: packets
silently dropped), which keeps clients reaching every node:

    isolate-leader   the leader cut from every other node
    split            a random minority cut from the majority (the leader on
                     either side)
    bridge           (5 nodes) two pairs that see only one middle node,
                     which sees everyone: two majorities that share it
    ring             (5 nodes) each node sees only its two neighbours on a
                     random ring: every node has a majority, none the same

Processes: pause-leader / pause-random (SIGSTOP, healed by SIGCONT),
kill-leader / kill-random (kill -9, healed by a restart on the same data).
Membership: a random follower removed (LOCKQ.CLUSTER REMOVE) and added
back at the heal. Links: lossy-leader (30 % of the leader's node-to-node
packets dropped, in each direction), slow-leader (the leader's
node-to-node traffic capped at 1 Mbit/s each way with HTB and a 30-packet
queue: at most about 0.4 s of queueing), bloated-leader (256 kbit/s with
the usual 1000-packet queue: tens of seconds of delay between nodes,
clients unaffected; the first slow link was this one, and the AMQP
consumer stalls in docs/chaos.md came only in plans that had it).
"""
import itertools
import signal
import time

import redis

import lockq_cluster


class Faults:
    def __init__(self, cluster, net, say):
        self.cluster, self.net, self.say = cluster, net, say
        self.down = {}  # node -> [(start, end)]

    def leader(self):
        return self.cluster.wait_leader()

    def members(self):
        """{id: role} from the leader's LOCKQ.CLUSTER STATUS."""
        flat = self.cluster.client(self.leader(), 5).execute_command("LOCKQ.CLUSTER", "STATUS")
        status = lockq_cluster.pairs(flat)
        return {int(m["id"]): m["role"].decode() for m in map(lockq_cluster.pairs, status["members"])}

    def set_member(self, node, voter):
        """Makes node a voter (LOCKQ.CLUSTER ADD) or not a member (REMOVE),
        checked in the leader's STATUS: a change's reply can be lost (the
        leader changed, or an ADD catching up over a slow link outlasted the
        client's timeout) while the change itself went through. A node left
        a spare by a promotion that failed is removed and added again.
        Bounded; the errors seen are in the failure."""
        node_id, errors = node + 1, []
        addr = "%s:%d" % (self.cluster.hosts[node], self.cluster.raft[node])
        deadline = time.monotonic() + 2 * lockq_cluster.WAIT_S
        while time.monotonic() < deadline:
            try:
                role = self.members().get(node_id)
                if (role == "voter") if voter else (role is None):
                    return
                if voter and role is None:
                    args = ("ADD", node_id, addr)
                elif voter and role != "voter" and errors:  # a spare after a failed promotion
                    args = ("REMOVE", node_id)
                elif voter:
                    args = None  # the ADD is still catching the node up
                else:
                    args = ("REMOVE", node_id)
                if args:
                    self.cluster.client(self.leader(), 30).execute_command("LOCKQ.CLUSTER", *args)
            except redis.RedisError as e:
                errors.append(str(e))
            time.sleep(0.2)
        raise AssertionError("node %d still not %s after %ss; errors: %s"
                             % (node_id, "a voter" if voter else "removed", 2 * lockq_cluster.WAIT_S, errors[-5:]))

    def _cut_pairs(self, pairs):
        for a, b in pairs:
            self.net.cut(a, b)
        return self.net.heal

    def _split(self, groups):
        return self._cut_pairs((a, b) for g, h in itertools.combinations(groups, 2) for a in g for b in h)



def isolate_leader(f, rng):
    leader = f.leader()
    f.say("isolate leader node %d" % (leader + 1))
    return f._split([[leader], [i for i in range(f.cluster.n) if i != leader]])


def split(f, rng):
    nodes = list(range(f.cluster.n))
    rng.shuffle(nodes)
    minority = nodes[:(f.cluster.n - 1) // 2]
    f.say("split: minority %s | majority %s" % ([i + 1 for i in minority], [i + 1 for i in nodes[len(minority):]]))
    return f._split([minority, nodes[len(minority):]])


def bridge(f, rng):
    nodes = list(range(f.cluster.n))
    rng.shuffle(nodes)
    mid, half = nodes[0], (f.cluster.n - 1) // 2
    left, right = nodes[1:1 + half], nodes[1 + half:]
    f.say("bridge: %s <- node %d -> %s" % ([i + 1 for i in left], mid + 1, [i + 1 for i in right]))
    return f._cut_pairs((a, b) for a in left for b in right)


def ring(f, rng):
    nodes = list(range(f.cluster.n))
    rng.shuffle(nodes)
    n = len(nodes)
    near = {frozenset((nodes[k], nodes[(k + 1) % n])) for k in range(n)}
    f.say("ring: %s" % " - ".join(str(i + 1) for i in nodes))
    return f._cut_pairs(p for p in itertools.combinations(range(n), 2) if frozenset(p) not in near)


def _stopped(f, node, label, stop, resume):
    """Stops node `node` (stop(node)) until the heal resumes it, recording
    the interval in f.down."""
    f.say(label % (node + 1))
    start = time.monotonic()
    stop(node)

    def heal():
        resume(node)
        f.down.setdefault(node, []).append((start, time.monotonic()))
    return heal


def _pause(f, node, what):
    return _stopped(f, node, "pause " + what + " node %d (SIGSTOP)",
                    lambda i: f.cluster.procs[i].send_signal(signal.SIGSTOP),
                    lambda i: f.cluster.procs[i].send_signal(signal.SIGCONT))


def _kill(f, node, what):
    return _stopped(f, node, "kill -9 " + what + " node %d", f.cluster.kill, f.cluster.start)


def pause_leader(f, rng):
    return _pause(f, f.leader(), "leader")


def pause_random(f, rng):
    return _pause(f, rng.randrange(f.cluster.n), "random")


def kill_leader(f, rng):
    return _kill(f, f.leader(), "leader")


def kill_random(f, rng):
    return _kill(f, rng.randrange(f.cluster.n), "random")


def membership(f, rng):
    """LOCKQ.CLUSTER REMOVE of a random follower, ADD back (same id, same
    data) at the heal; combined with other faults in a long plan, the
    change happens while they are in force."""
    node = rng.choice([i for i in range(f.cluster.n) if i != f.leader()])
    f.say("membership: remove node %d (added back at the heal)" % (node + 1))
    f.set_member(node, voter=False)
    return lambda: f.set_member(node, voter=True)


def lossy_leader(f, rng):
    leader = f.leader()
    f.say("lossy link: 30%% of node %d's packets to and from other nodes dropped" % (leader + 1))
    f.net.lose(leader, 0.3)
    return f.net.heal


def slow_leader(f, rng):
    leader = f.leader()
    f.say("slow link: node %d's traffic with other nodes capped at 1 Mbit/s, 30-packet queue" % (leader + 1))
    f.net.slow(leader, 1000, queue_packets=30)
    return f.net.heal


def bloated_leader(f, rng):
    leader = f.leader()
    f.say("bloated link: node %d's traffic with other nodes capped at 256 kbit/s, 1000-packet queue" % (leader + 1))
    f.net.slow(leader, 256, queue_packets=1000)
    return f.net.heal


ALL = {
    "isolate-leader": isolate_leader, "split": split, "bridge": bridge, "ring": ring,
    "pause-leader": pause_leader, "pause-random": pause_random,
    "kill-leader": kill_leader, "kill-random": kill_random,
    "lossy-leader": lossy_leader, "slow-leader": slow_leader, "bloated-leader": bloated_leader,
    "membership": membership,
}
# Faults that leave every process running: after their heal, followers must
# apply new entries within the catch-up bound (a restarted node first loads
# its data, so kills are only reported).
NETWORK_OR_PAUSE = {"isolate-leader", "split", "bridge", "ring", "pause-leader", "pause-random",
                    "lossy-leader", "slow-leader", "bloated-leader", "membership"}
