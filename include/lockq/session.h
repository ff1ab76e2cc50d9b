#pragma once
// lockq::Session: a server session kept alive in the background, like an
// etcd lease (docs/locks.md "Sessions"). Locks taken through it are held
// while it lives and released at once, by the cluster, when it ends, so a
// client that crashes or is cut off frees its locks after `ttl`.
//
// Every Client has a default session (Client::... via Session::Default),
// opened on first use and shared by its Mutex, SharedMutex, Semaphore and
// Election objects unless they are given one.

#include <chrono>
#include <functional>
#include <memory>

#include "lockq/client_core.h"

namespace lockq {

namespace detail {
class SessionState;
}

class Session {
 public:
  using Clock = std::chrono::steady_clock;

  // Opens a session with this TTL (>= 100 ms) and starts its keepalive
  // (every ttl/3, retried across failovers).
  static Result<std::shared_ptr<Session>> Open(Client& client, std::chrono::milliseconds ttl = std::chrono::seconds(10));
  // The client's default session (10 s TTL), opened on first use.
  static Result<std::shared_ptr<Session>> Default(Client& client);

  // Closes the session: the cluster releases every lock it holds.
  ~Session();
  Status Close();

  uint64_t id() const;
  std::chrono::milliseconds ttl() const;
  // False once the session expired or was closed; its locks are gone.
  bool alive() const;
  // Until when the cluster is known to keep the session (its last
  // keepalive's send time + ttl, by this machine's steady clock).
  Clock::time_point guaranteed_until() const;
  // Runs fn once (on a library thread) when the session is found lost;
  // at once if it already is.
  void OnLost(std::function<void()> fn);

  const std::shared_ptr<detail::SessionState>& state() const { return state_; }
  explicit Session(std::shared_ptr<detail::SessionState> state);

 private:
  std::shared_ptr<detail::SessionState> state_;
};

}  // namespace lockq
