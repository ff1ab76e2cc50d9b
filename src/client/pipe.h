#pragma once
// Pipe: one RESP3 connection to one node, shared by threads. Requests are
// pipelined: Send() appends to the output buffer and whichever caller finds
// no write in progress flushes it (so concurrent senders share syscalls);
// a reader thread parses replies, completes callbacks in order and hands
// RESP3 pushes to the push handler. When the connection fails, every
// request in flight completes with kOutcomeUnknown and the pipe stays
// closed; owners open a new one.

#include <chrono>
#include <condition_variable>
#include <deque>
#include <functional>
#include <memory>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

#include "client/resp_connection.h"
#include "lockq/client_core.h"

namespace lockq::client {

// A connection to one node that said HELLO 3 (with AUTH when the options
// carry a password): what Pipe::Open and the client's connection pool
// start from. Unavailable when the node does not answer.
Result<RespConnection> ConnectNode(const std::string& addr, const ClientOptions& options);

class Pipe {
 public:
  using Callback = std::function<void(Result<Reply>)>;
  using PushHandler = std::function<void(const Reply&)>;

  // Connects to addr, says HELLO 3 (with AUTH when a password is set) and
  // starts the reader. `on_push` runs on the reader thread.
  static Result<std::shared_ptr<Pipe>> Open(const std::string& addr, const ClientOptions& options,
                                            PushHandler on_push = nullptr);
  ~Pipe();
  Pipe(const Pipe&) = delete;
  Pipe& operator=(const Pipe&) = delete;

  // Queues argv; `done` runs on the reader thread with the reply (error
  // replies included) or the Status that closed the pipe, never on the
  // caller's. Returns false, without calling `done`, when the pipe is
  // already closed.
  // With `defer`, the request waits in the output buffer while earlier
  // ones are unanswered (up to 64 KiB); when replies come in, the reader
  // calls the pending hook and the owner's thread calls FlushPending(), so
  // a stream of publishes goes out in batches clocked by the server's
  // replies. (The reader never writes: blocked in send it could not drain
  // the replies the server is blocked on.)
  bool Send(const std::vector<std::string>& argv, Callback done, bool defer = false);
  // Send and wait. On timeout the pipe is closed (later replies could not
  // be matched) and kDeadlineExceeded returned.
  Result<Reply> Call(const std::vector<std::string>& argv, std::chrono::milliseconds timeout);
  void SetPendingHook(std::function<void()> hook);
  void FlushPending();
  // Closes the connection; requests in flight complete with `why`, on the
  // calling thread (so do not call it holding a lock a callback takes).
  void Close(const Status& why);
  bool open() const;
  const std::string& addr() const;

 private:
  struct Core;  // what the reader thread uses; outlives the Pipe if the
                // last owner drops it from inside a callback
  explicit Pipe(std::shared_ptr<Core> core);
  static void ReadLoop(const std::shared_ptr<Core>& core);

  std::shared_ptr<Core> core_;
  std::thread reader_;
};

}  // namespace lockq::client
