// net::PeerEndpoint on loopback with a private uv loop: the handshake hands
// both ends a working socket when the secrets match, drops the link (and
// counts it) when they differ, when the bytes are not a peer's, or when the
// dialer never speaks; a cancelled dial never calls back.

#include "net/peer_link.h"

#include <poll.h>

#include <arpa/inet.h>
#include <fcntl.h>
#include <gtest/gtest.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include <functional>
#include <optional>
#include <string>

#include "testlib/dev_certs.h"
#include "testlib/loopback.h"
#include "net/tls.h"

namespace lockq::net {
namespace {

std::string Hex(const std::string& bytes) {
  static const char* kDigits = "0123456789abcdef";
  std::string out;
  for (unsigned char c : bytes) {
    out.push_back(kDigits[c >> 4]);
    out.push_back(kDigits[c & 15]);
  }
  return out;
}

class PeerLinkTest : public ::testing::Test {
 protected:
  void SetUp() override { uv_loop_init(&loop_); }
  void TearDown() override {
    a_.reset();
    b_.reset();
    for (int i = 0; i < 100 && uv_run(&loop_, UV_RUN_NOWAIT) != 0; i++) {}
    uv_loop_close(&loop_);
  }

  PeerEndpoint& Make(std::optional<PeerEndpoint>& slot, uint64_t id, int port, std::string secret,
                     unsigned timeout_ms = 5000) {
    slot.emplace(&loop_, PeerOptions{id, "127.0.0.1:" + std::to_string(port), std::move(secret), timeout_ms});
    return *slot;
  }

  // Runs the loop until `done` (at most ~5 s).
  void RunUntil(const std::function<bool()>& done) {
    for (int i = 0; i < 5000 && !done(); i++) {
      uv_run(&loop_, UV_RUN_NOWAIT);
      usleep(1000);
    }
  }

  uv_loop_t loop_ {};
  std::optional<PeerEndpoint> a_, b_;
};

TEST(HmacSha256, MatchesRfc4231TestCase2) {
  EXPECT_EQ(Hex(HmacSha256("Jefe", "what do ya want for nothing?")),
            "5bdcc146bf60754e6a042426089575c75a003f089d2739839dec58b964ec3843");
}

TEST_F(PeerLinkTest, SameSecretHandsBothEndsAWorkingSocket) {
  int port = testing::FreeLoopbackPort();
  PeerEndpoint& a = Make(a_, 1, port, "s3cret");
  PeerEndpoint& b = Make(b_, 2, testing::FreeLoopbackPort(), "s3cret");
  ASSERT_TRUE(a.Listen().ok());
  std::optional<PeerLink> accepted, dialed;
  a.SetHandler(PeerChannel::kForward, [&](PeerLink l) { accepted = std::move(l); });
  b.Dial("127.0.0.1:" + std::to_string(port), PeerChannel::kForward, [&](Status st, PeerLink l) {
    ASSERT_TRUE(st.ok()) << st.ToString();
    dialed = std::move(l);
  });
  RunUntil([&] { return accepted && dialed; });
  ASSERT_TRUE(accepted && dialed);
  EXPECT_EQ(accepted->id, 2u);
  EXPECT_EQ(accepted->address, b.options().address);
  EXPECT_EQ(accepted->channel, PeerChannel::kForward);
  ASSERT_EQ(write(dialed->fd, "ping", 4), 4);
  char buf[8] = {0};
  ASSERT_EQ(read(accepted->fd, buf, sizeof(buf)), 4);
  EXPECT_EQ(std::string(buf, 4), "ping");
  ASSERT_EQ(write(accepted->fd, "pong", 4), 4);
  ASSERT_EQ(read(dialed->fd, buf, sizeof(buf)), 4);
  EXPECT_EQ(std::string(buf, 4), "pong");
  close(accepted->fd);
  close(dialed->fd);
  EXPECT_EQ(a.rejected(), 0u);
}

TEST_F(PeerLinkTest, DifferentSecretsDropTheLinkOnBothSides) {
  int port = testing::FreeLoopbackPort();
  PeerEndpoint& a = Make(a_, 1, port, "s3cret");
  PeerEndpoint& b = Make(b_, 2, testing::FreeLoopbackPort(), "guess");
  ASSERT_TRUE(a.Listen().ok());
  bool accepted = false;
  std::optional<Status> result;
  a.SetHandler(PeerChannel::kRaft, [&](PeerLink l) {
    accepted = true;
    close(l.fd);
  });
  b.Dial("127.0.0.1:" + std::to_string(port), PeerChannel::kRaft, [&](Status st, PeerLink) { result = st; });
  RunUntil([&] { return result && a.rejected() > 0; });
  ASSERT_TRUE(result);
  EXPECT_FALSE(result->ok());
  EXPECT_NE(result->ToString().find("cluster secret"), std::string::npos) << result->ToString();
  EXPECT_FALSE(accepted);
  EXPECT_EQ(a.rejected(), 1u);
  EXPECT_EQ(b.rejected(), 1u);
}

TEST_F(PeerLinkTest, BytesThatAreNotAPeersAndSilenceAreDropped) {
  int port = testing::FreeLoopbackPort();
  PeerEndpoint& a = Make(a_, 1, port, "", /*timeout_ms=*/200);
  ASSERT_TRUE(a.Listen().ok());
  a.SetHandler(PeerChannel::kForward, [&](PeerLink l) {
    ADD_FAILURE() << "accepted a non-peer";
    close(l.fd);
  });
  auto dial_raw = [&] { return testing::ConnectLoopback(port); };
  int resp = dial_raw();
  std::string cmd = "*2\r\n$13\r\nLOCKQ.FORWARD\r\n$1\r\nx\r\n";
  ASSERT_EQ(write(resp, cmd.data(), cmd.size()), static_cast<ssize_t>(cmd.size()));
  RunUntil([&] { return a.rejected() == 1; });
  EXPECT_EQ(a.rejected(), 1u);
  int silent = dial_raw();  // says nothing: the handshake deadline drops it
  RunUntil([&] { return a.rejected() == 2; });
  EXPECT_EQ(a.rejected(), 2u);
  char buf[8];
  EXPECT_LE(read(resp, buf, sizeof(buf)), 0);
  EXPECT_LE(read(silent, buf, sizeof(buf)), 0);
  close(resp);
  close(silent);
}

TEST_F(PeerLinkTest, ACancelledDialNeverCallsBack) {
  int port = testing::FreeLoopbackPort();
  PeerEndpoint& a = Make(a_, 1, port, "");
  PeerEndpoint& b = Make(b_, 2, testing::FreeLoopbackPort(), "");
  ASSERT_TRUE(a.Listen().ok());
  int accepted = 0;
  a.SetHandler(PeerChannel::kRaft, [&](PeerLink l) {
    accepted++;
    close(l.fd);
  });
  bool called = false;
  auto dial = b.Dial("127.0.0.1:" + std::to_string(port), PeerChannel::kRaft, [&](Status, PeerLink) { called = true; });
  dial->Cancel();
  // A second dial shows the loop ran long enough for the first to finish.
  bool second = false;
  b.Dial("127.0.0.1:" + std::to_string(port), PeerChannel::kRaft, [&](Status st, PeerLink l) {
    second = st.ok();
    if (l.fd >= 0) close(l.fd);
  });
  RunUntil([&] { return second; });
  EXPECT_TRUE(second);
  EXPECT_FALSE(called);
}

TEST_F(PeerLinkTest, ABadAddressFailsOnALaterTurn) {
  PeerEndpoint& b = Make(b_, 2, testing::FreeLoopbackPort(), "");
  bool called = false;
  b.Dial("not an address", PeerChannel::kRaft, [&](Status st, PeerLink) {
    called = true;
    EXPECT_FALSE(st.ok());
  });
  EXPECT_FALSE(called);
  RunUntil([&] { return called; });
  EXPECT_TRUE(called);
}

std::shared_ptr<TlsContext> PeerTls(const std::string& ca_name, const std::string& node, bool server) {
  auto dir = lockq::testing::DevCerts(ca_name);
  TlsContextConfig c;
  c.cert_file = (dir / (node + ".crt")).string();
  c.key_file = (dir / (node + ".key")).string();
  c.ca_file = (dir / "ca.crt").string();
  c.server = server;
  c.verify = TlsContextConfig::Verify::kRequired;
  auto ctx = TlsContext::Load(c);
  EXPECT_TRUE(ctx.ok()) << ctx.status().ToString();
  return ctx.ok() ? ctx.value() : nullptr;
}

TEST_F(PeerLinkTest, PeerTlsPumpsBothWaysAndRefusesAForeignCa) {
  int port = testing::FreeLoopbackPort();
  PeerEndpoint& a = Make(a_, 1, port, "s3cret");
  PeerEndpoint& b = Make(b_, 2, testing::FreeLoopbackPort(), "s3cret");
  a.SetTls(PeerTls("peer", "node1", true), PeerTls("peer", "node1", false));
  b.SetTls(PeerTls("peer", "node2", true), PeerTls("peer", "node2", false));
  ASSERT_TRUE(a.Listen().ok());
  std::optional<PeerLink> accepted, dialed;
  a.SetHandler(PeerChannel::kRaft, [&](PeerLink l) { accepted = std::move(l); });
  b.Dial("127.0.0.1:" + std::to_string(port), PeerChannel::kRaft, [&](Status st, PeerLink l) {
    ASSERT_TRUE(st.ok()) << st.ToString();
    dialed = std::move(l);
  });
  RunUntil([&] { return accepted && dialed; });
  ASSERT_TRUE(accepted && dialed);
  // 3 MB each way through the pumps (more than any one buffer), with the
  // loop running while the test thread writes and reads non-blocking.
  const std::string payload(3 << 20, 'x');
  for (int from_dialer = 0; from_dialer < 2; from_dialer++) {
    int wfd = from_dialer ? dialed->fd : accepted->fd;
    int rfd = from_dialer ? accepted->fd : dialed->fd;
    fcntl(wfd, F_SETFL, O_NONBLOCK);
    fcntl(rfd, F_SETFL, O_NONBLOCK);
    size_t sent = 0, got = 0;
    char buf[65536];
    for (int i = 0; i < 200000 && got < payload.size(); i++) {
      if (sent < payload.size()) {
        ssize_t n = write(wfd, payload.data() + sent, payload.size() - sent);
        if (n > 0) sent += static_cast<size_t>(n);
      }
      ssize_t n = read(rfd, buf, sizeof(buf));
      if (n > 0) got += static_cast<size_t>(n);
      uv_run(&loop_, UV_RUN_NOWAIT);
      if (n <= 0) poll(nullptr, 0, 1);
    }
    EXPECT_EQ(got, payload.size()) << (from_dialer ? "dialer -> acceptor" : "acceptor -> dialer");
  }
  // The receiver closing its end closes the link: the other end sees EOF.
  close(dialed->fd);
  char c;
  ssize_t n = 1;
  for (int i = 0; i < 2000 && n != 0; i++) {
    uv_run(&loop_, UV_RUN_NOWAIT);
    n = read(accepted->fd, &c, 1);
    if (n < 0) poll(nullptr, 0, 1);
  }
  EXPECT_EQ(n, 0);
  close(accepted->fd);

  // A node whose certificate chains to another CA is refused.
  PeerEndpoint& c2 = *b_;
  c2.SetTls(PeerTls("foreign", "node2", true), PeerTls("foreign", "node2", false));
  std::optional<Status> result;
  c2.Dial("127.0.0.1:" + std::to_string(port), PeerChannel::kRaft, [&](Status st, PeerLink) { result = st; });
  RunUntil([&] { return result.has_value(); });
  ASSERT_TRUE(result);
  EXPECT_FALSE(result->ok());
  EXPECT_NE(result->ToString().find("TLS"), std::string::npos) << result->ToString();
}

}  // namespace
}  // namespace lockq::net
