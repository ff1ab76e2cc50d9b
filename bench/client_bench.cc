// client_bench: what liblockq costs (issue 6 benchmark). Runs the same work
// through liblockq and through raw RESP on RespConnection against one
// running lockqd, alternating rounds, and prints one JSON line per round:
//
//   lock:    T threads, each on its own lock, acquire (SESSION, WAIT 0) +
//            release cycles; liblockq: Mutex lock()/unlock().
//   publish: Q.PUBLISH of 100-byte messages with W in flight; liblockq:
//            Publisher (max_outstanding W); raw: windows of W pipelined.
//
//   client_bench HOST:PORT [--seconds 5] [--threads 8] [--window 1000] [--rounds 3]

#include <atomic>
#include <chrono>
#include <cstdio>
#include <cstring>
#include <string>
#include <thread>
#include <vector>

#include "client/resp_connection.h"
#include "lockq/client.h"

namespace {

using Clock = std::chrono::steady_clock;
using lockq::client::RespConnection;

struct Args {
  std::string server;
  double seconds = 5;
  int threads = 8;
  int window = 1000;
  int rounds = 3;
};

double Run(int threads, double seconds, const std::function<void(int, const std::atomic<bool>&, long*)>& body) {
  std::atomic<bool> stop{false};
  std::vector<long> counts(threads, 0);
  std::vector<std::thread> ts;
  auto t0 = Clock::now();
  for (int t = 0; t < threads; t++) ts.emplace_back([&, t] { body(t, stop, &counts[t]); });
  std::this_thread::sleep_for(std::chrono::duration<double>(seconds));
  stop = true;
  for (auto& t : ts) t.join();
  double secs = std::chrono::duration<double>(Clock::now() - t0).count();
  long total = 0;
  for (long c : counts) total += c;
  return total / secs;
}

double LockLib(const Args& a, int round) {
  lockq::Client client({a.server});
  return Run(a.threads, a.seconds, [&](int t, const std::atomic<bool>& stop, long* n) {
    lockq::Mutex m(client, "bench-lib-" + std::to_string(round) + "-" + std::to_string(t));
    while (!stop) {
      m.lock();
      m.unlock();
      ++*n;
    }
  });
}

double LockRaw(const Args& a, int round) {
  auto setup = RespConnection::Connect(a.server);
  if (!setup.ok()) return 0;
  auto sid = setup->Call({"SESSION.OPEN", "10000"});
  std::string session = std::to_string(sid.ok() ? sid->integer : 0);
  return Run(a.threads, a.seconds, [&](int t, const std::atomic<bool>& stop, long* n) {
    auto c = RespConnection::Connect(a.server);
    if (!c.ok()) return;
    std::string name = "bench-raw-" + std::to_string(round) + "-" + std::to_string(t);
    while (!stop) {
      auto g = c->Call({"LOCK.ACQUIRE", name, "SESSION", session, "WAIT", "0"});
      if (!g.ok() || g->elems.empty()) return;
      c->Call({"LOCK.RELEASE", name, std::to_string(g->elems[0].integer)});
      ++*n;
    }
  });
}

double PublishLib(const Args& a) {
  lockq::Client client({a.server});
  lockq::Publisher pub(client, lockq::PublisherOptions{.exchange = "", .max_outstanding = static_cast<size_t>(a.window)});
  std::string body(100, 'x');
  std::atomic<long> confirmed{0};
  auto t0 = Clock::now();
  auto until = t0 + std::chrono::duration<double>(a.seconds);
  while (Clock::now() < until) {
    for (int i = 0; i < 100; i++) pub.Publish("bench", body, {}, [&](lockq::Result<lockq::Confirm> r) {
        if (r.ok()) confirmed++;
      });
  }
  (void)pub.Flush();
  return confirmed / std::chrono::duration<double>(Clock::now() - t0).count();
}

double PublishRaw(const Args& a) {
  auto c = RespConnection::Connect(a.server);
  if (!c.ok()) return 0;
  std::vector<lockq::Argv> batch(a.window, {"Q.PUBLISH", "", "bench", std::string(100, 'x')});
  long confirmed = 0;
  auto t0 = Clock::now();
  auto until = t0 + std::chrono::duration<double>(a.seconds);
  while (Clock::now() < until) {
    auto r = c->Pipeline(batch);
    if (!r.ok()) return 0;
    for (const auto& reply : *r) confirmed += reply.is_error() ? 0 : 1;
  }
  return confirmed / std::chrono::duration<double>(Clock::now() - t0).count();
}

}  // namespace

int main(int argc, char** argv) {
  Args a;
  for (int i = 1; i < argc; i++) {
    std::string s = argv[i];
    auto next = [&] { return i + 1 < argc ? std::string(argv[++i]) : std::string(); };
    if (s == "--seconds") a.seconds = std::stod(next());
    else if (s == "--threads") a.threads = std::stoi(next());
    else if (s == "--window") a.window = std::stoi(next());
    else if (s == "--rounds") a.rounds = std::stoi(next());
    else if (s == "-h" || s == "--help") {
      std::puts("client_bench HOST:PORT [--seconds 5] [--threads 8] [--window 1000] [--rounds 3]");
      return 0;
    } else a.server = s;
  }
  if (a.server.empty()) a.server = "127.0.0.1:6379";
  lockq::Client setup({a.server});
  if (!lockq::DeclareQueue(setup, "bench").ok()) {
    std::fprintf(stderr, "client_bench: cannot reach %s\n", a.server.c_str());
    return 1;
  }
  for (int r = 0; r < a.rounds; r++) {
    double raw_lock = LockRaw(a, r), lib_lock = LockLib(a, r);
    (void)setup.Call({"Q.PURGE", "bench"});
    double raw_pub = PublishRaw(a);
    (void)setup.Call({"Q.PURGE", "bench"});
    double lib_pub = PublishLib(a);
    (void)setup.Call({"Q.PURGE", "bench"});
    std::printf("{\"round\": %d, \"threads\": %d, \"window\": %d, \"lock_raw\": %.0f, \"lock_lib\": %.0f, "
                "\"lock_ratio\": %.3f, \"publish_raw\": %.0f, \"publish_lib\": %.0f, \"publish_ratio\": %.3f}\n",
                r, a.threads, a.window, raw_lock, lib_lock, raw_lock > 0 ? lib_lock / raw_lock : 0, raw_pub, lib_pub,
                raw_pub > 0 ? lib_pub / raw_pub : 0);
    std::fflush(stdout);
  }
  return 0;
}
