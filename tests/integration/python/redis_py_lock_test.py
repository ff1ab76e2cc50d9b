#!/usr/bin/python3
"""python3-redis's Lock, unchanged, against a real lockqd (issue 4).

redis-py's Lock runs its release/extend/reacquire Lua scripts with EVALSHA
and falls back to SCRIPT LOAD on NOSCRIPT; acquire is SET NX PX. Run by
ctest as: redis_py_lock_test.py --lockqd PATH. Uses Debian's python3-redis
(import under /usr/bin/python3).
"""
import multiprocessing
import time
import unittest

import redis
from redis.exceptions import LockError, LockNotOwnedError

import lockq_cluster
from lockq_cluster import Cluster, client


def count_worker(port, rounds, results):
    r = redis.Redis(port=port, socket_timeout=10)
    done = 0
    for _ in range(rounds):
        with r.lock("counter-lock", timeout=10, blocking_timeout=60, sleep=0.005):
            value = int(r.get("counter") or 0)
            r.set("counter", value + 1)
            done += 1
    results.put(done)


class RedisPyLockTest(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.server = Cluster(1)
        cls.port = cls.server.resp[0]
        cls.r = client(cls.port)

    @classmethod
    def tearDownClass(cls):
        cls.server.stop()

    def test_acquire_release_owned_locked(self):
        lock = self.r.lock("l1", timeout=5)
        self.assertTrue(lock.acquire(blocking=False))
        self.assertTrue(lock.locked())
        self.assertTrue(lock.owned())
        other = self.r.lock("l1", timeout=5)
        self.assertFalse(other.acquire(blocking=False))
        self.assertFalse(other.owned())
        lock.release()
        self.assertFalse(lock.locked())
        with self.assertRaises(LockError):
            lock.release()  # not held any more

    def test_blocking_acquire_times_out(self):
        holder = self.r.lock("l2", timeout=5)
        self.assertTrue(holder.acquire())
        waiter = self.r.lock("l2", timeout=5)
        self.assertFalse(waiter.acquire(blocking=True, blocking_timeout=0.3))
        holder.release()
        self.assertTrue(waiter.acquire(blocking=True, blocking_timeout=1))
        waiter.release()

    def test_extend_and_reacquire(self):
        lock = self.r.lock("l3", timeout=2)
        self.assertTrue(lock.acquire())
        self.assertTrue(lock.extend(10))  # adds to the remaining TTL
        self.assertGreater(self.r.pttl("l3"), 10000)
        self.assertTrue(lock.extend(3, replace_ttl=True))
        self.assertLessEqual(self.r.pttl("l3"), 3000)
        self.assertTrue(lock.reacquire())  # back to the lock's own timeout
        ttl = self.r.pttl("l3")
        self.assertTrue(1000 < ttl <= 2000, ttl)
        lock.release()
        with self.assertRaises(LockError):  # redis-py refuses before asking the server
            lock.extend(1)

    def test_scripts_survive_script_flush(self):
        lock = self.r.lock("l4", timeout=5)
        self.assertTrue(lock.acquire())
        self.r.script_flush()  # the next EVALSHA gets NOSCRIPT; redis-py must reload
        lock.release()
        self.assertFalse(lock.locked())

    def test_expired_lock_is_not_owned(self):
        lock = self.r.lock("l5", timeout=0.2)
        self.assertTrue(lock.acquire())
        time.sleep(0.6)
        self.assertFalse(lock.owned())
        with self.assertRaises(LockNotOwnedError):
            lock.release()

    def test_mutual_exclusion_by_counting(self):
        """8 processes x 100 rounds of lock -> GET -> SET+1 -> unlock = 800."""
        self.r.delete("counter")
        results = multiprocessing.Queue()
        procs = [multiprocessing.Process(target=count_worker, args=(self.port, 100, results))
                 for _ in range(8)]
        for p in procs:
            p.start()
        for p in procs:
            p.join(timeout=300)
        self.assertEqual(sum(results.get(timeout=5) for _ in procs), 800)
        self.assertEqual(int(self.r.get("counter")), 800)


if __name__ == "__main__":
    lockq_cluster.main()
