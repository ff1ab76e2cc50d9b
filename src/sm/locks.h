#pragma once
// The lock table of native locks (docs/design/native-locks.md): the data
// model only; the commands are in lock_family.cc.
//
// Every grant takes the next value of one cluster-wide counter, so fencing
// tokens strictly increase across every grant of every lock. A holder keeps
// its lock while its lease deadline (absolute state machine time) is > now:
// a holder whose deadline <= now is treated as absent by every query here
// (lazy expiry) and is physically removed by a write on that lock or by
// RemoveExpired() (LOCKQ.EXPIRE), never by a read. As in Keyspace, the
// deadline index is an ordered set, and every container is ordered, so
// equal tables snapshot to equal bytes.
//
// A lock's record outlives its holders: it keeps the newest token granted
// on it, which fenced writes (SET ... FENCE) compare against. Records are
// bounded by kLocksMax (STYLE.md habit 8).
//
// Thread: the state machine's owner, like the rest of SmState.

#include <cstddef>
#include <cstdint>
#include <functional>
#include <map>
#include <set>
#include <string>
#include <string_view>
#include <tuple>

namespace lockq::sm {

// LOCK.ACQUIRE without TTL: a 30 s lease (WAIT and SESSION are not built).
inline constexpr uint64_t kLockTtlDefaultMs = 30000;
inline constexpr size_t kLockOwnerMax = 256;      // bytes of an OWNER tag
inline constexpr size_t kLocksMax = 1'000'000;    // lock records, free ones included

struct LockHolder {
  std::string owner;         // OWNER tag, "" when none was given
  uint64_t since_ms = 0;     // grant time
  uint64_t lease_ms = 0;     // TTL of the last grant or renew (RENEW's default)
  uint64_t deadline_ms = 0;  // absolute; the holder holds iff deadline_ms > now
  bool operator==(const LockHolder&) const = default;
};

struct LockRecord {
  bool shared = false;      // mode of the current holders; meaningless without one
  uint64_t last_grant = 0;  // newest token granted on this lock (> 0)
  std::map<uint64_t, LockHolder> holders;  // by token
  bool operator==(const LockRecord&) const = default;
};

// The answer to "is `token` a holder of `name`?" (outcome values, STYLE.md
// habit 2).
enum class LockCheck {
  kHolder,    // a live holder
  kNotOwner,  // unknown lock, or a token not older than the newest grant
  kStale,     // older than the lock's newest grant and not a live holder
};

enum class AcquireOutcome { kGranted, kConflict, kTableFull };

struct AcquireResult {
  AcquireOutcome outcome;
  uint64_t token = 0;  // kGranted only
};

class LockTable {
 public:
  using Map = std::map<std::string, LockRecord, std::less<>>;

  static bool Live(const LockHolder& h, uint64_t now_ms) { return h.deadline_ms > now_ms; }

  // Exclusive: granted iff no live holder. Shared: granted iff no live
  // exclusive holder. A grant first drops the lock's expired holders. The
  // caller checked that deadline_ms = now_ms + lease_ms fits int64.
  AcquireResult TryAcquire(std::string_view name, bool shared, std::string_view owner,
                           uint64_t lease_ms, uint64_t deadline_ms, uint64_t now_ms);
  LockCheck Check(std::string_view name, uint64_t token, uint64_t now_ms) const;
  // Both require Check(name, token, now) == kHolder.
  void Release(std::string_view name, uint64_t token);
  void Renew(std::string_view name, uint64_t token, uint64_t lease_ms, uint64_t deadline_ms);

  const LockRecord* Find(std::string_view name) const;  // nullptr: never granted
  // Newest token granted on `name`, 0 when it was never granted.
  uint64_t NewestGrant(std::string_view name) const;
  // True when some holder of `rec` is live at now_ms.
  static bool Held(const LockRecord& rec, uint64_t now_ms);

  // Removes up to `max_holders` holders whose deadline <= now_ms, in
  // (deadline, name, token) order; returns how many.
  size_t RemoveExpired(uint64_t now_ms, size_t max_holders);
  // Re-base after a leader change: every lease still live at `prev_ms` (the
  // previous batch's time) is extended by `gap_ms`. Leases already expired
  // at prev_ms keep their deadline and stay expired.
  void ExtendLeases(uint64_t prev_ms, uint64_t gap_ms);

  uint64_t NextDeadline() const;  // earliest lease deadline, 0 when none
  uint64_t last_token() const { return last_token_; }
  const Map& map() const { return locks_; }
  size_t size() const { return locks_.size(); }
  size_t holder_count() const { return deadlines_.size(); }

  // Snapshot restore. The caller guarantees names arrive ascending, tokens
  // <= last_token, and the record is consistent (snapshot.cc checks).
  void SetLastTokenForRestore(uint64_t token) { last_token_ = token; }
  void AppendForRestore(std::string name, LockRecord rec);

 private:
  void EraseHolder(Map::iterator it, uint64_t token);

  Map locks_;
  std::set<std::tuple<uint64_t, std::string, uint64_t>> deadlines_;  // (deadline, name, token)
  uint64_t last_token_ = 0;  // cluster-wide fencing counter: the last token granted
};

}  // namespace lockq::sm
