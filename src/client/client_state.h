#pragma once
// ClientState: what a lockq::Client shares with the objects made from it
// (locks, sessions, publishers, consumers): endpoints and options, the
// shared pipelined connection, a pool of connections for blocking calls,
// the retry policy, and the registry of held grants that lock.lost pushes
// and session loss are routed to.

#include <chrono>
#include <functional>
#include <map>
#include <memory>
#include <mutex>
#include <string>
#include <utility>
#include <vector>

#include "client/pipe.h"
#include "client/resp_connection.h"
#include "lockq/client_core.h"

namespace lockq {
class Session;
}

namespace lockq::detail {

// A call's outcome as one Status: transport failures as they are, an error
// reply through FromServerError, any other reply Ok.
Status ReplyStatus(const Result<Reply>& r);
// True when a failed call may still have been applied (connection lost
// after sending, or timed out): repeat it only if it is idempotent.
bool MaybeApplied(const Status& s);

class ClientState : public std::enable_shared_from_this<ClientState> {
 public:
  using Clock = std::chrono::steady_clock;
  using Attempt = std::function<Result<Reply>(std::chrono::milliseconds timeout)>;

  ClientState(std::vector<std::string> endpoints, ClientOptions options);
  const ClientOptions& options() const { return options_; }

  // Client::Call, with the retry policy: on the shared pipelined
  // connection, or (`pooled`) on a pooled connection of the calling
  // thread's own, read by that thread (no reader-thread hand-off: the
  // lock classes' path).
  Result<Reply> Call(const std::vector<std::string>& argv, const CallOptions& options, bool pooled = false);
  // One attempt on a pooled connection, for calls that may block in the
  // server (lock waits). `timeout` bounds it. Pushes read meanwhile are
  // dispatched (lock.lost).
  Result<Reply> BlockingCall(const std::vector<std::string>& argv, std::chrono::milliseconds timeout);
  // A new connection to the first node that answers, starting with the
  // one that answered last; Unavailable when none does.
  Result<std::shared_ptr<client::Pipe>> OpenPipe(client::Pipe::PushHandler on_push);
  // Runs attempt until it succeeds, fails for good, or the retry budget is
  // spent (docs/client.md "Retries"). Error replies become Status.
  Result<Reply> Retry(const CallOptions& options, const Attempt& attempt);
  std::string endpoint() const;

  // Held grants: `on_lost` runs once when a lock.lost push names the grant
  // or its session is lost, unless it was forgotten first.
  void Hold(const std::string& lock, uint64_t token, uint64_t session, std::function<void()> on_lost);
  void Forget(const std::string& lock, uint64_t token);
  // Claims a grant found on a session for the caller (adoption, or the
  // orphan sweep): false when someone here already holds or claimed it.
  bool Claim(const std::string& lock, uint64_t token, uint64_t session);
  // The session's grants that nobody here holds (SESSION.INFO), claimed.
  // Ones already unclaimed at the previous call are released on the spot:
  // a request lost in a failover that the cluster granted later.
  void SweepOrphans(uint64_t session);
  std::vector<std::pair<std::string, uint64_t>> SessionLocks(uint64_t session);
  void SessionLost(uint64_t session);

  // The default session (Session::Default) and shutdown (Client's destructor).
  Result<std::shared_ptr<Session>> DefaultSession(const std::function<Result<std::shared_ptr<Session>>()>& open);
  void Shutdown();

 private:
  void OnPush(const Reply& push);
  // The first endpoint, from next_ on, for which `open` succeeds.
  template <typename T>
  Result<T> FirstNode(const std::function<Result<T>(const std::string&)>& open);
  void Lost(std::vector<std::function<void()>> fns);

  const std::vector<std::string> endpoints_;
  const ClientOptions options_;
  mutable std::mutex mu_;
  size_t next_ = 0;  // the endpoint to try first
  std::string current_;
  std::shared_ptr<client::Pipe> shared_;
  std::vector<std::unique_ptr<client::RespConnection>> idle_;
  struct Holder {
    uint64_t session;
    std::function<void()> on_lost;
  };
  std::map<std::pair<std::string, uint64_t>, Holder> held_;
  std::map<std::pair<std::string, uint64_t>, uint64_t> suspects_;  // unclaimed at the last sweep -> session
  std::mutex session_mu_;  // serialises opening the default session
  std::shared_ptr<Session> default_session_;
};

}  // namespace lockq::detail
