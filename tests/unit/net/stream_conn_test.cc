// net::StreamConnection on a loopback TCP pair and a private uv loop: slot
// order, every bound (pending slots, paused output, output limit), close
// after write and its deadline, the abortive close, input dropped once
// closing, heartbeats timed on the monotonic clock; with TLS: the session
// sees plaintext both ways, plain text on a TLS connection and a handshake
// that never finishes are closed and reported.

#include "net/stream_conn.h"

#include <arpa/inet.h>
#include <fcntl.h>
#include <gtest/gtest.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cerrno>
#include <chrono>
#include <functional>
#include <string>
#include <thread>
#include <utility>
#include <vector>

#include "common/clock.h"
#include "net/heartbeat.h"
#include "net/tls.h"
#include "testlib/dev_certs.h"
#include "testlib/loopback.h"

namespace lockq::net {
namespace {

// A connected loopback TCP pair: {server side, client side}. Small kernel
// buffers on request, so that "a peer that never reads" fills up fast.
std::pair<int, int> TcpPair(bool small_buffers) {
  int port = 0;
  int lfd = testing::BindLoopback(&port);
  sockaddr_in sa = testing::LoopbackAddress(port);
  EXPECT_EQ(listen(lfd, 1), 0);
  int cfd = socket(AF_INET, SOCK_STREAM, 0);
  if (small_buffers) {
    int small = 4096;
    setsockopt(cfd, SOL_SOCKET, SO_RCVBUF, &small, sizeof(small));
  }
  EXPECT_EQ(connect(cfd, reinterpret_cast<sockaddr*>(&sa), sizeof(sa)), 0);
  int sfd = accept(lfd, nullptr, nullptr);
  close(lfd);
  if (small_buffers) {
    int small = 4096;
    setsockopt(sfd, SOL_SOCKET, SO_SNDBUF, &small, sizeof(small));
  }
  fcntl(cfd, F_SETFL, fcntl(cfd, F_GETFL) | O_NONBLOCK);
  return {sfd, cfd};
}

// Takes each "line\n" as a request and reserves its slot; optionally
// answers at once with `auto_reply` bytes.
class LineSession : public StreamSession {
 public:
  StreamConnection* conn = nullptr;
  std::vector<std::string> lines;
  std::vector<uint64_t> slots;
  std::string auto_reply;
  int input_calls = 0;
  bool closed = false;

  size_t OnInput(std::string_view buffered) override {
    input_calls++;
    size_t pos = 0;
    while (!conn->closing() && !conn->PauseReading()) {
      size_t nl = buffered.find('\n', pos);
      if (nl == std::string_view::npos) break;
      lines.emplace_back(buffered.substr(pos, nl - pos));
      slots.push_back(conn->ReserveSlot());
      if (!auto_reply.empty()) conn->Fill(slots.back(), auto_reply);
      pos = nl + 1;
    }
    return pos;
  }
  void OnClosed() override { closed = true; }
};

class StreamConnTest : public ::testing::Test {
 protected:
  void SetUp() override {
    uv_loop_init(&loop_);
    flush_.Start();
  }
  void TearDown() override {
    if (conn_ && !conn_->closed()) conn_->CloseNow();
    if (client_ >= 0) close(client_);
    flush_.Close();
    conn_.reset();
    uv_run(&loop_, UV_RUN_DEFAULT);
    EXPECT_EQ(uv_loop_close(&loop_), 0);
  }

  void Open(StreamConnection::Options options, bool small_buffers = false) {
    auto [sfd, cfd] = TcpPair(small_buffers);
    client_ = cfd;
    conn_ = std::make_shared<StreamConnection>(&loop_, &flush_, std::move(options));
    ASSERT_EQ(uv_tcp_open(conn_->tcp(), sfd), 0);
    session_.conn = conn_.get();
    conn_->Start(&session_);
  }

  // Turns the loop until `done` or `timeout_ms`.
  bool RunUntil(const std::function<bool()>& done, int timeout_ms = 2000) {
    auto end = std::chrono::steady_clock::now() + std::chrono::milliseconds(timeout_ms);
    while (!done()) {
      if (std::chrono::steady_clock::now() > end) return false;
      uv_run(&loop_, UV_RUN_NOWAIT);
      std::this_thread::sleep_for(std::chrono::milliseconds(1));
    }
    return true;
  }
  void Turns(int n = 20) {
    for (int i = 0; i < n; i++) {
      uv_run(&loop_, UV_RUN_NOWAIT);
      std::this_thread::sleep_for(std::chrono::milliseconds(1));
    }
  }

  void ClientSend(const std::string& bytes) {
    ASSERT_EQ(send(client_, bytes.data(), bytes.size(), MSG_NOSIGNAL), static_cast<ssize_t>(bytes.size()));
  }
  // Reads what the client has (non-blocking). Returns false at EOF/reset.
  bool ClientRead(std::string* out, int* error = nullptr) {
    char buf[65536];
    for (;;) {
      ssize_t n = recv(client_, buf, sizeof(buf), 0);
      if (n > 0) {
        out->append(buf, static_cast<size_t>(n));
        continue;
      }
      if (n == 0) return false;
      if (errno == EAGAIN || errno == EWOULDBLOCK) return true;
      if (error != nullptr) *error = errno;
      return false;
    }
  }

  // ---- TLS ----------------------------------------------------------------
  static std::shared_ptr<TlsContext> Context(bool server) {
    auto dir = testing::DevCerts();
    TlsContextConfig c;
    if (server) {
      c.cert_file = dir / "server.crt";
      c.key_file = dir / "server.key";
    }
    c.ca_file = dir / "ca.crt";
    c.verify = server ? TlsContextConfig::Verify::kNone : TlsContextConfig::Verify::kRequired;
    c.server = server;
    auto ctx = TlsContext::Load(c);
    EXPECT_TRUE(ctx.ok()) << ctx.status().ToString();
    return ctx.ok() ? ctx.value() : nullptr;
  }
  StreamConnection::Options TlsOptions() {
    StreamConnection::Options o;
    o.tls = Context(/*server=*/true);
    o.on_tls_error = [this](const std::string& peer, const std::string& error) { tls_errors_.push_back(error); };
    return o;
  }
  // The test's side: a client engine over client_.
  void ClientTlsStart() {
    auto e = TlsEngine::NewClient(Context(/*server=*/false), "127.0.0.1");
    ASSERT_TRUE(e.ok()) << e.status().ToString();
    client_tls_ = std::move(e.value());
    ASSERT_TRUE(client_tls_->Start().ok());
    ClientSend(client_tls_->TakeCiphertext());
  }
  void ClientTlsSend(const std::string& plain) {
    ASSERT_TRUE(client_tls_->WritePlain(plain).ok());
    ClientSend(client_tls_->TakeCiphertext());
  }
  // Decrypts what arrived into *plain; false at EOF or a TLS error.
  bool ClientTlsRead(std::string* plain) {
    std::string cipher;
    bool open = ClientRead(&cipher);
    if (!client_tls_->FeedCiphertext(cipher).ok()) return false;
    std::string reply = client_tls_->TakeCiphertext();  // handshake's last flight
    if (!reply.empty()) send(client_, reply.data(), reply.size(), MSG_NOSIGNAL);
    *plain += client_tls_->plain_in();
    client_tls_->plain_in().clear();
    return open;
  }

  uv_loop_t loop_{};
  FlushQueue flush_{&loop_};
  std::unique_ptr<TlsEngine> client_tls_;
  std::vector<std::string> tls_errors_;
  std::shared_ptr<StreamConnection> conn_;
  LineSession session_;
  int client_ = -1;
};

TEST_F(StreamConnTest, RepliesLeaveInSlotOrderWhenFilledOutOfOrder) {
  Open({});
  ClientSend("a\nb\nc\n");
  ASSERT_TRUE(RunUntil([&] { return session_.slots.size() == 3; }));
  conn_->Fill(session_.slots[2], std::string("C"));
  conn_->Fill(session_.slots[1], std::string("B"));
  Turns();
  std::string got;
  ClientRead(&got);
  EXPECT_EQ(got, "");  // the first reply is still owed
  conn_->Fill(session_.slots[0], std::string("A"));
  ASSERT_TRUE(RunUntil([&] {
    ClientRead(&got);
    return got.size() >= 3;
  }));
  EXPECT_EQ(got, "ABC");
}

TEST_F(StreamConnTest, MarksOfOneKeyAreRenderedAsOneRun) {
  StreamConnection::Options o;
  o.render_marks = [](uint32_t key, uint64_t last, size_t count, std::string* out) {
    *out += "[" + std::to_string(key) + ":" + std::to_string(last) + "x" + std::to_string(count) + "]";
  };
  Open(o);
  ClientSend("1\n2\n3\n4\n5\n");
  ASSERT_TRUE(RunUntil([&] { return session_.slots.size() == 5; }));
  auto mark = [](uint32_t key, uint64_t tag) {
    Output out;
    out.mark_key = key;
    out.mark = tag;
    out.mark_bytes = 21;
    return out;
  };
  conn_->Fill(session_.slots[0], mark(1, 1));
  conn_->Fill(session_.slots[1], mark(1, 2));
  conn_->Fill(session_.slots[2], mark(2, 7));
  conn_->Fill(session_.slots[3], std::string("nack"));
  conn_->Fill(session_.slots[4], mark(1, 3));
  std::string got;
  ASSERT_TRUE(RunUntil([&] {
    ClientRead(&got);
    return got.find("[1:3x1]") != std::string::npos;
  }));
  EXPECT_EQ(got, "[1:2x2][2:7x1]nack[1:3x1]");
  EXPECT_EQ(conn_->unsent_bytes(), 0u);
}

TEST_F(StreamConnTest, ReadingPausesAtMaxPendingAndResumesWhenAnswered) {
  StreamConnection::Options o;
  o.max_pending = 2;
  Open(o);
  ClientSend("1\n2\n3\n4\n5\n");
  ASSERT_TRUE(RunUntil([&] { return session_.slots.size() == 2; }));
  Turns();
  EXPECT_EQ(session_.slots.size(), 2u);  // paused with two owed
  EXPECT_TRUE(conn_->PauseReading());
  conn_->Fill(session_.slots[0], std::string("x"));
  conn_->Fill(session_.slots[1], std::string("x"));
  ASSERT_TRUE(RunUntil([&] { return session_.slots.size() == 4; }));
  conn_->Fill(session_.slots[2], std::string("x"));
  conn_->Fill(session_.slots[3], std::string("x"));
  ASSERT_TRUE(RunUntil([&] { return session_.slots.size() == 5; }));
  EXPECT_EQ(session_.lines.back(), "5");
}

TEST_F(StreamConnTest, PausesPastPauseOutputBytesThenDisconnectsPastMaxOutput) {
  StreamConnection::Options o;
  o.pause_output_bytes = 64 << 10;
  o.max_output_bytes = 4 << 20;
  Open(o, /*small_buffers=*/true);
  session_.auto_reply = std::string(256 << 10, 'r');  // each request owes 256 KiB
  std::string many;
  for (int i = 0; i < 100; i++) many += "q\n";
  ClientSend(many);  // and the client never reads
  ASSERT_TRUE(RunUntil([&] { return !session_.lines.empty(); }));
  Turns(50);
  // Reading stopped with the first unsent replies: far from 100 requests.
  EXPECT_TRUE(conn_->PauseReading());
  EXPECT_GE(conn_->unsent_bytes(), o.pause_output_bytes);
  EXPECT_LT(session_.lines.size(), 5u);
  EXPECT_FALSE(session_.closed);
  // More owed output than max_output_bytes: disconnected.
  for (int i = 0; i < 20 && !conn_->closing(); i++) {
    conn_->Fill(conn_->ReserveSlot(), std::string(256 << 10, 'm'));
  }
  ASSERT_TRUE(RunUntil([&] { return session_.closed; }));
  EXPECT_TRUE(conn_->closed());
}

TEST_F(StreamConnTest, CloseAfterWriteDeliversQueuedBytesThenCloses) {
  Open({});
  ClientSend("a\nb\n");
  ASSERT_TRUE(RunUntil([&] { return session_.slots.size() == 2; }));
  conn_->Fill(session_.slots[1], std::string("second"));
  conn_->CloseAfterWrite();
  conn_->Fill(session_.slots[0], std::string("first "));
  std::string got;
  bool open = true;
  ASSERT_TRUE(RunUntil([&] {
    open = ClientRead(&got);
    return !open;
  }));
  EXPECT_EQ(got, "first second");
  ASSERT_TRUE(RunUntil([&] { return session_.closed; }));
}

TEST_F(StreamConnTest, CloseDeadlineFiresWhenThePeerNeverReads) {
  StreamConnection::Options o;
  o.close_timeout_ms = 200;
  Open(o, /*small_buffers=*/true);
  conn_->Fill(conn_->ReserveSlot(), std::string(2 << 20, 'x'));  // more than the kernel holds
  auto start = std::chrono::steady_clock::now();
  conn_->CloseAfterWrite();
  Turns(50);
  EXPECT_FALSE(session_.closed);  // still writing
  ASSERT_TRUE(RunUntil([&] { return session_.closed; }, 3000));
  auto waited = std::chrono::steady_clock::now() - start;
  EXPECT_GE(waited, std::chrono::milliseconds(150));
}

TEST_F(StreamConnTest, CloseDeadlineFiresWhenTheOwedReplyNeverComes) {
  StreamConnection::Options o;
  o.close_timeout_ms = 200;
  Open(o);
  ClientSend("deferred\n");
  ASSERT_TRUE(RunUntil([&] { return session_.slots.size() == 1; }));
  conn_->CloseAfterWrite();  // its slot is never filled
  ASSERT_TRUE(RunUntil([&] { return session_.closed; }, 3000));
}

TEST_F(StreamConnTest, AbortDiscardsUnsentBytesAndResetsThePeer) {
  Open({}, /*small_buffers=*/true);
  const size_t owed = 4 << 20;
  conn_->Fill(conn_->ReserveSlot(), std::string(owed, 'x'));
  Turns(20);
  EXPECT_GT(conn_->unsent_bytes(), 0u);  // the kernel could not take it all
  conn_->Abort();
  ASSERT_TRUE(RunUntil([&] { return session_.closed; }));
  std::string got;
  int error = 0;
  ASSERT_TRUE(RunUntil([&] { return !ClientRead(&got, &error); }));
  EXPECT_LT(got.size(), owed);
  EXPECT_EQ(error, ECONNRESET);
}

TEST_F(StreamConnTest, InputAfterCloseAfterWriteIsNotBuffered) {
  Open({});
  ClientSend("quit\n");
  ASSERT_TRUE(RunUntil([&] { return session_.slots.size() == 1; }));
  conn_->CloseAfterWrite();  // the reply is still owed (deferred)
  int calls = session_.input_calls;
  std::string flood(1 << 20, 'z');
  std::thread writer([&] { send(client_, flood.data(), flood.size(), MSG_NOSIGNAL); });
  Turns(200);
  writer.join();
  Turns(50);
  EXPECT_EQ(conn_->buffered_input_bytes(), 0u);
  EXPECT_EQ(session_.input_calls, calls);
  conn_->Fill(session_.slots[0], std::string("+OK\r\n"));
  std::string got;
  ASSERT_TRUE(RunUntil([&] { return !ClientRead(&got); }));
  EXPECT_EQ(got, "+OK\r\n");
}

TEST_F(StreamConnTest, WaitForPeerClosesOnlyWhenThePeerDoes) {
  Open({});
  conn_->Fill(conn_->ReserveSlot(), std::string("close-ok"));
  conn_->CloseAfterWrite(StreamConnection::CloseMode::kWaitForPeer);
  std::string got;
  ASSERT_TRUE(RunUntil([&] {
    ClientRead(&got);
    return got == "close-ok";
  }));
  ClientSend("late frames\n");  // no reset: the server still reads (and drops)
  Turns(50);
  EXPECT_FALSE(session_.closed);
  close(client_);
  client_ = -1;
  ASSERT_TRUE(RunUntil([&] { return session_.closed; }));
}

// Issue 11 item 3: heartbeats are timed on the monotonic clock. The
// connection stamps reads and writes with Options::clock; stepping the wall
// clock back an hour (NTP, `date -s`) makes no live peer look silent.
TEST_F(StreamConnTest, HeartbeatIgnoresAWallClockSteppedBack) {
  ManualClock clock(/*monotonic_ms=*/5'000'000);
  StreamConnection::Options o;
  o.clock = &clock;
  Open(o);
  ClientSend("ping\n");
  ASSERT_TRUE(RunUntil([&] { return session_.slots.size() == 1; }));
  const uint64_t interval_ms = 60'000;
  EXPECT_EQ(conn_->last_read_ms(), clock.MonotonicMs());
  uint64_t wall_before = clock.WallMs();
  clock.SetWall(wall_before - 3'600'000);
  EXPECT_EQ(CheckHeartbeat(clock.MonotonicMs(), conn_->last_read_ms(), conn_->last_write_ms(), interval_ms),
            HeartbeatAction::kNone);
  // The old arithmetic (unsigned wall-clock subtraction) wrapped here and
  // declared the peer dead.
  EXPECT_GT(clock.WallMs() - wall_before, 2 * interval_ms);
  clock.Advance(interval_ms / 2);
  EXPECT_EQ(CheckHeartbeat(clock.MonotonicMs(), conn_->last_read_ms(), conn_->last_write_ms(), interval_ms),
            HeartbeatAction::kSend);
  clock.Advance(2 * interval_ms);
  EXPECT_EQ(CheckHeartbeat(clock.MonotonicMs(), conn_->last_read_ms(), conn_->last_write_ms(), interval_ms),
            HeartbeatAction::kPeerDead);
}

TEST_F(StreamConnTest, TlsSessionSeesPlaintextBothWays) {
  Open(TlsOptions());
  ClientTlsStart();
  std::string plain;
  ASSERT_TRUE(RunUntil([&] {
    ClientTlsRead(&plain);
    return client_tls_->handshake_done();
  }));
  ClientTlsSend("a\nb\n");
  ASSERT_TRUE(RunUntil([&] { return session_.slots.size() == 2; }));
  EXPECT_EQ(session_.lines, (std::vector<std::string>{"a", "b"}));
  ASSERT_NE(conn_->tls(), nullptr);
  EXPECT_TRUE(conn_->tls()->handshake_done());
  conn_->Fill(session_.slots[1], std::string("B"));
  conn_->Fill(session_.slots[0], std::string("A"));
  ASSERT_TRUE(RunUntil([&] {
    ClientTlsRead(&plain);
    return plain.size() >= 2;
  }));
  EXPECT_EQ(plain, "AB");
  // Close after write: the answer, then close_notify, then EOF.
  uint64_t slot = conn_->ReserveSlot();
  conn_->Fill(slot, std::string("bye"));
  conn_->CloseAfterWrite();
  ASSERT_TRUE(RunUntil([&] { return !ClientTlsRead(&plain) || client_tls_->peer_closed(); }));
  EXPECT_EQ(plain, "ABbye");
  EXPECT_TRUE(client_tls_->peer_closed());
  EXPECT_TRUE(tls_errors_.empty());
}

// Both ends StreamConnections: the client role (a client context, the
// server's name checked) is what a node's outgoing links use.
TEST_F(StreamConnTest, TlsClientStreamConnectionTalksToATlsServerOne) {
  Open(TlsOptions());
  StreamConnection::Options co;
  co.tls = Context(/*server=*/false);
  co.tls_server_name = "127.0.0.1";
  std::vector<std::string> client_errors;
  co.on_tls_error = [&](const std::string&, const std::string& e) { client_errors.push_back(e); };
  auto client = std::make_shared<StreamConnection>(&loop_, nullptr, co);
  ASSERT_EQ(uv_tcp_open(client->tcp(), client_), 0);
  client_ = -1;  // owned by the connection now
  LineSession client_session;
  client_session.conn = client.get();
  client->Start(&client_session);
  client->WriteNow("hello\n");  // held until the handshake is done
  ASSERT_TRUE(RunUntil([&] { return session_.slots.size() == 1; }));
  EXPECT_EQ(session_.lines, (std::vector<std::string>{"hello"}));
  EXPECT_EQ(conn_->tls()->PeerCommonName(), "");  // no client certificate
  EXPECT_EQ(client->tls()->PeerCommonName(), "localhost");
  conn_->Fill(session_.slots[0], std::string("world\n"));
  ASSERT_TRUE(RunUntil([&] { return client_session.lines.size() == 1; }));
  EXPECT_EQ(client_session.lines[0], "world");
  EXPECT_TRUE(client_errors.empty());
  EXPECT_TRUE(tls_errors_.empty());
  client->CloseNow();
  ASSERT_TRUE(RunUntil([&] { return client_session.closed && session_.closed; }));
}

// The max-clients refusal writes an error and closes after write: on TLS
// before the handshake nothing can reach the peer, so it closes at once
// instead of holding the socket until close_timeout_ms.
TEST_F(StreamConnTest, CloseAfterWriteBeforeTheTlsHandshakeClosesAtOnce) {
  StreamConnection::Options o = TlsOptions();
  o.close_timeout_ms = 60000;
  Open(o);
  conn_->Fill(conn_->ReserveSlot(), std::string("-ERR max number of clients reached\r\n"));
  conn_->CloseAfterWrite();
  ASSERT_TRUE(RunUntil([&] { return session_.closed; }));
  std::string got;
  EXPECT_FALSE(ClientRead(&got));
  EXPECT_EQ(got, "");  // no plaintext on a TLS port
}

TEST_F(StreamConnTest, PlainTextOnATlsConnectionIsClosedAndReported) {
  Open(TlsOptions());
  ClientSend("PING\r\n");
  std::string got;
  ASSERT_TRUE(RunUntil([&] { return !ClientRead(&got); }));  // closed
  ASSERT_TRUE(RunUntil([&] { return session_.closed; }));
  EXPECT_TRUE(session_.lines.empty());
  ASSERT_EQ(tls_errors_.size(), 1u);
  EXPECT_NE(tls_errors_[0].find("TLS handshake failed"), std::string::npos) << tls_errors_[0];
}

TEST_F(StreamConnTest, TlsHandshakeThatNeverFinishesIsClosedAtItsDeadline) {
  StreamConnection::Options o = TlsOptions();
  o.tls_handshake_timeout_ms = 50;
  Open(o);
  ClientSend(std::string("\x16\x03\x01", 3));  // the start of a record, then nothing
  ASSERT_TRUE(RunUntil([&] { return session_.closed; }));
  ASSERT_EQ(tls_errors_.size(), 1u);
  EXPECT_NE(tls_errors_[0].find("not finished within 50 ms"), std::string::npos) << tls_errors_[0];
}

}  // namespace
}  // namespace lockq::net
