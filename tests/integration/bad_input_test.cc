// Bad input against a real lockqd with small limits: malformed and
// truncated frames, oversized requests, 10000 idle connections, and a
// client that pipelines without ever reading its replies. The server must
// answer with an error (and close where Redis closes), keep serving other
// clients, and keep its memory bounded.

#include <arpa/inet.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <poll.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <unistd.h>

#include <atomic>
#include <optional>
#include <chrono>
#include <cstdio>
#include <thread>

#include "it_util.h"

namespace lockq::testing {
namespace {

using Clock = std::chrono::steady_clock;
constexpr size_t kGiB = size_t{1} << 30;

ClusterOptions LimitedNode() {
  return ClusterOptions{.nodes = 1,
                        .extra_args = {"--max-bulk-bytes", "1048576", "--max-args", "1000", "--max-inline-bytes",
                                       "4096", "--max-output-bytes", "4194304", "--max-clients", "12000",
                                       "--max-query-bytes", "4194304"}};
}

// A raw client socket on node 0's RESP port, connected, then made
// non-blocking (the tests write what they like and read when they like).
// -1 on failure.
int ConnectRawNonBlocking(ProcessCluster& c) {
  int fd = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
  if (fd < 0) return -1;
  sockaddr_in sa{};
  sa.sin_family = AF_INET;
  sa.sin_port = htons(static_cast<uint16_t>(c.RespPort(0)));
  sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  if (::connect(fd, reinterpret_cast<sockaddr*>(&sa), sizeof(sa)) != 0) {
    ::close(fd);
    return -1;
  }
  ::fcntl(fd, F_SETFL, ::fcntl(fd, F_GETFL) | O_NONBLOCK);
  return fd;
}

// PING, SET, GET on a fresh connection: the server still serves others.
void ExpectServes(ProcessCluster& c, const std::string& tag) {
  auto conn = c.Client(0, Millis(5000));
  ASSERT_TRUE(conn.ok()) << tag << ": connect: " << conn.status().ToString();
  conn->set_timeout(Millis(5000));
  auto r = conn->Call({"PING"});
  ASSERT_TRUE(r.ok() && r->str == "PONG") << tag << ": PING -> " << Describe(r);
  r = conn->Call({"SET", "serves:" + tag, tag});
  ASSERT_TRUE(IsOk(r)) << tag << ": SET -> " << Describe(r);
  r = conn->Call({"GET", "serves:" + tag});
  ASSERT_TRUE(r.ok() && r->str == tag) << tag << ": GET -> " << Describe(r);
}

// True if the server closed `conn` (EOF or reset) within `timeout`.
bool ClosedByServer(client::RespConnection& conn, Millis timeout = Millis(3000)) {
  conn.set_timeout(timeout);
  auto r = conn.ReadReply();
  if (r.ok()) {
    ADD_FAILURE() << "expected the connection to close, got another reply: " << Dbg(r.value());
    return false;
  }
  return r.status().message().find("timed out") == std::string::npos;
}

// Sends `bytes` on a new connection; expects "-ERR Protocol error..." and
// the connection closed.
void ExpectProtocolError(ProcessCluster& c, const std::string& bytes, const std::string& what) {
  auto conn = c.Client(0);
  ASSERT_TRUE(conn.ok()) << conn.status().ToString();
  conn->set_timeout(Millis(5000));
  LQ_ASSERT_OK(conn->SendRaw(bytes));
  auto r = conn->ReadReply();
  ASSERT_TRUE(r.ok()) << what << ": no reply: " << r.status().ToString();
  std::printf("[bad-input] %-40s -> -%s\n", what.c_str(), r->str.c_str());
  EXPECT_TRUE(r->is_error() && r->str.rfind("ERR Protocol error", 0) == 0)
      << what << ": expected -ERR Protocol error..., got " << Dbg(r.value());
  EXPECT_TRUE(ClosedByServer(conn.value())) << what << ": connection left open after a protocol error";
}

TEST(BadInputIT, MalformedAndTruncatedFrames) {
  ProcessCluster c(LimitedNode());
  LQ_ASSERT_OK(c.Start());

  // Truncated frames, then the client goes away mid-request.
  const std::vector<std::string> truncated = {
      "*3\r\n$3\r\nSET\r\n$1\r\nk",       // inside a bulk header sequence
      "*2\r\n$3\r\nGET\r\n$100\r\nabc",   // inside a bulk body
      "*2\r\n$3\r\nGET\r\n$",             // inside a length
      "*100\r\n",                         // header only
      "*",                                // one byte
      "PIN",                              // inline, no newline
      "*1\r\n$4\r\nPING\r",               // missing the final LF
  };
  for (const auto& t : truncated) {
    auto conn = c.Client(0);
    ASSERT_TRUE(conn.ok()) << conn.status().ToString();
    LQ_ASSERT_OK(conn->SendRaw(t));
    conn->Close();
  }
  // Truncated and left open while others are served.
  auto hanging = c.Client(0);
  ASSERT_TRUE(hanging.ok());
  LQ_ASSERT_OK(hanging->SendRaw("*2\r\n$3\r\nGET\r\n$5\r\nab"));
  ASSERT_NO_FATAL_FAILURE(ExpectServes(c, "after-truncated"));
  // ... and it completes correctly when the rest arrives.
  hanging->set_timeout(Millis(5000));
  LQ_ASSERT_OK(hanging->SendRaw("cde\r\n"));
  auto hr = hanging->ReadReply();
  ASSERT_TRUE(hr.ok()) << hr.status().ToString();
  EXPECT_EQ(hr->kind, sm::Reply::Kind::kNull) << Dbg(hr.value());

  // Malformed frames: protocol error, connection closed.
  ExpectProtocolError(c, "*abc\r\n", "*abc");
  ExpectProtocolError(c, "*1\r\n*1\r\n$1\r\na\r\n", "nested array");
  ExpectProtocolError(c, "*2\r\n$3\r\nGET\r\n$abc\r\n", "bulk length not a number");
  ExpectProtocolError(c, "*2\r\n$3\r\nGET\r\n:5\r\n", "integer instead of bulk");
  ExpectProtocolError(c, "*1\r\n$4\r\nPINGxx\r\n", "bulk longer than its length");
  ExpectProtocolError(c, "*1\r\n$-5\r\n", "negative bulk length");
  {
    static const char kUnbalanced[] = "\xff\xfe\x80 garbage \"unbalanced\r\n";
    ExpectProtocolError(c, std::string(kUnbalanced, sizeof(kUnbalanced) - 1), "binary + unbalanced quote (inline)");
  }
  ExpectProtocolError(c, "*1001\r\n", "multibulk count > --max-args 1000");
  ExpectProtocolError(c, "*99999999999999999999\r\n", "multibulk count overflows");
  // Bulk length above --max-bulk-bytes: refused on the header, before the
  // body is sent.
  ExpectProtocolError(c, "*3\r\n$3\r\nSET\r\n$1\r\nk\r\n$1048577\r\n", "bulk > --max-bulk-bytes (no body)");
  // Every argument within --max-bulk-bytes and the count within --max-args,
  // but one command still being received passes --max-query-bytes (4 MiB).
  {
    std::string big = "*1000\r\n";
    for (int i = 0; i < 5; i++) big += "$1048576\r\n" + std::string(1048576, 'x') + "\r\n";
    ExpectProtocolError(c, big, "incomplete command > --max-query-bytes");
  }
  // Inline line longer than --max-inline-bytes, no newline in sight.
  ExpectProtocolError(c, std::string(8192, 'A'), "inline line > --max-inline-bytes");

  // Binary garbage that forms an inline command: Redis answers it as an
  // unknown command (an error) and keeps the connection. A line that
  // starts with NUL splits into no arguments and is skipped like an empty
  // line (Redis's sdssplitargs stops at NUL) -- then the next command on
  // the same connection must still be answered.
  {
    auto conn = c.Client(0);
    ASSERT_TRUE(conn.ok());
    conn->set_timeout(Millis(5000));
    static const char kGarbage[] = "\xff\xfe\xfd\x80 garbage \x01\x02\r\n";
    LQ_ASSERT_OK(conn->SendRaw(std::string(kGarbage, sizeof(kGarbage) - 1)));
    auto r = conn->ReadReply();
    ASSERT_TRUE(r.ok()) << "binary garbage: no reply: " << r.status().ToString();
    std::printf("[bad-input] %-40s -> %s\n", "binary garbage line", Dbg(r.value()).c_str());
    EXPECT_TRUE(r->is_error()) << Dbg(r.value());
    if (r->str.rfind("ERR Protocol error", 0) == 0) {
      EXPECT_TRUE(ClosedByServer(conn.value()));
    } else {
      auto p = conn->Call({"PING"});
      EXPECT_TRUE(p.ok() && p->str == "PONG") << Describe(p);
    }
  }
  {
    auto conn = c.Client(0);
    ASSERT_TRUE(conn.ok());
    conn->set_timeout(Millis(5000));
    static const char kNulGarbage[] = "\x00\xff\xfe\xfd\x80 garbage \x01\x02\r\nPING\r\n";
    LQ_ASSERT_OK(conn->SendRaw(std::string(kNulGarbage, sizeof(kNulGarbage) - 1)));
    auto r = conn->ReadReply();
    ASSERT_TRUE(r.ok()) << "NUL-led garbage line then PING: no reply: " << r.status().ToString();
    std::printf("[bad-input] %-40s -> %s\n", "NUL-led garbage line, then PING", Dbg(r.value()).c_str());
    if (r->is_error()) {
      // An error for the garbage line; then PING must still be answered
      // (unless it was a protocol error, which closes).
      if (r->str.rfind("ERR Protocol error", 0) == 0) {
        EXPECT_TRUE(ClosedByServer(conn.value()));
      } else {
        auto p = conn->ReadReply();
        EXPECT_TRUE(p.ok() && p->str == "PONG") << Describe(p);
      }
    } else {
      EXPECT_EQ(r->str, "PONG");
    }
  }

  // The limits are not off by one: exactly max-bulk-bytes and max-args pass.
  {
    LQ_CONNECT(conn, c, 0);
    std::string big(1048576, 'b');
    auto r = conn.Call({"SET", "big", big});
    EXPECT_TRUE(IsOk(r)) << "SET of exactly --max-bulk-bytes: " << Describe(r);
    r = conn.Call({"STRLEN", "big"});
    ASSERT_TRUE(r.ok());
    EXPECT_EQ(r->integer, 1048576);
    sm::Argv mget = {"MGET"};
    for (int i = 0; i < 999; i++) mget.push_back("k" + std::to_string(i));
    r = conn.Call(mget);
    ASSERT_TRUE(r.ok()) << r.status().ToString();
    EXPECT_EQ(r->elems.size(), 999u) << Dbg(r.value());
  }
  ASSERT_NO_FATAL_FAILURE(ExpectServes(c, "after-malformed"));
  auto stats = c.Info(0, "stats");
  ASSERT_TRUE(stats.ok());
  std::printf("[bad-input] protocol_errors=%s\n", (*stats)["protocol_errors"].c_str());
  EXPECT_GE(InfoInt(*stats, "protocol_errors"), 11);
}

// Raises RLIMIT_NOFILE to the hard limit; returns the new soft limit.
rlim_t RaiseNoFile() {
  struct rlimit rl;
  if (getrlimit(RLIMIT_NOFILE, &rl) != 0) return 0;
  rl.rlim_cur = rl.rlim_max;
  setrlimit(RLIMIT_NOFILE, &rl);
  getrlimit(RLIMIT_NOFILE, &rl);
  return rl.rlim_cur;
}

struct FdSet {
  std::vector<int> fds;
  ~FdSet() {
    for (int fd : fds) ::close(fd);
  }
};

// Opens `n` TCP connections to 127.0.0.1:port in batches; returns how many
// completed.
size_t OpenIdle(int port, size_t n, FdSet* out) {
  sockaddr_in sa{};
  sa.sin_family = AF_INET;
  sa.sin_port = htons(static_cast<uint16_t>(port));
  sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  size_t ok = 0;
  constexpr size_t kBatch = 256;
  for (size_t base = 0; base < n; base += kBatch) {
    std::vector<pollfd> batch;
    for (size_t i = base; i < n && i < base + kBatch; i++) {
      int fd = ::socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
      if (fd < 0) return ok;
      out->fds.push_back(fd);
      int rv = ::connect(fd, reinterpret_cast<sockaddr*>(&sa), sizeof(sa));
      if (rv == 0) {
        ok++;
        continue;
      }
      if (errno != EINPROGRESS) continue;
      batch.push_back({fd, POLLOUT, 0});
    }
    auto deadline = Clock::now() + std::chrono::seconds(10);
    size_t pending = batch.size();
    while (pending > 0 && Clock::now() < deadline) {
      if (::poll(batch.data(), batch.size(), 200) < 0) break;
      for (auto& p : batch) {
        if (p.fd < 0 || p.revents == 0) continue;
        int err = 0;
        socklen_t len = sizeof(err);
        getsockopt(p.fd, SOL_SOCKET, SO_ERROR, &err, &len);
        if (err == 0) ok++;
        p.fd = -p.fd - 1;  // done: poll ignores negative fds
        pending--;
      }
    }
  }
  return ok;
}

TEST(BadInputIT, TenThousandIdleConnections) {
  rlim_t limit = RaiseNoFile();
  size_t want = 10000;
  if (limit < 10500) {
    want = limit > 600 ? static_cast<size_t>(limit) - 500 : 100;
    std::printf("[bad-input] RLIMIT_NOFILE hard limit is %llu (< 10500): using %zu idle connections\n",
                static_cast<unsigned long long>(limit), want);
  }
  ProcessCluster c(LimitedNode());
  LQ_ASSERT_OK(c.Start());
  size_t rss0 = c.node(0).RssBytes();
  FdSet idle;
  auto t0 = Clock::now();
  size_t opened = OpenIdle(c.RespPort(0), want, &idle);
  std::printf("[bad-input] opened %zu/%zu idle connections in %.0f ms\n", opened, want, MsSince(t0));
  ASSERT_EQ(opened, want);
  // Wait until the server has accepted them all.
  int64_t connected = -1;
  auto deadline = Clock::now() + std::chrono::seconds(30);
  for (int i = 0; i < 600 && Clock::now() < deadline; i++) {
    auto info = c.Info(0, "clients");
    ASSERT_TRUE(info.ok()) << "INFO with " << opened << " idle connections: " << info.status().ToString();
    connected = InfoInt(*info, "connected_clients");
    if (connected >= static_cast<int64_t>(want)) break;
    std::this_thread::sleep_for(Millis(100));
  }
  EXPECT_GE(connected, static_cast<int64_t>(want)) << "server accepted only " << connected;
  auto t1 = Clock::now();
  ASSERT_NO_FATAL_FAILURE(ExpectServes(c, "with-idle-connections"));
  std::printf("[bad-input] PING/SET/GET with %lld connected clients took %.1f ms\n",
              static_cast<long long>(connected), MsSince(t1));
  size_t rss = std::max(c.node(0).RssBytes(), c.node(0).PeakRssBytes());
  std::printf("[bad-input] server RSS (peak): %.1f MiB before, %.1f MiB with %zu idle connections (%.1f KiB each)\n",
              rss0 / 1048576.0, rss / 1048576.0, opened,
              opened > 0 ? (static_cast<double>(rss) - static_cast<double>(rss0)) / 1024.0 / opened : 0.0);
  EXPECT_GT(rss, 0u);
  EXPECT_LT(rss, kGiB);
  // They go away cleanly, too.
  for (int fd : idle.fds) ::close(fd);
  idle.fds.clear();
  deadline = Clock::now() + std::chrono::seconds(20);
  for (int i = 0; i < 400 && Clock::now() < deadline; i++) {
    auto info = c.Info(0, "clients");
    ASSERT_TRUE(info.ok());
    connected = InfoInt(*info, "connected_clients");
    if (connected <= 1) break;
    std::this_thread::sleep_for(Millis(50));
  }
  EXPECT_LE(connected, 1) << "connections not released after the clients closed";
  ASSERT_NO_FATAL_FAILURE(ExpectServes(c, "after-idle-closed"));
}

TEST(BadInputIT, ClientThatNeverReadsStaysBounded) {
  ProcessCluster c(LimitedNode());
  LQ_ASSERT_OK(c.Start());
  {
    LQ_CONNECT(conn, c, 0);
    ASSERT_TRUE(IsOk(conn.Call({"SET", "bigkey", std::string(64 * 1024, 'z')})));
  }
  // The slow client: a raw socket that sends 200k "GET bigkey" and never reads.
  auto slow = c.Client(0);
  ASSERT_TRUE(slow.ok());
  int fd = ConnectRawNonBlocking(c);
  ASSERT_GE(fd, 0);
  slow->Close();
  const int kRequests = 200000;
  std::string payload;
  payload.reserve(kRequests * 32);
  for (int i = 0; i < kRequests; i++) payload += "*2\r\n$3\r\nGET\r\n$6\r\nbigkey\r\n";
  std::atomic<size_t> sent{0};
  std::atomic<bool> done{false};
  std::atomic<int> send_errno{0};
  std::thread sender([&] {
    auto start = Clock::now();
    auto last_progress = start;
    while (sent < payload.size() && Clock::now() - start < std::chrono::seconds(30) &&
           Clock::now() - last_progress < std::chrono::seconds(4)) {
      ssize_t n = ::send(fd, payload.data() + sent, payload.size() - sent, MSG_NOSIGNAL);
      if (n > 0) {
        sent += static_cast<size_t>(n);
        last_progress = Clock::now();
        continue;
      }
      if (n < 0 && errno != EAGAIN && errno != EINTR) {
        send_errno = errno;
        break;
      }
      pollfd p{fd, POLLOUT, 0};
      ::poll(&p, 1, 100);
    }
    done = true;
  });
  struct JoinGuard {
    std::thread& t;
    ~JoinGuard() {
      if (t.joinable()) t.join();
    }
  } guard{sender};

  auto other = c.Client(0);
  ASSERT_TRUE(other.ok());
  other->set_timeout(Millis(5000));
  size_t max_rss = 0;
  double max_call_ms = 0;
  int calls = 0;
  auto t0 = Clock::now();
  std::optional<Clock::time_point> after_done;
  for (int i = 0; i < 1000 && Clock::now() - t0 < std::chrono::seconds(45); i++) {
    if (done && !after_done) after_done = Clock::now();
    if (after_done && Clock::now() > *after_done + std::chrono::seconds(2)) break;
    auto tc = Clock::now();
    auto r = other->Call({"PING"});
    ASSERT_TRUE(r.ok() && r->str == "PONG") << "PING while a client floods: " << Describe(r);
    r = other->Call({"SET", "other", std::to_string(i)});
    ASSERT_TRUE(IsOk(r)) << "SET while a client floods: " << Describe(r);
    r = other->Call({"GET", "other"});
    ASSERT_TRUE(r.ok() && r->str == std::to_string(i)) << Describe(r);
    max_call_ms = std::max(max_call_ms, MsSince(tc));
    calls++;
    max_rss = std::max({max_rss, c.node(0).RssBytes(), c.node(0).PeakRssBytes()});
    ASSERT_LT(max_rss, kGiB) << "server RSS above 1 GiB while a client never reads (sent "
                             << sent / 1048576.0 << " MiB of requests)";
    std::this_thread::sleep_for(Millis(100));
  }
  auto stats = c.Info(0, "stats");
  ASSERT_TRUE(stats.ok());
  auto clients = c.Info(0, "clients");
  ASSERT_TRUE(clients.ok());
  // Did the server drop the flooding client? (EOF/reset on a read.)
  char buf[4096];
  ssize_t n = 0;
  size_t drained = 0;
  bool closed = false;
  std::string head;
  for (int i = 0; i < 100000; i++) {
    n = ::recv(fd, buf, sizeof(buf), MSG_DONTWAIT);
    if (n > 0) {
      if (head.size() < 80) head.append(buf, std::min<size_t>(static_cast<size_t>(n), 80));
      drained += static_cast<size_t>(n);
      if (drained > (64u << 20)) break;  // still being served (paused, then resumed)
      continue;
    }
    closed = n == 0 || (n < 0 && errno != EAGAIN);
    break;
  }
  std::printf("[bad-input] flooding client sent %.1f of %.1f MiB (send errno %d); other client made %d rounds, "
              "slowest %.1f ms; server peak RSS (VmHWM) %.1f MiB; output_limit_disconnects=%s connected_clients=%s; "
              "flooding client %s (drained %zu bytes)\n",
              sent / 1048576.0, payload.size() / 1048576.0, send_errno.load(), calls, max_call_ms,
              max_rss / 1048576.0, (*stats)["output_limit_disconnects"].c_str(),
              (*clients)["connected_clients"].c_str(), closed ? "was disconnected" : "is still connected (paused)",
              drained);
  for (auto& ch : head) {
    if (ch == '\r' || ch == '\n') ch = ' ';
  }
  std::printf("[bad-input] flooding client's first reply bytes: %s\n", head.substr(0, 80).c_str());
  std::printf("[bad-input] server stats: protocol_errors=%s total_commands_processed=%s\n",
              (*stats)["protocol_errors"].c_str(), (*stats)["total_commands_processed"].c_str());
  ::close(fd);
  EXPECT_GT(calls, 0);
  max_rss = std::max(max_rss, c.node(0).PeakRssBytes());
  std::printf("[bad-input] server peak RSS (VmHWM) at the end: %.1f MiB\n", max_rss / 1048576.0);
  EXPECT_LT(max_rss, kGiB);
  ASSERT_NO_FATAL_FAILURE(ExpectServes(c, "after-flood"));
}

}  // namespace
}  // namespace lockq::testing

namespace lockq::testing {
namespace {

// Issue 11: QUIT while an earlier reply is still deferred (a lock wait).
// The server used to keep reading and buffering everything the client sent
// after QUIT, for as long as the wait lasted. Now input after QUIT is
// dropped and the connection closes at the close deadline (5 s), though
// the owed reply never came.
TEST(BadInputIT, QuitBehindADeferredReplyClosesWithinTheDeadline) {
  ProcessCluster c(LimitedNode());
  LQ_ASSERT_OK(c.Start());
  LQ_CONNECT(holder, c, 0);
  auto held = holder.Call({"LOCK.ACQUIRE", "quit-lock", "TTL", "60000"});
  ASSERT_TRUE(held.ok() && !held->is_error()) << Describe(held);
  size_t rss0 = c.node(0).RssBytes();
  int fd = ConnectRawNonBlocking(c);
  ASSERT_GE(fd, 0);
  std::string wait_then_quit =
      "*6\r\n$12\r\nLOCK.ACQUIRE\r\n$9\r\nquit-lock\r\n$3\r\nTTL\r\n$4\r\n1000\r\n$4\r\nWAIT\r\n$5\r\n60000\r\n"
      "*1\r\n$4\r\nQUIT\r\n";
  ASSERT_EQ(::send(fd, wait_then_quit.data(), wait_then_quit.size(), MSG_NOSIGNAL),
            static_cast<ssize_t>(wait_then_quit.size()));
  auto start = Clock::now();
  // Keep sending after QUIT (512 MiB at most) until the server closes, for
  // 15 s at most; stop early if the server's memory grows with it.
  const size_t kFloodMax = size_t{512} << 20;
  const size_t kGrowthMax = size_t{256} << 20;
  std::string flood;
  for (int i = 0; i < 32768; i++) flood += "*1\r\n$4\r\nPING\r\n";
  size_t flooded = 0;
  bool closed = false;
  size_t max_rss = 0;
  while (!closed && Clock::now() - start < std::chrono::seconds(15) && max_rss < rss0 + kGrowthMax) {
    ssize_t n = flooded < kFloodMax ? ::send(fd, flood.data(), flood.size(), MSG_NOSIGNAL) : 0;
    if (n > 0) flooded += static_cast<size_t>(n);
    if (n < 0 && errno != EAGAIN && errno != EINTR) closed = true;  // reset by the server
    char buf[4096];
    ssize_t r = ::recv(fd, buf, sizeof(buf), 0);
    if (r == 0 || (r < 0 && errno != EAGAIN && errno != EINTR)) closed = true;
    if (n <= 0) {
      pollfd p{fd, POLLOUT | POLLIN, 0};
      ::poll(&p, 1, 20);
    }
    max_rss = std::max(max_rss, c.node(0).RssBytes());
  }
  auto waited = std::chrono::duration_cast<Millis>(Clock::now() - start);
  ::close(fd);
  std::printf("[bad-input] QUIT behind a deferred reply: %s after %lld ms, %.1f MiB sent after QUIT, "
              "RSS %.1f -> %.1f MiB\n",
              closed ? "closed" : "still open", static_cast<long long>(waited.count()), flooded / 1048576.0,
              rss0 / 1048576.0, max_rss / 1048576.0);
  EXPECT_TRUE(closed) << "still open " << waited.count() << " ms after QUIT";
  EXPECT_LT(waited, Millis(10000));
  EXPECT_LT(max_rss, rss0 + kGrowthMax) << "input after QUIT was buffered";
  ExpectServes(c, "after-quit");
}

}  // namespace
}  // namespace lockq::testing
