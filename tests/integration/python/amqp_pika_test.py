#!/usr/bin/python3
"""The AMQP 0-9-1 front end (issue 5, docs/amqp.md) with real lockqd
processes and python3-pika 1.2, unchanged:

- exchanges of every type, queue.declare (passive, exclusive), bind/unbind;
- publisher confirms, mandatory (unroutable -> UnroutableError);
- basic.consume + manual ack, basic.get, nack with requeue (redelivered),
  reject to a dead-letter exchange, TTL expiry to a DLX, max-length
  overflow (drop-head, reject-publish -> NackError), delivery limit,
  single active consumer, priorities;
- amqp-tools (amqp-declare-queue, amqp-publish, amqp-consume);
- channel errors (unknown delivery tag 406, passive declare 404,
  exclusive queue of another connection 405, tx 540);
- 3 nodes: a consumer on a follower gets what is published on the leader;
  on a leader change a connection to a follower is closed with 320
  CONNECTION_FORCED when the leader is killed; after reconnecting, the
  message it held unacked comes back redelivered;
- malformed frames on a raw socket: bad frame end and oversized frames
  (501), unknown method (503), a method on an unopened channel (504),
  content without publish (505), a wrong protocol header.

Run by ctest as: amqp_pika_test.py --lockqd PATH
"""
import os
import shutil
import socket
import struct
import subprocess
import time
import unittest

import pika
from pika.exceptions import AMQPConnectionError, ChannelClosedByBroker, ConnectionClosedByBroker, NackError, UnroutableError

import lockq_cluster
from lockq_cluster import Cluster

WAIT_S = 20


class AmqpTest(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.cluster = Cluster(1, prefix="lockq-amqp-")
        cls.port = cls.cluster.amqp[0]

    @classmethod
    def tearDownClass(cls):
        cls.cluster.stop()

    def setUp(self):
        self.conns = []

    def tearDown(self):
        for c in self.conns:
            try:
                if c.is_open:
                    c.close()
            except Exception:
                pass

    def connect(self):
        c = pika.BlockingConnection(pika.ConnectionParameters(host="127.0.0.1", port=self.port,
                                                              blocked_connection_timeout=WAIT_S))
        self.conns.append(c)
        return c

    def channel(self, confirm=True):
        ch = self.connect().channel()
        if confirm:
            ch.confirm_delivery()
        return ch

    def queue(self, ch, name, **arguments):
        ch.queue_declare(name, arguments=arguments or None)
        ch.queue_purge(name)
        return name

    def get_body(self, ch, queue, ack=True):
        method, props, body = ch.basic_get(queue, auto_ack=ack)
        return body

    def get_all(self, ch, queue):
        out = []
        while True:
            body = self.get_body(ch, queue)
            if body is None:
                return out
            out.append(body)

    def consume(self, ch, queue, n, ack=True, timeout=WAIT_S):
        """n deliveries from a consumer, as (method, properties, body)."""
        got = []
        deadline = time.monotonic() + timeout
        for method, props, body in ch.consume(queue, inactivity_timeout=0.2):
            if method is not None:
                got.append((method, props, body))
                if ack:
                    ch.basic_ack(method.delivery_tag)
            if len(got) >= n or time.monotonic() > deadline:
                break
        ch.cancel()
        return got

    def wait_body(self, ch, queue, timeout=WAIT_S):
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            method, props, body = ch.basic_get(queue, auto_ack=True)
            if method is not None:
                return props, body
            time.sleep(0.05)
        self.fail("nothing arrived in %s within %ss" % (queue, timeout))

    # ---- exchanges, queues, bindings ---------------------------------------

    def test_exchange_types(self):
        ch = self.channel()
        for t in ("direct", "fanout", "topic", "headers"):
            ch.exchange_declare("x-" + t, t)
        ch.exchange_declare("x-direct", passive=True)
        q = {t: self.queue(ch, "types-" + t) for t in ("direct", "fanout", "topic", "headers")}
        ch.queue_bind(q["direct"], "x-direct", "k1")
        ch.queue_bind(q["fanout"], "x-fanout", "ignored")
        ch.queue_bind(q["topic"], "x-topic", "a.*.c")
        ch.queue_bind(q["headers"], "x-headers", "", arguments={"x-match": "all", "format": "pdf", "n": 3})
        ch.basic_publish("x-direct", "k1", b"d")
        ch.basic_publish("x-fanout", "whatever", b"f")
        ch.basic_publish("x-topic", "a.b.c", b"t")
        ch.basic_publish("x-topic", "a.b.d", b"t-no")
        ch.basic_publish("x-headers", "", b"h", pika.BasicProperties(headers={"format": "pdf", "n": 3}))
        ch.basic_publish("x-headers", "", b"h-no", pika.BasicProperties(headers={"format": "zip", "n": 3}))
        ch.basic_publish("", q["direct"], b"default")  # the default exchange routes by queue name
        self.assertEqual(self.get_all(ch, q["direct"]), [b"d", b"default"])
        self.assertEqual(self.get_all(ch, q["fanout"]), [b"f"])
        self.assertEqual(self.get_all(ch, q["topic"]), [b"t"])
        self.assertEqual(self.get_all(ch, q["headers"]), [b"h"])

    def test_exchange_to_exchange_binding(self):
        ch = self.channel()
        ch.exchange_declare("e2e-src", "fanout")
        ch.exchange_declare("e2e-dst", "direct")
        ch.exchange_bind("e2e-dst", "e2e-src", "")
        q = self.queue(ch, "e2e-q")
        ch.queue_bind(q, "e2e-dst", "k")
        ch.basic_publish("e2e-src", "k", b"through")
        self.assertEqual(self.get_all(ch, q), [b"through"])
        ch.exchange_unbind("e2e-dst", "e2e-src", "")
        with self.assertRaises(UnroutableError):
            ch.basic_publish("e2e-src", "k", b"nowhere", mandatory=True)
        ch.exchange_delete("e2e-src")

    def test_queue_declare_passive_and_exclusive(self):
        ch = self.channel()
        r = ch.queue_declare("", exclusive=True)
        name = r.method.queue
        self.assertTrue(name.startswith("amq.gen-"))
        ch.basic_publish("", name, b"x")
        r = ch.queue_declare(name, passive=True)
        self.assertEqual(r.method.message_count, 1)
        other = self.channel()
        with self.assertRaises(ChannelClosedByBroker) as e:
            other.queue_declare(name, passive=True)
        self.assertEqual(e.exception.reply_code, 405)
        third = self.channel()
        with self.assertRaises(ChannelClosedByBroker) as e:
            third.queue_declare("does-not-exist", passive=True)
        self.assertEqual(e.exception.reply_code, 404)
        # The exclusive queue goes with its connection.
        self.conns[0].close()
        fourth = self.channel()
        deadline = time.monotonic() + WAIT_S
        while True:
            try:
                fourth.queue_declare(name, passive=True)
            except ChannelClosedByBroker as e:
                self.assertEqual(e.reply_code, 404)
                break
            self.assertLess(time.monotonic(), deadline)
            time.sleep(0.1)

    def test_bind_unbind_delete(self):
        ch = self.channel()
        ch.exchange_declare("bu-x", "direct")
        q = self.queue(ch, "bu-q")
        ch.queue_bind(q, "bu-x", "k")
        ch.basic_publish("bu-x", "k", b"one")
        ch.queue_unbind(q, "bu-x", "k")
        with self.assertRaises(UnroutableError):
            ch.basic_publish("bu-x", "k", b"two", mandatory=True)
        self.assertEqual(self.get_all(ch, q), [b"one"])
        ch.basic_publish("", q, b"left")
        r = ch.queue_delete(q)
        self.assertEqual(r.method.message_count, 1)
        ch.exchange_delete("bu-x")
        with self.assertRaises(ChannelClosedByBroker) as e:
            ch.exchange_declare("bu-x", passive=True)
        self.assertEqual(e.exception.reply_code, 404)

    # ---- publishing --------------------------------------------------------

    def test_confirms_and_mandatory(self):
        ch = self.channel()
        ch.exchange_declare("cm-x", "direct")
        q = self.queue(ch, "cm-q")
        ch.queue_bind(q, "cm-x", "k")
        for i in range(20):
            ch.basic_publish("cm-x", "k", b"m%d" % i, mandatory=True)
        with self.assertRaises(UnroutableError):
            ch.basic_publish("cm-x", "no-route", b"lost", mandatory=True)
        ch.basic_publish("cm-x", "no-route", b"dropped")  # not mandatory: just confirmed
        self.assertEqual(len(self.get_all(ch, q)), 20)

    def test_publish_to_missing_exchange_closes_channel(self):
        ch = self.channel()
        with self.assertRaises(ChannelClosedByBroker) as e:
            ch.basic_publish("no-such-exchange", "k", b"x")
        self.assertEqual(e.exception.reply_code, 404)

    def test_properties_round_trip(self):
        ch = self.channel()
        q = self.queue(ch, "props-q")
        props = pika.BasicProperties(content_type="application/json", correlation_id="c-1", reply_to="r",
                                     message_id="m-1", delivery_mode=2, headers={"s": "v", "i": 7, "b": True})
        ch.basic_publish("", q, b"{}", props)
        method, got, body = ch.basic_get(q, auto_ack=True)
        self.assertEqual((got.content_type, got.correlation_id, got.reply_to, got.message_id, got.delivery_mode),
                         ("application/json", "c-1", "r", "m-1", 2))
        self.assertEqual(got.headers, {"s": b"v", "i": 7, "b": True} if isinstance(got.headers.get("s"), bytes)
                         else {"s": "v", "i": 7, "b": True})

    def test_large_body(self):
        ch = self.channel()
        q = self.queue(ch, "big-q")
        body = bytes(range(256)) * 4096  # 1 MiB: many frames each way
        ch.basic_publish("", q, body)
        self.assertEqual(self.get_body(ch, q), body)

    # ---- consuming ---------------------------------------------------------

    def test_consume_manual_ack(self):
        ch = self.channel()
        q = self.queue(ch, "consume-q")
        for i in range(10):
            ch.basic_publish("", q, b"%d" % i)
        got = self.consume(ch, q, 10)
        self.assertEqual([b for _, _, b in got], [b"%d" % i for i in range(10)])
        self.assertEqual(ch.queue_declare(q, passive=True).method.message_count, 0)

    def test_prefetch_bounds_unacked_deliveries(self):
        ch = self.channel()
        q = self.queue(ch, "prefetch-q")
        for i in range(5):
            ch.basic_publish("", q, b"%d" % i)
        got = []
        ch.basic_qos(prefetch_count=2)
        ch.basic_consume(q, lambda c, m, p, b: got.append(m.delivery_tag))
        deadline = time.monotonic() + 1.0
        while time.monotonic() < deadline:
            ch.connection.process_data_events(time_limit=0.1)
        self.assertEqual(len(got), 2)
        ch.basic_ack(got[-1], multiple=True)
        deadline = time.monotonic() + WAIT_S
        while len(got) < 4 and time.monotonic() < deadline:
            ch.connection.process_data_events(time_limit=0.1)
        self.assertEqual(len(got), 4)

    def test_heartbeats_keep_an_idle_connection(self):
        c = pika.BlockingConnection(pika.ConnectionParameters(host="127.0.0.1", port=self.port, heartbeat=1))
        self.conns.append(c)
        ch = c.channel()
        c.process_data_events(time_limit=7)  # pika 1.2 checks every heartbeat + 5 s for received bytes
        self.assertTrue(c.is_open)
        ch.queue_declare("heartbeat-q")

    def test_basic_get(self):
        ch = self.channel()
        q = self.queue(ch, "get-q")
        self.assertEqual(ch.basic_get(q), (None, None, None))
        ch.basic_publish("", q, b"a")
        ch.basic_publish("", q, b"b")
        method, props, body = ch.basic_get(q, auto_ack=False)
        self.assertEqual(body, b"a")
        self.assertEqual(method.message_count, 1)
        self.assertFalse(method.redelivered)
        ch.basic_ack(method.delivery_tag)
        self.assertEqual(self.get_body(ch, q), b"b")
        self.assertEqual(ch.basic_get(q), (None, None, None))

    def test_nack_requeue_redelivered(self):
        ch = self.channel()
        q = self.queue(ch, "nack-q")
        ch.basic_publish("", q, b"again")
        method, _, body = ch.basic_get(q)
        ch.basic_nack(method.delivery_tag, requeue=True)
        method, props, body = ch.basic_get(q)
        self.assertEqual(body, b"again")
        self.assertTrue(method.redelivered)
        ch.basic_ack(method.delivery_tag)

    def test_unacked_come_back_when_channel_closes(self):
        ch = self.channel()
        q = self.queue(ch, "close-q")
        ch.basic_publish("", q, b"held")
        method, _, _ = ch.basic_get(q)
        self.assertIsNotNone(method)
        ch.close()
        ch2 = self.channel()
        method, _, body = ch2.basic_get(q, auto_ack=True)
        self.assertEqual(body, b"held")
        self.assertTrue(method.redelivered)

    def test_ack_multiple(self):
        ch = self.channel()
        q = self.queue(ch, "multi-q")
        for i in range(5):
            ch.basic_publish("", q, b"%d" % i)
        tags = [ch.basic_get(q)[0].delivery_tag for _ in range(5)]
        ch.basic_ack(tags[-1], multiple=True)
        ch.close()
        ch2 = self.channel()
        self.assertEqual(ch2.basic_get(q), (None, None, None))

    def test_unknown_delivery_tag(self):
        ch = self.channel()
        q = self.queue(ch, "tag-q")
        ch.basic_ack(999)
        with self.assertRaises(ChannelClosedByBroker) as e:
            ch.queue_declare(q, passive=True)  # the close arrives before this reply
        self.assertEqual(e.exception.reply_code, 406)
        self.assertIn("unknown delivery tag 999", e.exception.reply_text)

    def test_reject_to_dlx(self):
        ch = self.channel()
        ch.exchange_declare("dlx", "fanout")
        dead = self.queue(ch, "dead-rejected")
        ch.queue_bind(dead, "dlx", "")
        q = self.queue(ch, "reject-q", **{"x-dead-letter-exchange": "dlx"})
        ch.basic_publish("", q, b"bad")
        method, _, _ = ch.basic_get(q)
        ch.basic_reject(method.delivery_tag, requeue=False)
        props, body = self.wait_body(ch, dead)
        self.assertEqual(body, b"bad")
        death = props.headers["x-death"][0]
        self.assertEqual((death["queue"], death["reason"], death["count"], death["exchange"]),
                         (b"reject-q", b"rejected", 1, b"") if isinstance(death["queue"], bytes)
                         else ("reject-q", "rejected", 1, ""))
        self.assertEqual(len(death["routing-keys"]), 1)

    def test_ttl_to_dlx(self):
        ch = self.channel()
        ch.exchange_declare("dlx-ttl", "direct")
        dead = self.queue(ch, "dead-expired")
        ch.queue_bind(dead, "dlx-ttl", "expired")
        q = self.queue(ch, "ttl-q", **{"x-message-ttl": 200, "x-dead-letter-exchange": "dlx-ttl",
                                       "x-dead-letter-routing-key": "expired"})
        ch.basic_publish("", q, b"old")
        ch.basic_publish("", q, b"per-message", pika.BasicProperties(expiration="100"))
        bodies = {self.wait_body(ch, dead)[1], self.wait_body(ch, dead)[1]}
        self.assertEqual(bodies, {b"old", b"per-message"})
        self.assertEqual(ch.basic_get(q), (None, None, None))

    def test_max_length_overflow(self):
        ch = self.channel()
        q = self.queue(ch, "maxlen-head", **{"x-max-length": 2})
        for i in range(4):
            ch.basic_publish("", q, b"%d" % i)
        self.assertEqual(self.get_all(ch, q), [b"2", b"3"])
        q = self.queue(ch, "maxlen-reject", **{"x-max-length": 1, "x-overflow": "reject-publish"})
        ch.basic_publish("", q, b"fits")
        with self.assertRaises(NackError):
            ch.basic_publish("", q, b"refused")
        self.assertEqual(self.get_all(ch, q), [b"fits"])

    def test_delivery_limit(self):
        ch = self.channel()
        ch.exchange_declare("dlx-limit", "fanout")
        dead = self.queue(ch, "dead-limit")
        ch.queue_bind(dead, "dlx-limit", "")
        q = self.queue(ch, "limit-q", **{"x-queue-type": "quorum", "x-delivery-limit": 2,
                                         "x-dead-letter-exchange": "dlx-limit"})
        ch.basic_publish("", q, b"poison")
        returns = 0
        while True:
            method, props, body = ch.basic_get(q)
            if method is None:
                break
            returns += 1
            self.assertLess(returns, 10)
            if returns > 1:
                self.assertEqual(props.headers["x-delivery-count"], returns - 1)
            ch.basic_nack(method.delivery_tag, requeue=True)
        self.assertGreaterEqual(returns, 2)
        _, body = self.wait_body(ch, dead)
        self.assertEqual(body, b"poison")

    def test_single_active_consumer(self):
        ch = self.channel()
        q = self.queue(ch, "sac-q", **{"x-single-active-consumer": True})
        got = {"a": [], "b": []}
        ch.basic_qos(prefetch_count=10)
        ch.basic_consume(q, lambda c, m, p, b: got["a"].append(b), auto_ack=True, consumer_tag="a")
        ch.basic_consume(q, lambda c, m, p, b: got["b"].append(b), auto_ack=True, consumer_tag="b")
        pub = self.channel()
        for i in range(6):
            pub.basic_publish("", q, b"%d" % i)
        deadline = time.monotonic() + WAIT_S
        while len(got["a"]) + len(got["b"]) < 6 and time.monotonic() < deadline:
            ch.connection.process_data_events(time_limit=0.1)
        self.assertEqual(got["a"], [b"%d" % i for i in range(6)])
        self.assertEqual(got["b"], [])
        ch.basic_cancel("a")
        pub.basic_publish("", q, b"after")
        deadline = time.monotonic() + WAIT_S
        while not got["b"] and time.monotonic() < deadline:
            ch.connection.process_data_events(time_limit=0.1)
        self.assertEqual(got["b"], [b"after"])

    def test_priorities(self):
        ch = self.channel()
        q = self.queue(ch, "prio-q", **{"x-max-priority": 10})
        for p in (1, 5, 3, 9, 0):
            ch.basic_publish("", q, b"p%d" % p, pika.BasicProperties(priority=p))
        self.assertEqual(self.get_all(ch, q), [b"p9", b"p5", b"p3", b"p1", b"p0"])

    def test_queue_delete_cancels_consumer(self):
        ch = self.channel()
        q = self.queue(ch, "cancel-notify-q")
        cancelled = []
        ch.add_on_cancel_callback(lambda frame: cancelled.append(frame.method.consumer_tag))
        ch.basic_consume(q, lambda *a: None, consumer_tag="watcher")
        self.channel().queue_delete(q)
        deadline = time.monotonic() + WAIT_S
        while not cancelled and time.monotonic() < deadline:
            ch.connection.process_data_events(time_limit=0.1)
        self.assertEqual(cancelled, ["watcher"])

    def test_amqp_tools(self):
        # scripts/install-deps installs amqp-tools, so CI (CI=true, .ci/run)
        # fails without them; a developer without them gets a skip.
        if not shutil.which("amqp-publish"):
            if os.environ.get("CI") == "true":
                self.fail("amqp-tools not installed (scripts/install-deps installs them)")
            self.skipTest("amqp-tools not installed")
        server = ["--server=127.0.0.1", "--port=%d" % self.port]
        run = lambda *argv: subprocess.run(list(argv), check=True, capture_output=True, timeout=WAIT_S).stdout
        self.assertEqual(run("amqp-declare-queue", *server, "-q", "tools-q").strip(), b"tools-q")
        run("amqp-publish", *server, "-r", "tools-q", "-b", "from amqp-tools", "-C", "text/plain")
        self.assertEqual(run("amqp-consume", *server, "-q", "tools-q", "-c", "1", "cat"), b"from amqp-tools")
        run("amqp-delete-queue", *server, "-q", "tools-q")

    def test_tx_not_implemented(self):
        ch = self.channel(confirm=False)
        with self.assertRaises(ChannelClosedByBroker) as e:
            ch.tx_select()
        self.assertEqual(e.exception.reply_code, 540)


class FailoverTest(unittest.TestCase):
    def setUp(self):
        self.cluster = Cluster(3, prefix="lockq-amqp-failover-")
        self.addCleanup(self.cluster.stop)

    def connect(self, i, deadline_s=WAIT_S * 3):
        """A channel on node i that has answered a command (a leader exists)."""
        deadline = time.monotonic() + deadline_s
        while True:
            try:
                c = pika.BlockingConnection(pika.ConnectionParameters(host="127.0.0.1", port=self.cluster.amqp[i]))
                self.addCleanup(lambda: c.is_open and c.close())
                ch = c.channel()
                ch.queue_declare("failover-q", durable=True)
                return c, ch
            except AMQPConnectionError:
                if time.monotonic() > deadline:
                    raise
                time.sleep(0.2)

    def test_consume_on_a_follower_publish_on_the_leader(self):
        leader = self.cluster.wait_leader()
        _, pub = self.connect(leader)
        pub.confirm_delivery()
        _, sub = self.connect((leader + 1) % 3)
        for i in range(20):
            pub.basic_publish("", "failover-q", b"%d" % i)
        got = []
        deadline = time.monotonic() + WAIT_S
        for method, props, body in sub.consume("failover-q", inactivity_timeout=0.2):
            if method is not None:
                got.append(body)
                sub.basic_ack(method.delivery_tag)
            if len(got) == 20 or time.monotonic() > deadline:
                break
        sub.cancel()
        self.assertEqual(got, [b"%d" % i for i in range(20)])

    def test_leader_change_closes_connections(self):
        leader = self.cluster.wait_leader()
        follower = (leader + 1) % 3
        conn, ch = self.connect(follower)
        ch.confirm_delivery()
        ch.basic_publish("", "failover-q", b"in flight")
        method, _, body = ch.basic_get("failover-q")  # held unacked
        self.assertEqual(body, b"in flight")
        self.cluster.kill(leader)
        with self.assertRaises(ConnectionClosedByBroker) as e:
            deadline = time.monotonic() + WAIT_S
            while time.monotonic() < deadline:
                conn.process_data_events(time_limit=0.2)
        self.assertEqual(e.exception.reply_code, 320)
        conn2, ch2 = self.connect(follower)
        deadline = time.monotonic() + WAIT_S
        while True:
            method, _, body = ch2.basic_get("failover-q", auto_ack=True)
            if method is not None:
                break
            self.assertLess(time.monotonic(), deadline, "the unacked message never came back")
            time.sleep(0.1)
        self.assertEqual(body, b"in flight")
        self.assertTrue(method.redelivered)


# ---- raw frames ---------------------------------------------------------------

class HighWaterTest(unittest.TestCase):
    """Memory is bounded: past --queue-high-water-bytes a publishing
    connection gets connection.blocked and is no longer read; when the
    queues drain below 90% of the mark it gets connection.unblocked."""

    def test_publisher_blocked_then_unblocked(self):
        cluster = Cluster(1, prefix="lockq-amqp-hw-", extra_args=["--queue-high-water-bytes", "200000"])
        try:
            port = cluster.amqp[0]
            pub = pika.BlockingConnection(pika.ConnectionParameters(host="127.0.0.1", port=port))
            events = []
            pub.add_on_connection_blocked_callback(lambda conn, frame: events.append("blocked"))
            pub.add_on_connection_unblocked_callback(lambda conn, frame: events.append("unblocked"))
            ch = pub.channel()
            ch.queue_declare("hw", durable=True)
            body = b"x" * 10000
            sent = 0
            deadline = time.monotonic() + 60
            while "blocked" not in events and time.monotonic() < deadline and sent < 200:
                ch.basic_publish("", "hw", body)
                sent += 1
                pub.process_data_events(time_limit=0.05)
            self.assertIn("blocked", events, "no connection.blocked after %d x 10 kB" % sent)
            # Another connection drains the queue; the publisher is unblocked.
            other = pika.BlockingConnection(pika.ConnectionParameters(host="127.0.0.1", port=port))
            other.channel().queue_purge("hw")
            other.close()
            while "unblocked" not in events and time.monotonic() < deadline:
                pub.process_data_events(time_limit=0.1)
            self.assertEqual(events, ["blocked", "unblocked"])
            ch.basic_publish("", "hw", b"after")  # read again
            pub.close()
            print("high-water: blocked after %d x 10 kB, unblocked after a purge" % sent, flush=True)
        finally:
            cluster.stop()


def frame(kind, channel, payload, end=b"\xce"):
    return struct.pack(">BHI", kind, channel, len(payload)) + payload + end


def method(class_id, method_id, args=b""):
    return struct.pack(">HH", class_id, method_id) + args


def shortstr(s):
    return bytes([len(s)]) + s


def longstr(s):
    return struct.pack(">I", len(s)) + s


class RawSocket:
    """A hand-driven AMQP client: enough handshake to reach an open connection."""

    def __init__(self, port):
        self.s = socket.create_connection(("127.0.0.1", port), timeout=WAIT_S)
        self.buf = b""

    def read_frame(self):
        while True:
            if len(self.buf) >= 7:
                kind, channel, size = struct.unpack(">BHI", self.buf[:7])
                if len(self.buf) >= size + 8:
                    payload = self.buf[7:7 + size]
                    self.buf = self.buf[size + 8:]
                    return kind, channel, payload
            data = self.s.recv(65536)
            if not data:
                return None
            self.buf += data

    def read_method(self):
        while True:
            f = self.read_frame()
            if f is None:
                return None
            if f[0] == 1:
                class_id, method_id = struct.unpack(">HH", f[2][:4])
                return f[1], class_id, method_id, f[2][4:]

    def open(self, heartbeat_s=0):
        self.s.sendall(b"AMQP\x00\x00\x09\x01")
        assert self.read_method()[1:3] == (10, 10)  # start
        self.s.sendall(frame(1, 0, method(10, 11, struct.pack(">I", 0) + shortstr(b"PLAIN") +
                                          longstr(b"\x00guest\x00guest") + shortstr(b"en_US"))))
        assert self.read_method()[1:3] == (10, 30)  # tune
        self.s.sendall(frame(1, 0, method(10, 31, struct.pack(">HIH", 0, 131072, heartbeat_s))))
        self.s.sendall(frame(1, 0, method(10, 40, shortstr(b"/") + shortstr(b"") + b"\x00")))
        assert self.read_method()[1:3] == (10, 41)  # open-ok
        return self

    def close_code(self):
        """The reply code of the connection.close the server sends."""
        m = self.read_method()
        assert m is not None and m[1:3] == (10, 50), m
        return struct.unpack(">H", m[3][:2])[0]


class MalformedFramesTest(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.cluster = Cluster(1, prefix="lockq-amqp-raw-")
        cls.port = cls.cluster.amqp[0]

    @classmethod
    def tearDownClass(cls):
        cls.cluster.stop()

    def raw(self):
        r = RawSocket(self.port).open()
        self.addCleanup(r.s.close)
        return r

    def test_bad_protocol_header(self):
        s = socket.create_connection(("127.0.0.1", self.port), timeout=WAIT_S)
        self.addCleanup(s.close)
        s.sendall(b"AMQP\x01\x01\x00\x0a")
        data = b""
        while len(data) < 8:
            chunk = s.recv(64)
            if not chunk:
                break
            data += chunk
        self.assertEqual(data, b"AMQP\x00\x00\x09\x01")
        self.assertEqual(s.recv(64), b"")  # then closed

    def test_server_sends_heartbeats(self):
        r = RawSocket(self.port).open(heartbeat_s=1)
        self.addCleanup(r.s.close)
        r.s.settimeout(5)
        self.assertEqual(r.read_frame(), (8, 0, b""))

    def test_silent_client_is_dropped(self):
        r = RawSocket(self.port).open(heartbeat_s=1)
        self.addCleanup(r.s.close)
        r.s.settimeout(6)
        start = time.monotonic()
        while r.read_frame() is not None:  # heartbeats, then EOF after two silent intervals
            pass
        self.assertLess(time.monotonic() - start, 5)

    def test_pipelined_publishes_past_the_pending_limit(self):
        # More publishes than max_pending_commands (1024) in one write that
        # fits one read (64 KiB), then a passive declare: parsing pauses and
        # must resume by itself, since the client sends nothing more.
        r = self.raw()
        r.s.sendall(frame(1, 1, method(20, 10, shortstr(b""))))
        self.assertEqual(r.read_method()[1:3], (20, 11))
        declare = lambda passive: frame(1, 1, method(50, 10, struct.pack(">H", 0) + shortstr(b"p") +
                                                     (b"\x01" if passive else b"\x00") + struct.pack(">I", 0)))
        r.s.sendall(declare(False))
        self.assertEqual(r.read_method()[1:3], (50, 11))
        publish = (frame(1, 1, method(60, 40, struct.pack(">H", 0) + shortstr(b"") + shortstr(b"p") + b"\x00")) +
                   frame(2, 1, struct.pack(">HHQH", 60, 0, 1, 0)) + frame(3, 1, b"x"))
        self.assertLess(len(publish) * 1200, 60000)
        r.s.sendall(publish * 1200 + declare(True))
        m = r.read_method()
        self.assertEqual(m[1:3], (50, 11))
        self.assertEqual(struct.unpack(">I", m[3][1 + len(b"p"):][:4])[0], 1200)

    def test_bad_frame_end(self):
        r = self.raw()
        r.s.sendall(frame(1, 1, method(20, 10, shortstr(b"")), end=b"\x00"))
        self.assertEqual(r.close_code(), 501)

    def test_oversized_frame(self):
        r = self.raw()
        r.s.sendall(struct.pack(">BHI", 1, 1, 10_000_000) + b"x" * 1000)
        self.assertEqual(r.close_code(), 501)

    def test_unknown_method(self):
        r = self.raw()
        r.s.sendall(frame(1, 0, method(10, 99)))
        self.assertEqual(r.close_code(), 503)

    def test_unknown_class(self):
        r = self.raw()
        r.s.sendall(frame(1, 1, method(77, 10)))
        self.assertEqual(r.close_code(), 540)

    def test_method_on_unopened_channel(self):
        r = self.raw()
        r.s.sendall(frame(1, 5, method(50, 10, struct.pack(">H", 0) + shortstr(b"q") + b"\x00" + struct.pack(">I", 0))))
        self.assertEqual(r.close_code(), 504)

    def test_content_without_publish(self):
        r = self.raw()
        r.s.sendall(frame(1, 1, method(20, 10, shortstr(b""))))
        self.assertEqual(r.read_method()[1:3], (20, 11))  # channel.open-ok
        r.s.sendall(frame(2, 1, struct.pack(">HHQH", 60, 0, 3, 0)))
        self.assertEqual(r.close_code(), 505)

    def test_body_too_large(self):
        r = self.raw()
        r.s.sendall(frame(1, 1, method(20, 10, shortstr(b""))))
        self.assertEqual(r.read_method()[1:3], (20, 11))
        publish = method(60, 40, struct.pack(">H", 0) + shortstr(b"") + shortstr(b"q") + b"\x00")
        r.s.sendall(frame(1, 1, publish) + frame(2, 1, struct.pack(">HHQH", 60, 0, 1 << 40, 0)))
        m = r.read_method()
        self.assertEqual((m[0], m[1], m[2]), (1, 20, 40))  # channel.close
        self.assertEqual(struct.unpack(">H", m[3][:2])[0], 311)


if __name__ == "__main__":
    lockq_cluster.main()
