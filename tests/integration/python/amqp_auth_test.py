#!/usr/bin/python3
"""AMQP users, vhosts and permissions (issue 12 item 2, docs/security.md
"AMQP") with a real lockqd and python3-pika 1.2, unchanged:

- a bad password (PLAIN) is refused as RabbitMQ refuses it: connection.close
  403 ACCESS_REFUSED before connection.tune, so pika raises
  ProbableAuthenticationError; the failure is in ACL LOG (reason auth);
- a user without permissions on vhost '/' and an unknown vhost get 530
  NOT_ALLOWED in reply to connection.open: ProbableAccessDeniedError;
- with LOCKQ.PERMISSIONS a user may use only what its regexes allow:
  publishing to a forbidden exchange closes the channel with 403 while the
  connection survives; a forbidden queue.declare and basic.get too;
- a permitted user works unchanged; --requirepass plus user `default`
  works; AMQPLAIN (py-amqp's mechanism) on a raw socket, right and wrong;
- ACL DELUSER closes the user's AMQP connections (320 CONNECTION_FORCED);
- open mode (no password): any credentials are accepted as `default`.

Run by ctest as: amqp_auth_test.py --lockqd PATH
"""
import socket
import struct
import time
import unittest

import pika
from pika.exceptions import (ChannelClosedByBroker, ProbableAccessDeniedError,
                             ProbableAuthenticationError)

import lockq_cluster
from lockq_cluster import Cluster

PASS = "amqp-default-pw"


def params(port, user, password, vhost="/"):
    return pika.ConnectionParameters(host="127.0.0.1", port=port, virtual_host=vhost,
                                     credentials=pika.PlainCredentials(user, password),
                                     connection_attempts=1, socket_timeout=10, blocked_connection_timeout=10)


def longstr(b):
    return struct.pack(">I", len(b)) + b


def shortstr(b):
    return bytes([len(b)]) + b


def method_frame(cls, meth, args):
    payload = struct.pack(">HH", cls, meth) + args
    return struct.pack(">BHI", 1, 0, len(payload)) + payload + b"\xce"


def read_method(s, deadline_s=10):
    """Reads frames until a method frame on channel 0; returns (class, method, args)."""
    buf = b""
    end = time.monotonic() + deadline_s
    while time.monotonic() < end:
        if len(buf) >= 7:
            typ, _ch, size = struct.unpack(">BHI", buf[:7])
            if len(buf) >= 8 + size:
                payload = buf[7:7 + size]
                buf = buf[8 + size:]
                if typ == 1:
                    cls, meth = struct.unpack(">HH", payload[:4])
                    return cls, meth, payload[4:]
                continue
        chunk = s.recv(65536)
        if not chunk:
            break
        buf += chunk
    return None


def amqplain_login(port, user, password):
    """connection.start-ok with AMQPLAIN; returns the next method from the
    server: (10, 30) tune or (10, 50) close."""
    with socket.create_connection(("127.0.0.1", port), timeout=10) as s:
        s.sendall(b"AMQP\x00\x00\x09\x01")
        start = read_method(s)
        assert start is not None and start[:2] == (10, 10), start
        response = (shortstr(b"LOGIN") + b"S" + longstr(user.encode()) +
                    shortstr(b"PASSWORD") + b"S" + longstr(password.encode()))
        args = longstr(b"") + shortstr(b"AMQPLAIN") + longstr(response) + shortstr(b"en_US")
        s.sendall(method_frame(10, 11, args))
        return read_method(s)


class Protected(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.cluster = Cluster(1, prefix="lockq-amqp-auth-", extra_args=["--requirepass", PASS], password=PASS)
        cls.port = cls.cluster.amqp[0]
        admin = cls.cluster.client(0)
        admin.execute_command("ACL", "SETUSER", "app", "on", ">app-pw", "~*", "+@all")
        admin.execute_command("ACL", "SETUSER", "nohost", "on", ">nohost-pw", "~*", "+@all")
        # app: configure and read anything named app.*, write to app.* and the default exchange
        admin.execute_command("LOCKQ.PERMISSIONS", "SET", "app", "/", "^app\\.", "^(app\\..*|amq\\.default)$",
                              "^app\\.")
        # nohost: an entry for another vhost only, so '/' is not implicit
        admin.execute_command("LOCKQ.PERMISSIONS", "SET", "nohost", "other", ".*", ".*", ".*")

    @classmethod
    def tearDownClass(cls):
        cls.cluster.stop()

    def connect(self, user, password, vhost="/"):
        c = pika.BlockingConnection(params(self.port, user, password, vhost))
        self.addCleanup(lambda: c.is_open and c.close())
        return c

    def test_bad_password_is_authentication_error(self):
        with self.assertRaises(ProbableAuthenticationError) as e:
            self.connect("app", "wrong")
        self.assertIn("ACCESS_REFUSED - Login was refused using authentication mechanism PLAIN", str(e.exception))
        with self.assertRaises(ProbableAuthenticationError):
            self.connect("nobody", "x")
        # redis-py parses every entry (its client-info fields included)
        entries = self.cluster.client(0).acl_log()
        self.assertTrue(any(e["reason"] == "auth" and e["username"] == "nobody" and
                            e["context"] == "amqp" for e in entries), entries)

    def test_default_with_requirepass(self):
        c = self.connect("default", PASS)
        ch = c.channel()
        ch.queue_declare("anything", auto_delete=True)
        ch.basic_publish("", "anything", b"hi")
        c.close()
        with self.assertRaises(ProbableAuthenticationError):
            self.connect("guest", "guest")

    def test_vhost_refused(self):
        with self.assertRaises(ProbableAccessDeniedError) as e:
            self.connect("nohost", "nohost-pw")
        self.assertIn("NOT_ALLOWED - access to vhost '/' refused for user 'nohost'", str(e.exception))
        with self.assertRaises(ProbableAccessDeniedError) as e:
            self.connect("app", "app-pw", vhost="elsewhere")
        self.assertIn("530", str(e.exception))

    def test_permitted_user_works(self):
        c = self.connect("app", "app-pw")
        ch = c.channel()
        ch.confirm_delivery()
        ch.exchange_declare("app.x", "direct")
        ch.queue_declare("app.q")
        ch.queue_bind("app.q", "app.x", "k")
        ch.basic_publish("app.x", "k", b"via-exchange")
        ch.basic_publish("", "app.q", b"via-default")
        bodies = []
        for _ in range(2):
            _m, _p, body = ch.basic_get("app.q", auto_ack=True)
            bodies.append(body)
        self.assertEqual(sorted(bodies), [b"via-default", b"via-exchange"])
        ch.queue_delete("app.q")
        ch.exchange_delete("app.x")

    def test_forbidden_exchange_closes_channel_only(self):
        admin = pika.BlockingConnection(params(self.port, "default", PASS))
        self.addCleanup(admin.close)
        admin.channel().exchange_declare("secret.x", "fanout")
        c = self.connect("app", "app-pw")
        ch = c.channel()
        with self.assertRaises(ChannelClosedByBroker) as e:
            ch.basic_publish("secret.x", "", b"no")
            # the close arrives asynchronously: a round trip collects it
            ch.queue_declare("app.after", passive=False)
        self.assertEqual(e.exception.reply_code, 403)
        self.assertEqual(e.exception.reply_text,
                         "ACCESS_REFUSED - write access to exchange 'secret.x' in vhost '/' refused for user 'app'")
        self.assertTrue(c.is_open)
        ch2 = c.channel()
        with self.assertRaises(ChannelClosedByBroker) as e:
            ch2.queue_declare("other.q")
        self.assertEqual(e.exception.reply_code, 403)
        self.assertIn("configure access to queue 'other.q'", e.exception.reply_text)
        ch3 = c.channel()
        admin.channel().queue_declare("secret.q", auto_delete=False)
        with self.assertRaises(ChannelClosedByBroker) as e:
            ch3.basic_get("secret.q")
        self.assertIn("read access to queue 'secret.q'", e.exception.reply_text)
        ch4 = c.channel()
        ch4.queue_declare("app.still-works", auto_delete=True)
        self.assertTrue(c.is_open)

    def test_permissions_command(self):
        admin = self.cluster.client(0)
        got = admin.execute_command("LOCKQ.PERMISSIONS", "LIST", "app")
        self.assertEqual(len(got), 1)
        self.assertEqual(got[0][0], b"/")
        with self.assertRaises(Exception) as e:
            admin.execute_command("LOCKQ.PERMISSIONS", "SET", "app", "/", "(", "", "")
        self.assertIn("invalid permission regex", str(e.exception))
        with self.assertRaises(Exception) as e:
            admin.execute_command("LOCKQ.PERMISSIONS", "SET", "ghost", "/", "", "", "")
        self.assertIn("not found", str(e.exception))
        admin.execute_command("ACL", "SETUSER", "worker", "on", ">worker-pw", "~*", "+@all", "-@admin")
        limited = lockq_cluster.client(self.cluster.resp[0], username="worker", password="worker-pw")
        with self.assertRaises(Exception) as e:
            limited.execute_command("LOCKQ.PERMISSIONS", "LIST", "app")
        self.assertIn("no permissions to run the 'lockq.permissions' command", str(e.exception))  # NOPERM
        # CLEAR takes '/' away from a user: the next connection is refused
        admin.execute_command("ACL", "SETUSER", "temp", "on", ">temp-pw", "~*", "+@all")
        admin.execute_command("LOCKQ.PERMISSIONS", "SET", "temp", "/", ".*", ".*", ".*")
        self.connect("temp", "temp-pw").close()
        self.assertEqual(admin.execute_command("LOCKQ.PERMISSIONS", "CLEAR", "temp", "/"), 1)
        admin.execute_command("LOCKQ.PERMISSIONS", "SET", "temp", "other", ".*", ".*", ".*")
        with self.assertRaises(ProbableAccessDeniedError):
            self.connect("temp", "temp-pw")

    def test_deleted_user_is_disconnected(self):
        admin = self.cluster.client(0)
        admin.execute_command("ACL", "SETUSER", "leaving", "on", ">leaving-pw", "~*", "+@all")
        c = self.connect("leaving", "leaving-pw")
        c.channel().queue_declare("leaving.q", auto_delete=True)
        admin.execute_command("ACL", "DELUSER", "leaving")
        with self.assertRaises(pika.exceptions.ConnectionClosedByBroker) as e:
            for _ in range(100):  # bounded: 100 x 0.1 s
                c.process_data_events(time_limit=0.1)
        self.assertEqual(e.exception.reply_code, 320)
        self.assertIn("user 'leaving' was deleted", e.exception.reply_text)

    def test_amqplain(self):
        ok = amqplain_login(self.port, "app", "app-pw")
        self.assertEqual(ok[:2], (10, 30))  # connection.tune
        bad = amqplain_login(self.port, "app", "nope")
        self.assertEqual(bad[:2], (10, 50))  # connection.close
        code = struct.unpack(">H", bad[2][:2])[0]
        text = bad[2][3:3 + bad[2][2]]
        self.assertEqual(code, 403)
        self.assertEqual(text, b"ACCESS_REFUSED - Login was refused using authentication mechanism AMQPLAIN. "
                               b"For details see the broker logfile.")
        self.assertEqual(struct.unpack(">HH", bad[2][3 + bad[2][2]:7 + bad[2][2]]), (0, 0))


class OpenMode(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.cluster = Cluster(1, prefix="lockq-amqp-open-")
        cls.port = cls.cluster.amqp[0]

    @classmethod
    def tearDownClass(cls):
        cls.cluster.stop()

    def test_any_credentials(self):
        for user, pw in (("guest", "guest"), ("whoever", "whatever")):
            c = pika.BlockingConnection(params(self.port, user, pw))
            c.channel().queue_declare("open-" + user, auto_delete=True)
            c.close()


if __name__ == "__main__":
    lockq_cluster.main()
