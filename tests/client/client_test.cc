// lockq::Client against real lockqd processes: calls, error mapping,
// timeouts, endpoints that are down, and riding out a failover.

#include <thread>

#include "client_util.h"
#include "testlib/dev_certs.h"

namespace lockq::testing {
namespace {

using namespace std::chrono_literals;

TEST(ClientIT, CallsAndMapsErrorRepliesToStatusCodes) {
  ProcessCluster c;
  LQ_ASSERT_OK(c.Start());
  Client client(Endpoints(c), FastOptions());
  EXPECT_EQ(client.endpoint(), "");
  LQ_ASSERT_OK(client.Ping());
  EXPECT_EQ(client.endpoint(), c.RespAddr(0));
  EXPECT_EQ(client.options().call_timeout, 5000ms);
  auto set = client.Call({"SET", "k", "v"});
  ASSERT_TRUE(set.ok()) << set.status().ToString();
  EXPECT_EQ(set->str, "OK");
  EXPECT_EQ(Str(client.Call({"GET", "k"})), "v");
  // Error replies become Status codes that say what to do.
  auto notint = client.Call({"INCR", "k"});
  EXPECT_EQ(notint.status().code(), StatusCode::kInvalidArgument) << notint.status().ToString();
  auto syntax = client.Call({"SET", "k"});
  EXPECT_EQ(syntax.status().code(), StatusCode::kInvalidArgument) << syntax.status().ToString();
  auto notowner = client.Call({"LOCK.RELEASE", "nolock", "12345"});
  EXPECT_EQ(notowner.status().code(), StatusCode::kFailedPrecondition) << notowner.status().ToString();
  EXPECT_NE(notowner.status().message().find("NOTOWNER"), std::string::npos);
  auto nosession = client.Call({"SESSION.KEEPALIVE", "999999"});
  EXPECT_EQ(nosession.status().code(), StatusCode::kFailedPrecondition);
  auto noscript = client.Call({"EVALSHA", "0123456789012345678901234567890123456789", "0"});
  EXPECT_EQ(noscript.status().code(), StatusCode::kNotFound) << noscript.status().ToString();
  auto notfound = client.Call({"Q.INFO", "no-such-queue"});
  EXPECT_EQ(notfound.status().code(), StatusCode::kNotFound) << notfound.status().ToString();
  auto empty = client.Call({});
  EXPECT_EQ(empty.status().code(), StatusCode::kInvalidArgument);
}

TEST(ClientIT, FromServerErrorNamesTheCallersNextStep) {
  EXPECT_EQ(FromServerError("TRYAGAIN no leader elected; retry shortly").code(), StatusCode::kUnavailable);
  EXPECT_EQ(FromServerError("TRYAGAIN leader changed; outcome unknown, check before retrying").code(),
            StatusCode::kOutcomeUnknown);
  EXPECT_EQ(FromServerError("STALETOKEN fencing token is older").code(), StatusCode::kFailedPrecondition);
  EXPECT_EQ(FromServerError("NOAUTH Authentication required.").code(), StatusCode::kPermissionDenied);
  EXPECT_EQ(FromServerError("ERR too many locks (1000000)").code(), StatusCode::kResourceExhausted);
  EXPECT_EQ(FromServerError("ERR something else").code(), StatusCode::kServerError);
  EXPECT_EQ(FromServerError("ERR something else").message(), "ERR something else");
}

TEST(ClientIT, ADeadFirstEndpointIsSkipped) {
  ProcessCluster c;
  LQ_ASSERT_OK(c.Start());
  Client client({ClosedEndpoint(), c.RespAddr(0)}, FastOptions());
  LQ_ASSERT_OK(client.Ping());
  EXPECT_EQ(client.endpoint(), c.RespAddr(0));
}

TEST(ClientIT, NoReachableNodeIsUnavailableAfterTheRetryBudget) {
  ClientOptions o = FastOptions();
  o.retry_for = 300ms;
  Client client({ClosedEndpoint(), ClosedEndpoint()}, o);
  auto t0 = std::chrono::steady_clock::now();
  auto r = client.Call({"PING"});
  EXPECT_EQ(r.status().code(), StatusCode::kUnavailable) << r.status().ToString();
  EXPECT_NE(r.status().message().find("gave up"), std::string::npos) << r.status().ToString();
  EXPECT_LT(std::chrono::steady_clock::now() - t0, 30s);  // bounded, not a timing claim
  Client none({}, o);
  EXPECT_EQ(none.Ping().code(), StatusCode::kInvalidArgument);
}

// TLS (issue 12): the client talks to --tls-port with its CA and a client
// certificate (mTLS, --tls-auth-clients yes); a TLS client on the plain port,
// an untrusted server or a missing client certificate is PermissionDenied at
// once (not retried for retry_for: another node would refuse it too).
TEST(ClientIT, TlsWithClientCertificateAndClearRefusals) {
  auto certs = DevCerts();
  std::string tls_addr = ClosedEndpoint();  // a free port for --tls-port
  std::string tls_port = tls_addr.substr(tls_addr.rfind(':') + 1);
  ClusterOptions co;
  co.extra_args = {"--tls-port", tls_port, "--amqps-port", "0", "--tls-cert-file", certs / "server.crt",
                   "--tls-key-file", certs / "server.key", "--tls-ca-cert-file", certs / "ca.crt"};
  ProcessCluster c(co);
  LQ_ASSERT_OK(c.Start());
  ClientOptions o = FastOptions();
  o.tls = {.enabled = true, .ca_file = certs / "ca.crt", .cert_file = certs / "client.crt",
           .key_file = certs / "client.key", .server_name = ""};
  {
    Client client({tls_addr}, o);
    LQ_ASSERT_OK(client.Ping());
    auto set = client.Call({"SET", "tls", "1"});
    ASSERT_TRUE(set.ok()) << set.status().ToString();
    Mutex m(client, "tls-lock");  // its own pooled connection, TLS too
    m.lock();
    m.unlock();
  }
  auto refused = [&](ClientOptions opts, const std::string& addr, const std::string& why) {
    Client client({addr}, opts);
    Status s = client.Ping();
    EXPECT_EQ(s.code(), StatusCode::kPermissionDenied) << why << ": " << s.ToString();
    EXPECT_NE(s.message().find("TLS"), std::string::npos) << why << ": " << s.ToString();
  };
  refused(o, c.RespAddr(0), "TLS client on the plain port");
  ClientOptions no_cert = o;
  no_cert.tls.cert_file.clear();
  no_cert.tls.key_file.clear();
  refused(no_cert, tls_addr, "no client certificate");
  ClientOptions other_ca = o;
  other_ca.tls.ca_file = DevCerts("other") / "ca.crt";
  refused(other_ca, tls_addr, "server from another CA");
  ClientOptions wrong_name = o;
  wrong_name.tls.server_name = "lockq.example.com";
  refused(wrong_name, tls_addr, "name not in the certificate");
}

TEST(ClientIT, ACallThatOutlivesItsTimeoutIsDeadlineExceeded) {
  ProcessCluster c;
  LQ_ASSERT_OK(c.Start());
  Client client(Endpoints(c), FastOptions());
  Mutex holder(client, "slow");
  holder.lock();
  // A raw blocking acquire on the shared connection, with a short timeout.
  auto r = client.Call({"LOCK.ACQUIRE", "slow", "WAIT", "0"}, CallOptions{.timeout = 200ms});
  EXPECT_EQ(r.status().code(), StatusCode::kDeadlineExceeded) << r.status().ToString();
  // The client reconnects for the next call.
  LQ_ASSERT_OK(client.Ping());
  holder.unlock();
}

TEST(ClientIT, CallsFromManyThreadsShareOneConnection) {
  ProcessCluster c;
  LQ_ASSERT_OK(c.Start());
  Client client(Endpoints(c), FastOptions());
  std::vector<std::thread> threads;
  std::atomic<int> ok{0};
  for (int t = 0; t < 8; t++) {
    threads.emplace_back([&, t] {
      for (int i = 0; i < 200; i++) {
        std::string key = "t" + std::to_string(t) + "-" + std::to_string(i);
        if (!client.Call({"SET", key, key}).ok()) continue;
        if (Str(client.Call({"GET", key})) == key) ok++;
      }
    });
  }
  for (auto& t : threads) t.join();
  EXPECT_EQ(ok.load(), 8 * 200);
  auto clients = client.Call({"INFO", "clients"});
  ASSERT_TRUE(clients.ok());
  EXPECT_NE(clients->str.find("connected_clients:1\r\n"), std::string::npos) << clients->str;
}

TEST(ClientIT, IdempotentCallsRideOutALeaderKill) {
  ProcessCluster c(ClusterOptions{.nodes = 3});
  LQ_ASSERT_OK(c.Start());
  Client client(Endpoints(c), FastOptions());
  ASSERT_TRUE(client.Call({"SET", "survives", "1"}).ok());
  int leader = c.Leader();
  ASSERT_GE(leader, 0);
  c.Kill9(leader);
  for (int i = 0; i < 20; i++) {
    auto r = client.Call({"GET", "survives"}, CallOptions{.idempotent = true});
    ASSERT_TRUE(r.ok()) << "call " << i << ": " << r.status().ToString();
    EXPECT_EQ(r->str, "1");
  }
  auto w = client.Call({"SET", "after", "2"}, CallOptions{.idempotent = true});
  EXPECT_TRUE(w.ok()) << w.status().ToString();
}

}  // namespace
}  // namespace lockq::testing
