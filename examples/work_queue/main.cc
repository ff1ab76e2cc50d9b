// Work queue with competing consumers: a publisher sends N jobs and waits
// for their confirms (a confirm means a majority of the cluster has the job
// on disk); two consumers, each with 10 jobs in flight at most (prefetch),
// share the work and ack what they finish.
//
//   work_queue [ENDPOINTS] [N] [QUEUE]   ENDPOINTS default $LOCKQ_SERVER
//                                        or 127.0.0.1:6379; N default
//                                        1000; QUEUE default example:jobs
//
// Delivery is at-least-once: a job whose consumer dies before acking it is
// delivered again (redelivered = true), so handlers should be idempotent.
// This example counts distinct jobs and stops once it has seen all N.

#include <atomic>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <future>
#include <mutex>
#include <set>
#include <string>
#include <thread>
#include <vector>

#include <lockq/client.h>

#include "../endpoints.h"

namespace {

constexpr const char* kDefaultQueue = "example:jobs";

// What both consumers share: the jobs seen so far.
struct Done {
  std::mutex mu;
  std::set<std::string> jobs;
  size_t wanted = 0;
  // True when this job completed the set.
  bool Add(const std::string& job) {
    std::lock_guard lock(mu);
    jobs.insert(job);
    return jobs.size() == wanted;
  }
};

}  // namespace

int main(int argc, char** argv) {
  const int n = argc > 2 ? std::atoi(argv[2]) : 1000;
  const std::string queue = argc > 3 ? argv[3] : kDefaultQueue;
  lockq::Client client(example::Endpoints(argc, argv));

  // Idempotent: every process may declare the queues it uses.
  if (auto s = lockq::DeclareQueue(client, queue); !s.ok()) {
    std::fprintf(stderr, "work_queue: declare: %s\n", s.ToString().c_str());
    return 1;
  }

  // Consumers first, so they work while the publisher still sends.
  Done done;
  done.wanted = static_cast<size_t>(n);
  std::vector<std::unique_ptr<lockq::Consumer>> consumers;
  lockq::ConsumerOptions options;
  options.prefetch = 10;  // at most 10 unacked jobs per consumer
  for (int i = 0; i < 2; ++i) consumers.push_back(std::make_unique<lockq::Consumer>(client, queue, options));
  for (auto& c : consumers) {
    // Start() subscribes now (Run would too): errors such as an unknown
    // queue show up here, and both consumers are in place before the jobs.
    if (auto s = c->Start(); !s.ok()) {
      std::fprintf(stderr, "work_queue: consume: %s\n", s.ToString().c_str());
      return 1;
    }
  }
  std::vector<std::atomic<int>> handled(consumers.size());
  auto stop_all = [&] {
    for (auto& c : consumers) c->Stop();
  };
  std::vector<std::thread> workers;
  std::vector<lockq::Status> results(consumers.size());
  for (size_t i = 0; i < consumers.size(); ++i) {
    workers.emplace_back([&, i] {
      // Returning true acks the job; false would requeue it.
      results[i] = consumers[i]->Run([&, i](lockq::Message& m) {
        ++handled[i];
        if (done.Add(m.body)) stop_all();  // the last job: stop both
        return true;
      });
    });
  }

  // Publish N jobs; each future completes with the job's confirm.
  lockq::Publisher publisher(client);
  std::vector<std::future<lockq::Result<lockq::Confirm>>> confirms;
  for (int i = 0; i < n; ++i) confirms.push_back(publisher.Publish(queue, "job-" + std::to_string(i)));
  int confirmed = 0;
  for (auto& f : confirms) {
    auto c = f.get();
    if (c.ok() && c->queues == 1) {
      ++confirmed;
    } else {
      std::fprintf(stderr, "work_queue: publish: %s\n", c.ok() ? "routed to no queue" : c.status().ToString().c_str());
    }
  }
  std::printf("published %d jobs, %d confirmed\n", n, confirmed);

  // Bounded wait for the consumers: a demo should not hang forever.
  auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(60);
  while (std::chrono::steady_clock::now() < deadline) {
    {
      std::lock_guard lock(done.mu);
      if (done.jobs.size() >= done.wanted) break;
    }
    std::this_thread::sleep_for(std::chrono::milliseconds(20));
  }
  stop_all();
  for (auto& w : workers) w.join();

  bool ok = confirmed == n;
  for (size_t i = 0; i < consumers.size(); ++i) {
    std::printf("consumer %zu handled %d jobs\n", i, handled[i].load());
    if (!results[i].ok()) {
      std::fprintf(stderr, "work_queue: consumer %zu: %s\n", i, results[i].ToString().c_str());
      ok = false;
    }
  }
  std::printf("distinct jobs done: %zu of %d\n", done.jobs.size(), n);
  return ok && done.jobs.size() == static_cast<size_t>(n) ? 0 : 1;
}
