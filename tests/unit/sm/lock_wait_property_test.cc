// A seeded random workload of blocking acquires, releases, cancels,
// restarts, sessions and expiry, checked against the lock table's rules:
// every waiter is answered at most once, grants come from the head of its
// queue in FIFO order (no barging), never after the wait deadline or the
// session's end, timeouts never come early, tokens strictly increase,
// lost-lock pushes only at a real loss, gone connections hear nothing, and
// modes are respected. A replica that applies the same log and one restored
// from a snapshot half-way agree with it on every reply, event and byte.

#include <gtest/gtest.h>

#include <algorithm>
#include <deque>
#include <iterator>
#include <map>
#include <memory>
#include <random>

#include "lock_test_util.h"
#include "sm/state_machine.h"

namespace lockq::sm {
namespace {

using namespace lock_test;

struct Req {
  std::string lock;
  uint64_t wait_deadline = 0;
  uint64_t session = 0;
  bool waiting = false;
  bool gone = false;  // cancelled, or its node restarted
};

struct Model {
  std::map<ClientRef, Req> reqs;
  std::map<std::string, std::deque<ClientRef>> queues;
  std::vector<std::pair<std::string, uint64_t>> grants;  // (lock, token), for releases
  std::map<uint64_t, ClientRef> holder_client;           // token -> client (client holders)
  uint64_t last_token = 0;

  void Dequeue(const ClientRef& c) {
    auto& q = queues[reqs[c].lock];
    q.erase(std::find(q.begin(), q.end(), c));
    reqs[c].waiting = false;
  }
};

Argv AsArgv(const ClientRef& c, const Argv& cmd) {
  Argv out{"LOCKQ.AS", std::to_string(c.node), std::to_string(c.nonce), std::to_string(c.conn),
           std::to_string(c.slot)};
  out.insert(out.end(), cmd.begin(), cmd.end());
  return out;
}

const char* kLocks[] = {"a", "b", "c"};

struct Seen {
  size_t grants = 0, timeouts = 0, nosession = 0, pushes = 0;
};

void RunWorkload(uint64_t seed, Seen* seen) {
  SCOPED_TRACE("seed " + std::to_string(seed));
  std::mt19937_64 rng(seed);
  auto rnd = [&rng](uint64_t n) { return rng() % n; };
  StateMachine sm, replica;
  std::unique_ptr<StateMachine> restored;
  Model m;
  uint64_t t = 1000, index = 0, next_conn = 1, sessions = 0;
  std::map<uint64_t, uint64_t> nonce = {{1, 1}, {2, 1}, {3, 1}};
  size_t& grants_seen = seen->grants;
  size_t& timeouts_seen = seen->timeouts;
  size_t& nosession_seen = seen->nosession;
  size_t& pushes_seen = seen->pushes;
  constexpr int kSteps = 1500;
  for (int step = 0; step < kSteps; step++) {
    if (step == kSteps / 2) {
      restored = std::make_unique<StateMachine>();
      ASSERT_TRUE(restored->Restore(sm.Snapshot()).ok());
    }
    // What holds before this entry (in the previous entry's time).
    std::map<uint64_t, uint64_t> session_deadline;  // live ones
    for (uint64_t id = 1; id <= sessions; id++) {
      Reply r = sm.Query({"SESSION.INFO", std::to_string(id)});
      if (r.kind == Reply::Kind::kMap) session_deadline[id] = sm.now_ms() + r.elems[3].integer;
    }
    std::map<uint64_t, uint64_t> lease_end;  // live holders' token -> expiry
    for (const char* name : kLocks) {
      Reply info = sm.Query({"LOCK.INFO", name});
      for (const Reply& h : info.elems[5].elems) lease_end[h.elems[1].integer] = h.elems[7].integer;
    }

    bool announce = rnd(80) == 0;
    t += announce ? 2000 : rnd(40);
    Argv cmd;
    ClientRef acquirer;
    uint64_t closing = 0;
    uint64_t k = rnd(100);
    if (announce) {
      cmd = {"LOCKQ.ANNOUNCE", "1", "x:1"};
    } else if (k < 40) {
      uint64_t node = 1 + rnd(3);
      acquirer = {node, nonce[node], next_conn++, 1};
      std::string lock = kLocks[rnd(3)];
      Argv a{"LOCK.ACQUIRE", lock};
      uint64_t mode = rnd(3);
      if (mode == 1) a.push_back("SHARED");
      if (mode == 2) a.insert(a.end(), {"SEMAPHORE", rnd(4) == 0 ? "3" : "2"});
      Req req{lock};
      if (sessions > 0 && rnd(3) == 0) {
        req.session = sessions - rnd(std::min<uint64_t>(sessions, 3));  // a recent one
        a.insert(a.end(), {"SESSION", std::to_string(req.session)});
      } else {
        a.insert(a.end(), {"TTL", std::to_string(10 + rnd(300))});
      }
      uint64_t w = rnd(10);
      if (w >= 3) {
        uint64_t ms = w < 5 ? 0 : 1 + rnd(300);
        a.insert(a.end(), {"WAIT", std::to_string(ms)});
        req.wait_deadline = ms == 0 ? 0 : std::max(t, sm.now_ms()) + ms;
      }
      m.reqs[acquirer] = req;
      cmd = AsArgv(acquirer, a);
    } else if (k < 52 && !m.grants.empty()) {
      auto [lock, token] = m.grants[rnd(m.grants.size())];
      cmd = {"LOCK.RELEASE", lock, std::to_string(token)};
    } else if (k < 60 && !m.reqs.empty()) {
      auto it = m.reqs.begin();
      std::advance(it, static_cast<long>(rnd(m.reqs.size())));
      const ClientRef& c = it->first;
      cmd = {"LOCKQ.CANCEL", std::to_string(c.node), std::to_string(c.nonce),
             std::to_string(c.conn), std::to_string(c.slot)};
    } else if (k < 66) {
      cmd = {"SESSION.OPEN", std::to_string(50 + rnd(400))};
    } else if (k < 72 && sessions > 0) {
      cmd = {"SESSION.KEEPALIVE", std::to_string(1 + rnd(sessions))};
    } else if (k < 75 && sessions > 0) {
      closing = 1 + rnd(sessions);
      cmd = {"SESSION.CLOSE", std::to_string(closing)};
    } else if (k < 88) {
      cmd = {"LOCKQ.EXPIRE", std::to_string(1 + rnd(4))};
    } else if (k < 90) {
      uint64_t node = 1 + rnd(3);
      cmd = {"LOCKQ.INCARNATION", std::to_string(node), std::to_string(++nonce[node])};
    } else {
      cmd = {"LOCK.INFO", kLocks[rnd(3)]};
    }

    Batch b;
    b.leader_time_ms = t;
    b.commands = {cmd};
    ++index;
    std::vector<Reply> replies = sm.Apply(b, index);
    Events ev = sm.TakeEvents();
    const uint64_t now = sm.now_ms();
    // Determinism: a replica, and (second half) a restored replica.
    EXPECT_EQ(replica.Apply(b, index), replies) << step;
    EXPECT_EQ(replica.TakeEvents(), ev) << step;
    if (restored) {
      EXPECT_EQ(restored->Apply(b, index), replies) << step;
      EXPECT_EQ(restored->TakeEvents(), ev) << step;
      ASSERT_EQ(restored->Snapshot(), sm.Snapshot()) << step;
    }
    const Reply& reply = replies[0];

    // The command's own effect on the model: a cancel or a restart takes
    // its waiters out before the queue is pumped; a new request joins
    // after what the pump did (below).
    if (cmd[0] == "LOCKQ.CANCEL") {
      ClientRef c{std::stoull(cmd[1]), std::stoull(cmd[2]), std::stoull(cmd[3]),
                  std::stoull(cmd[4])};
      if (m.reqs[c].waiting) m.Dequeue(c);
      m.reqs[c].gone = true;
    } else if (cmd[0] == "LOCKQ.INCARNATION") {
      uint64_t node = std::stoull(cmd[1]);
      for (auto& [c, r] : m.reqs) {
        if (c.node == node && r.waiting) {
          m.Dequeue(c);
          r.gone = true;
        }
      }
    }

    for (const Event& e : ev) {
      if (e.kind == Event::Kind::kChange) continue;
      auto it = m.reqs.find(e.client);
      ASSERT_NE(it, m.reqs.end()) << step << " unknown client";
      Req& r = it->second;
      EXPECT_FALSE(r.gone) << step << " event for a gone connection";
      if (e.kind == Event::Kind::kPush) {
        pushes_seen++;
        uint64_t token = static_cast<uint64_t>(e.reply.elems[2].integer);
        const std::string& reason = e.reply.elems[3].str;
        EXPECT_EQ(m.holder_client[token], e.client) << step;
        if (reason == "expired") {
          EXPECT_TRUE(lease_end.count(token) == 0 || lease_end[token] <= now) << step;
        } else if (reason == "session expired") {
          EXPECT_TRUE(session_deadline.count(r.session) == 0 || session_deadline[r.session] <= now)
              << step;
        } else {
          EXPECT_EQ(reason, "session closed") << step;
          EXPECT_EQ(closing, r.session) << step;
        }
        continue;
      }
      // A deferred answer: only to a waiting request, once.
      ASSERT_TRUE(r.waiting) << step << " answer to a request that is not waiting";
      if (TokenOf(e.reply) > 0) {
        grants_seen++;
        EXPECT_EQ(m.queues[r.lock].front(), e.client) << step << " granted out of FIFO order";
        EXPECT_TRUE(r.wait_deadline == 0 || now < r.wait_deadline) << step << " granted too late";
        if (r.session != 0) {
          EXPECT_TRUE(session_deadline.count(r.session) && session_deadline[r.session] > now)
              << step << " granted for an ended session";
        }
        uint64_t token = static_cast<uint64_t>(TokenOf(e.reply));
        EXPECT_GT(token, m.last_token) << step;
        m.last_token = token;
        m.grants.emplace_back(r.lock, token);
        m.holder_client[token] = e.client;
      } else if (e.reply == kNil) {
        timeouts_seen++;
        EXPECT_NE(r.wait_deadline, 0u) << step << " WAIT 0 timed out";
        EXPECT_GE(now, r.wait_deadline) << step << " timed out early";
      } else {
        nosession_seen++;
        EXPECT_EQ(e.reply, E(errors::kNoSessionWhileWaiting)) << step;
        EXPECT_TRUE(closing == r.session || session_deadline.count(r.session) == 0 ||
                    session_deadline[r.session] <= now)
            << step;
      }
      m.Dequeue(e.client);
    }
    bool granted_at_once = false;
    if (!acquirer.empty()) {
      if (reply.is_deferred()) {
        m.reqs[acquirer].waiting = true;
        m.queues[m.reqs[acquirer].lock].push_back(acquirer);
      } else if (TokenOf(reply) > 0) {
        uint64_t token = static_cast<uint64_t>(TokenOf(reply));
        EXPECT_GT(token, m.last_token) << step;
        m.last_token = token;
        m.grants.emplace_back(m.reqs[acquirer].lock, token);
        m.holder_client[token] = acquirer;
        granted_at_once = true;
      }
    } else if (cmd[0] == "SESSION.OPEN" && reply.kind == Reply::Kind::kInt) {
      EXPECT_EQ(static_cast<uint64_t>(reply.integer), sessions + 1);
      sessions++;
    }
    if (granted_at_once) {
      EXPECT_TRUE(m.queues[m.reqs[acquirer].lock].empty()) << step << " barged past waiters";
    }
    // Every model waiter is still queued, in the same order.
    EXPECT_EQ(sm.lock_waiter_count(), [&] {
      size_t n = 0;
      for (const auto& [name, q] : m.queues) n += q.size();
      return n;
    }()) << step;
    for (const char* name : kLocks) {
      Reply info = sm.Query({"LOCK.INFO", name});
      const std::string& mode = info.elems[1].str;
      size_t holders = info.elems[5].elems.size();
      if (mode == "exclusive") {
        EXPECT_EQ(holders, 1u) << step;
      } else if (mode == "semaphore") {
        EXPECT_LE(holders, static_cast<size_t>(info.elems[3].integer)) << step;
      }
      EXPECT_EQ(info.elems[7].elems.size(), m.queues[name].size()) << step;
    }
    if (::testing::Test::HasFailure()) return;
  }
  EXPECT_EQ(replica.Snapshot(), sm.Snapshot());
}

TEST(LockWaitPropertyTest, RandomWorkloadsKeepTheRules) {
  Seen seen;
  for (uint64_t seed = 1; seed <= 20; seed++) {
    RunWorkload(seed, &seen);
    if (HasFailure()) return;
  }
  // The workloads reached every kind of answer.
  EXPECT_GT(seen.grants, 500u);
  EXPECT_GT(seen.timeouts, 100u);
  EXPECT_GT(seen.nosession, 10u);
  EXPECT_GT(seen.pushes, 100u);
}

}  // namespace
}  // namespace lockq::sm
