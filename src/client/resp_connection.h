#pragma once
// RespConnection: a blocking, single-threaded RESP client connection with
// timeouts, over TCP or TLS (net/tls.h). The seed of liblockq; used by the
// lockq CLI and the tests. Not thread-safe: one connection per thread.

#include <chrono>
#include <memory>
#include <string>
#include <vector>

#include "common/argv.h"
#include "common/status.h"
#include "lockq/reply.h"
#include "net/tls.h"
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

  // Connects to "host:port" within `timeout`. With `tls` (a client
  // context) the TLS handshake runs within the same timeout, checking the
  // server's certificate against `server_name` (the host of `addr` when
  // empty); a refused handshake is an IoError whose message starts "TLS".
  static Result<RespConnection> Connect(const std::string& addr,
                                        std::chrono::milliseconds timeout = std::chrono::seconds(5),
                                        const std::shared_ptr<net::TlsContext>& tls = nullptr,
                                        const std::string& server_name = "");

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
  // Hands the socket and its TLS state (null on TCP) over (to a Pipe);
  // the connection is closed after.
  int ReleaseFd(std::unique_ptr<net::TlsEngine>* tls);

 private:
  Status SendBytes(std::string_view bytes);  // to the socket, as they are
  // Waits for bytes until `deadline` and adds them (decrypted) to inbuf_.
  Status Receive(std::chrono::steady_clock::time_point deadline);
  Status Handshake(std::chrono::steady_clock::time_point deadline);

  int fd_ = -1;
  std::unique_ptr<net::TlsEngine> tls_;
  std::chrono::milliseconds timeout_ = std::chrono::seconds(10);
  std::string inbuf_;
  resp::ReplyParser parser_;
};

}  // namespace lockq::client
