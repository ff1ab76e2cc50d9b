#pragma once
// The lock table of native locks (docs/design/native-locks.md): locks,
// their FIFO waiters and the sessions that hold them. The data model and
// its rules; the commands are in lock_family.cc and session_family.cc.
//
// Rules:
//  - Every grant takes the next value of one cluster-wide counter, so
//    fencing tokens strictly increase across every grant of every lock.
//  - A holder holds while its lease deadline (absolute state-machine time)
//    is > now, or, when it holds through a session, while the session's
//    deadline is > now. Anything past its deadline is treated as gone by
//    every query (lazy expiry) and is physically removed by a write on that
//    lock or by RemoveExpired() (LOCKQ.EXPIRE).
//  - Fairness: waiters are granted in FIFO order. A request is granted at
//    once only when nobody waits and it is compatible with the live holders
//    (exclusive: none; shared: no exclusive; semaphore: fewer than its
//    permits, all with the same permit count). After every change the queue
//    is pumped: the head is granted while compatible; an incompatible head
//    blocks those behind it, so writers are not starved by readers.
//  - A waiter whose wait deadline passed, or whose session ended, is never
//    granted (etcd #11456): it is answered nil / NOSESSION and removed.
//  - Answers decided later (grants to waiters, timeouts, lost locks) are
//    appended to an Events list (events.h) for the connections to deliver.
//
// Every container is ordered, so equal tables snapshot to equal bytes. The
// indexes (deadlines, by-client, per-session) are derived and rebuilt on
// restore. Bounded (STYLE.md habit 8): kLocksMax records, kWaitersMax
// waiters, kSessionsMax sessions.
//
// Thread: the state machine's owner, like the rest of SmState.

#include <cstddef>
#include <cstdint>
#include <deque>
#include <functional>
#include <map>
#include <optional>
#include <set>
#include <string>
#include <string_view>
#include <tuple>
#include <utility>

#include "sm/events.h"
#include "sm/sign_keys.h"

namespace lockq::sm {

inline constexpr uint64_t kLockTtlDefaultMs = 30000;  // LOCK.ACQUIRE without TTL or SESSION
inline constexpr size_t kLockOwnerMax = 256;          // bytes of an OWNER tag
inline constexpr size_t kLocksMax = 1'000'000;        // lock records, free ones included
inline constexpr size_t kWaitersMax = 1'000'000;      // waiters over all locks
inline constexpr size_t kSessionsMax = 1'000'000;
inline constexpr uint64_t kPermitsMax = 1'000'000;    // semaphore permits

enum class LockMode : uint8_t { kExclusive = 0, kShared = 1, kSemaphore = 2 };
inline constexpr uint8_t kMaxLockMode = 2;

// What one acquire asks for; a waiter keeps it until it is granted.
struct LockRequest {
  LockMode mode = LockMode::kExclusive;
  uint64_t permits = 0;   // kSemaphore: the semaphore's permit count; else 0
  std::string owner;      // OWNER tag, "" when none was given
  uint64_t lease_ms = 0;  // TTL lease; 0 when held through `session`
  uint64_t session = 0;   // 0: none
  ClientRef client;       // who asked (empty from scripts)
  bool sign = false;      // SIGNED: the grant reply carries a signed grant
  bool operator==(const LockRequest&) const = default;
};

struct LockHolder {
  std::string owner;
  uint64_t since_ms = 0;     // grant time
  uint64_t lease_ms = 0;     // TTL of the last grant or renew; 0 with a session
  uint64_t deadline_ms = 0;  // absolute lease deadline; 0 with a session
  uint64_t session = 0;
  ClientRef client;          // the request that was granted
  bool operator==(const LockHolder&) const = default;
};

struct LockWaiter {
  LockRequest req;
  uint64_t since_ms = 0;          // when it started waiting
  uint64_t wait_deadline_ms = 0;  // answered nil at this time; 0: waits without limit
  bool operator==(const LockWaiter&) const = default;
};

struct LockRecord {
  LockMode mode = LockMode::kExclusive;  // of the current holders; meaningless without one
  uint64_t permits = 0;                  // kSemaphore: of the current holders
  uint64_t last_grant = 0;               // newest token granted on this lock (0: none yet)
  std::map<uint64_t, LockHolder> holders;  // by token
  std::deque<LockWaiter> waiters;          // FIFO
  bool operator==(const LockRecord&) const = default;
};

struct Session {
  uint64_t ttl_ms = 0;
  uint64_t deadline_ms = 0;  // live while > now; KEEPALIVE sets now + ttl
  bool operator==(const Session&) const = default;
};

// The answer to "is `token` a holder of `name`?" (outcome values, STYLE.md
// habit 2).
enum class LockCheck {
  kHolder,    // a live holder
  kNotOwner,  // unknown lock, or a token not older than the newest grant
  kStale,     // older than the lock's newest grant and not a live holder
};

enum class AcquireOutcome {
  kGranted,
  kQueued,            // waits; its answer comes as an Event
  kConflict,          // not grantable now and the request does not wait
  kTableFull,         // kLocksMax or kWaitersMax reached
  kNoSession,         // the request's session does not exist or expired
  kPermitsMismatch,   // a semaphore held with another permit count
  kAlreadyWaiting,    // the client already has a request waiting
};

struct AcquireResult {
  AcquireOutcome outcome;
  uint64_t token = 0;         // kGranted only
  uint64_t guaranteed_ms = 0; // kGranted only: how long the grant is guaranteed
};

// [token, guaranteed_ms]: the reply of every grant, immediate or deferred.
Reply GrantReply(uint64_t token, uint64_t guaranteed_ms);
// [token, guaranteed_ms, grant]: the same for a SIGNED request.
Reply SignedGrantReply(uint64_t token, uint64_t guaranteed_ms, std::string grant);

class LockTable {
 public:
  using Map = std::map<std::string, LockRecord, std::less<>>;

  bool Live(const LockHolder& h, uint64_t now_ms) const;
  bool SessionLive(uint64_t id, uint64_t now_ms) const;
  // How long `h` is still guaranteed at now_ms (0 when not live).
  uint64_t Remaining(const LockHolder& h, uint64_t now_ms) const;
  // Absolute end of `h`'s hold as things stand (its lease, or its session's).
  uint64_t Expiry(const LockHolder& h) const;

  // Grants `req` now, queues it (wait_deadline_ms: 0 waits without limit;
  // `wait` false: try-lock), or refuses it. The caller checked that a TTL
  // lease's deadline fits int64.
  AcquireResult Acquire(std::string_view name, const LockRequest& req, bool wait,
                        uint64_t wait_deadline_ms, uint64_t now_ms, Events* ev);
  LockCheck Check(std::string_view name, uint64_t token, uint64_t now_ms) const;
  // The signed grant (lockq/grant.h) of live holder `token` of `name`:
  // lock name, token, owner tag and the hold's end as things stand
  // (Expiry). nullopt when no key signs. Requires Check() == kHolder.
  std::optional<std::string> SignedGrant(std::string_view name, uint64_t token) const;
  // Both require Check(name, token, now) == kHolder.
  void Release(std::string_view name, uint64_t token, uint64_t now_ms, Events* ev);
  void Renew(std::string_view name, uint64_t token, uint64_t lease_ms, uint64_t deadline_ms);
  // The client's waiting request leaves its queue, or, if it was granted,
  // the grant is released (its connection is gone). No answer is sent.
  void Cancel(const ClientRef& client, uint64_t now_ms, Events* ev);
  // Waiters of other incarnations (nonce) of `node` leave their queues:
  // their connections died with that process.
  void DropIncarnation(uint64_t node, uint64_t nonce, uint64_t now_ms, Events* ev);

  // Sessions. Open returns the id, 0 when the table is full.
  uint64_t OpenSession(uint64_t ttl_ms, uint64_t now_ms);
  const Session* FindSession(uint64_t id) const;
  // (lock name, token) held through session `id`, name order; nullptr: none.
  const std::set<std::pair<std::string, uint64_t>>* SessionHolds(uint64_t id) const;
  void KeepAlive(uint64_t id, uint64_t now_ms);  // requires SessionLive
  // Ends a session: its locks are released (their holders told), its
  // waiters answered NOSESSION. False when it does not exist.
  bool CloseSession(uint64_t id, uint64_t now_ms, Events* ev);

  // The grant signing keys (LOCK.SIGNKEY); they live here because a
  // waiter's grant is signed where it is granted, deep inside the table.
  const SignKeys& sign_keys() const { return sign_keys_; }
  SignKeys& mutable_sign_keys() { return sign_keys_; }

  const LockRecord* Find(std::string_view name) const;  // nullptr: never used
  uint64_t NewestGrant(std::string_view name) const;    // 0 when never granted
  // A fenced write with `token` on lock `name` may go ahead: the lock was
  // granted, and not since a grant newer than `token`.
  bool FenceAdmits(std::string_view name, uint64_t token) const {
    uint64_t newest = NewestGrant(name);
    return newest != 0 && token >= newest;
  }
  bool Held(const LockRecord& rec, uint64_t now_ms) const;

  // Removes up to `max` expired things, earliest deadline first in each of:
  // holders past their lease, sessions past their deadline (with what they
  // hold and wait for), waiters past their wait. Then grants what became
  // grantable. Returns how many were removed.
  size_t RemoveExpired(uint64_t now_ms, size_t max, Events* ev);
  // Re-base after a leader change: every lease and session still live at
  // `prev_ms` (the previous batch's time) is extended by `gap_ms`. Wait
  // deadlines are not: they bound a client's patience, not a grant.
  void ExtendLeases(uint64_t prev_ms, uint64_t gap_ms);

  uint64_t NextDeadline() const;  // earliest lease, session or wait deadline; 0: none
  uint64_t last_token() const { return last_token_; }
  uint64_t last_session() const { return last_session_; }
  const Map& map() const { return locks_; }
  const std::map<uint64_t, Session>& sessions() const { return sessions_; }
  size_t size() const { return locks_.size(); }
  size_t holder_count() const;  // every holder record, expired ones not yet removed included
  size_t waiter_count() const { return waiter_by_client_.size(); }

  // Snapshot restore: set the counters, append records (names ascending,
  // checked by snapshot.cc), then RebuildIndexes().
  void SetCountersForRestore(uint64_t last_token, uint64_t last_session);
  void AppendForRestore(std::string name, LockRecord rec);
  void AppendSessionForRestore(uint64_t id, Session s);
  void RebuildIndexes();

 private:
  using Touched = std::set<std::string, std::less<>>;
  uint64_t Grant(Map::iterator it, const LockRequest& req, uint64_t now_ms, Events* ev);
  void Changed(Map::iterator it, Events* ev);  // a kChange event for the lock
  bool Compatible(const LockRecord& rec, const LockRequest& req) const;
  void EraseHolder(Map::iterator it, uint64_t token, std::string_view lost_reason, Events* ev);
  void DropDeadHolders(Map::iterator it, uint64_t now_ms, Events* ev);
  LockWaiter TakeWaiter(Map::iterator it, size_t pos);
  void Pump(Map::iterator it, uint64_t now_ms, Events* ev);
  void PumpAll(const Touched& names, uint64_t now_ms, Events* ev);
  void EndSession(uint64_t id, std::string_view reason, Touched* touched, Events* ev);
  void IndexHolder(const std::string& name, uint64_t token, const LockHolder& h);
  void IndexWaiter(const std::string& name, const LockWaiter& w);

  Map locks_;
  std::map<uint64_t, Session> sessions_;
  SignKeys sign_keys_;
  uint64_t last_token_ = 0;    // cluster-wide fencing counter: the last token granted
  uint64_t last_session_ = 0;  // the last session id handed out

  // Derived indexes.
  std::set<std::tuple<uint64_t, std::string, uint64_t>> lease_deadlines_;  // (deadline, name, token)
  std::set<std::tuple<uint64_t, std::string, ClientRef>> wait_deadlines_;  // (deadline, name, client)
  std::set<std::pair<uint64_t, uint64_t>> session_deadlines_;              // (deadline, id)
  std::map<ClientRef, std::string> waiter_by_client_;  // every waiter has a client
  std::map<ClientRef, std::pair<std::string, uint64_t>> holder_by_client_;
  std::map<uint64_t, std::set<std::pair<std::string, uint64_t>>> session_holds_;  // id -> (name, token)
  std::map<uint64_t, std::set<std::pair<std::string, ClientRef>>> session_waits_;  // id -> (name, client)
};

}  // namespace lockq::sm
