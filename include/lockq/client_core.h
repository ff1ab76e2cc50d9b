#pragma once
// lockq::Client: a handle to a lockq cluster (docs/client.md).
//
// Thread model: one Client is shared by any number of threads. Calls from
// all threads are pipelined on one connection; blocking operations (a lock
// wait, a campaign) and streams (consumers, publishers, observers) each use
// a connection of their own, so they never hold up other calls. Callbacks
// run on the library's reader threads: keep them short and do not block
// there on other lockq calls of the same object.

#include <chrono>
#include <memory>
#include <optional>
#include <stdexcept>
#include <string>
#include <vector>

#include "lockq/reply.h"
#include "lockq/status.h"

namespace lockq {

namespace detail {
class ClientState;
}

// Options for when the server has them (see docs/client.md "Security"):
// today a Client with tls.enabled fails to connect with InvalidArgument.
struct TlsOptions {
  bool enabled = false;
  std::string ca_file;
  std::string cert_file;
  std::string key_file;
  std::string server_name;
};

struct ClientOptions {
  std::chrono::milliseconds connect_timeout{2000};
  std::chrono::milliseconds call_timeout{10000};   // per call, unless CallOptions says
  std::chrono::milliseconds retry_for{20000};      // how long to ride out a failover
  std::chrono::milliseconds backoff_initial{20};   // doubles per retry, with jitter ...
  std::chrono::milliseconds backoff_max{1000};     // ... up to this
  std::string username;                            // sent with HELLO 3 AUTH when
  std::string password;                            // password is not empty
  TlsOptions tls;
};

struct CallOptions {
  std::optional<std::chrono::milliseconds> timeout;  // default ClientOptions::call_timeout
  // Retry even after an attempt whose outcome is unknown (the connection or
  // the leader was lost mid-call). Only for calls that are safe to repeat.
  bool idempotent = false;
  std::optional<std::chrono::milliseconds> retry_for;  // default ClientOptions::retry_for
};

// Thrown by the std-style lock functions (lock(), campaign waits), which
// cannot return a Status. Everything else returns Status or Result.
class Error : public std::runtime_error {
 public:
  explicit Error(Status status) : std::runtime_error(status.ToString()), status_(std::move(status)) {}
  const Status& status() const { return status_; }

 private:
  Status status_;
};

// Maps a server error line ("NOTOWNER ...", "TRYAGAIN ...") to the Status
// code that tells the caller what to do; the message keeps the whole line.
Status FromServerError(const std::string& line);

class Client {
 public:
  // endpoints: "host:port" of any nodes of the cluster (RESP port). The
  // constructor does not connect; the first call does.
  explicit Client(std::vector<std::string> endpoints, ClientOptions options = {});
  ~Client();
  Client(const Client&) = delete;
  Client& operator=(const Client&) = delete;

  // Runs one command (e.g. {"GET", "k"}) and returns its reply. An error
  // reply is returned as a Status (FromServerError), never as an ok Result.
  // Rides out a failover: when no node answers or there is no leader, it
  // retries on the next endpoint with bounded backoff for up to retry_for;
  // when an attempt's outcome is unknown it retries only if idempotent,
  // else returns kOutcomeUnknown. A timeout closes the shared connection
  // (replies are ordered), so other calls in flight on it see
  // kOutcomeUnknown and are retried the same way.
  Result<Reply> Call(std::vector<std::string> argv, CallOptions options = {});

  // PING through the cluster's current leader path: Ok when a node answers.
  Status Ping();
  // The endpoint the shared connection uses now ("" before the first call).
  std::string endpoint() const;
  const ClientOptions& options() const;

  // For the lock, election and queue classes of this library.
  const std::shared_ptr<detail::ClientState>& state() const { return state_; }

 private:
  std::shared_ptr<detail::ClientState> state_;
};

}  // namespace lockq
