#pragma once
// SessionState: a server session and the thread that keeps it alive
// (include/lockq/session.h).

#include <chrono>
#include <atomic>
#include <condition_variable>
#include <functional>
#include <memory>
#include <mutex>
#include <thread>
#include <vector>

#include "client/client_state.h"

namespace lockq::detail {

class SessionState {
 public:
  using Clock = std::chrono::steady_clock;
  SessionState(std::shared_ptr<ClientState> client, uint64_t id, std::chrono::milliseconds ttl,
               Clock::time_point guaranteed_until);
  ~SessionState();

  Status Close();
  bool alive() const;
  Clock::time_point guaranteed_until() const;
  void OnLost(std::function<void()> fn);
  // A lock request of this session had an unknown outcome: from now on
  // each keepalive round also releases grants nobody here holds
  // (ClientState::SweepOrphans).
  void SweepFromNowOn() { sweep_ = true; }

  const std::shared_ptr<ClientState> client;
  const uint64_t id;
  const std::chrono::milliseconds ttl;

 private:
  void KeepAlive();
  void MarkLost();

  mutable std::mutex mu_;
  std::condition_variable cv_;
  bool stopping_ = false;
  bool alive_ = true;
  Clock::time_point guaranteed_until_;
  std::vector<std::function<void()>> on_lost_;
  std::atomic<bool> sweep_{false};
  std::thread thread_;
};

}  // namespace lockq::detail
