#pragma once
// RespConnection: a blocking, single-threaded RESP client connection with
// timeouts. The seed of liblockq; used by the lockq CLI and the tests.
// Not thread-safe: one connection per thread.

#include <chrono>
#include <string>
#include <vector>

#include "common/argv.h"
#include "common/status.h"
#include "lockq/reply.h"
#include "resp/resp.h"

namespace lockq::client {

class RespConnection {
 public:
  RespConnection() = default;
  ~RespConnection();
  RespConnection(const RespConnection&) = delete;
  RespConnection& operator=(const RespConnection&) = delete;
  RespConnection(RespConnection&& other) noexcept;
  RespConnection& operator=(RespConnection&& other) noexcept;

  // Connects to "host:port" within `timeout`.
  static Result<RespConnection> Connect(const std::string& addr,
                                        std::chrono::milliseconds timeout = std::chrono::seconds(5));

  // Sends one command and waits for its reply. An error *reply* is a
  // successful Result holding a kError Reply; Status errors are I/O
  // failures or timeouts (the connection is then closed).
  Result<Reply> Call(const Argv& argv);
  // Sends all commands in one write and reads as many replies (pipelining).
  Result<std::vector<Reply>> Pipeline(const std::vector<Argv>& commands);
  // Raw access for tests that send malformed bytes.
  Status SendRaw(std::string_view bytes);
  Result<Reply> ReadReply();

  void set_timeout(std::chrono::milliseconds t) { timeout_ = t; }
  bool connected() const { return fd_ >= 0; }
  void Close();
  // Hands the socket over (to a Pipe); the connection is closed after.
  int ReleaseFd();

 private:
  int fd_ = -1;
  std::chrono::milliseconds timeout_ = std::chrono::seconds(10);
  std::string inbuf_;
  resp::ReplyParser parser_;
};

}  // namespace lockq::client
