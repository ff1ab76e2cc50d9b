// Replies that come later, and pushes (docs/design/native-locks.md,
// "Deferred replies"):
//
//  - A kCmdClientRef command (LOCK.ACQUIRE, ELECT.CAMPAIGN) is proposed as
//    `LOCKQ.AS node nonce conn slot cmd...`, so the state machine knows
//    which connection and reply slot asked. If it has to wait, its
//    immediate reply is sm::Reply::Deferred() and the slot stays open; the
//    grant, timeout or NOSESSION arrives as an event of a later entry.
//  - Every node applies every entry and sees every event; it delivers those
//    addressed to its own connections (node id and process nonce). A
//    follower therefore answers its blocked clients itself.
//  - Nothing is left behind by a vanished client: a connection that closes
//    proposes LOCKQ.CANCEL for its open slots, and a grant that finds no
//    open slot (client gone, or told TRYAGAIN) is cancelled, which releases
//    it. A restarted node's LOCKQ.INCARNATION drops its older waiters.
//  - A WAIT that no entry answers by WAIT + --no-leader-timeout-ms (no
//    leader) gets TRYAGAIN and is cancelled, rather than hang.
//  - Lock-lost messages are RESP3 pushes (`>4 lock.lost name token
//    reason`) to connections that said HELLO 3. ELECT.OBSERVE connections
//    get `elect name value token` (value and token nil without a leader)
//    after each entry that changed the election's holder.

#include <spdlog/spdlog.h>

#include <string>

#include "common/clock.h"
#include "common/error_class.h"
#include "common/strings.h"
#include "server/resp/resp_session.h"
#include "server/core.h"
#include "server/resp/resp_server.h"
#include "sm/state_machine.h"

namespace lockq::server {

namespace {

constexpr std::string_view kElectPrefix = "elect:";  // elect_family.cc's lock names
constexpr size_t kObservesPerConnectionMax = 1024;

// Not answered by the state machine: it may still be queued or granted
// (outcome table, common/error_class.h).
bool MaybeQueued(const sm::Reply& r) { return r.is_error() && IsTryAgain(r.str); }

constexpr const char* kErrWaitUnanswered =
    "TRYAGAIN no answer to the lock wait (no leader?); outcome unknown, the request is being cancelled";

// The WAIT argument of a prechecked LOCK.ACQUIRE / ELECT.CAMPAIGN; 0 when
// absent or unlimited.
uint64_t WaitMs(const sm::Argv& argv) {
  for (size_t i = 2; i + 1 < argv.size(); i++) {
    if (EqualsIgnoreCase(argv[i], "WAIT")) {
      auto v = ParseInt64(argv[i + 1]);
      return v && *v > 0 ? static_cast<uint64_t>(*v) : 0;
    }
  }
  return 0;
}

}  // namespace

sm::ClientRef RespServer::RefOf(uint64_t conn_id, uint64_t slot) const {
  return {core_->node().id(), core_->nonce(), conn_id, slot};
}

void RespServer::SubmitWithClient(const std::shared_ptr<RespSession>& conn, sm::Argv argv, uint64_t slot) {
  sm::ClientRef ref = RefOf(conn->id(), slot);
  uint64_t wait = WaitMs(argv);
  sm::Argv wrapped = WrapUser(*conn, core_->WrapAs(ref.conn, ref.slot, std::move(argv)));
  conn->MarkDeferred(slot);
  if (wait != 0) {
    backstops_.emplace(SystemClock().MonotonicMs() + wait + config_.limits.no_leader_timeout_ms, ref);
  }
  std::weak_ptr<RespSession> weak = conn;
  core_->Submit(std::move(wrapped), [this, weak, slot, ref](sm::Reply reply) {
    if (reply.is_deferred()) return;  // queued: the answer comes as an event
    auto c = weak.lock();
    bool delivered = c && c->FillDeferred(slot, reply);
    // The client was told TRYAGAIN, yet the request may have been queued or
    // granted: take it back so no lock waits for someone who gave up.
    if (delivered && MaybeQueued(reply)) ProposeCancel(ref);
  });
}

void RespServer::BackstopCb(uv_timer_t* h) noexcept { static_cast<RespServer*>(h->data)->ExpireBackstops(); }

void RespServer::ExpireBackstops() {
  uint64_t now = SystemClock().MonotonicMs();
  while (!backstops_.empty() && backstops_.begin()->first <= now) {
    sm::ClientRef ref = backstops_.begin()->second;
    backstops_.erase(backstops_.begin());
    auto it = conns_.find(ref.conn);
    if (it == conns_.end() || ref.nonce != core_->nonce()) continue;
    if (it->second->FillDeferred(ref.slot, sm::Reply::Error(kErrWaitUnanswered))) ProposeCancel(ref);
  }
}

void RespServer::SubmitForChannel(const std::shared_ptr<RespSession>& conn, sm::Argv argv, uint64_t slot) {
  if (conn->protocol() < 3 && EqualsIgnoreCase(argv[0], "Q.CONSUME")) {
    conn->Fill(slot, sm::Reply::Error("ERR Q.CONSUME delivers RESP3 pushes: send HELLO 3 first, or use Q.FETCH"));
    return;
  }
  conn->set_used_queues();
  sm::Argv wrapped = WrapUser(*conn, core_->WrapAs(conn->id(), 0, std::move(argv)));
  std::weak_ptr<RespSession> weak = conn;
  core_->Submit(std::move(wrapped), [weak, slot](sm::Reply reply) {
    if (auto c = weak.lock()) c->Fill(slot, reply);
  });
}

void RespServer::ProposeCancel(const sm::ClientRef& c) {
  core_->SubmitCleanup({"LOCKQ.CANCEL", std::to_string(c.node), std::to_string(c.nonce), std::to_string(c.conn),
                        std::to_string(c.slot)});
}

void RespServer::OnEvents(const sm::Events& events) {
  uint64_t me = core_->node().id();
  uint64_t nonce = core_->nonce();
  std::set<std::string> changed;
  for (const sm::Event& e : events) {
    if (e.kind == sm::Event::Kind::kChange) {
      if (e.topic == sm::kAclUserDeletedTopic) CloseUserConnections(e.reply.str);
      if (observers_.count(e.topic) != 0) changed.insert(e.topic);
      continue;
    }
    if (e.client.node != me || e.client.nonce != nonce) continue;
    auto it = conns_.find(e.client.conn);
    RespSession* c = it == conns_.end() ? nullptr : it->second.get();
    if (e.kind == sm::Event::Kind::kReply) {
      if (c != nullptr && c->FillDeferred(e.client.slot, e.reply)) continue;
      // A grant nobody will learn of: release it.
      if (e.reply.kind == sm::Reply::Kind::kArray) ProposeCancel(e.client);
    } else if (c != nullptr && c->protocol() >= 3) {
      sm::Reply push = e.reply;  // out of band, whatever shape the engine gave it
      push.kind = sm::Reply::Kind::kPush;
      c->Push(push);
    }
  }
  for (const std::string& lock : changed) NotifyObservers(lock);
}

void RespServer::NotifyObservers(const std::string& lock) {
  auto it = observers_.find(lock);
  if (it == observers_.end()) return;
  std::string election = lock.substr(kElectPrefix.size());
  sm::Reply leader = core_->state().Query({"ELECT.LEADER", election});
  sm::Reply value = sm::Reply::Null(), token = sm::Reply::Null();
  if (leader.kind == sm::Reply::Kind::kMap && leader.elems.size() >= 4) {
    value = leader.elems[1];
    token = leader.elems[3];
  }
  sm::Reply push{sm::Reply::Kind::kPush, 0, {}, {sm::Reply::Bulk("elect"), sm::Reply::Bulk(election), value, token}};
  for (uint64_t id : it->second) {
    auto c = conns_.find(id);
    if (c != conns_.end()) c->second->Push(push);
  }
}

void RespServer::Observe(const std::shared_ptr<RespSession>& conn, const std::string& election, uint64_t slot) {
  if (conn->watching().size() >= kObservesPerConnectionMax && conn->watching().count(election) == 0) {
    conn->Fill(slot, sm::Reply::Error("ERR too many observed elections on this connection (1024)"));
    return;
  }
  conn->watching().insert(election);
  observers_[std::string(kElectPrefix) + election].insert(conn->id());
  // The current leader, read through the log (linearizable); changes after
  // it arrive as pushes.
  std::weak_ptr<RespSession> weak = conn;
  core_->Submit({"ELECT.LEADER", election}, [weak, slot](sm::Reply r) {
    if (auto c = weak.lock()) c->Fill(slot, r);
  });
}

void RespServer::Unobserve(RespSession& conn, const std::string& election) {
  conn.watching().erase(election);
  auto it = observers_.find(std::string(kElectPrefix) + election);
  if (it == observers_.end()) return;
  it->second.erase(conn.id());
  if (it->second.empty()) observers_.erase(it);
}

}  // namespace lockq::server
