#pragma once
// LockCore: one holder of a native lock (include/lockq/mutex.h). Acquires
// through a session with the server's FIFO wait, recovers a grant whose
// reply was lost (SESSION.INFO lists what the session holds), and learns
// about loss from lock.lost pushes and from the session.

#include <chrono>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <vector>

#include "client/client_state.h"
#include "lockq/mutex.h"

namespace lockq::detail {

class LockCore : public std::enable_shared_from_this<LockCore> {
 public:
  using Clock = std::chrono::steady_clock;
  // `lock` is the name in the lock table (an election "x" is "elect:x").
  LockCore(std::shared_ptr<ClientState> client, Client& handle, std::string lock, LockOptions options);

  // argv: the command up to its options (LOCK.ACQUIRE name SHARED ...);
  // SESSION and WAIT are appended. Ok(true) once granted.
  Result<bool> Acquire(std::vector<std::string> argv, std::optional<std::chrono::milliseconds> wait);
  Status Release();

  const std::string lock;
  const LockOptions& options() const { return options_; }
  bool held() const;
  bool lost() const;
  uint64_t token() const;
  Clock::time_point guaranteed_until() const;
  Status last_error() const;
  void set_last_error(Status s);
  std::string grant() const;
  Result<std::string> RefreshGrant();  // LOCK.SIGN for the current token

 private:
  std::optional<uint64_t> FindAdoptable(const std::shared_ptr<Session>& session);
  void Granted(const std::shared_ptr<Session>& session, uint64_t token, std::string grant = "");

  std::shared_ptr<ClientState> client_;
  Client& handle_;
  LockOptions options_;
  mutable std::mutex mu_;
  std::shared_ptr<Session> session_;  // of the grant held now
  uint64_t token_ = 0;
  std::string grant_;  // signed grant of token_, "" when none
  bool lost_ = false;
  Status last_error_;
  bool had_unknown_ = false;  // an acquire had an unknown outcome since the last release
};

}  // namespace lockq::detail
