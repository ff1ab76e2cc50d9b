#!/usr/bin/python3
"""etcd v3 put load generator: one persistent HTTP/1.1 connection per client
thread (http.client), POST /v3/kv/put to etcd's JSON gateway (etcd 3.4:
/v3/kv/put; 3.3 used /v3beta) with body {"key": b64, "value": b64}, value of
--value-size bytes, closed loop. Same driver as bench/resp_set.py (see
bench/loadgen.py). Prints one JSON line: {"rps", "p50_ms", "p99_ms", ...}."""
import base64
import http.client
import sys

import loadgen

PATH = "/v3/kv/put"


class EtcdClient:
    def __init__(self, host, port, value):
        self.conn = http.client.HTTPConnection(host, port, timeout=10)
        self.conn.connect()
        import socket
        self.conn.sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        self.value_b64 = base64.b64encode(value)
        self.headers = {"Content-Type": "application/json"}

    def request(self, key):
        body = b'{"key":"%s","value":"%s"}' % (base64.b64encode(key), self.value_b64)
        self.conn.request("POST", PATH, body=body, headers=self.headers)
        resp = self.conn.getresponse()
        data = resp.read()
        if resp.status != 200 or b'"header"' not in data:
            raise RuntimeError("HTTP %d %r" % (resp.status, data[:200]))

    def close(self):
        self.conn.close()


def main():
    args = loadgen.parse_args(__doc__, 2379)
    return loadgen.run(args, lambda value: EtcdClient(args.host, args.port, value))


if __name__ == "__main__":
    sys.exit(main())
