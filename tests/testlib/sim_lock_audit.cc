#include "testlib/sim_lock_audit.h"

#include <algorithm>
#include <string_view>

#include "common/hex.h"
#include "lockq/grant.h"
#include "sm/errors.h"
#include "sm/locks.h"
#include "sm/parse.h"

namespace lockq::testing {

namespace {

using sm::EqualsIgnoreCase;

std::string Cmd(const sm::Argv& argv) {
  std::string out;
  for (const auto& a : argv) out += (out.empty() ? "" : " ") + a;
  return "`" + out + "`";
}

std::string N(uint64_t v) { return std::to_string(v); }

bool ParseU64(const std::string& s, uint64_t* v) { return sm::ParseUint64(s, v); }

// LOCK.ACQUIRE name [SHARED] [TTL ms | SESSION id] [WAIT ms] [OWNER tag].
struct AcquireArgs {
  bool shared = false;
  uint64_t ttl = sm::kLockTtlDefaultMs;
  uint64_t session = 0;
  bool wait = false;
  uint64_t wait_ms = 0;
  bool sign = false;
};

AcquireArgs ParseAcquire(const sm::Argv& argv) {
  AcquireArgs a;
  for (size_t j = 2; j < argv.size(); j++) {
    if (EqualsIgnoreCase(argv[j], "SHARED")) {
      a.shared = true;
    } else if (EqualsIgnoreCase(argv[j], "SIGNED")) {
      a.sign = true;
    } else if (EqualsIgnoreCase(argv[j], "TTL") && j + 1 < argv.size()) {
      ParseU64(argv[++j], &a.ttl);
    } else if (EqualsIgnoreCase(argv[j], "SESSION") && j + 1 < argv.size()) {
      ParseU64(argv[++j], &a.session);
    } else if (EqualsIgnoreCase(argv[j], "WAIT") && j + 1 < argv.size()) {
      a.wait = true;
      ParseU64(argv[++j], &a.wait_ms);
    } else if (EqualsIgnoreCase(argv[j], "OWNER")) {
      j++;
    }
  }
  return a;
}

// [token, lease_ms], or [token, lease_ms, grant] for SIGNED.
bool IsGrant(const sm::Reply& r) {
  return r.kind == sm::Reply::Kind::kArray && (r.elems.size() == 2 || r.elems.size() == 3) &&
         r.elems[0].kind == sm::Reply::Kind::kInt && r.elems[1].kind == sm::Reply::Kind::kInt &&
         (r.elems.size() == 2 || r.elems[2].kind == sm::Reply::Kind::kBulk);
}

bool IsNoSigningKey(const sm::Reply& r) { return r.is_error() && r.str == sm::errors::kNoSigningKey; }

bool IsNoSession(const sm::Reply& r) { return r.is_error() && r.str.rfind("NOSESSION", 0) == 0; }

std::string C(const sm::ClientRef& c) {
  return "client " + N(c.node) + "/" + N(c.nonce) + "/" + N(c.conn) + "/" + N(c.slot);
}

bool IsFencedSet(const sm::Argv& argv) {
  return argv.size() == 6 && EqualsIgnoreCase(argv[0], "SET") && EqualsIgnoreCase(argv[3], "FENCE");
}

}  // namespace

LockAudit::LockAudit() { history_.emplace(0, std::make_shared<const State>()); }

const std::vector<uint64_t>& LockAudit::TokensOf(const std::string& lock) const {
  static const std::vector<uint64_t> kNone;
  auto it = tokens_of_.find(lock);
  return it == tokens_of_.end() ? kNone : it->second;
}

const LockAudit::State& LockAudit::StateAt(uint64_t index) const {
  auto it = history_.upper_bound(index);
  --it;  // history_ holds index 0
  return *it->second;
}

bool LockAudit::ModelSessionLive(const State& st, uint64_t id, uint64_t now) {
  auto it = st.sessions.find(id);
  return it != st.sessions.end() && it->second.deadline_ms > now;
}

bool LockAudit::SessionLive(uint64_t id) const { return ModelSessionLive(cur_, id, clock_); }

namespace {
// A promise is kept while its lease runs or its session lives.
template <typename State, typename Promise>
bool PromiseLive(const State& st, const Promise& p, uint64_t now) {
  if (p.session == 0) return p.until_ms > now;
  auto it = st.sessions.find(p.session);
  return it != st.sessions.end() && it->second.deadline_ms > now;
}
}  // namespace

void LockAudit::EndSession(uint64_t id) {
  cur_.sessions.erase(id);
  n_session_releases_ += std::erase_if(cur_.promises, [&](const auto& kv) { return kv.second.session == id; });
}

void LockAudit::DropWaiter(const sm::ClientRef& c) {
  auto it = cur_.waiters.find(c);
  if (it == cur_.waiters.end()) return;
  auto q = cur_.queues.find(it->second.lock);
  if (q != cur_.queues.end()) {
    std::erase(q->second, c);
    if (q->second.empty()) cur_.queues.erase(q);
  }
  cur_.waiters.erase(it);
}

void LockAudit::TrackSignKey(const sm::Argv& argv, const sm::Reply& r) {
  if (argv.size() < 2 || r.is_error()) return;
  uint64_t id = 0;
  if ((EqualsIgnoreCase(argv[1], "ROTATE") || EqualsIgnoreCase(argv[1], "ADD")) && argv.size() == 4 &&
      r.kind == sm::Reply::Kind::kInt) {
    std::string secret;
    HexDecode(argv[3], &secret);
    id = static_cast<uint64_t>(r.integer);
    sign_keys_[id] = secret;
    if (EqualsIgnoreCase(argv[1], "ROTATE")) signing_key_ = id;
  } else if (argv.size() == 3 && ParseU64(argv[2], &id)) {
    if (EqualsIgnoreCase(argv[1], "ACTIVATE")) signing_key_ = id;
    if (EqualsIgnoreCase(argv[1], "RETIRE") && signing_key_ == id) signing_key_ = 0;
    if (EqualsIgnoreCase(argv[1], "REMOVE")) sign_keys_.erase(id);
  }
}

std::string LockAudit::CheckSignedGrant(const std::string& lock, uint64_t token, uint64_t lease_end_ms,
                                        const sm::Reply& r) const {
  if (r.elems.size() != 3) return "check 9 (signed grants): a SIGNED grant came without its signed grant";
  if (signing_key_ == 0) return "check 9 (signed grants): signed although no key signs";
  Result<Grant> g = VerifyGrant(r.elems[2].str, {{signing_key_, sign_keys_.at(signing_key_)}}, 0);
  if (!g.ok()) return "check 9 (signed grants): " + g.status().message();
  if (g->lock != lock || g->token != token || g->lease_end_ms != lease_end_ms) {
    return "check 9 (signed grants): the grant says lock " + g->lock + " token " + N(g->token) +
           " until " + N(g->lease_end_ms) + ", granted " + lock + " " + N(token) + " until " +
           N(lease_end_ms);
  }
  return {};
}

std::string LockAudit::RecordGrant(const std::string& lock, bool shared, uint64_t session,
                                   uint64_t lease_ms, bool sign, const sm::ClientRef& client,
                                   const sm::Reply& r, uint64_t now) {
  if (!IsGrant(r)) return "a grant must be [token, lease_ms(, grant)]";
  uint64_t token = static_cast<uint64_t>(r.elems[0].integer);
  uint64_t guaranteed = static_cast<uint64_t>(r.elems[1].integer);
  if (sign) {
    if (std::string err = CheckSignedGrant(lock, token, now + guaranteed, r); !err.empty()) return err;
    n_signed_grants_++;
  } else if (r.elems.size() != 2) {
    return "check 9 (signed grants): an unsigned request got a signed grant";
  }
  // Check 2: fencing tokens strictly increase across all grants.
  if (token <= cur_.max_token) {
    return "check 2 (fencing tokens): token " + N(token) +
           " is not greater than the earlier committed grant " + N(cur_.max_token);
  }
  if (session != 0) {
    if (!ModelSessionLive(cur_, session, now)) {
      return "check 8 (sessions): granted through session " + N(session) + ", which has ended";
    }
    uint64_t want = cur_.sessions.at(session).deadline_ms - now;
    if (guaranteed != want) {
      return "granted for " + N(guaranteed) + " ms, session " + N(session) + " lives " + N(want);
    }
  } else if (guaranteed != lease_ms) {
    return "granted lease " + N(guaranteed) + " ms, asked for " + N(lease_ms);
  }
  cur_.max_token = token;
  cur_.newest[lock] = token;
  cur_.promises[token] = Promise{lock, session != 0 ? 0 : now + lease_ms, session, client};
  shared_of_[token] = shared;
  tokens_of_[lock].push_back(token);
  n_grants_++;
  return {};
}

bool LockAudit::LivePromiseConflicts(const State& st, const std::string& lock, bool shared,
                                     uint64_t now) const {
  for (const auto& [token, p] : st.promises) {
    if (p.lock != lock || !PromiseLive(st, p, now)) continue;
    if (!shared || !shared_of_.at(token)) return true;
  }
  return false;
}

std::string LockAudit::OnCommitted(uint64_t index, const sm::Batch& batch,
                                   const std::vector<sm::Reply>& replies,
                                   const sm::Events& events, const std::vector<size_t>& marks,
                                   uint64_t now) {
  const uint64_t prev = clock_;
  clock_ = now;
  auto at = [&](size_t c) {
    return "index " + N(index) + " (sm time " + N(now) + "): " + Cmd(batch.commands[c]) +
           " replied " + sm::ToDebugString(replies[c]) + ": ";
  };
  if (marks.size() != replies.size() || (!marks.empty() && marks.back() != events.size())) {
    return "index " + N(index) + ": event marks do not cover the batch's events";
  }
  bool changed = false, rebased = false;
  size_t ev_pos = 0;
  for (size_t c = 0; c < batch.commands.size() && c < replies.size(); c++) {
    const sm::Argv& outer = batch.commands[c];
    const sm::Reply& r = replies[c];
    const size_t ev_end = marks[c];
    if (outer.empty()) continue;
    // LOCKQ.AS node nonce conn slot cmd...: cmd runs for that client.
    sm::ClientRef client;
    sm::Argv unwrapped;
    const sm::Argv* inner = &outer;
    if (EqualsIgnoreCase(outer[0], "LOCKQ.AS") && outer.size() >= 6 &&
        ParseU64(outer[1], &client.node) && ParseU64(outer[2], &client.nonce) &&
        ParseU64(outer[3], &client.conn) && ParseU64(outer[4], &client.slot)) {
      unwrapped.assign(outer.begin() + 5, outer.end());
      inner = &unwrapped;
    }
    const sm::Argv& argv = *inner;

    // Phase 1: what the command itself did to sessions, waiters and leases
    // (its answer events below may depend on it: CLOSE answers NOSESSION,
    // a RETIRE answers SIGNED waiters with no key).
    if (EqualsIgnoreCase(argv[0], "LOCK.SIGNKEY")) {
      TrackSignKey(argv, r);
    } else if (EqualsIgnoreCase(argv[0], "SESSION.OPEN") && argv.size() == 2) {
      if (r.kind == sm::Reply::Kind::kInt) {
        uint64_t id = static_cast<uint64_t>(r.integer), ttl = 0;
        ParseU64(argv[1], &ttl);
        if (!session_ids_.empty() && id <= session_ids_.back()) {
          return at(c) + "check 8 (sessions): session id " + N(id) + " is not new";
        }
        session_ids_.push_back(id);
        cur_.sessions[id] = SessionModel{ttl, now + ttl};
        changed = true;
      }
    } else if ((EqualsIgnoreCase(argv[0], "SESSION.KEEPALIVE") ||
                EqualsIgnoreCase(argv[0], "SESSION.CLOSE")) &&
               argv.size() == 2) {
      uint64_t id = 0;
      ParseU64(argv[1], &id);
      bool live = ModelSessionLive(cur_, id, now);
      bool keepalive = EqualsIgnoreCase(argv[0], "SESSION.KEEPALIVE");
      if (r.kind == sm::Reply::Kind::kInt) {
        if (!live) return at(c) + "check 8 (sessions): succeeded for a session that ended";
        if (keepalive) {
          SessionModel& m = cur_.sessions.at(id);
          if (static_cast<uint64_t>(r.integer) != m.ttl_ms) {
            return at(c) + "KEEPALIVE must reply the session's ttl " + N(m.ttl_ms);
          }
          m.deadline_ms = now + m.ttl_ms;
        } else {
          EndSession(id);
        }
        changed = true;
      } else if (IsNoSession(r) && live) {
        return at(c) + "check 8 (sessions): refused, but the session lives until " +
               N(cur_.sessions.at(id).deadline_ms);
      }
    } else if (EqualsIgnoreCase(argv[0], "LOCKQ.CANCEL") && argv.size() == 5) {
      sm::ClientRef gone;
      ParseU64(argv[1], &gone.node);
      ParseU64(argv[2], &gone.nonce);
      ParseU64(argv[3], &gone.conn);
      ParseU64(argv[4], &gone.slot);
      // The request leaves its queue unanswered, or its grant is released.
      DropWaiter(gone);
      std::erase_if(cur_.promises, [&](const auto& kv) { return kv.second.client == gone; });
      changed = true;
    } else if (EqualsIgnoreCase(argv[0], "LOCKQ.INCARNATION") && argv.size() == 3 &&
               r == sm::Reply::Ok()) {
      uint64_t node = 0, nonce = 0;
      ParseU64(argv[1], &node);
      ParseU64(argv[2], &nonce);
      std::vector<sm::ClientRef> gone;
      for (const auto& [w, _] : cur_.waiters) {
        if (w.node == node && w.nonce != nonce) gone.push_back(w);
      }
      for (const sm::ClientRef& w : gone) DropWaiter(w);
      changed = true;
    } else if (EqualsIgnoreCase(argv[0], "LOCKQ.ANNOUNCE")) {
      // Re-base: the first successful ANNOUNCE of a batch extends every lease
      // and session live at the previous batch's clock by the time no one
      // could renew. Wait deadlines are not re-based.
      if (r == sm::Reply::Ok() && !rebased) {
        rebased = true;
        if (now != prev) {
          for (auto& [token, p] : cur_.promises) {
            if (p.session == 0 && p.until_ms > prev) p.until_ms += now - prev;
          }
          for (auto& [id, m] : cur_.sessions) {
            if (m.deadline_ms > prev) m.deadline_ms += now - prev;
          }
          n_rebases_++;
          changed = true;
        }
      }
    }

    // Phase 2 (check 6): the answers this command decided for waiters.
    for (; ev_pos < ev_end; ev_pos++) {
      const sm::Event& e = events[ev_pos];
      if (e.kind != sm::Event::Kind::kReply) continue;
      auto w = cur_.waiters.find(e.client);
      std::string what = at(c) + "answer " + sm::ToDebugString(e.reply) + " to " + C(e.client);
      if (w == cur_.waiters.end()) {
        return what + ": check 6 (waiters): that request is not waiting (answered twice, "
                      "cancelled, or never queued)";
      }
      const Waiter wt = w->second;
      if (IsGrant(e.reply)) {
        if (wt.wait_deadline_ms != 0 && wt.wait_deadline_ms <= now) {
          return what + ": check 6 (waiters): granted after its wait deadline " +
                 N(wt.wait_deadline_ms);
        }
        if (wt.session != 0 && !ModelSessionLive(cur_, wt.session, now)) {
          return what + ": check 6 (waiters): granted after its session " + N(wt.session) +
                 " ended (etcd #11456)";
        }
        const std::vector<sm::ClientRef>& q = cur_.queues.at(wt.lock);
        if (q.front() != e.client) {
          return what + ": check 6 (FIFO): granted while " + C(q.front()) + " is ahead of it";
        }
        DropWaiter(e.client);
        std::string err =
            RecordGrant(wt.lock, wt.shared, wt.session, wt.lease_ms, wt.sign, e.client, e.reply, now);
        if (!err.empty()) return what + ": " + err;
        n_deferred_grants_++;
      } else if (e.reply.kind == sm::Reply::Kind::kNull) {
        if (wt.wait_deadline_ms == 0 || wt.wait_deadline_ms > now) {
          return what + ": check 6 (waiters): timed out before its wait deadline " +
                 N(wt.wait_deadline_ms);
        }
        DropWaiter(e.client);
        n_wait_timeouts_++;
      } else if (IsNoSigningKey(e.reply)) {
        if (!wt.sign || signing_key_ != 0) {
          return what + ": check 9 (signed grants): refused for want of a key, but a key signs";
        }
        DropWaiter(e.client);
      } else if (IsNoSession(e.reply)) {
        if (wt.session == 0 || ModelSessionLive(cur_, wt.session, now)) {
          return what + ": check 6 (waiters): NOSESSION, but session " + N(wt.session) +
                 " lives";
        }
        DropWaiter(e.client);
        n_nosession_++;
      } else {
        return what + ": check 6 (waiters): not a grant, nil or NOSESSION";
      }
      changed = true;
    }

    // Phase 3: the command's own reply.
    if (EqualsIgnoreCase(argv[0], "LOCK.ACQUIRE") && argv.size() >= 2) {
      AcquireArgs a = ParseAcquire(argv);
      const std::string& lock = argv[1];
      const bool queued = cur_.queues.count(lock) != 0;
      const bool conflict = LivePromiseConflicts(cur_, lock, a.shared, now);
      if (r.kind == sm::Reply::Kind::kArray) {
        if (queued) {
          return at(c) + "check 5 (FIFO): granted although " + N(cur_.queues.at(lock).size()) +
                 " requests wait (jumped the queue)";
        }
        std::string err =
            RecordGrant(lock, a.shared, a.session, a.session != 0 ? 0 : a.ttl, a.sign, client, r, now);
        if (!err.empty()) return at(c) + err;
        changed = true;
      } else if (r.kind == sm::Reply::Kind::kDeferred) {
        if (!a.wait || client.empty()) return at(c) + "deferred without WAIT or a client";
        if (!queued && !conflict) {
          return at(c) + "check 7 (lost wakeup): queued although nobody waits and no live "
                         "holder conflicts";
        }
        if (a.session != 0 && !ModelSessionLive(cur_, a.session, now)) {
          return at(c) + "check 8 (sessions): queued for a session that ended";
        }
        if (cur_.waiters.count(client) != 0) return at(c) + "queued a request twice";
        cur_.waiters[client] = Waiter{lock, a.shared, a.session, a.session != 0 ? 0 : a.ttl,
                                      a.wait_ms == 0 ? 0 : now + a.wait_ms, now, a.sign};
        cur_.queues[lock].push_back(client);
        changed = true;
      } else if (r.kind == sm::Reply::Kind::kNull) {
        if (a.wait) return at(c) + "a WAIT was answered nil at once";
        // Check 5: try-lock refuses only behind a live conflicting holder or
        // a queued request.
        if (!conflict && !queued) {
          return at(c) + "check 5 (try-lock): refused, but no live holder conflicts and nobody "
                         "waits";
        }
      } else if (IsNoSession(r)) {
        if (a.session == 0 || ModelSessionLive(cur_, a.session, now)) {
          return at(c) + "check 8 (sessions): NOSESSION, but the session lives";
        }
      } else if (IsNoSigningKey(r) && signing_key_ != 0) {
        return at(c) + "check 9 (signed grants): refused for want of a key, but key " + N(signing_key_) +
               " signs";
      }
    } else if ((EqualsIgnoreCase(argv[0], "LOCK.RELEASE") ||
                EqualsIgnoreCase(argv[0], "LOCK.RENEW")) &&
               argv.size() >= 3) {
      if (r.kind != sm::Reply::Kind::kInt) continue;  // NOTOWNER / STALETOKEN / syntax
      bool release = EqualsIgnoreCase(argv[0], "LOCK.RELEASE");
      uint64_t token = 0;
      ParseU64(argv[2], &token);
      auto p = cur_.promises.find(token);
      if (p == cur_.promises.end() || p->second.lock != argv[1] ||
          !PromiseLive(cur_, p->second, now)) {
        return at(c) + "check 5 (owner commands): succeeded for a token that holds no live lease";
      }
      if (release) {
        cur_.promises.erase(p);  // "modulo releases by its owner"
      } else {
        if (p->second.session != 0) return at(c) + "renewed a lock held through a session";
        uint64_t lease = static_cast<uint64_t>(r.integer), asked = 0;
        if (argv.size() == 5 && ParseU64(argv[4], &asked) && asked != lease) {
          return at(c) + "renewed for " + N(lease) + " ms, asked for " + N(asked);
        }
        p->second.until_ms = now + lease;  // the owner may also shorten it
      }
      changed = true;
    } else if (IsFencedSet(argv)) {
      const std::string& key = argv[1];
      uint64_t token = 0;
      ParseU64(argv[5], &token);
      auto n = cur_.newest.find(argv[4]);
      uint64_t newest = n == cur_.newest.end() ? 0 : n->second;
      bool stale = newest == 0 || token < newest;
      auto [f, inserted] = cur_.fenced.try_emplace(key);
      changed |= inserted;
      if (stale) {
        // Check 4, the reply; CheckReplica checks that k did not change.
        if (!r.is_error()) {
          return at(c) + "check 4 (fencing): accepted token " + N(token) +
                 " although the lock's newest grant is " + N(newest);
        }
        n_fence_rejected_++;
      } else if (r == sm::Reply::Ok()) {
        f->second = argv[2];
        changed = true;
      } else {
        return at(c) + "a fenced write with a current token (newest grant " + N(newest) +
               ") was refused";
      }
    }
  }
  // Promises and sessions that ran out can no longer be checked (the clock
  // only moves forward along the log); a session's locks end with it.
  size_t before = cur_.promises.size() + cur_.sessions.size();
  std::erase_if(cur_.promises,
                [&](const auto& kv) { return kv.second.session == 0 && kv.second.until_ms <= now; });
  std::vector<uint64_t> ended;
  for (const auto& [id, m] : cur_.sessions) {
    if (m.deadline_ms <= now) ended.push_back(id);
  }
  for (uint64_t id : ended) EndSession(id);
  if (changed || cur_.promises.size() + cur_.sessions.size() != before) {
    history_[index] = std::make_shared<const State>(cur_);
  }
  return {};
}

std::string LockAudit::CheckReplica(const sm::StateMachine& sm) const {
  const uint64_t index = sm.applied_index(), now = sm.now_ms();
  const State& st = StateAt(index);
  auto at = [&] { return "at index " + N(index) + " (sm time " + N(now) + "): "; };
  std::vector<sm::LockView> views = sm.LockViews();

  // Check 2, state side: the counter and each lock's newest grant.
  if (sm.last_lock_token() != st.max_token) {
    return at() + "check 2 (fencing tokens): the state machine's last token is " +
           N(sm.last_lock_token()) + ", the grants observed end at " + N(st.max_token);
  }
  if (views.size() != st.newest.size()) {
    return at() + "check 2 (fencing tokens): " + N(views.size()) + " lock records, " +
           N(st.newest.size()) + " locks were granted";
  }
  auto shared = [&](uint64_t token) {
    auto m = shared_of_.find(token);
    return m != shared_of_.end() && m->second;
  };
  for (const sm::LockView& v : views) {
    auto n = st.newest.find(v.name);
    if (n == st.newest.end() || n->second != v.last_grant) {
      return at() + "check 2 (fencing tokens): lock " + v.name + " records newest grant " +
             N(v.last_grant) + ", observed " + (n == st.newest.end() ? "none" : N(n->second));
    }

    // Check 1: exclusivity among live holders. Live: the hold's end is
    // after now (or the state machine says so).
    auto live = [&](const sm::LockHolderView& h) { return h.live || h.expiry_ms > now; };
    size_t n_live = 0, exclusive = 0;
    for (const sm::LockHolderView& h : v.holders) {
      if (h.live != (h.expiry_ms > now)) {
        return at() + "check 8 (sessions/leases): the state machine counts token " + N(h.token) +
               " on " + v.name + " as " + (h.live ? "live" : "gone") + " but its hold ends at " +
               N(h.expiry_ms) + (h.session != 0 ? " (session " + N(h.session) + ")" : "");
      }
      if (!live(h)) continue;
      if (shared_of_.count(h.token) == 0) {
        return at() + "check 1 (exclusivity): lock " + v.name + " has holder token " +
               N(h.token) + " that no grant gave out";
      }
      // Check 8 / 3: no holder outlives its lease or session in the model.
      auto p = st.promises.find(h.token);
      if (p == st.promises.end() || p->second.lock != v.name || !PromiseLive(st, p->second, now)) {
        return at() + "check 8 (release): token " + N(h.token) + " on " + v.name +
               " is still held (until " + N(h.expiry_ms) +
               (h.session != 0 ? ", session " + N(h.session) : std::string()) +
               ") but its lease or session ended, or it was released";
      }
      n_live++;
      exclusive += shared(h.token) ? 0 : 1;
    }
    auto who = [&] {  // only on failure: this runs after every apply
      std::string out;
      for (const sm::LockHolderView& h : v.holders) {
        out += " " + N(h.token) + (shared(h.token) ? "(shared" : "(exclusive") + ", until " +
               N(h.expiry_ms) + (live(h) ? "" : ", gone") + ")";
      }
      return out;
    };
    if (exclusive > 0 && n_live > 1) {
      return at() + "check 1 (exclusivity): lock " + v.name + " has " + N(n_live) +
             " live holders, " + N(exclusive) + " exclusive:" + who();
    }
    if (n_live > 0 && v.shared != (exclusive == 0)) {
      return at() + "check 1 (exclusivity): lock " + v.name + " is recorded " +
             (v.shared ? "shared" : "exclusive") + " but its holders are:" + who();
    }

    // Check 6: the queue is the model's, in FIFO order, with its deadlines.
    static const std::vector<sm::ClientRef> kEmpty;
    auto q = st.queues.find(v.name);
    const std::vector<sm::ClientRef>& want = q == st.queues.end() ? kEmpty : q->second;
    bool same = want.size() == v.waiters.size();
    for (size_t i = 0; same && i < want.size(); i++) {
      const Waiter& w = st.waiters.at(want[i]);
      const sm::LockWaiterView& got = v.waiters[i];
      same = got.client == want[i] && got.wait_deadline_ms == w.wait_deadline_ms &&
             got.session == w.session && (got.mode == 1) == w.shared;
    }
    if (!same) {
      std::string g, m;
      for (const auto& w : v.waiters) g += " " + C(w.client) + " until " + N(w.wait_deadline_ms);
      for (const auto& c : want) m += " " + C(c) + " until " + N(st.waiters.at(c).wait_deadline_ms);
      return at() + "check 6 (waiters): " + v.name + " queues [" + g + " ], the model [" + m +
             " ] (a waiter lost, duplicated or reordered)";
    }

    // Check 7: no lost wakeup. After every change the queue is pumped, so
    // its head cannot be grantable next to the holders still present
    // (expired ones not yet removed included: they block until removed).
    if (!v.waiters.empty()) {
      const sm::LockWaiterView& head = v.waiters.front();
      bool grantable = v.holders.empty();
      if (!grantable && head.mode == 1) {
        grantable = true;
        for (const sm::LockHolderView& h : v.holders) grantable &= shared(h.token);
      }
      if (!grantable && head.mode == 2) {
        grantable = v.mode == 2 && v.permits == head.permits && v.holders.size() < head.permits;
      }
      if (grantable) {
        return at() + "check 7 (lost wakeup): the head waiter " + C(head.client) + " of " +
               v.name + " (" + (head.mode == 1 ? "shared" : "exclusive") +
               ") could be granted next to its holders [" + who() + " ] but still waits";
      }
    }
  }

  // Check 3: no lease ends before its (re-based) deadline; check 8: a lock
  // held through a live session is held, until exactly the session's end.
  for (const auto& [token, p] : st.promises) {
    if (!PromiseLive(st, p, now)) continue;
    const sm::LockHolderView* h = nullptr;
    for (const sm::LockView& v : views) {
      if (v.name != p.lock) continue;
      for (const sm::LockHolderView& x : v.holders) {
        if (x.token == token) h = &x;
      }
    }
    if (p.session != 0) {
      uint64_t until = st.sessions.at(p.session).deadline_ms;
      if (h == nullptr || !h->live || h->session != p.session || h->expiry_ms != until) {
        return at() + "check 8 (sessions): token " + N(token) + " on " + p.lock +
               " is held through session " + N(p.session) + ", live until " + N(until) +
               ", but the state machine has " +
               (h == nullptr ? std::string("no such holder")
                             : "session " + N(h->session) + " until " + N(h->expiry_ms) +
                                   (h->live ? "" : " (gone)"));
      }
      continue;
    }
    if (h == nullptr || h->deadline_ms <= now) {
      return at() + "check 3 (leases): token " + N(token) + " on " + p.lock +
             " was promised its lease until " + N(p.until_ms) + " but is no longer a holder";
    }
    if (h->deadline_ms < p.until_ms) {
      return at() + "check 3 (leases): token " + N(token) + " on " + p.lock + " ends at " +
             N(h->deadline_ms) + ", before its promised " + N(p.until_ms);
    }
  }

  // Check 8: live sessions and their deadlines are exactly the model's.
  std::map<uint64_t, uint64_t> got_sessions, want_sessions;  // id -> deadline
  for (const sm::SessionView& s : sm.SessionViews()) {
    if (s.deadline_ms > now) got_sessions[s.id] = s.deadline_ms;
  }
  for (const auto& [id, m] : st.sessions) {
    if (m.deadline_ms > now) want_sessions[id] = m.deadline_ms;
  }
  if (got_sessions != want_sessions) {
    std::string g, w;
    for (const auto& [id, d] : got_sessions) g += " " + N(id) + "@" + N(d);
    for (const auto& [id, d] : want_sessions) w += " " + N(id) + "@" + N(d);
    return at() + "check 8 (sessions): live sessions (id@deadline) [" + g + " ], the model [" +
           w + " ]";
  }

  // Check 4, state side: fenced keys hold the last accepted fenced write.
  for (const auto& [key, want] : st.fenced) {
    std::optional<std::string> got = sm.PeekString(key);
    if (got != want) {
      return at() + "check 4 (fencing): " + key + " holds " + (got ? *got : "nothing") +
             ", the last accepted fenced write left " + (want ? *want : "nothing");
    }
  }
  return {};
}

}  // namespace lockq::testing
