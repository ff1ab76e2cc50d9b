// net::Listener on loopback and a private loop: accept, and max_clients
// (the connection past it goes to on_reject; one closing frees its place).

#include "net/listener.h"

#include <arpa/inet.h>
#include <gtest/gtest.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include <chrono>
#include <functional>
#include <thread>
#include <vector>

#include "testlib/loopback.h"

namespace lockq::net {
namespace {

class NullSession : public StreamSession {
 public:
  size_t OnInput(std::string_view buffered) override { return buffered.size(); }
  void OnClosed() override { closed = true; }
  bool closed = false;
};

TEST(ListenerTest, AcceptsUpToMaxClientsThenRejects) {
  uv_loop_t loop;
  uv_loop_init(&loop);
  std::vector<std::shared_ptr<StreamConnection>> accepted, rejected;
  NullSession session;
  {
    Listener::Options o;
    o.bind = "127.0.0.1";
    o.port = testing::FreeLoopbackPort();
    o.max_clients = 1;
    Listener listener(
        &loop, o,
        [&](std::shared_ptr<StreamConnection> c) {
          c->Start(&session);
          accepted.push_back(std::move(c));
        },
        [&](std::shared_ptr<StreamConnection> c) {
          c->Discard();
          rejected.push_back(std::move(c));
        });
    std::string addr;
    ASSERT_TRUE(listener.Listen(&addr).ok());
    EXPECT_EQ(addr, "127.0.0.1:" + std::to_string(o.port));
    auto run_until = [&](const std::function<bool()>& done) {
      for (int i = 0; i < 2000 && !done(); i++) {
        uv_run(&loop, UV_RUN_NOWAIT);
        std::this_thread::sleep_for(std::chrono::milliseconds(1));
      }
      return done();
    };
    int a = testing::ConnectLoopback(o.port);
    ASSERT_TRUE(run_until([&] { return accepted.size() == 1; }));
    int b = testing::ConnectLoopback(o.port);
    ASSERT_TRUE(run_until([&] { return rejected.size() == 1; }));
    EXPECT_EQ(listener.open_connections(), 1u);
    // The first one leaves: its place is free again.
    close(a);
    ASSERT_TRUE(run_until([&] { return session.closed && listener.open_connections() == 0; }));
    int c = testing::ConnectLoopback(o.port);
    ASSERT_TRUE(run_until([&] { return accepted.size() == 2; }));
    close(b);
    close(c);
    accepted.back()->CloseNow();
    listener.Close();
    accepted.clear();
    rejected.clear();
    uv_run(&loop, UV_RUN_DEFAULT);
  }
  EXPECT_EQ(uv_loop_close(&loop), 0);
}

}  // namespace
}  // namespace lockq::net
