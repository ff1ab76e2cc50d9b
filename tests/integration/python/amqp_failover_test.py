#!/usr/bin/python3
"""AMQP through leader failures (issue 5), python3-pika against 3 real lockqd
processes: 1 producer with publisher confirms and 2 consumers (manual acks,
prefetch 10), each on its own node and moving to another node when its
connection drops, while the leader is killed (-9) and restarted twice.

Checks: every confirmed message is consumed at least once; a message
consumed twice was either redelivered (the `redelivered` flag) or
published twice by the producer (it republishes what was not confirmed
when its connection dropped). Counts are printed.

Run by ctest as: amqp_failover_test.py --lockqd PATH
"""
import threading
import time
import unittest

import pika
from pika.exceptions import AMQPError

import lockq_cluster
from lockq_cluster import Cluster

MESSAGES = 1500
QUEUE = "failover-q"


def connect(port):
    params = pika.ConnectionParameters(host="127.0.0.1", port=port, heartbeat=10, blocked_connection_timeout=10,
                                       connection_attempts=1, socket_timeout=5)
    return pika.BlockingConnection(params)


class Producer(threading.Thread):
    def __init__(self, ports):
        super().__init__(daemon=True)
        self.ports = ports
        self.confirmed = set()
        self.attempts = {}  # id -> times published
        self.error = None

    def run(self):
        i, node = 0, 0
        deadline = time.monotonic() + 180
        conn = ch = None
        while i < MESSAGES and time.monotonic() < deadline:
            try:
                if ch is None:
                    conn = connect(self.ports[node % len(self.ports)])
                    ch = conn.channel()
                    ch.confirm_delivery()
                    ch.queue_declare(QUEUE, durable=True)
                self.attempts[i] = self.attempts.get(i, 0) + 1
                ch.basic_publish("", QUEUE, str(i).encode(), pika.BasicProperties(delivery_mode=2), mandatory=True)
                self.confirmed.add(i)  # basic_publish returned: the broker confirmed it
                i += 1
            except AMQPError:
                # Unknown outcome for message i: republish it on another node.
                ch = None
                try:
                    if conn is not None and conn.is_open:
                        conn.close()
                except AMQPError:
                    pass
                node += 1
                time.sleep(0.1)
        if i < MESSAGES:
            self.error = "producer stopped at %d of %d" % (i, MESSAGES)
        try:
            if conn is not None and conn.is_open:
                conn.close()
        except AMQPError:
            pass


class Consumer(threading.Thread):
    def __init__(self, ports, start_node):
        super().__init__(daemon=True)
        self.ports = ports
        self.node = start_node
        self.got = []  # (id, redelivered)
        self.reconnects = 0
        self.stop = threading.Event()

    def run(self):
        while not self.stop.is_set():
            try:
                conn = connect(self.ports[self.node % len(self.ports)])
                ch = conn.channel()
                ch.queue_declare(QUEUE, durable=True)
                ch.basic_qos(prefetch_count=10)
                for method, props, body in ch.consume(QUEUE, inactivity_timeout=0.3):
                    if self.stop.is_set():
                        break
                    if method is None:
                        continue
                    self.got.append((int(body), method.redelivered))
                    ch.basic_ack(method.delivery_tag)
                conn.close()
            except AMQPError:
                self.reconnects += 1
                self.node += 1
                time.sleep(0.1)


class AmqpFailoverTest(unittest.TestCase):
    def test_confirmed_messages_survive_two_leader_kills(self):
        cluster = Cluster(3)
        try:
            producer = Producer(cluster.amqp)
            consumers = [Consumer(cluster.amqp, 1), Consumer(cluster.amqp, 2)]
            for c in consumers:
                c.start()
            producer.start()
            kills = 0
            # Kill the leader once a quarter and again once half of the
            # messages are confirmed: both kills land mid-stream.
            while producer.is_alive() and kills < 2:
                time.sleep(0.05)
                if len(producer.confirmed) < MESSAGES * (kills + 1) // 4:
                    continue
                leader = cluster.leader()
                if leader is not None:
                    cluster.kill(leader)
                    kills += 1
                    print("killed leader node %d after %d confirms" % (leader + 1, len(producer.confirmed)),
                          flush=True)
                    time.sleep(0.7)
                    cluster.start(leader)
            producer.join(timeout=200)
            self.assertIsNone(producer.error)
            # Wait (bounded) until every confirmed message was consumed.
            deadline = time.monotonic() + 90
            while time.monotonic() < deadline:
                consumed = {i for c in consumers for i, _ in c.got}
                if producer.confirmed <= consumed:
                    break
                time.sleep(0.2)
            for c in consumers:
                c.stop.set()
            for c in consumers:
                c.join(timeout=30)
            got = [g for c in consumers for g in c.got]
            consumed = {i for i, _ in got}
            counts = {}
            for i, _ in got:
                counts[i] = counts.get(i, 0) + 1
            dup_ids = [i for i, n in counts.items() if n > 1]
            unexplained = [i for i in dup_ids
                           if not any(r for j, r in got if j == i) and producer.attempts.get(i, 0) < 2]
            print("leader kills: %d; confirmed %d; consumed %d distinct in %d deliveries (per consumer %s); "
                  "duplicates %d (redelivered or republished); consumer reconnects %s"
                  % (kills, len(producer.confirmed), len(consumed), len(got), [len(c.got) for c in consumers],
                     len(dup_ids), [c.reconnects for c in consumers]),
                  flush=True)
            self.assertEqual(kills, 2)
            self.assertEqual(len(producer.confirmed), MESSAGES)
            self.assertEqual(producer.confirmed - consumed, set(), "confirmed but never consumed")
            self.assertEqual(consumed - set(range(MESSAGES)), set(), "consumed but never published")
            self.assertEqual(unexplained, [], "duplicates without redelivered that were published once")
        except BaseException:
            print(cluster.logs(), flush=True)
            raise
        finally:
            cluster.stop()


if __name__ == "__main__":
    lockq_cluster.main()
