// net::TlsEngine pairs in memory: handshake and data both ways, what each
// side sees of the other's certificate, mTLS (required / optional / none),
// name checks, plain text on a TLS port, and certificate rotation (new
// connections get the new files, open ones keep working, a broken file
// keeps the old context and is reported once). Certificates come from
// scripts/dev-certs, run at test time.

#include "net/tls.h"

#include <gtest/gtest.h>

#include <filesystem>
#include <fstream>
#include <string>

#include "testlib/dev_certs.h"
#include "testlib/status_assert.h"

namespace lockq::net {
namespace {

namespace fs = std::filesystem;
using Verify = TlsContextConfig::Verify;

// Two CAs with their certificates (testlib/dev_certs.h).
struct Certs {
  static const Certs& Get() {
    static Certs certs{testing::DevCerts("a"), testing::DevCerts("b")};
    return certs;
  }
  fs::path a, b;
};

TlsContextConfig ServerConfig(const fs::path& d, Verify verify = Verify::kRequired) {
  TlsContextConfig c;
  c.cert_file = d / "server.crt";
  c.key_file = d / "server.key";
  c.ca_file = d / "ca.crt";
  c.verify = verify;
  c.server = true;
  return c;
}

TlsContextConfig ClientConfig(const fs::path& d, bool with_cert = true, Verify verify = Verify::kRequired) {
  TlsContextConfig c;
  if (with_cert) {
    c.cert_file = d / "client.crt";
    c.key_file = d / "client.key";
  }
  c.ca_file = d / "ca.crt";
  c.verify = verify;
  c.server = false;
  return c;
}

std::shared_ptr<TlsContext> MustLoad(const TlsContextConfig& c) {
  auto r = TlsContext::Load(c);
  EXPECT_TRUE(r.ok()) << r.status().ToString();
  return r.ok() ? r.value() : nullptr;
}

// Moves ciphertext both ways until neither side owes any (bounded). The
// first failure, with the side that saw it.
struct PumpResult {
  Status client = Status::Ok();
  Status server = Status::Ok();
};
PumpResult Pump(TlsEngine& client, TlsEngine& server) {
  PumpResult r;
  for (int i = 0; i < 50; i++) {
    std::string c2s = client.TakeCiphertext();
    std::string s2c = server.TakeCiphertext();
    if (c2s.empty() && s2c.empty()) break;
    if (!c2s.empty() && r.server.ok()) r.server = server.FeedCiphertext(c2s);
    if (!s2c.empty() && r.client.ok()) r.client = client.FeedCiphertext(s2c);
  }
  return r;
}

struct Pair {
  std::unique_ptr<TlsEngine> client, server;
  PumpResult result;
};
Pair Connect(const std::shared_ptr<TlsContext>& cctx, const std::shared_ptr<TlsContext>& sctx,
             const std::string& name = "127.0.0.1") {
  Pair p;
  auto c = TlsEngine::NewClient(cctx, name);
  EXPECT_TRUE(c.ok()) << c.status().ToString();
  p.client = std::move(c.value());
  p.server = TlsEngine::NewServer(sctx);
  EXPECT_TRUE(p.client->Start().ok());
  p.result = Pump(*p.client, *p.server);
  return p;
}

TEST(Tls, HandshakeDataAndPeerCertificates) {
  const Certs& certs = Certs::Get();
  auto sctx = MustLoad(ServerConfig(certs.a));
  auto cctx = MustLoad(ClientConfig(certs.a));
  Pair p = Connect(cctx, sctx);
  LQ_ASSERT_OK(p.result.client);
  LQ_ASSERT_OK(p.result.server);
  ASSERT_TRUE(p.client->handshake_done());
  ASSERT_TRUE(p.server->handshake_done());
  EXPECT_EQ(p.client->Version(), "TLSv1.3");
  EXPECT_FALSE(p.client->Cipher().empty());

  // What each side sees of the other.
  EXPECT_EQ(p.client->PeerCommonName(), "localhost");
  EXPECT_EQ(p.client->PeerSanIps(), (std::vector<std::string>{"127.0.0.1", "::1"}));
  EXPECT_EQ(p.client->PeerSanDns(), (std::vector<std::string>{"localhost"}));
  EXPECT_TRUE(p.server->HasPeerCertificate());
  EXPECT_EQ(p.server->PeerCommonName(), "client");
  EXPECT_TRUE(p.server->PeerSanIps().empty());

  // Both ways, including more than one record (16 KiB) and a reply.
  std::string big(1 << 20, 'x');
  for (size_t i = 0; i < big.size(); i += 4096) big[i] = static_cast<char>('a' + i % 26);
  LQ_ASSERT_OK(p.client->WritePlain("PING\r\n"));
  LQ_ASSERT_OK(p.client->WritePlain(big));
  PumpResult r = Pump(*p.client, *p.server);
  LQ_ASSERT_OK(r.server);
  EXPECT_EQ(p.server->plain_in(), "PING\r\n" + big);
  p.server->plain_in().clear();
  LQ_ASSERT_OK(p.server->WritePlain("+PONG\r\n"));
  r = Pump(*p.client, *p.server);
  LQ_ASSERT_OK(r.client);
  EXPECT_EQ(p.client->plain_in(), "+PONG\r\n");

  // close_notify
  p.client->Shutdown();
  r = Pump(*p.client, *p.server);
  LQ_ASSERT_OK(r.server);
  EXPECT_TRUE(p.server->peer_closed());
}

TEST(Tls, WritesBeforeTheHandshakeAreHeldAndSent) {
  const Certs& certs = Certs::Get();
  auto sctx = MustLoad(ServerConfig(certs.a));
  auto cctx = MustLoad(ClientConfig(certs.a));
  auto c = TlsEngine::NewClient(cctx, "localhost");
  LQ_ASSERT_OK(c.status());
  auto s = TlsEngine::NewServer(sctx);
  LQ_ASSERT_OK(c.value()->WritePlain("early"));  // starts the handshake too
  PumpResult r = Pump(*c.value(), *s);
  LQ_ASSERT_OK(r.client);
  LQ_ASSERT_OK(r.server);
  EXPECT_EQ(s->plain_in(), "early");
}

TEST(Tls, ClientAuthRequiredOptionalNone) {
  const Certs& certs = Certs::Get();
  auto anonymous = MustLoad(ClientConfig(certs.a, /*with_cert=*/false));
  auto with_cert = MustLoad(ClientConfig(certs.a, /*with_cert=*/true));

  // yes: no certificate, no connection. With TLS 1.3 the client finishes
  // its side first and hears of the refusal on its next read.
  auto required = MustLoad(ServerConfig(certs.a, Verify::kRequired));
  Pair p = Connect(anonymous, required);
  ASSERT_FALSE(p.result.server.ok());
  EXPECT_NE(p.result.server.message().find("certificate"), std::string::npos) << p.result.server.ToString();
  EXPECT_FALSE(p.server->handshake_done());
  EXPECT_FALSE(p.server->error().empty());

  // A certificate from another CA is refused too.
  auto other_ca_client = MustLoad(
      TlsContextConfig{certs.b / "client.crt", certs.b / "client.key", certs.a / "ca.crt", Verify::kRequired, false, {}});
  p = Connect(other_ca_client, required);
  ASSERT_FALSE(p.result.server.ok());
  EXPECT_NE(p.result.server.message().find("certificate"), std::string::npos) << p.result.server.ToString();

  // optional: without one is fine; a bad one is still refused.
  auto optional = MustLoad(ServerConfig(certs.a, Verify::kOptional));
  p = Connect(anonymous, optional);
  LQ_ASSERT_OK(p.result.server);
  EXPECT_TRUE(p.server->handshake_done());
  EXPECT_FALSE(p.server->HasPeerCertificate());
  p = Connect(with_cert, optional);
  LQ_ASSERT_OK(p.result.server);
  EXPECT_EQ(p.server->PeerCommonName(), "client");
  p = Connect(other_ca_client, optional);
  EXPECT_FALSE(p.result.server.ok());

  // no: not even asked.
  auto none = MustLoad(ServerConfig(certs.a, Verify::kNone));
  p = Connect(with_cert, none);
  LQ_ASSERT_OK(p.result.server);
  EXPECT_FALSE(p.server->HasPeerCertificate());
}

TEST(Tls, ClientChecksTheServerNameAndChain) {
  const Certs& certs = Certs::Get();
  auto sctx = MustLoad(ServerConfig(certs.a, Verify::kNone));
  auto cctx = MustLoad(ClientConfig(certs.a, false));
  for (const char* good : {"127.0.0.1", "::1", "localhost"}) {
    Pair p = Connect(cctx, sctx, good);
    EXPECT_TRUE(p.result.client.ok()) << good << ": " << p.result.client.ToString();
  }
  for (const char* bad : {"10.1.2.3", "example.com"}) {
    Pair p = Connect(cctx, sctx, bad);
    ASSERT_FALSE(p.result.client.ok()) << bad;
    EXPECT_NE(p.result.client.message().find("certificate"), std::string::npos) << p.result.client.ToString();
  }
  // Another CA: the chain does not verify; with kNone it is accepted.
  auto other = MustLoad(ClientConfig(certs.b, false));
  Pair p = Connect(other, sctx);
  ASSERT_FALSE(p.result.client.ok());
  EXPECT_NE(p.client->error().find("certificate"), std::string::npos) << p.client->error();
  auto insecure = MustLoad(ClientConfig(certs.b, false, Verify::kNone));
  p = Connect(insecure, sctx);
  LQ_ASSERT_OK(p.result.client);
}

TEST(Tls, PlainTextOnATlsPortFailsWithAReason) {
  const Certs& certs = Certs::Get();
  auto sctx = MustLoad(ServerConfig(certs.a));
  for (std::string plain : {std::string("PING\r\n"), std::string("*1\r\n$4\r\nPING\r\n"),
                            std::string("AMQP\0\0\x09\x01", 8)}) {
    auto s = TlsEngine::NewServer(sctx);
    Status st = s->FeedCiphertext(plain);
    ASSERT_FALSE(st.ok());
    EXPECT_NE(st.message().find("TLS handshake failed"), std::string::npos) << st.ToString();
    // Still failed afterwards; no crash on more input.
    EXPECT_FALSE(s->FeedCiphertext("more").ok());
    EXPECT_FALSE(s->WritePlain("x").ok());
  }
}

TEST(Tls, LoadErrorsNameTheFile) {
  const Certs& certs = Certs::Get();
  auto missing = ServerConfig(certs.a);
  missing.cert_file = "/nonexistent/server.crt";
  auto r = TlsContext::Load(missing);
  ASSERT_FALSE(r.ok());
  EXPECT_NE(r.status().message().find("cannot read certificate file '/nonexistent/server.crt'"), std::string::npos)
      << r.status().ToString();

  auto mismatched = ServerConfig(certs.a);
  mismatched.key_file = certs.a / "client.key";
  r = TlsContext::Load(mismatched);
  ASSERT_FALSE(r.ok());
  EXPECT_NE(r.status().message().find("mismatch"), std::string::npos) << r.status().ToString();

  auto no_ca = ServerConfig(certs.a);
  no_ca.ca_file.clear();
  EXPECT_FALSE(TlsContext::Load(no_ca).ok());
  no_ca.verify = Verify::kNone;
  EXPECT_TRUE(TlsContext::Load(no_ca).ok());

  auto garbage = ServerConfig(certs.a);
  garbage.ca_file = certs.a / "server.key";  // a key, not certificates
  EXPECT_FALSE(TlsContext::Load(garbage).ok());
}

TEST(Tls, RotationNewConnectionsSeeNewFilesOldOnesKeepWorking) {
  const Certs& certs = Certs::Get();
  fs::path live = fs::temp_directory_path() / ("lockq-tls-rotate-" + std::to_string(::getpid()));
  fs::create_directories(live);
  auto copy = [&](const fs::path& from) {
    // Written beside and renamed over, as deployment tools do.
    for (const char* f : {"server.crt", "server.key"}) {
      fs::copy_file(from / f, live / (std::string(f) + ".new"), fs::copy_options::overwrite_existing);
      fs::rename(live / (std::string(f) + ".new"), live / f);
    }
  };
  copy(certs.a);
  TlsContextConfig sc = ServerConfig(live, Verify::kNone);
  sc.ca_file.clear();
  int errors = 0;
  std::string last_error;
  sc.on_error = [&](const std::string& e) {
    errors++;
    last_error = e;
  };
  auto sctx = MustLoad(sc);
  auto trusts_a = MustLoad(ClientConfig(certs.a, false));
  auto trusts_b = MustLoad(ClientConfig(certs.b, false));

  Pair old = Connect(trusts_a, sctx);
  LQ_ASSERT_OK(old.result.client);
  EXPECT_FALSE(Connect(trusts_b, sctx).result.client.ok());

  copy(certs.b);
  Pair fresh = Connect(trusts_b, sctx);
  LQ_ASSERT_OK(fresh.result.client);
  EXPECT_EQ(sctx->reloads(), 1u);
  EXPECT_FALSE(Connect(trusts_a, sctx).result.client.ok());

  // The connection made before the rotation still carries data.
  LQ_ASSERT_OK(old.client->WritePlain("still here"));
  LQ_ASSERT_OK(Pump(*old.client, *old.server).server);
  EXPECT_EQ(old.server->plain_in(), "still here");

  // A broken file: the previous context stays, reported once.
  {
    std::ofstream(live / "server.crt.new") << "not a certificate\n";
    fs::rename(live / "server.crt.new", live / "server.crt");
  }
  LQ_ASSERT_OK(Connect(trusts_b, sctx).result.client);
  LQ_ASSERT_OK(Connect(trusts_b, sctx).result.client);
  EXPECT_EQ(errors, 1);
  EXPECT_NE(last_error.find("keeping the previous"), std::string::npos) << last_error;
  EXPECT_EQ(sctx->reloads(), 1u);
  fs::remove_all(live);
}

}  // namespace
}  // namespace lockq::net
