#!/usr/bin/python3
"""RESP SET load generator: raw sockets, one connection per client thread,
`SET key value` (value of --value-size bytes), closed loop. Same driver as
bench/etcd_put.py (see bench/loadgen.py). Prints one JSON line:
{"rps", "p50_ms", "p99_ms", "requests", "errors", ...}."""
import socket
import sys

import loadgen


class RespClient:
    def __init__(self, host, port, value):
        self.sock = socket.create_connection((host, port), timeout=10)
        self.sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        self.rfile = self.sock.makefile("rb")
        self.tail = b"\r\n$%d\r\n%s\r\n" % (len(value), value)

    def request(self, key):
        self.sock.sendall(b"*3\r\n$3\r\nSET\r\n$%d\r\n%s%s" % (len(key), key, self.tail))
        line = self.rfile.readline()
        if not line.startswith(b"+OK"):
            raise RuntimeError("reply %r" % line[:200])

    def close(self):
        self.sock.close()


def main():
    args = loadgen.parse_args(__doc__, 6379)
    return loadgen.run(args, lambda value: RespClient(args.host, args.port, value))


if __name__ == "__main__":
    sys.exit(main())
