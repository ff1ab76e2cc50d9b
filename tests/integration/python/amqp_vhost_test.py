#!/usr/bin/python3
"""AMQP vhosts and permissions checked at apply time (issue 12 item 2,
docs/security.md "AMQP") on 3 real lockqd nodes with python3-pika, unchanged:

- two tenants' vhosts are separate namespaces: each declares its own
  `jobs` queue and sees only its own messages; RESP's Q.* sees vhost '/';
  a user without permissions on a vhost gets 530 NOT_ALLOWED;
- a user connected to a follower works; revoking its write permission on
  the leader refuses its next publish with channel 403 on that follower
  (the follower's front end or, if it has not applied the change yet,
  apply itself refuses it: the permissions as of the publish's log index);
- topic permissions: a routing key outside the user's topic pattern is
  refused with RabbitMQ's exact text, `{username}` expands;
- LOCKQ.VHOST DELETE closes that vhost's connections on every node
  (320 CONNECTION_FORCED) and drops its queues;
- vhosts, their queues and messages survive a kill -9 of the leader.

Run by ctest as: amqp_vhost_test.py --lockqd PATH
"""
import time
import unittest

import pika
from pika.exceptions import ChannelClosedByBroker, ConnectionClosedByBroker, ProbableAccessDeniedError

import lockq_cluster
from lockq_cluster import Cluster

PASS = "vhost-admin-pw"


def params(port, user, password, vhost):
    return pika.ConnectionParameters(host="127.0.0.1", port=port, virtual_host=vhost,
                                     credentials=pika.PlainCredentials(user, password),
                                     connection_attempts=1, socket_timeout=10, blocked_connection_timeout=10)


class Vhosts(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.cluster = Cluster(3, prefix="lockq-amqp-vhost-", extra_args=["--requirepass", PASS], password=PASS)
        cls.leader = cls.cluster.wait_leader()
        cls.follower = (cls.leader + 1) % 3
        admin = cls.cluster.client(cls.leader)
        for v in ("tenant-a", "tenant-b", "doomed"):
            assert admin.execute_command("LOCKQ.VHOST", "ADD", v) == 1
        for user, vhost in (("alice", "tenant-a"), ("bob", "tenant-b"), ("carol", "doomed")):
            admin.execute_command("ACL", "SETUSER", user, "on", ">" + user + "-pw", "-@all")
            admin.execute_command("LOCKQ.PERMISSIONS", "SET", user, vhost, ".*", ".*", ".*")
        cls.sync()

    @classmethod
    def sync(cls):
        """Every node has applied what the leader has committed (so a
        follower's front end sees the users and vhosts just made)."""
        target = int(cls.cluster.client(cls.leader).info("replication")["commit_index"])
        for i in range(3):
            lockq_cluster.wait_until(
                lambda: int(cls.cluster.client(i).info("replication")["applied_index"]) >= target,
                "node %d applies index %d" % (i + 1, target))

    @classmethod
    def tearDownClass(cls):
        cls.cluster.stop()

    def connect(self, node, user, vhost):
        c = pika.BlockingConnection(params(self.cluster.amqp[node], user, user + "-pw", vhost))
        self.addCleanup(lambda: c.is_open and c.close())
        return c

    def test_1_tenants_are_separate_namespaces(self):
        a = self.connect(self.leader, "alice", "tenant-a").channel()
        b = self.connect(self.follower, "bob", "tenant-b").channel()
        for ch, who in ((a, b"alice"), (b, b"bob")):
            ch.confirm_delivery()
            ch.queue_declare("jobs", durable=True)
            for i in range(3):
                ch.basic_publish("", "jobs", who + b"-%d" % i)
        for ch, who in ((a, b"alice"), (b, b"bob")):
            got = []
            for _ in range(3):
                _m, _p, body = ch.basic_get("jobs", auto_ack=True)
                got.append(body)
            self.assertEqual(got, [who + b"-%d" % i for i in range(3)])
            self.assertEqual(ch.basic_get("jobs")[0], None)
        # RESP's Q.* commands see vhost '/', which has no `jobs`
        with self.assertRaises(Exception) as e:
            self.cluster.client(self.leader).execute_command("Q.INFO", "jobs")
        self.assertIn("no queue 'jobs' in vhost '/'", str(e.exception))
        with self.assertRaises(ProbableAccessDeniedError) as e:
            self.connect(self.follower, "alice", "tenant-b")
        self.assertIn("NOT_ALLOWED - access to vhost 'tenant-b' refused for user 'alice'", str(e.exception))
        with self.assertRaises(ProbableAccessDeniedError) as e:
            self.connect(self.follower, "alice", "/")
        self.assertIn("530", str(e.exception))

    def test_2_revoked_write_refused_on_a_follower(self):
        c = self.connect(self.follower, "alice", "tenant-a")
        ch = c.channel()
        ch.confirm_delivery()
        ch.exchange_declare("orders", "direct")
        ch.queue_declare("orders.q")
        ch.queue_bind("orders.q", "orders", "new")
        ch.basic_publish("orders", "new", b"before")
        self.cluster.client(self.leader).execute_command(
            "LOCKQ.PERMISSIONS", "SET", "alice", "tenant-a", ".*", "^amq\\.default$", ".*")
        # No sync: the follower may not have applied the change when the
        # publish arrives; then apply refuses it (as of its log index).
        with self.assertRaises(ChannelClosedByBroker) as e:
            ch.basic_publish("orders", "new", b"after")
        self.assertEqual(e.exception.reply_code, 403)
        self.assertEqual(e.exception.reply_text,
                         "ACCESS_REFUSED - write access to exchange 'orders' in vhost 'tenant-a' refused for user 'alice'")
        self.assertTrue(c.is_open)
        ch2 = c.channel()
        _m, _p, body = ch2.basic_get("orders.q", auto_ack=True)
        self.assertEqual(body, b"before")
        self.assertEqual(ch2.basic_get("orders.q")[0], None)  # "after" was never enqueued
        self.cluster.client(self.leader).execute_command(
            "LOCKQ.PERMISSIONS", "SET", "alice", "tenant-a", ".*", ".*", ".*")

    def test_3_topic_permissions(self):
        admin = self.cluster.client(self.leader)
        ch = self.connect(self.leader, "bob", "tenant-b").channel()
        ch.exchange_declare("events", "topic")
        ch.queue_declare("mine", exclusive=True)
        admin.execute_command("LOCKQ.PERMISSIONS", "SETTOPIC", "bob", "tenant-b", "events", "^{username}\\.", "^public\\.")
        ch.confirm_delivery()
        ch.queue_bind("mine", "events", "public.#")
        ch.basic_publish("events", "bob.signup", b"ok")
        with self.assertRaises(ChannelClosedByBroker) as e:
            ch.basic_publish("events", "alice.signup", b"no")
        self.assertEqual(e.exception.reply_text,
                         "ACCESS_REFUSED - write access to topic 'alice.signup' in exchange 'events' in vhost "
                         "'tenant-b' refused for user 'bob'")
        ch = self.connect(self.leader, "bob", "tenant-b").channel()
        with self.assertRaises(ChannelClosedByBroker) as e:
            ch.queue_bind("mine2", "events", "bob.#")
        self.assertEqual(e.exception.reply_code, 403)
        admin.execute_command("LOCKQ.PERMISSIONS", "CLEARTOPIC", "bob", "tenant-b", "events")

    def test_4_deleting_a_vhost_closes_its_connections(self):
        conns = [self.connect(i, "carol", "doomed") for i in range(3)]
        for c in conns:
            c.channel().queue_declare("work")
        self.assertEqual(self.cluster.client(self.leader).execute_command("LOCKQ.VHOST", "DELETE", "doomed"), 1)
        for c in conns:
            with self.assertRaises(ConnectionClosedByBroker) as e:
                for _ in range(100):  # bounded: 100 x 0.1 s
                    c.process_data_events(time_limit=0.1)
            self.assertEqual(e.exception.reply_code, 320)
            self.assertIn("vhost 'doomed' is deleted", e.exception.reply_text)
        with self.assertRaises(ProbableAccessDeniedError) as e:
            self.connect(self.follower, "carol", "doomed")
        self.assertIn("NOT_ALLOWED - vhost doomed not found", str(e.exception))

    def test_5_vhost_queues_survive_leader_kill(self):
        ch = self.connect(self.follower, "alice", "tenant-a").channel()
        ch.confirm_delivery()
        ch.queue_declare("durable.q", durable=True)
        for i in range(20):
            ch.basic_publish("", "durable.q", b"m%d" % i, pika.BasicProperties(delivery_mode=2))
        ch.connection.close()
        self.cluster.kill(self.leader)
        survivor = self.follower
        lockq_cluster.wait_until(lambda: self.cluster.leader() is not None, "a new leader")
        got = []
        deadline = time.monotonic() + 60
        while len(got) < 20 and time.monotonic() < deadline:
            try:
                ch = self.connect(survivor, "alice", "tenant-a").channel()
                while len(got) < 20:
                    m, _p, body = ch.basic_get("durable.q", auto_ack=True)
                    if m is None:
                        break
                    got.append(body)
            except (pika.exceptions.AMQPError, OSError):
                time.sleep(0.2)  # the election is still under way
        self.assertEqual(sorted(got), sorted(b"m%d" % i for i in range(20)))


if __name__ == "__main__":
    lockq_cluster.main()
