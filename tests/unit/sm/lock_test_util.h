#pragma once
// Helpers shared by the native lock tests (lock_*_test.cc).

#include <cstdint>
#include <string>
#include <vector>

#include "sm/errors.h"
#include "sm/events.h"
#include "sm/reply.h"
#include "sm/state_machine.h"
#include "testlib/sm_harness.h"

namespace lockq::sm::lock_test {

// The bytes an empty state machine writes after its script cache: the
// empty lock table and queue engine (version 4 and 5 sections).
inline std::string EmptyTailAfterScripts() {
  constexpr size_t kHeader = 1 + 8 + 8 + 1 + 1 + 1;  // version, index, now, nodes, keys, scripts
  return StateMachine().Snapshot().substr(kHeader);
}

inline Reply I(int64_t v) { return Reply::Int(v); }
inline Reply B(std::string s) { return Reply::Bulk(std::move(s)); }
inline Reply E(std::string_view s) { return Reply::Error(std::string(s)); }
inline Reply Granted(int64_t token, int64_t lease_ms) {
  return Reply::Array({I(token), I(lease_ms)});
}
inline const Reply kNil = Reply::Null();
inline const Reply kNotOwner = E(errors::kNotOwner);
inline const Reply kStale = E(errors::kStaleToken);

// One holder as LOCK.INFO reports it.
inline Reply Holder(int64_t token, std::string owner, int64_t since_ms, int64_t expires_ms,
                    int64_t now_ms) {
  return Reply::Map({B("token"), I(token), B("owner"), B(std::move(owner)), B("since_ms"),
                     I(since_ms), B("expires_ms"), I(expires_ms), B("remaining_ms"),
                     I(expires_ms - now_ms), B("session"), I(0)});
}
inline Reply Info(std::string mode, std::vector<Reply> holders, int64_t last_token,
                  std::vector<Reply> waiters = {}, int64_t permits = 0) {
  return Reply::Map({B("mode"), B(std::move(mode)), B("permits"), I(permits), B("holders"),
                     Reply::Array(std::move(holders)), B("waiters"), Reply::Array(std::move(waiters)),
                     B("last_token"), I(last_token)});
}

// A holder through session `session`: its expiry is the session's deadline.
inline Reply SessionHolder(int64_t token, std::string owner, int64_t since_ms, int64_t expires_ms,
                           int64_t now_ms, int64_t session) {
  return Reply::Map({B("token"), I(token), B("owner"), B(std::move(owner)), B("since_ms"),
                     I(since_ms), B("expires_ms"), I(expires_ms), B("remaining_ms"),
                     I(expires_ms - now_ms), B("session"), I(session)});
}
// One waiter as LOCK.INFO reports it.
inline Reply Waiter(std::string owner, std::string mode, int64_t since_ms, int64_t wait_deadline_ms,
                    int64_t session = 0) {
  return Reply::Map({B("owner"), B(std::move(owner)), B("mode"), B(std::move(mode)), B("since_ms"),
                     I(since_ms), B("wait_deadline_ms"), I(wait_deadline_ms), B("session"),
                     I(session)});
}

inline const Reply kDeferred = Reply::Deferred();

// Events (events.h) as Apply() produces them.
inline Event ReplyEvent(const ClientRef& c, Reply r) {
  return Event{Event::Kind::kReply, c, {}, std::move(r)};
}
inline Event LostEvent(const ClientRef& c, std::string name, int64_t token, std::string reason) {
  return Event{Event::Kind::kPush,
               c,
               {},
               Reply{Reply::Kind::kPush,
                     0,
                     {},
                     {B("lock.lost"), B(std::move(name)), I(token), B(std::move(reason))}}};
}
inline Event ChangeEvent(std::string name) {
  return Event{Event::Kind::kChange, {}, std::move(name), {}};
}
// The events addressed to clients (deferred replies and pushes), in order:
// what is left after dropping the kChange ones.
inline Events Answers(const Events& ev) {
  Events out;
  for (const Event& e : ev) {
    if (e.kind != Event::Kind::kChange) out.push_back(e);
  }
  return out;
}
// The topics of the kChange events, in order.
inline std::vector<std::string> Changes(const Events& ev) {
  std::vector<std::string> out;
  for (const Event& e : ev) {
    if (e.kind == Event::Kind::kChange) out.push_back(e.topic);
  }
  return out;
}

// The token of a granted LOCK.ACQUIRE reply (-1 otherwise).
inline int64_t TokenOf(const Reply& r) {
  return r.kind == Reply::Kind::kArray && r.elems.size() == 2 ? r.elems[0].integer : -1;
}

}  // namespace lockq::sm::lock_test
