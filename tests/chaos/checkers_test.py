#!/usr/bin/python3
"""Each chaos checker catches a planted bug and accepts a good history
(no cluster; fast). A checker that never fails proves nothing, so every
anomaly the chaos suite claims to look for has a known-bad history here:
a stale read, a lost increment, two lock holders, a token going down, a
lost confirmed message, a redelivery without its flag, a request past its
bound.

Run by ctest as: checkers_test.py (python3-redis and pika, /usr/bin/python3)
"""
import unittest

import checkers
import linearizable
from history import Op


def op(f, key, value, invoke, complete, outcome="ok", result=None, node=0, process=0):
    return Op(process, f, key, value, invoke, node, complete=complete, outcome=outcome, result=result)


def w(value, invoke, complete, outcome="ok", key="k"):
    return op("write", key, value, invoke, complete, outcome)


def r(result, invoke, complete, key="k"):
    return op("read", key, None, invoke, complete, result=result)


class RegisterTest(unittest.TestCase):
    def verdict(self, ops):
        return all(res.ok for res in linearizable.check(ops))

    def test_sequential_history_is_linearizable(self):
        self.assertTrue(self.verdict([r(None, 0, 1), w("a", 2, 3), r("a", 4, 5), w("b", 6, 7), r("b", 8, 9)]))

    def test_concurrent_reads_may_see_either_side_of_a_write(self):
        self.assertTrue(self.verdict([w("a", 0, 1), w("b", 2, 10), r("b", 3, 4), r("a", 3, 4.5)]))
        self.assertTrue(self.verdict([w("a", 0, 1), w("b", 2, 10), r("a", 3, 4), r("b", 5, 6)]))
        # Once a read returned b, a later read may not go back to a.
        self.assertFalse(self.verdict([w("a", 0, 1), w("b", 2, 10), r("b", 3, 4), r("a", 5, 6)]))

    def test_stale_read_is_caught(self):
        # b was acknowledged before the read began, yet the read saw a.
        self.assertFalse(self.verdict([w("a", 0, 1), w("b", 2, 3), r("a", 4, 5)]))

    def test_read_of_a_never_written_value_is_caught(self):
        self.assertFalse(self.verdict([w("a", 0, 1), r("zz", 2, 3)]))

    def test_unknown_write_may_take_effect_late_or_never(self):
        maybe = w("b", 2, 3, outcome="info")
        self.assertTrue(self.verdict([w("a", 0, 1), maybe, r("a", 4, 5), r("b", 6, 7)]))
        self.assertTrue(self.verdict([w("a", 0, 1), maybe, r("a", 4, 5)]))
        # ...but not before it was invoked.
        self.assertFalse(self.verdict([w("a", 0, 1), r("b", 1.5, 1.8), maybe]))

    def test_failed_write_never_takes_effect(self):
        self.assertFalse(self.verdict([w("a", 0, 1), w("b", 2, 3, outcome="fail"), r("b", 4, 5)]))

    def test_keys_are_checked_apart(self):
        res = linearizable.check([w("a", 0, 1, key="x"), r("a", 2, 3, key="x"),
                                  w("b", 0, 1, key="y"), r(None, 2, 3, key="y")])
        self.assertEqual([(x.key, x.ok) for x in res], [("x", True), ("y", False)])

    def test_many_concurrent_writers_stay_fast(self):
        ops, t = [], 0.0
        for i in range(600):  # 6 overlapping writers and readers, one key
            ops.append(w("v%d" % i, t, t + 0.5))
            ops.append(r("v%d" % i, t + 0.55, t + 0.6))
            t += 0.1
        self.assertTrue(self.verdict(ops))


class CounterTest(unittest.TestCase):
    def incr(self, result, outcome="ok"):
        return op("incr", "c", 1, 0, 1, outcome, result=result)

    def test_good_counter(self):
        ops = [self.incr(1), self.incr(2), self.incr(None, "info"), self.incr(None, "fail")]
        self.assertEqual(checkers.counter(ops, 2), [])
        self.assertEqual(checkers.counter(ops, 3), [])  # the unknown one was applied

    def test_lost_increment_is_caught(self):
        ops = [self.incr(1), self.incr(2), self.incr(3)]
        self.assertTrue(checkers.counter(ops, 2))

    def test_duplicate_answer_is_caught(self):
        self.assertTrue(checkers.counter([self.incr(1), self.incr(1)], 2))

    def test_applied_failure_is_caught(self):
        self.assertTrue(checkers.counter([self.incr(1), self.incr(None, "fail")], 2))


class LockTest(unittest.TestCase):
    def grant(self, token, start, end, lock="L"):
        return {"lock": lock, "token": token, "start": start, "end": end}

    def test_one_holder_at_a_time(self):
        self.assertEqual(checkers.lock_holds([self.grant(1, 0, 1), self.grant(2, 1.5, 2), self.grant(3, 2, 3)]), [])

    def test_two_holders_are_caught(self):
        self.assertTrue(checkers.lock_holds([self.grant(1, 0, 2), self.grant(2, 1, 3)]))
        # ...also when a short hold sits between them.
        self.assertTrue(checkers.lock_holds([self.grant(1, 0, 5), self.grant(2, 1, 2), self.grant(3, 3, 4)]))

    def test_other_locks_do_not_conflict(self):
        self.assertEqual(checkers.lock_holds([self.grant(1, 0, 2), self.grant(2, 1, 3, lock="M")]), [])

    def test_tokens_never_go_down_in_write_order(self):
        good = [{"seq": 1, "token": 5}, {"seq": 2, "token": 5}, {"seq": 4, "token": 9}]
        self.assertEqual(checkers.fenced_writes(good), [])
        self.assertTrue(checkers.fenced_writes(good + [{"seq": 5, "token": 7}]))
        self.assertTrue(checkers.fenced_writes(good + [{"seq": 2, "token": 9}]))


class QueueTest(unittest.TestCase):
    def test_good_queue_with_a_redelivery(self):
        out, dups = checkers.total_queue({"a", "b"}, {"c"}, [("a", False), ("b", False), ("a", True), ("c", False)])
        self.assertEqual((out, dups), ([], 1))

    def test_lost_confirmed_message_is_caught(self):
        out, _ = checkers.total_queue({"a", "b"}, set(), [("a", False)])
        self.assertTrue(out)

    def test_phantom_and_unflagged_duplicate_are_caught(self):
        self.assertTrue(checkers.total_queue({"a"}, set(), [("a", False), ("x", False)])[0])
        self.assertTrue(checkers.total_queue({"a"}, set(), [("a", False), ("a", False)])[0])


class BoundsTest(unittest.TestCase):
    def test_late_answer_on_a_running_node_is_caught(self):
        late = op("write", "k", "v", 0, 9, node=1)
        self.assertTrue(checkers.bounds([late], {}, 4.3))
        self.assertEqual(checkers.bounds([late], {1: [(5, 6)]}, 4.3), [])  # the node was paused meanwhile
        self.assertEqual(checkers.bounds([op("write", "k", "v", 0, 1)], {}, 4.3), [])

    def test_longest_gap(self):
        self.assertAlmostEqual(checkers.longest_gap([1, 2, 5, 5.5], 0, 6), 3)
        self.assertAlmostEqual(checkers.longest_gap([], 0, 6), 6)


if __name__ == "__main__":
    unittest.main(verbosity=2)
