#!/usr/bin/python3
"""TLS for clients (issue 12 item 4; docs/security.md "TLS") with real lockqd
processes and real clients, certificates from scripts/dev-certs:

- redis-cli --tls --cacert (and --cert/--key), redis-py ssl=True with
  ssl_ca_certs and host name checking (and a client certificate), pika with
  ssl_options (pika.SSLOptions) on --amqps-port;
- a plain-text client on the TLS port is refused cleanly (closed, no
  answer), redis-py without TLS too, and the server stays healthy on both
  ports;
- --tls-auth-clients yes refuses a client without a certificate and one
  from another CA; optional accepts one without;
- --resp-port 0: TLS only;
- rotation: certificate files replaced under a running server; a new
  connection sees the new certificate, an old one keeps working;
- clear startup errors for a missing file or a missing --tls-ca-cert-file;
- Redis's --tls-ca-cert-dir, --tls-key-file-pass, --tls-protocols,
  --tls-ciphers, --tls-ciphersuites, and startup errors for bad values;
- the lockq CLI with --tls --cacert (and --cert/--key), when --lockq is given.

Run by ctest as: tls_test.py --lockqd PATH [--lockq PATH]
"""
import os
import shutil
import socket
import ssl
import subprocess
import tempfile
import unittest

import pika
import redis

import lockq_cluster
from lockq_cluster import Cluster, free_port

HERE = os.path.dirname(os.path.abspath(__file__))
LOCKQ = None  # set from --lockq
RUN_TIMEOUT_S = 30


def make_certs(root, name):
    return lockq_cluster.dev_certs(os.path.join(root, name))


def tls_client(port, ca, cert=None, key=None, check_hostname=True, timeout=10):
    return redis.Redis(host="127.0.0.1", port=port, ssl=True, ssl_ca_certs=ca, ssl_certfile=cert,
                       ssl_keyfile=key, ssl_cert_reqs="required", ssl_check_hostname=check_hostname,
                       socket_timeout=timeout, socket_connect_timeout=5)


def tls_args(d, tls_port, amqps_port, auth="yes"):
    return ["--tls-port", str(tls_port), "--amqps-port", str(amqps_port),
            "--tls-cert-file", os.path.join(d, "server.crt"), "--tls-key-file", os.path.join(d, "server.key"),
            "--tls-ca-cert-file", os.path.join(d, "ca.crt"), "--tls-auth-clients", auth]


def redis_cli(*args):
    return subprocess.run(["redis-cli", "-h", "127.0.0.1"] + list(args), capture_output=True, text=True,
                          timeout=RUN_TIMEOUT_S)


class TlsBase(unittest.TestCase):
    AUTH = "yes"
    PASSWORD = None  # --requirepass, when set

    @classmethod
    def setUpClass(cls):
        cls.tmp = tempfile.mkdtemp(prefix="lockq-tls-")
        cls.certs = make_certs(cls.tmp, "a")
        cls.other = make_certs(cls.tmp, "b")  # another CA
        cls.ca = os.path.join(cls.certs, "ca.crt")
        cls.cert = os.path.join(cls.certs, "client.crt")
        cls.key = os.path.join(cls.certs, "client.key")
        cls.tls_port, cls.amqps_port = free_port(), free_port()
        extra = tls_args(cls.certs, cls.tls_port, cls.amqps_port, cls.AUTH)
        if cls.PASSWORD:
            extra += ["--requirepass", cls.PASSWORD]
        cls.cluster = Cluster(1, prefix="lockq-tls-", extra_args=extra, password=cls.PASSWORD)

    @classmethod
    def tearDownClass(cls):
        cls.cluster.stop()
        shutil.rmtree(cls.tmp, ignore_errors=True)

    def assert_healthy(self):
        """Both ports still serve (the refused client did not hurt the loop)."""
        self.assertTrue(self.cluster.client(0).ping())
        self.assertTrue(tls_client(self.tls_port, self.ca, self.cert, self.key).ping())


class MutualTlsTest(TlsBase):
    """--tls-auth-clients yes (Redis's default)."""

    def test_redis_cli_with_client_certificate(self):
        p = redis_cli("-p", str(self.tls_port), "--tls", "--cacert", self.ca, "--cert", self.cert, "--key", self.key,
                      "SET", "tls:k", "v1")
        self.assertEqual(p.stdout.strip(), "OK", p.stderr)
        p = redis_cli("-p", str(self.tls_port), "--tls", "--cacert", self.ca, "--cert", self.cert, "--key", self.key,
                      "GET", "tls:k")
        self.assertEqual(p.stdout.strip(), "v1", p.stderr)

    def test_redis_py_with_client_certificate_and_hostname_check(self):
        r = tls_client(self.tls_port, self.ca, self.cert, self.key)
        self.assertTrue(r.set("tls:py", "x"))
        self.assertEqual(r.get("tls:py"), b"x")
        # The plain port sees the same data.
        self.assertEqual(self.cluster.client(0).get("tls:py"), b"x")
        # Locks over TLS too.
        token = r.execute_command("LOCK.ACQUIRE", "tls:lock", "TTL", 10000, "OWNER", "o1")
        self.assertIsNotNone(token)

    def test_client_without_certificate_is_refused(self):
        with self.assertRaises(redis.ConnectionError):
            tls_client(self.tls_port, self.ca).ping()
        p = redis_cli("-p", str(self.tls_port), "--tls", "--cacert", self.ca, "PING")
        self.assertNotIn("PONG", p.stdout)
        self.assert_healthy()

    def test_client_certificate_from_another_ca_is_refused(self):
        other_cert = os.path.join(self.other, "client.crt")
        other_key = os.path.join(self.other, "client.key")
        with self.assertRaises(redis.ConnectionError):
            tls_client(self.tls_port, self.ca, other_cert, other_key).ping()
        self.assert_healthy()

    def test_client_that_does_not_trust_the_server_refuses_it(self):
        with self.assertRaises(redis.ConnectionError):
            tls_client(self.tls_port, os.path.join(self.other, "ca.crt"), self.cert, self.key).ping()

    def test_plain_text_on_the_tls_port_is_refused_cleanly(self):
        for payload in (b"PING\r\n", b"*1\r\n$4\r\nPING\r\n", b"AMQP\x00\x00\x09\x01"):
            for port in (self.tls_port, self.amqps_port):
                with socket.create_connection(("127.0.0.1", port), timeout=10) as s:
                    s.sendall(payload)
                    got = b""
                    try:
                        while True:  # bounded by the socket timeout
                            chunk = s.recv(4096)
                            if not chunk:
                                break
                            got += chunk
                    except ConnectionResetError:
                        pass
                    # Closed without a RESP or AMQP answer (at most a TLS alert record).
                    self.assertNotIn(b"PONG", got)
                    self.assertTrue(got == b"" or got[:1] == b"\x15", got)
        with self.assertRaises(redis.ConnectionError):
            redis.Redis(host="127.0.0.1", port=self.tls_port, socket_timeout=10).ping()
        self.assert_healthy()

    def test_handshake_never_started_does_not_stall_others(self):
        idle = socket.create_connection(("127.0.0.1", self.tls_port), timeout=10)
        try:
            idle.sendall(b"\x16\x03\x01")  # half a record header, then silence
            self.assert_healthy()
        finally:
            idle.close()

    def test_pika_over_amqps_with_client_certificate(self):
        ctx = ssl.create_default_context(cafile=self.ca)
        ctx.load_cert_chain(self.cert, self.key)
        params = pika.ConnectionParameters(host="127.0.0.1", port=self.amqps_port,
                                           ssl_options=pika.SSLOptions(ctx, "localhost"),
                                           connection_attempts=3, retry_delay=0.5, socket_timeout=10)
        conn = pika.BlockingConnection(params)
        try:
            ch = conn.channel()
            ch.confirm_delivery()
            ch.queue_declare("tls-q")
            ch.basic_publish("", "tls-q", b"over tls")
            method, _, body = ch.basic_get("tls-q", auto_ack=True)
            self.assertIsNotNone(method)
            self.assertEqual(body, b"over tls")
        finally:
            conn.close()

    def test_lockq_cli_over_tls(self):
        if LOCKQ is None:
            self.skipTest("no --lockq")
        server = "127.0.0.1:%d" % self.tls_port
        base = [LOCKQ, "-s", server, "--tls", "--cacert", self.ca, "--cert", self.cert, "--key", self.key]
        p = subprocess.run(base + ["lock", "tls:cli", "--", "sh", "-c", "echo held $LOCKQ_LOCK_NAME"],
                           capture_output=True, text=True, timeout=RUN_TIMEOUT_S)
        self.assertEqual(p.returncode, 0, p.stderr)
        self.assertIn("held tls:cli", p.stdout)
        # Without a client certificate the server refuses it: a clear error.
        p = subprocess.run([LOCKQ, "-s", server, "--tls", "--cacert", self.ca, "cluster", "status"],
                           capture_output=True, text=True, timeout=RUN_TIMEOUT_S)
        self.assertNotEqual(p.returncode, 0)
        self.assertIn("TLS", p.stderr)


class OptionalClientAuthTest(TlsBase):
    """--tls-auth-clients optional: a certificate is checked when sent."""
    AUTH = "optional"

    def test_client_without_certificate_is_accepted(self):
        r = tls_client(self.tls_port, self.ca)
        self.assertTrue(r.ping())
        p = redis_cli("-p", str(self.tls_port), "--tls", "--cacert", self.ca, "PING")
        self.assertEqual(p.stdout.strip(), "PONG", p.stderr)

    def test_bad_certificate_is_still_refused(self):
        with self.assertRaises(redis.ConnectionError):
            tls_client(self.tls_port, self.ca, os.path.join(self.other, "client.crt"),
                       os.path.join(self.other, "client.key")).ping()
        self.assert_healthy()

    def test_lockq_cli_over_tls_without_client_certificate(self):
        if LOCKQ is None:
            self.skipTest("no --lockq")
        p = subprocess.run([LOCKQ, "-s", "127.0.0.1:%d" % self.tls_port, "--tls", "--cacert", self.ca,
                            "--json", "cluster", "status"], capture_output=True, text=True, timeout=RUN_TIMEOUT_S)
        self.assertEqual(p.returncode, 0, p.stderr)
        self.assertIn("leader", p.stdout)


class TlsWithPasswordTest(TlsBase):
    """TLS and --requirepass together: the lockq CLI (liblockq's HELLO 3
    AUTH over TLS) and redis-py authenticate on the TLS port."""
    AUTH = "optional"
    PASSWORD = "tls-and-auth"

    def test_cli_and_redis_py_with_tls_and_password(self):
        r = tls_client(self.tls_port, self.ca)
        with self.assertRaises(redis.AuthenticationError):  # NOAUTH
            r.ping()
        r = redis.Redis(host="127.0.0.1", port=self.tls_port, ssl=True, ssl_ca_certs=self.ca,
                        ssl_cert_reqs="required", password=self.PASSWORD, socket_timeout=10)
        self.assertTrue(r.set("tls-auth", "1"))
        if LOCKQ is None:
            self.skipTest("no --lockq")
        base = [LOCKQ, "-s", "127.0.0.1:%d" % self.tls_port, "--tls", "--cacert", self.ca]
        p = subprocess.run(base + ["--password", self.PASSWORD, "lock", "tls:auth", "--", "echo", "held"],
                           capture_output=True, text=True, timeout=RUN_TIMEOUT_S)
        self.assertEqual(p.returncode, 0, p.stderr)
        self.assertIn("held", p.stdout)
        env = dict(os.environ, LOCKQ_PASSWORD=self.PASSWORD)
        p = subprocess.run(base + ["cluster", "status"], capture_output=True, text=True, timeout=RUN_TIMEOUT_S,
                           env=env)
        self.assertEqual(p.returncode, 0, p.stderr)
        p = subprocess.run(base + ["--password", "wrong", "cluster", "status"], capture_output=True, text=True,
                           timeout=RUN_TIMEOUT_S)
        self.assertNotEqual(p.returncode, 0)
        self.assertIn("WRONGPASS", p.stderr)


class TlsOnlyAndRotationTest(unittest.TestCase):
    """--resp-port 0 with --tls-port; certificate files replaced under it."""

    def test_tls_only_and_rotation(self):
        tmp = tempfile.mkdtemp(prefix="lockq-tls-rot-")
        try:
            a, b = make_certs(tmp, "a"), make_certs(tmp, "b")
            live = os.path.join(tmp, "live")
            os.makedirs(live)
            for f in ("server.crt", "server.key", "ca.crt"):
                shutil.copy(os.path.join(a, f), os.path.join(live, f))
            port, amqps = free_port(), free_port()
            data = os.path.join(tmp, "data")
            log = open(os.path.join(tmp, "node.log"), "wb")
            proc = lockq_cluster.spawn([lockq_cluster.LOCKQD, "--data-dir", data, "--resp-port", "0",
                                        "--amqp-port", "0", "--http-port", "0",
                                        "--raft-addr", "127.0.0.1:%d" % free_port()] +
                                       tls_args(live, port, amqps, auth="no"), stdout=log, stderr=subprocess.STDOUT)
            try:
                ca_a, ca_b = os.path.join(a, "ca.crt"), os.path.join(b, "ca.crt")
                old = tls_client(port, ca_a)
                lockq_cluster.wait_until(lambda: self._answers(old), "the TLS port answers", timeout=30)
                self.assertTrue(old.set("rot", "1"))
                # Replace the files as deployment tools do (write beside, rename over).
                for f in ("server.crt", "server.key"):
                    shutil.copy(os.path.join(b, f), os.path.join(live, f + ".new"))
                    os.rename(os.path.join(live, f + ".new"), os.path.join(live, f))
                new = tls_client(port, ca_b)
                self.assertEqual(new.get("rot"), b"1")  # a new connection sees the new certificate
                with self.assertRaises(redis.ConnectionError):
                    tls_client(port, ca_a).ping()       # and no longer the old one
                self.assertTrue(old.ping())             # the old connection keeps working
                self.assertEqual(old.get("rot"), b"1")
                # A broken file: the previous certificate stays, logged once.
                with open(os.path.join(live, "server.crt"), "w") as f:
                    f.write("not a certificate\n")
                self.assertTrue(tls_client(port, ca_b).ping())
                self.assertTrue(tls_client(port, ca_b).ping())
                self.assertIsNone(proc.poll())
            finally:
                proc.kill()
                proc.wait(timeout=10)
                log.close()
            with open(os.path.join(tmp, "node.log"), "rb") as f:
                text = f.read().decode(errors="replace")
            self.assertEqual(text.count("cannot be loaded; keeping the previous"), 1, text[-3000:])
        finally:
            shutil.rmtree(tmp, ignore_errors=True)

    @staticmethod
    def _answers(r):
        try:
            return r.ping()
        except redis.RedisError:
            return False


class StartupErrorsTest(unittest.TestCase):
    def run_lockqd(self, *args):
        tmp = tempfile.mkdtemp(prefix="lockq-tls-err-")
        try:
            return subprocess.run([lockq_cluster.LOCKQD, "--data-dir", os.path.join(tmp, "d"), "--resp-port", "0",
                                   "--amqp-port", "0", "--raft-addr", "127.0.0.1:%d" % free_port()] + list(args),
                                  capture_output=True, text=True, timeout=RUN_TIMEOUT_S)
        finally:
            shutil.rmtree(tmp, ignore_errors=True)

    def test_missing_and_bad_files(self):
        p = self.run_lockqd("--tls-port", str(free_port()), "--tls-cert-file", "/nonexistent/s.crt",
                            "--tls-key-file", "/nonexistent/s.key", "--tls-auth-clients", "no")
        self.assertEqual(p.returncode, 2)
        self.assertIn("--tls-cert-file '/nonexistent/s.crt': cannot read", p.stderr)
        p = self.run_lockqd("--tls-port", str(free_port()))
        self.assertEqual(p.returncode, 2)
        self.assertIn("need --tls-cert-file and --tls-key-file", p.stderr)
        tmp = tempfile.mkdtemp(prefix="lockq-tls-err-")
        try:
            d = make_certs(tmp, "a")
            p = self.run_lockqd("--tls-port", str(free_port()), "--tls-cert-file", os.path.join(d, "server.crt"),
                                "--tls-key-file", os.path.join(d, "server.key"))
            self.assertEqual(p.returncode, 2)
            self.assertIn("--tls-auth-clients yes needs --tls-ca-cert-file", p.stderr)
            p = self.run_lockqd("--tls-port", str(free_port()), "--tls-cert-file", os.path.join(d, "server.crt"),
                                "--tls-key-file", os.path.join(d, "client.key"), "--tls-auth-clients", "no")
            self.assertEqual(p.returncode, 1)
            self.assertIn("TLS: key file", p.stderr)
        finally:
            shutil.rmtree(tmp, ignore_errors=True)


def handshake(port, ca, max_version=None, cert=None, key=None):
    """One raw TLS connection: PING, then (protocol, cipher) as negotiated."""
    ctx = ssl.create_default_context(cafile=ca)
    if max_version is not None:
        ctx.maximum_version = max_version
    if cert:
        ctx.load_cert_chain(cert, key)
    with socket.create_connection(("127.0.0.1", port), timeout=10) as raw:
        with ctx.wrap_socket(raw, server_hostname="127.0.0.1") as s:
            s.sendall(b"PING\r\n")
            reply = s.recv(64)
            if reply != b"+PONG\r\n":  # TLS 1.3: a refused client certificate shows after the handshake
                raise ConnectionError("answered %r" % reply)
            return s.version(), s.cipher()[0]


class TlsOptionsTest(unittest.TestCase):
    """Redis's --tls-ca-cert-dir, --tls-key-file-pass, --tls-protocols,
    --tls-ciphers and --tls-ciphersuites (one lockqd each, TLS only)."""

    @classmethod
    def setUpClass(cls):
        cls.tmp = tempfile.mkdtemp(prefix="lockq-tls-opt-")
        cls.certs = make_certs(cls.tmp, "a")
        cls.ca = os.path.join(cls.certs, "ca.crt")

    @classmethod
    def tearDownClass(cls):
        shutil.rmtree(cls.tmp, ignore_errors=True)

    def lockqd(self, *args, auth="no", key=None):
        """A running lockqd with these TLS flags; returns its TLS port (killed at cleanup)."""
        port = free_port()
        d = tempfile.mkdtemp(dir=self.tmp)
        argv = [lockq_cluster.LOCKQD, "--data-dir", os.path.join(d, "data"), "--resp-port", "0", "--amqp-port", "0",
                "--amqps-port", "0", "--http-port", "0", "--raft-addr", "127.0.0.1:%d" % free_port(),
                "--tls-port", str(port), "--tls-cert-file", os.path.join(self.certs, "server.crt"),
                "--tls-key-file", key or os.path.join(self.certs, "server.key"), "--tls-auth-clients", auth]
        log = open(os.path.join(d, "node.log"), "wb")
        proc = lockq_cluster.spawn(argv + list(args), stdout=log, stderr=subprocess.STDOUT)
        self.addCleanup(log.close)
        self.addCleanup(proc.wait, 10)
        self.addCleanup(proc.kill)

        def up():
            if proc.poll() is not None:
                with open(os.path.join(d, "node.log")) as f:
                    self.fail("lockqd exited: " + f.read()[-2000:])
            try:
                return handshake(port, self.ca)
            except OSError:
                return False
        lockq_cluster.wait_until(up, "the TLS port answers", timeout=30)
        return port

    def startup_error(self, *args):
        tmp = tempfile.mkdtemp(dir=self.tmp)
        p = subprocess.run([lockq_cluster.LOCKQD, "--data-dir", os.path.join(tmp, "d"), "--resp-port", "0",
                            "--amqp-port", "0", "--amqps-port", "0", "--http-port", "0",
                            "--raft-addr", "127.0.0.1:%d" % free_port(), "--tls-port", str(free_port()),
                            "--tls-cert-file", os.path.join(self.certs, "server.crt"),
                            "--tls-auth-clients", "no"] + list(args),
                           capture_output=True, text=True, timeout=RUN_TIMEOUT_S)
        self.assertNotEqual(p.returncode, 0, p.stderr)
        return p.stderr

    def test_protocols_tls13_only_refuses_a_tls12_client(self):
        port = self.lockqd("--tls-protocols", "TLSv1.3")
        self.assertEqual(handshake(port, self.ca)[0], "TLSv1.3")
        with self.assertRaises(ssl.SSLError):
            handshake(port, self.ca, max_version=ssl.TLSVersion.TLSv1_2)

    def test_protocols_tls12_only(self):
        port = self.lockqd("--tls-protocols", "tlsv1.2")
        self.assertEqual(handshake(port, self.ca)[0], "TLSv1.2")

    def test_ciphers_and_ciphersuites(self):
        port = self.lockqd("--tls-protocols", "TLSv1.2", "--tls-ciphers", "ECDHE-ECDSA-CHACHA20-POLY1305")
        self.assertEqual(handshake(port, self.ca), ("TLSv1.2", "ECDHE-ECDSA-CHACHA20-POLY1305"))
        port = self.lockqd("--tls-ciphersuites", "TLS_CHACHA20_POLY1305_SHA256")
        self.assertEqual(handshake(port, self.ca), ("TLSv1.3", "TLS_CHACHA20_POLY1305_SHA256"))

    def test_passphrase_protected_key(self):
        enc = os.path.join(self.tmp, "server-enc.key")
        subprocess.run(["openssl", "pkey", "-in", os.path.join(self.certs, "server.key"), "-aes256",
                        "-passout", "pass:s3cret", "-out", enc], check=True, timeout=RUN_TIMEOUT_S)
        port = self.lockqd("--tls-key-file-pass", "s3cret", key=enc)
        self.assertEqual(handshake(port, self.ca)[0], "TLSv1.3")
        self.assertIn("TLS: key file", self.startup_error("--tls-key-file", enc))  # no passphrase: no prompt
        self.assertIn("TLS: key file", self.startup_error("--tls-key-file", enc, "--tls-key-file-pass", "wrong"))

    def test_ca_cert_dir_verifies_client_certificates(self):
        cadir = os.path.join(self.tmp, "cadir")
        os.makedirs(cadir, exist_ok=True)
        shutil.copy(self.ca, os.path.join(cadir, "ca.pem"))
        subprocess.run(["openssl", "rehash", cadir], check=True, timeout=RUN_TIMEOUT_S)
        # `optional` (lockqd() waits with a connection that has no client
        # certificate); a certificate that is sent is verified against the dir.
        port = self.lockqd("--tls-ca-cert-dir", cadir, auth="optional")
        cert, key = os.path.join(self.certs, "client.crt"), os.path.join(self.certs, "client.key")
        self.assertEqual(handshake(port, self.ca, cert=cert, key=key)[0], "TLSv1.3")
        other = make_certs(self.tmp, "other")
        with self.assertRaises((ssl.SSLError, ConnectionError)):
            handshake(port, self.ca, cert=os.path.join(other, "client.crt"), key=os.path.join(other, "client.key"))

    def test_bad_values_stop_startup(self):
        key = ["--tls-key-file", os.path.join(self.certs, "server.key")]
        self.assertIn("is not one of TLSv1.2, TLSv1.3", self.startup_error(*key, "--tls-protocols", "TLSv1.1"))
        self.assertIn("TLS 1.2 ciphers 'NOPE'", self.startup_error(*key, "--tls-ciphers", "NOPE"))
        self.assertIn("TLS 1.3 ciphersuites 'NOPE'", self.startup_error(*key, "--tls-ciphersuites", "NOPE"))
        self.assertIn("--tls-ca-cert-dir", self.startup_error(*key, "--tls-ca-cert-dir", "/nonexistent/cadir"))
        help_text = subprocess.run([lockq_cluster.LOCKQD, "--help"], capture_output=True, text=True,
                                   timeout=RUN_TIMEOUT_S).stdout
        for flag in ("--tls-ca-cert-dir", "--tls-key-file-pass", "--tls-protocols", "--tls-ciphers",
                     "--tls-ciphersuites"):
            self.assertIn(flag, help_text)


def main():
    global LOCKQ
    LOCKQ = lockq_cluster.take_option("--lockq")
    lockq_cluster.main()


if __name__ == "__main__":
    main()
