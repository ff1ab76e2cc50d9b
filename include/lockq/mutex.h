#pragma once
// Distributed locks that satisfy the standard library's lock requirements
// (docs/client.md): Mutex is Lockable and TimedLockable, SharedMutex also
// SharedLockable / SharedTimedLockable, Semaphore is TimedLockable for one
// permit of n. So std::unique_lock, std::scoped_lock and std::shared_lock
// work:
//
//   lockq::Client client({"127.0.0.1:6379"});
//   lockq::Mutex m(client, "orders");
//   { std::unique_lock guard(m); write(m.fencing_token()); }
//
// Blocking uses the server's fair FIFO wait, not polling. Locks are held
// through a Session (the client's default one unless LockOptions names
// one), so a crashed holder frees them after the session TTL. lock()
// throws lockq::Error when the cluster cannot be reached within
// ClientOptions::retry_for; try_lock*() return false only when the lock is
// taken, and throw likewise. unlock() never throws (std requires it): a
// failure is kept in last_error() and the session ends the lock anyway.
//
// One object is one holder: it holds at most one grant at a time. It may be
// shared between threads as std::mutex is (lock in one, unlock in the same
// or another after synchronising), but not locked twice.

#include <chrono>
#include <cstdint>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "lockq/client_core.h"
#include "lockq/session.h"

namespace lockq {

namespace detail {
class LockCore;
}

struct LockOptions {
  std::shared_ptr<Session> session;  // default: Session::Default(client)
  std::string owner;                 // shown by LOCK.INFO / `lockq lock info`; the grant's holder
  // Acquire with SIGNED: each grant comes with a signed grant string
  // (lockq/grant.h, LockBase::grant()) that a storage service can check
  // offline with lockq::VerifyGrant. The cluster needs a signing key
  // (LOCK.SIGNKEY ROTATE), else acquiring fails with a server error.
  bool signed_grant = false;
  // Called (on a library thread) when a held grant is lost other than by
  // unlock(): its session ended or the cluster released it.
  std::function<void(const std::string& name, uint64_t token)> on_lost;
};

// What every lock type below offers besides the std-style calls.
class LockBase {
 public:
  using Clock = std::chrono::steady_clock;
  ~LockBase();
  LockBase(const LockBase&) = delete;
  LockBase& operator=(const LockBase&) = delete;

  const std::string& name() const;
  bool held() const;
  // True when the grant now held was lost (session ended, lock released by
  // the cluster): stop writing; unlock() is still fine to call.
  bool lost() const;
  // The fencing token of the current grant (0 when not held): pass it with
  // writes (SET ... FENCE name token, Q.PUBLISH ... FENCE).
  uint64_t fencing_token() const;
  // Until when the grant is guaranteed, by this machine's steady clock.
  Clock::time_point guaranteed_until() const;
  // The error of the last unlock() that failed, Ok otherwise.
  Status last_error() const;
  // With LockOptions::signed_grant: the signed grant of the current hold
  // ("" when not held or not signed). Its lease end is the hold's end at
  // the grant; a hold through a session lives on with keepalives, so ask
  // for a fresh one with RefreshGrant() when a verifier finds it expired.
  std::string grant() const;
  // A fresh signed grant for the current hold (LOCK.SIGN), also kept as
  // grant(). Works without signed_grant too.
  Result<std::string> RefreshGrant();

 protected:
  LockBase(Client& client, std::string name, LockOptions options);
  // wait: nullopt = until granted; 0 = try once. Ok(true) = granted.
  Result<bool> Acquire(std::optional<std::chrono::milliseconds> wait, const std::vector<std::string>& mode);
  Status Release();
  void LockOrThrow(const std::vector<std::string>& mode);
  bool TryOrThrow(std::optional<std::chrono::milliseconds> wait, const std::vector<std::string>& mode);
  static std::chrono::milliseconds Until(Clock::time_point t);

  std::shared_ptr<detail::LockCore> core_;
};

class Mutex : public LockBase {
 public:
  Mutex(Client& client, std::string name, LockOptions options = {});
  void lock() { LockOrThrow({}); }
  bool try_lock() { return TryOrThrow(std::chrono::milliseconds(0), {}); }
  template <class Rep, class Period>
  bool try_lock_for(const std::chrono::duration<Rep, Period>& d) {
    return TryOrThrow(std::chrono::ceil<std::chrono::milliseconds>(d), {});
  }
  template <class C, class D>
  bool try_lock_until(const std::chrono::time_point<C, D>& t) {
    return try_lock_for(t - C::now());
  }
  void unlock() { (void)Release(); }
  // Result-style forms: wait nullopt = until granted, 0 = try.
  Result<bool> Lock(std::optional<std::chrono::milliseconds> wait = std::nullopt) { return Acquire(wait, {}); }
  Status Unlock() { return Release(); }
};

// A Mutex that also has the shared (reader) side.
class SharedMutex : public Mutex {
 public:
  SharedMutex(Client& client, std::string name, LockOptions options = {});
  void lock_shared() { LockOrThrow({"SHARED"}); }
  bool try_lock_shared() { return TryOrThrow(std::chrono::milliseconds(0), {"SHARED"}); }
  template <class Rep, class Period>
  bool try_lock_shared_for(const std::chrono::duration<Rep, Period>& d) {
    return TryOrThrow(std::chrono::ceil<std::chrono::milliseconds>(d), {"SHARED"});
  }
  template <class C, class D>
  bool try_lock_shared_until(const std::chrono::time_point<C, D>& t) {
    return try_lock_shared_for(t - C::now());
  }
  void unlock_shared() { (void)Release(); }
};

// One permit of a semaphore of `permits` (every holder must agree on it).
class Semaphore : public LockBase {
 public:
  Semaphore(Client& client, std::string name, uint32_t permits, LockOptions options = {});
  void acquire() { LockOrThrow(mode_); }
  bool try_acquire() { return TryOrThrow(std::chrono::milliseconds(0), mode_); }
  template <class Rep, class Period>
  bool try_acquire_for(const std::chrono::duration<Rep, Period>& d) {
    return TryOrThrow(std::chrono::ceil<std::chrono::milliseconds>(d), mode_);
  }
  void release() { (void)Release(); }
  // Lockable spellings, for std::unique_lock.
  void lock() { acquire(); }
  bool try_lock() { return try_acquire(); }
  template <class Rep, class Period>
  bool try_lock_for(const std::chrono::duration<Rep, Period>& d) {
    return try_acquire_for(d);
  }
  template <class C, class D>
  bool try_lock_until(const std::chrono::time_point<C, D>& t) {
    return try_acquire_for(t - C::now());
  }
  void unlock() { release(); }
  uint32_t permits() const { return permits_; }

 private:
  uint32_t permits_;
  std::vector<std::string> mode_;
};

}  // namespace lockq
