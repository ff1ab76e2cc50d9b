#include "sm/locks.h"

#include <algorithm>
#include <cstdint>
#include <vector>

#include "common/check.h"
#include "sm/errors.h"

namespace lockq::sm {

namespace {

uint64_t SaturatingAdd(uint64_t a, uint64_t b) {
  constexpr auto kMax = static_cast<uint64_t>(INT64_MAX);  // deadlines fit int64
  return b > kMax - std::min(a, kMax) ? kMax : a + b;
}

Reply LostPush(std::string_view name, uint64_t token, std::string_view reason) {
  return Reply{Reply::Kind::kPush, 0, {},
               {Reply::Bulk("lock.lost"), Reply::Bulk(std::string(name)),
                Reply::Int(static_cast<int64_t>(token)), Reply::Bulk(std::string(reason))}};
}

void AddReply(Events* ev, const ClientRef& client, Reply reply) {
  if (client.empty()) return;
  ev->push_back(Event{Event::Kind::kReply, client, {}, std::move(reply)});
}

}  // namespace

Reply GrantReply(uint64_t token, uint64_t guaranteed_ms) {
  return Reply::Array({Reply::Int(static_cast<int64_t>(token)),
                       Reply::Int(static_cast<int64_t>(guaranteed_ms))});
}

Reply SignedGrantReply(uint64_t token, uint64_t guaranteed_ms, std::string grant) {
  return Reply::Array({Reply::Int(static_cast<int64_t>(token)),
                       Reply::Int(static_cast<int64_t>(guaranteed_ms)), Reply::Bulk(std::move(grant))});
}

std::optional<std::string> LockTable::SignedGrant(std::string_view name, uint64_t token) const {
  const LockRecord* rec = Find(name);
  LOCKQ_CHECK(rec != nullptr);
  const LockHolder& h = rec->holders.at(token);
  return sign_keys_.Sign(lockq::Grant{0, std::string(name), token, h.owner, Expiry(h)});
}

bool LockTable::SessionLive(uint64_t id, uint64_t now_ms) const {
  auto it = sessions_.find(id);
  return it != sessions_.end() && it->second.deadline_ms > now_ms;
}

bool LockTable::Live(const LockHolder& h, uint64_t now_ms) const {
  return h.session != 0 ? SessionLive(h.session, now_ms) : h.deadline_ms > now_ms;
}

uint64_t LockTable::Expiry(const LockHolder& h) const {
  if (h.session == 0) return h.deadline_ms;
  auto it = sessions_.find(h.session);
  return it == sessions_.end() ? 0 : it->second.deadline_ms;
}

uint64_t LockTable::Remaining(const LockHolder& h, uint64_t now_ms) const {
  uint64_t end = Expiry(h);
  return end > now_ms ? end - now_ms : 0;
}

bool LockTable::Held(const LockRecord& rec, uint64_t now_ms) const {
  for (const auto& [token, h] : rec.holders) {
    if (Live(h, now_ms)) return true;
  }
  return false;
}

size_t LockTable::holder_count() const {
  size_t n = lease_deadlines_.size();
  for (const auto& [id, holds] : session_holds_) n += holds.size();
  return n;
}

// ---- grants and the FIFO queue -------------------------------------------------

bool LockTable::Compatible(const LockRecord& rec, const LockRequest& req) const {
  if (rec.holders.empty()) return true;
  if (rec.mode != req.mode) return false;
  switch (req.mode) {
    case LockMode::kExclusive:
      return false;
    case LockMode::kShared:
      return true;
    case LockMode::kSemaphore:
      return rec.permits == req.permits && rec.holders.size() < req.permits;
  }
  return false;
}

void LockTable::IndexHolder(const std::string& name, uint64_t token, const LockHolder& h) {
  if (h.session != 0) {
    session_holds_[h.session].emplace(name, token);
  } else {
    lease_deadlines_.emplace(h.deadline_ms, name, token);
  }
  if (!h.client.empty()) holder_by_client_[h.client] = {name, token};
}

void LockTable::IndexWaiter(const std::string& name, const LockWaiter& w) {
  waiter_by_client_[w.req.client] = name;
  if (w.wait_deadline_ms != 0) wait_deadlines_.emplace(w.wait_deadline_ms, name, w.req.client);
  if (w.req.session != 0) session_waits_[w.req.session].emplace(name, w.req.client);
}

void LockTable::Changed(Map::iterator it, Events* ev) {
  ev->push_back(Event{Event::Kind::kChange, {}, it->first, {}});
}

uint64_t LockTable::Grant(Map::iterator it, const LockRequest& req, uint64_t now_ms, Events* ev) {
  LOCKQ_CHECK(last_token_ < static_cast<uint64_t>(INT64_MAX));
  uint64_t token = ++last_token_;
  LockRecord& rec = it->second;
  rec.mode = req.mode;
  rec.permits = req.permits;
  rec.last_grant = token;
  LockHolder h{req.owner, now_ms, req.lease_ms,
               req.session != 0 ? 0 : SaturatingAdd(now_ms, req.lease_ms), req.session, req.client};
  IndexHolder(it->first, token, h);
  rec.holders.emplace(token, std::move(h));
  Changed(it, ev);
  return token;
}

void LockTable::EraseHolder(Map::iterator it, uint64_t token, std::string_view lost_reason,
                            Events* ev) {
  auto h = it->second.holders.find(token);
  LOCKQ_CHECK(h != it->second.holders.end());
  const LockHolder& holder = h->second;
  if (holder.session != 0) {
    auto s = session_holds_.find(holder.session);
    if (s != session_holds_.end()) {
      s->second.erase({it->first, token});
      if (s->second.empty()) session_holds_.erase(s);
    }
  } else {
    lease_deadlines_.erase({holder.deadline_ms, it->first, token});
  }
  auto c = holder_by_client_.find(holder.client);
  if (c != holder_by_client_.end() && c->second.second == token) holder_by_client_.erase(c);
  if (!lost_reason.empty() && !holder.client.empty()) {
    ev->push_back(Event{Event::Kind::kPush, holder.client, {}, LostPush(it->first, token, lost_reason)});
  }
  it->second.holders.erase(h);
  Changed(it, ev);
  // The record stays: its last_grant is what fenced writes compare with.
}

void LockTable::DropDeadHolders(Map::iterator it, uint64_t now_ms, Events* ev) {
  std::vector<std::pair<uint64_t, bool>> dead;  // token, through a session
  for (const auto& [token, h] : it->second.holders) {
    if (!Live(h, now_ms)) dead.emplace_back(token, h.session != 0);
  }
  for (auto [token, by_session] : dead) {
    EraseHolder(it, token, by_session ? "session expired" : "expired", ev);
  }
}

LockWaiter LockTable::TakeWaiter(Map::iterator it, size_t pos) {
  auto& q = it->second.waiters;
  LOCKQ_CHECK(pos < q.size());
  LockWaiter w = std::move(q[pos]);
  q.erase(q.begin() + static_cast<std::ptrdiff_t>(pos));
  waiter_by_client_.erase(w.req.client);
  if (w.wait_deadline_ms != 0) wait_deadlines_.erase({w.wait_deadline_ms, it->first, w.req.client});
  if (w.req.session != 0) {
    auto s = session_waits_.find(w.req.session);
    if (s != session_waits_.end()) {
      s->second.erase({it->first, w.req.client});
      if (s->second.empty()) session_waits_.erase(s);
    }
  }
  return w;
}

namespace {
size_t FindWaiter(const LockRecord& rec, const ClientRef& client) {
  for (size_t i = 0; i < rec.waiters.size(); i++) {
    if (rec.waiters[i].req.client == client) return i;
  }
  LOCKQ_CHECK(false && "indexed waiter missing from its queue");
  return 0;
}
}  // namespace

void LockTable::Pump(Map::iterator it, uint64_t now_ms, Events* ev) {
  DropDeadHolders(it, now_ms, ev);
  LockRecord& rec = it->second;
  while (!rec.waiters.empty()) {
    const LockWaiter& w = rec.waiters.front();
    if (w.wait_deadline_ms != 0 && w.wait_deadline_ms <= now_ms) {
      AddReply(ev, TakeWaiter(it, 0).req.client, Reply::Null());
      continue;
    }
    if (w.req.session != 0 && !SessionLive(w.req.session, now_ms)) {
      AddReply(ev, TakeWaiter(it, 0).req.client,
               Reply::Error(std::string(errors::kNoSessionWhileWaiting)));
      continue;
    }
    if (!Compatible(rec, w.req)) break;
    if (w.req.sign && sign_keys_.signing_id() == 0) {
      // The signing key was retired while it waited: granting would hand
      // out a lock the client asked not to get unsigned.
      AddReply(ev, TakeWaiter(it, 0).req.client, Reply::Error(std::string(errors::kNoSigningKey)));
      continue;
    }
    LockWaiter granted = TakeWaiter(it, 0);
    uint64_t token = Grant(it, granted.req, now_ms, ev);
    uint64_t guaranteed = Remaining(rec.holders.at(token), now_ms);
    AddReply(ev, granted.req.client,
             granted.req.sign ? SignedGrantReply(token, guaranteed, *SignedGrant(it->first, token))
                              : GrantReply(token, guaranteed));
  }
}

void LockTable::PumpAll(const Touched& names, uint64_t now_ms, Events* ev) {
  for (const std::string& name : names) {
    auto it = locks_.find(name);
    if (it != locks_.end()) Pump(it, now_ms, ev);
  }
}

AcquireResult LockTable::Acquire(std::string_view name, const LockRequest& req, bool wait,
                                 uint64_t wait_deadline_ms, uint64_t now_ms, Events* ev) {
  if (req.session != 0 && !SessionLive(req.session, now_ms)) return {AcquireOutcome::kNoSession};
  auto it = locks_.find(name);
  if (it == locks_.end()) {
    if (locks_.size() >= kLocksMax) return {AcquireOutcome::kTableFull};
    it = locks_.emplace(std::string(name), LockRecord{}).first;
  }
  Pump(it, now_ms, ev);  // what lazily expired goes first, then earlier waiters
  LockRecord& rec = it->second;
  if (!rec.holders.empty() && rec.mode == LockMode::kSemaphore &&
      req.mode == LockMode::kSemaphore && rec.permits != req.permits) {
    return {AcquireOutcome::kPermitsMismatch};
  }
  if (rec.waiters.empty() && Compatible(rec, req)) {
    uint64_t token = Grant(it, req, now_ms, ev);
    return {AcquireOutcome::kGranted, token, Remaining(rec.holders.at(token), now_ms)};
  }
  if (!wait) return {AcquireOutcome::kConflict};
  if (waiter_by_client_.count(req.client) != 0) return {AcquireOutcome::kAlreadyWaiting};
  if (waiter_by_client_.size() >= kWaitersMax) return {AcquireOutcome::kTableFull};
  LockWaiter w{req, now_ms, wait_deadline_ms};
  IndexWaiter(it->first, w);
  rec.waiters.push_back(std::move(w));
  return {AcquireOutcome::kQueued};
}

LockCheck LockTable::Check(std::string_view name, uint64_t token, uint64_t now_ms) const {
  const LockRecord* rec = Find(name);
  if (rec == nullptr) return LockCheck::kNotOwner;
  auto h = rec->holders.find(token);
  if (h != rec->holders.end() && Live(h->second, now_ms)) return LockCheck::kHolder;
  return token < rec->last_grant ? LockCheck::kStale : LockCheck::kNotOwner;
}

void LockTable::Release(std::string_view name, uint64_t token, uint64_t now_ms, Events* ev) {
  auto it = locks_.find(name);
  LOCKQ_CHECK(it != locks_.end());
  EraseHolder(it, token, "", ev);
  Pump(it, now_ms, ev);
}

void LockTable::Renew(std::string_view name, uint64_t token, uint64_t lease_ms,
                      uint64_t deadline_ms) {
  auto it = locks_.find(name);
  LOCKQ_CHECK(it != locks_.end());
  auto h = it->second.holders.find(token);
  LOCKQ_CHECK(h != it->second.holders.end() && h->second.session == 0);
  lease_deadlines_.erase({h->second.deadline_ms, it->first, token});
  h->second.lease_ms = lease_ms;
  h->second.deadline_ms = deadline_ms;
  lease_deadlines_.emplace(deadline_ms, it->first, token);
}

void LockTable::Cancel(const ClientRef& client, uint64_t now_ms, Events* ev) {
  if (auto w = waiter_by_client_.find(client); w != waiter_by_client_.end()) {
    auto it = locks_.find(w->second);
    LOCKQ_CHECK(it != locks_.end());
    TakeWaiter(it, FindWaiter(it->second, client));
    Pump(it, now_ms, ev);  // a blocked head leaving may unblock those behind it
  }
  if (auto h = holder_by_client_.find(client); h != holder_by_client_.end()) {
    auto [name, token] = h->second;
    auto it = locks_.find(name);
    LOCKQ_CHECK(it != locks_.end());
    EraseHolder(it, token, "", ev);
    Pump(it, now_ms, ev);
  }
}

void LockTable::DropIncarnation(uint64_t node, uint64_t nonce, uint64_t now_ms, Events* ev) {
  std::vector<ClientRef> gone;
  for (auto w = waiter_by_client_.lower_bound(ClientRef{node, 0, 0, 0});
       w != waiter_by_client_.end() && w->first.node == node; ++w) {
    if (w->first.nonce != nonce) gone.push_back(w->first);
  }
  Touched touched;
  for (const ClientRef& c : gone) {
    auto it = locks_.find(waiter_by_client_.at(c));
    TakeWaiter(it, FindWaiter(it->second, c));
    touched.insert(it->first);
  }
  PumpAll(touched, now_ms, ev);
}

// ---- sessions ------------------------------------------------------------------

uint64_t LockTable::OpenSession(uint64_t ttl_ms, uint64_t now_ms) {
  if (sessions_.size() >= kSessionsMax) return 0;
  uint64_t id = ++last_session_;
  Session s{ttl_ms, SaturatingAdd(now_ms, ttl_ms)};
  session_deadlines_.emplace(s.deadline_ms, id);
  sessions_.emplace(id, s);
  return id;
}

const Session* LockTable::FindSession(uint64_t id) const {
  auto it = sessions_.find(id);
  return it == sessions_.end() ? nullptr : &it->second;
}

const std::set<std::pair<std::string, uint64_t>>* LockTable::SessionHolds(uint64_t id) const {
  auto it = session_holds_.find(id);
  return it == session_holds_.end() ? nullptr : &it->second;
}

void LockTable::KeepAlive(uint64_t id, uint64_t now_ms) {
  Session& s = sessions_.at(id);
  session_deadlines_.erase({s.deadline_ms, id});
  s.deadline_ms = SaturatingAdd(now_ms, s.ttl_ms);
  session_deadlines_.emplace(s.deadline_ms, id);
}

void LockTable::EndSession(uint64_t id, std::string_view reason, Touched* touched, Events* ev) {
  if (auto holds = session_holds_.find(id); holds != session_holds_.end()) {
    auto copy = holds->second;
    for (const auto& [name, token] : copy) {
      auto it = locks_.find(name);
      LOCKQ_CHECK(it != locks_.end());
      EraseHolder(it, token, reason, ev);
      touched->insert(name);
    }
  }
  if (auto waits = session_waits_.find(id); waits != session_waits_.end()) {
    auto copy = waits->second;
    for (const auto& [name, client] : copy) {
      auto it = locks_.find(name);
      LOCKQ_CHECK(it != locks_.end());
      TakeWaiter(it, FindWaiter(it->second, client));
      AddReply(ev, client, Reply::Error(std::string(errors::kNoSessionWhileWaiting)));
      touched->insert(name);
    }
  }
  auto s = sessions_.find(id);
  LOCKQ_CHECK(s != sessions_.end());
  session_deadlines_.erase({s->second.deadline_ms, id});
  sessions_.erase(s);
}

bool LockTable::CloseSession(uint64_t id, uint64_t now_ms, Events* ev) {
  if (sessions_.count(id) == 0) return false;
  Touched touched;
  EndSession(id, "session closed", &touched, ev);
  PumpAll(touched, now_ms, ev);
  return true;
}

// ---- expiry --------------------------------------------------------------------

size_t LockTable::RemoveExpired(uint64_t now_ms, size_t max, Events* ev) {
  Touched touched;
  size_t removed = 0;
  while (removed < max && !lease_deadlines_.empty() &&
         std::get<0>(*lease_deadlines_.begin()) <= now_ms) {
    auto [deadline, name, token] = *lease_deadlines_.begin();
    auto it = locks_.find(name);
    LOCKQ_CHECK(it != locks_.end());
    EraseHolder(it, token, "expired", ev);
    touched.insert(name);
    removed++;
  }
  while (removed < max && !session_deadlines_.empty() &&
         session_deadlines_.begin()->first <= now_ms) {
    EndSession(session_deadlines_.begin()->second, "session expired", &touched, ev);
    removed++;
  }
  while (removed < max && !wait_deadlines_.empty() &&
         std::get<0>(*wait_deadlines_.begin()) <= now_ms) {
    auto [deadline, name, client] = *wait_deadlines_.begin();
    auto it = locks_.find(name);
    LOCKQ_CHECK(it != locks_.end());
    TakeWaiter(it, FindWaiter(it->second, client));
    AddReply(ev, client, Reply::Null());
    touched.insert(name);
    removed++;
  }
  PumpAll(touched, now_ms, ev);
  return removed;
}

void LockTable::ExtendLeases(uint64_t prev_ms, uint64_t gap_ms) {
  if (gap_ms == 0) return;
  for (auto& [name, rec] : locks_) {
    for (auto& [token, h] : rec.holders) {
      if (h.session == 0 && h.deadline_ms > prev_ms) h.deadline_ms = SaturatingAdd(h.deadline_ms, gap_ms);
    }
  }
  for (auto& [id, s] : sessions_) {
    if (s.deadline_ms > prev_ms) s.deadline_ms = SaturatingAdd(s.deadline_ms, gap_ms);
  }
  RebuildIndexes();
}

uint64_t LockTable::NextDeadline() const {
  uint64_t next = 0;
  auto consider = [&next](uint64_t d) {
    if (next == 0 || d < next) next = d;
  };
  if (!lease_deadlines_.empty()) consider(std::get<0>(*lease_deadlines_.begin()));
  if (!session_deadlines_.empty()) consider(session_deadlines_.begin()->first);
  if (!wait_deadlines_.empty()) consider(std::get<0>(*wait_deadlines_.begin()));
  return next;
}

// ---- lookups and restore -------------------------------------------------------

const LockRecord* LockTable::Find(std::string_view name) const {
  auto it = locks_.find(name);
  return it == locks_.end() ? nullptr : &it->second;
}

uint64_t LockTable::NewestGrant(std::string_view name) const {
  const LockRecord* rec = Find(name);
  return rec == nullptr ? 0 : rec->last_grant;
}

void LockTable::SetCountersForRestore(uint64_t last_token, uint64_t last_session) {
  last_token_ = last_token;
  last_session_ = last_session;
}

void LockTable::AppendForRestore(std::string name, LockRecord rec) {
  locks_.emplace_hint(locks_.end(), std::move(name), std::move(rec));
}

void LockTable::AppendSessionForRestore(uint64_t id, Session s) {
  sessions_.emplace_hint(sessions_.end(), id, s);
}

void LockTable::RebuildIndexes() {
  lease_deadlines_.clear();
  wait_deadlines_.clear();
  session_deadlines_.clear();
  waiter_by_client_.clear();
  holder_by_client_.clear();
  session_holds_.clear();
  session_waits_.clear();
  for (const auto& [name, rec] : locks_) {
    for (const auto& [token, h] : rec.holders) IndexHolder(name, token, h);
    for (const LockWaiter& w : rec.waiters) IndexWaiter(name, w);
  }
  for (const auto& [id, s] : sessions_) session_deadlines_.emplace(s.deadline_ms, id);
}

}  // namespace lockq::sm
