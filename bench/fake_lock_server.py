#!/usr/bin/python3
"""Test double for bench/locks.py: a RESP server on 127.0.0.1 that keeps
locks in memory (no log, no disk) and implements the interface native
blocking locks will have: `LOCK.ACQUIRE name [TTL ms] [WAIT ms]` ->
[token, lease_ms] | nil (WAIT elapsed, or busy without WAIT), FIFO waiters;
`LOCK.RELEASE name token` -> 1 | NOTOWNER. TTL is accepted and ignored.

Two uses: check that `locks.py --mode native-wait` works before lockqd has
WAIT, and measure what the Python generator itself can do (its ceiling and
its handoff floor) with a server that costs nothing:

    bench/fake_lock_server.py --port 38999 --seconds 60 &
    bench/locks.py --port 38999 --mode native-wait --clients 50 --locks one
"""
import argparse
import asyncio
import collections

locks = {}                                            # name -> token held
waiters = collections.defaultdict(collections.deque)  # name -> futures, FIFO
last_token = [0]


def grant(name):
    last_token[0] += 1
    locks[name] = last_token[0]
    return last_token[0]


def granted(token):
    return b"*2\r\n:%d\r\n:30000\r\n" % token


async def handle(reader, writer):
    try:
        while True:
            line = await reader.readline()
            if not line:
                return
            args = []
            for _ in range(int(line[1:])):
                n = int((await reader.readline())[1:])
                args.append((await reader.readexactly(n + 2))[:-2])
            cmd = args[0].upper()
            if cmd == b"LOCK.ACQUIRE":
                name, opts = args[1], [a.upper() for a in args[2:]]
                wait = int(args[2 + opts.index(b"WAIT") + 1]) if b"WAIT" in opts else None
                if name not in locks:
                    writer.write(granted(grant(name)))
                elif wait is None:
                    writer.write(b"*-1\r\n")
                else:
                    fut = asyncio.get_running_loop().create_future()
                    waiters[name].append(fut)
                    try:
                        writer.write(granted(await asyncio.wait_for(asyncio.shield(fut), wait / 1000)))
                    except asyncio.TimeoutError:
                        if fut.done():
                            writer.write(granted(fut.result()))
                        else:
                            fut.cancel()
                            writer.write(b"*-1\r\n")
            elif cmd == b"LOCK.RELEASE":
                name = args[1]
                if locks.get(name) != int(args[2]):
                    writer.write(b"-NOTOWNER lock is not held with this token\r\n")
                else:
                    del locks[name]
                    q = waiters[name]
                    while q and q[0].cancelled():
                        q.popleft()
                    if q:
                        q.popleft().set_result(grant(name))
                    writer.write(b":1\r\n")
            elif cmd == b"PING":
                writer.write(b"+PONG\r\n")
            else:
                writer.write(b"-ERR unknown command\r\n")
            await writer.drain()
    except (ConnectionError, asyncio.IncompleteReadError):
        pass


async def main():
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--port", type=int, required=True)
    p.add_argument("--seconds", type=float, default=60, help="exit after this long")
    args = p.parse_args()
    server = await asyncio.start_server(handle, "127.0.0.1", args.port)
    async with server:
        await asyncio.sleep(args.seconds)


if __name__ == "__main__":
    asyncio.run(main())
