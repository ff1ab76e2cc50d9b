// lockq bench: a quick load generator through liblockq. N client threads
// (one Client shared, as an application would) run one kind of operation
// back to back: a lock cycle (acquire + release of a lock per thread), a
// SET, or a confirmed publish. A progress line on stderr (redrawn when it
// is a terminal, one line a second otherwise), then a summary table.
// Bounded by --duration and --requests, whichever comes first.

#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <cstdio>
#include <thread>

#include "cli/output.h"

namespace lockq::cli {

namespace {

using Clock = std::chrono::steady_clock;
using std::chrono::milliseconds;

constexpr size_t kSamplesPerThreadMax = 1 << 20;  // latency samples kept per client
constexpr int kClientsMax = 1024;
constexpr milliseconds kDurationMax = std::chrono::hours(1);
constexpr char kBenchQueue[] = "lockq-bench";

struct BenchCli {
  int clients = 8;
  std::string duration;
  uint64_t requests = 0;
  std::string op = "set";
  uint32_t size = 16;
};

struct Worker {
  std::vector<uint32_t> latency_us;
  uint64_t errors = 0;
  std::string first_error;
};

using Op = std::function<Status()>;

// One operation for client thread `i`.
Op MakeOp(Client& client, const BenchCli& a, int i, Publisher* publisher) {
  std::string value(a.size, 'x');
  if (a.op == "lock") {
    auto m = std::make_shared<Mutex>(client, "lockq-bench:" + std::to_string(i));
    return [m] {
      auto r = m->Lock();
      if (!r.ok()) return r.status();
      return m->Unlock();
    };
  }
  if (a.op == "publish") {
    return [publisher, value] {
      auto r = publisher->Publish(kBenchQueue, value).get();
      return r.ok() ? Status::Ok() : r.status();
    };
  }
  std::string key = "lockq-bench:" + std::to_string(i);
  return [&client, key, value] {
    auto r = client.Call({"SET", key, value});
    return r.ok() ? Status::Ok() : r.status();
  };
}

uint32_t Percentile(const std::vector<uint32_t>& sorted, double p) {
  if (sorted.empty()) return 0;
  size_t at = std::min(sorted.size() - 1, static_cast<size_t>(p * static_cast<double>(sorted.size())));
  return sorted[at];
}

std::string Ms(uint32_t us) {
  char buf[32];
  std::snprintf(buf, sizeof buf, "%.2f", us / 1000.0);
  return buf;
}

// Redraws (terminal) or prints (otherwise) progress until `done`.
void Progress(const std::atomic<uint64_t>& ops, const std::atomic<bool>& done, Clock::time_point start,
              milliseconds duration, uint64_t requests) {
  bool tty = ::isatty(STDERR_FILENO) != 0;
  milliseconds every = tty ? milliseconds(200) : milliseconds(1000);
  uint64_t last = 0;
  auto last_t = start;
  while (!done) {
    auto next = Clock::now() + every;
    while (!done && Clock::now() < next) std::this_thread::sleep_for(milliseconds(20));
    if (done) break;
    auto now = Clock::now();
    uint64_t n = ops.load();
    double rate = (n - last) / std::max(1e-3, std::chrono::duration<double>(now - last_t).count());
    double elapsed = std::chrono::duration<double>(now - start).count();
    double frac = requests > 0 ? static_cast<double>(n) / requests : elapsed * 1000 / duration.count();
    frac = std::clamp(frac, 0.0, 1.0);
    if (tty) {
      std::string bar(static_cast<size_t>(frac * 30), '#');
      bar.resize(30, '.');
      std::fprintf(stderr, "\r[%s] %5.1fs %10llu ops %10.0f ops/s", bar.c_str(), elapsed,
                   static_cast<unsigned long long>(n), rate);
    } else {
      std::fprintf(stderr, "%.1fs %llu ops %.0f ops/s\n", elapsed, static_cast<unsigned long long>(n), rate);
    }
    std::fflush(stderr);
    last = n;
    last_t = now;
  }
  if (tty) std::fprintf(stderr, "\r%80s\r", "");
}

// Prints the summary table (or JSON) of a finished run.
int Summarize(const Globals& g, const BenchCli& a, const std::vector<Worker>& workers, uint64_t total,
              double elapsed) {
  std::vector<uint32_t> all;
  uint64_t errors = 0;
  std::string first_error;
  for (auto& w : workers) {
    all.insert(all.end(), w.latency_us.begin(), w.latency_us.end());
    errors += w.errors;
    if (first_error.empty()) first_error = w.first_error;
  }
  std::sort(all.begin(), all.end());
  double rate = total / std::max(1e-3, elapsed);
  uint32_t max = all.empty() ? 0 : all.back();
  if (g.json) {
    PrintJson({{"op", a.op}, {"clients", a.clients}, {"ops", total}, {"errors", errors},
               {"seconds", elapsed}, {"ops_per_sec", rate}, {"p50_ms", Percentile(all, 0.50) / 1000.0},
               {"p99_ms", Percentile(all, 0.99) / 1000.0}, {"max_ms", max / 1000.0}});
  } else {
    Table t({"OP", "CLIENTS", "OPS", "ERRORS", "SECONDS", "OPS/S", "P50 MS", "P99 MS", "MAX MS"});
    char secs[32], ops_s[32];
    std::snprintf(secs, sizeof secs, "%.2f", elapsed);
    std::snprintf(ops_s, sizeof ops_s, "%.0f", rate);
    t.Add({a.op, std::to_string(a.clients), std::to_string(total), std::to_string(errors), secs, ops_s,
           Ms(Percentile(all, 0.50)), Ms(Percentile(all, 0.99)), Ms(max)});
    t.Print();
  }
  if (errors > 0) return Fail(std::to_string(errors) + " operation(s) failed; first: " + first_error);
  return kExitOk;
}

int Bench(const Globals& g, const BenchCli& a) {
  if (a.op != "lock" && a.op != "set" && a.op != "publish") return Fail("--op must be lock, set or publish");
  if (a.clients < 1 || a.clients > kClientsMax) return Fail("--clients must be 1.." + std::to_string(kClientsMax));
  milliseconds duration = a.requests > 0 ? kDurationMax : milliseconds(10'000);
  if (!a.duration.empty()) {
    auto d = ParseDuration(a.duration);
    if (!d.ok()) return Fail("--duration: " + d.status().message());
    duration = std::min(*d, kDurationMax);
  }
  auto client = MakeClient(g);
  if (Status s = client->Ping(); !s.ok()) return Fail(s);
  std::unique_ptr<Publisher> publisher;
  if (a.op == "publish") {
    if (Status s = DeclareQueue(*client, kBenchQueue); !s.ok()) return Fail(s);
    publisher = std::make_unique<Publisher>(*client);
  }
  std::vector<Worker> workers(a.clients);
  std::vector<Op> ops;
  for (int i = 0; i < a.clients; i++) ops.push_back(MakeOp(*client, a, i, publisher.get()));
  std::atomic<uint64_t> started{0}, finished{0};
  std::atomic<bool> done{false};
  auto start = Clock::now();
  auto stop_at = start + duration;
  std::vector<std::thread> threads;
  for (int i = 0; i < a.clients; i++) {
    threads.emplace_back([&, i] {
      Worker& w = workers[i];
      while (Clock::now() < stop_at && (a.requests == 0 || started.fetch_add(1) < a.requests)) {
        auto t0 = Clock::now();
        Status s = ops[i]();
        auto us = std::chrono::duration_cast<std::chrono::microseconds>(Clock::now() - t0).count();
        finished++;
        if (!s.ok()) {
          if (w.errors++ == 0) w.first_error = s.message();
        } else if (w.latency_us.size() < kSamplesPerThreadMax) {
          w.latency_us.push_back(static_cast<uint32_t>(std::min<int64_t>(us, UINT32_MAX)));
        }
      }
    });
  }
  std::thread progress([&] { Progress(finished, done, start, duration, a.requests); });
  for (auto& t : threads) t.join();
  double elapsed = std::chrono::duration<double>(Clock::now() - start).count();
  done = true;
  progress.join();
  if (publisher) (void)client->Call({"Q.PURGE", kBenchQueue});
  return Summarize(g, a, workers, finished.load(), elapsed);
}

}  // namespace

void AddBenchCommand(CLI::App& app, Globals& g) {
  auto a = std::make_shared<BenchCli>();
  auto* bench = app.add_subcommand("bench", "Quick load generator through liblockq: throughput and latency");
  bench->add_option("--clients,-c", a->clients, "Concurrent client threads")->capture_default_str();
  bench->add_option("--duration,-d", a->duration, "Run this long (default 10s; with --requests: up to 1h)");
  bench->add_option("--requests,-n", a->requests, "Stop after this many operations in all");
  bench->add_option("--op", a->op, "lock (acquire+release), set, or publish (with confirm)")
      ->capture_default_str()
      ->check(CLI::IsMember({"lock", "set", "publish"}));
  bench->add_option("--size", a->size, "Value / message size in bytes (set, publish)")->capture_default_str();
  bench->footer("Keys lockq-bench:N, locks lockq-bench:N, queue lockq-bench (purged at the end).");
  bench->callback([&g, a] { g.action = [&g, a] { return Bench(g, *a); }; });
}

}  // namespace lockq::cli
