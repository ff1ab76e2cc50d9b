#include "testlib/sim_lock_audit.h"

#include <string_view>

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

// LOCK.ACQUIRE name [SHARED] [TTL ms] [OWNER tag]: mode and lease asked for.
void AcquireArgs(const sm::Argv& argv, bool* shared, uint64_t* ttl) {
  *shared = false;
  *ttl = sm::kLockTtlDefaultMs;
  for (size_t j = 2; j < argv.size(); j++) {
    if (EqualsIgnoreCase(argv[j], "SHARED")) {
      *shared = true;
    } else if (EqualsIgnoreCase(argv[j], "TTL") && j + 1 < argv.size()) {
      ParseU64(argv[++j], ttl);
    } else if (EqualsIgnoreCase(argv[j], "OWNER")) {
      j++;
    }
  }
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

bool LockAudit::LivePromiseConflicts(const State& st, const std::string& lock, bool shared,
                                     uint64_t now) const {
  for (const auto& [token, p] : st.promises) {
    if (p.lock != lock || p.until_ms <= now) continue;
    if (!shared || !shared_of_.at(token)) return true;
  }
  return false;
}

std::string LockAudit::OnCommitted(uint64_t index, const sm::Batch& batch,
                                   const std::vector<sm::Reply>& replies, uint64_t now) {
  const uint64_t prev = clock_;
  clock_ = now;
  auto at = [&](size_t c) {
    return "index " + N(index) + " (sm time " + N(now) + "): " + Cmd(batch.commands[c]) +
           " replied " + sm::ToDebugString(replies[c]) + ": ";
  };
  bool changed = false, rebased = false;
  for (size_t c = 0; c < batch.commands.size() && c < replies.size(); c++) {
    const sm::Argv& argv = batch.commands[c];
    const sm::Reply& r = replies[c];
    if (argv.empty()) continue;
    if (EqualsIgnoreCase(argv[0], "LOCK.ACQUIRE") && argv.size() >= 2) {
      bool shared;
      uint64_t ttl;
      AcquireArgs(argv, &shared, &ttl);
      const std::string& lock = argv[1];
      if (r.kind == sm::Reply::Kind::kArray) {
        if (r.elems.size() != 2 || r.elems[0].kind != sm::Reply::Kind::kInt ||
            r.elems[1].kind != sm::Reply::Kind::kInt) {
          return at(c) + "a grant must be [token, lease_ms]";
        }
        uint64_t token = static_cast<uint64_t>(r.elems[0].integer);
        // Check 2: fencing tokens strictly increase across all grants.
        if (token <= cur_.max_token) {
          return at(c) + "check 2 (fencing tokens): token " + N(token) +
                 " is not greater than the earlier committed grant " + N(cur_.max_token);
        }
        if (static_cast<uint64_t>(r.elems[1].integer) != ttl) {
          return at(c) + "granted lease " + N(static_cast<uint64_t>(r.elems[1].integer)) +
                 " ms, asked for " + N(ttl);
        }
        cur_.max_token = token;
        cur_.newest[lock] = token;
        cur_.promises[token] = Promise{lock, now + ttl};
        shared_of_[token] = shared;
        tokens_of_[lock].push_back(token);
        n_grants_++;
        changed = true;
      } else if (r.kind == sm::Reply::Kind::kNull) {
        // Check 5: try-lock refuses only when a live holder conflicts.
        if (!LivePromiseConflicts(cur_, lock, shared, now)) {
          return at(c) + "check 5 (try-lock): refused, but no live holder conflicts";
        }
      }
    } else if ((EqualsIgnoreCase(argv[0], "LOCK.RELEASE") ||
                EqualsIgnoreCase(argv[0], "LOCK.RENEW")) &&
               argv.size() >= 3) {
      if (r.kind != sm::Reply::Kind::kInt) continue;  // NOTOWNER / STALETOKEN / syntax
      bool release = EqualsIgnoreCase(argv[0], "LOCK.RELEASE");
      uint64_t token = 0;
      ParseU64(argv[2], &token);
      auto p = cur_.promises.find(token);
      if (p == cur_.promises.end() || p->second.lock != argv[1] || p->second.until_ms <= now) {
        return at(c) + "check 5 (owner commands): succeeded for a token that holds no live lease";
      }
      if (release) {
        cur_.promises.erase(p);  // "modulo releases by its owner"
      } else {
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
    } else if (EqualsIgnoreCase(argv[0], "LOCKQ.ANNOUNCE")) {
      // Re-base: the first successful ANNOUNCE of a batch extends every lease
      // live at the previous batch's clock by the time no one could renew.
      if (r != sm::Reply::Ok() || rebased) continue;
      rebased = true;
      if (now == prev) continue;
      for (auto& [token, p] : cur_.promises) {
        if (p.until_ms > prev) {
          p.until_ms += now - prev;
          changed = true;
        }
      }
      n_rebases_++;
    }
  }
  if (changed) {
    // Promises that ran out can no longer be checked (the clock only moves
    // forward along the log).
    std::erase_if(cur_.promises, [&](const auto& kv) { return kv.second.until_ms <= now; });
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
  for (const sm::LockView& v : views) {
    auto n = st.newest.find(v.name);
    if (n == st.newest.end() || n->second != v.last_grant) {
      return at() + "check 2 (fencing tokens): lock " + v.name + " records newest grant " +
             N(v.last_grant) + ", observed " + (n == st.newest.end() ? "none" : N(n->second));
    }

    // Check 1: exclusivity among live holders.
    size_t live = 0, exclusive = 0;
    for (const sm::LockHolderView& h : v.holders) {
      if (h.deadline_ms <= now) continue;
      auto mode = shared_of_.find(h.token);
      if (mode == shared_of_.end()) {
        return at() + "check 1 (exclusivity): lock " + v.name + " has holder token " +
               N(h.token) + " that no grant reply gave out";
      }
      live++;
      exclusive += mode->second ? 0 : 1;
    }
    auto who = [&] {  // only on failure: this runs after every apply
      std::string out;
      for (const sm::LockHolderView& h : v.holders) {
        if (h.deadline_ms <= now) continue;
        out += " " + N(h.token) + (shared_of_.at(h.token) ? "(shared" : "(exclusive") +
               ", until " + N(h.deadline_ms) + ")";
      }
      return out;
    };
    if (exclusive > 0 && live > 1) {
      return at() + "check 1 (exclusivity): lock " + v.name + " has " + N(live) +
             " live holders, " + N(exclusive) + " exclusive:" + who();
    }
    if (live > 0 && v.shared != (exclusive == 0)) {
      return at() + "check 1 (exclusivity): lock " + v.name + " is recorded " +
             (v.shared ? "shared" : "exclusive") + " but its holders are:" + who();
    }
  }

  // Check 3: no lease ends before its (re-based) deadline.
  for (const auto& [token, p] : st.promises) {
    if (p.until_ms <= now) continue;
    const sm::LockHolderView* h = nullptr;
    for (const sm::LockView& v : views) {
      if (v.name != p.lock) continue;
      for (const sm::LockHolderView& x : v.holders) {
        if (x.token == token) h = &x;
      }
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
