#pragma once
// An independent model of the commands the simulation proposes (SET [PX],
// GET, DEL, INCR, LOCKQ.EXPIRE, LOCKQ.NOOP, LOCKQ.ANNOUNCE), written from the
// Redis and docs semantics rather than from src/sm. Lock commands are the
// LockAudit's (tests/testlib/sim_lock_audit.h): here LOCK.*, SESSION.*,
// LOCKQ.AS / CANCEL / INCARNATION replies are not checked, a fenced SET changes the model's key iff it replied OK (the audit
// checks that decision), and LOCKQ.EXPIRE's reply may add up to max expired
// lock holders, sessions and waiters to the keys it removed. It follows the reference replay of
// the committed log and checks, after every committed entry:
//   - the state machine clock is max(previous, batch.leader_time_ms);
//   - every reply equals the model's;
//   - the physical keyspace (decoded from the reference snapshot) equals the
//     model's, key by key, with the same value and deadline.
// TTL safety follows: a key the model still holds live (deadline > sm time)
// must be present and readable; a key past its deadline must read as absent.

#include <algorithm>
#include <cstdint>
#include <map>
#include <string>
#include <vector>

#include "sm/parse.h"
#include "sm/reply.h"
#include "sm/snapshot.h"
#include "sm/state_machine.h"

namespace lockq::testing {

class KvModel {
 public:
  // Returns "" when the entry matches the model, else what went wrong.
  std::string Apply(uint64_t index, const sm::Batch& batch, const std::vector<sm::Reply>& replies,
                    const sm::StateMachine& ref) {
    now_ms_ = std::max(now_ms_, batch.leader_time_ms);
    if (ref.now_ms() != now_ms_) {
      return At(index) + "state machine clock " + std::to_string(ref.now_ms()) +
             " != max leader time " + std::to_string(now_ms_);
    }
    if (replies.size() != batch.commands.size()) return At(index) + "reply count differs";
    for (size_t c = 0; c < batch.commands.size(); c++) {
      std::string err = ApplyCommand(batch.commands[c], replies[c]);
      if (!err.empty()) return At(index) + err;
    }
    return CompareKeyspace(index, ref);
  }

  uint64_t now_ms() const { return now_ms_; }
  // The value of a key as a client would read it now, or "" when absent.
  std::string Read(const std::string& key) const {
    auto it = keys_.find(key);
    return it != keys_.end() && Live(it->second) ? it->second.value : std::string();
  }

 private:
  struct Entry {
    std::string value;
    uint64_t deadline_ms = 0;  // 0 = no TTL
  };

  bool Live(const Entry& e) const { return e.deadline_ms == 0 || e.deadline_ms > now_ms_; }
  std::string At(uint64_t index) const {
    return "index " + std::to_string(index) + " (sm time " + std::to_string(now_ms_) + "): ";
  }
  static std::string Show(const sm::Reply& r) { return sm::ToDebugString(r); }
  static std::string Mismatch(const sm::Argv& argv, const sm::Reply& want, const sm::Reply& got) {
    std::string cmd;
    for (const auto& a : argv) cmd += (cmd.empty() ? "" : " ") + a;
    return "`" + cmd + "` replied " + Show(got) + ", model expects " + Show(want);
  }

  std::string ApplyCommand(const sm::Argv& argv, const sm::Reply& got) {
    const std::string& name = argv[0];
    sm::Reply want;
    if (name == "LOCK.ACQUIRE" || name == "LOCK.RELEASE" || name == "LOCK.RENEW" ||
        name == "LOCK.SIGNKEY" || name == "LOCKQ.AS" || name == "LOCKQ.CANCEL" || name == "LOCKQ.INCARNATION" ||
        name.rfind("SESSION.", 0) == 0) {
      return {};  // LockAudit's
    } else if (name.rfind("Q.", 0) == 0 || name.rfind("X.", 0) == 0) {
      return {};  // QueueAudit's
    } else if (name == "SET" && argv.size() == 6 && argv[3] == "FENCE") {
      if (got == sm::Reply::Ok()) keys_[argv[1]] = Entry{argv[2], 0};
      return {};  // accepted or refused: LockAudit checks which is right
    } else if (name == "SET") {
      Entry e{argv[2], 0};
      if (argv.size() == 5) e.deadline_ms = now_ms_ + std::stoull(argv[4]);  // PX ms
      keys_[argv[1]] = e;
      want = sm::Reply::Ok();
    } else if (name == "GET") {
      auto it = keys_.find(argv[1]);
      bool live = it != keys_.end() && Live(it->second);
      want = live ? sm::Reply::Bulk(it->second.value) : sm::Reply::Null();
      if (got != want && live && got.kind == sm::Reply::Kind::kNull) {
        return "TTL safety: GET " + argv[1] + " found nothing although its deadline " +
               std::to_string(it->second.deadline_ms) + " is after the sm time";
      }
    } else if (name == "DEL") {
      auto it = keys_.find(argv[1]);
      bool live = it != keys_.end() && Live(it->second);
      if (it != keys_.end()) keys_.erase(it);
      want = sm::Reply::Int(live ? 1 : 0);
    } else if (name == "INCR") {
      auto it = keys_.find(argv[1]);
      if (it != keys_.end() && !Live(it->second)) {
        keys_.erase(it);  // an expired key counts as absent and is dropped
        it = keys_.end();
      }
      int64_t old = 0;
      if (it != keys_.end() && !sm::ParseInt64(it->second.value, &old)) {
        if (!got.is_error()) return "INCR of a non-integer did not fail";
        return {};
      }
      Entry& e = keys_[argv[1]];
      e.value = std::to_string(old + 1);
      want = sm::Reply::Int(old + 1);
    } else if (name == "LOCKQ.EXPIRE") {
      // Keys first (up to max), then up to max expired lock holders.
      uint64_t max = std::stoull(argv[1]);
      int64_t keys = static_cast<int64_t>(ExpireUpTo(max));
      if (got.kind != sm::Reply::Kind::kInt || got.integer < keys ||
          got.integer > keys + static_cast<int64_t>(max)) {
        return Mismatch(argv, sm::Reply::Int(keys), got) + " (+ up to " + argv[1] + " holders)";
      }
      return {};
    } else if (name == "LOCKQ.NOOP" || name == "LOCKQ.ANNOUNCE") {
      want = sm::Reply::Ok();
    } else {
      return "the model does not know " + name;
    }
    return got == want ? std::string() : Mismatch(argv, want, got);
  }

  // Earliest deadline first, ties by key (the sm's deadline index order).
  size_t ExpireUpTo(uint64_t max_keys) {
    std::vector<std::pair<uint64_t, std::string>> due;
    for (const auto& [k, e] : keys_) {
      if (e.deadline_ms != 0 && e.deadline_ms <= now_ms_) due.emplace_back(e.deadline_ms, k);
    }
    std::sort(due.begin(), due.end());
    size_t n = std::min<size_t>(due.size(), max_keys);
    for (size_t i = 0; i < n; i++) keys_.erase(due[i].second);
    return n;
  }

  std::string CompareKeyspace(uint64_t index, const sm::StateMachine& ref) {
    sm::SmState state;
    Status s = sm::DecodeSnapshot(ref.Snapshot(), &state);
    if (!s.ok()) return At(index) + "reference snapshot does not decode: " + s.ToString();
    std::map<std::string, Entry> actual;
    for (const auto& [mk, v] : state.keyspace.map()) actual[mk.key] = Entry{v.str, v.deadline_ms};
    for (const auto& [k, e] : keys_) {
      auto it = actual.find(k);
      if (it == actual.end()) {
        if (Live(e)) {
          return At(index) + "TTL safety: key " + k + " vanished before its deadline " +
                 std::to_string(e.deadline_ms);
        }
        return At(index) + "expired key " + k + " was removed without LOCKQ.EXPIRE/write";
      }
      if (it->second.value != e.value || it->second.deadline_ms != e.deadline_ms) {
        return At(index) + "key " + k + " holds " + it->second.value + " (deadline " +
               std::to_string(it->second.deadline_ms) + "), model " + e.value + " (deadline " +
               std::to_string(e.deadline_ms) + ")";
      }
    }
    for (const auto& [k, e] : actual) {
      if (keys_.count(k) == 0) return At(index) + "unexpected key " + k + " in the state machine";
    }
    return {};
  }

  std::map<std::string, Entry> keys_;
  uint64_t now_ms_ = 0;
};

}  // namespace lockq::testing
