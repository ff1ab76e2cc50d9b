// Lock-protected counter: N read-modify-write increments of one key, each
// under a lockq::Mutex held through std::unique_lock. Run several copies at
// once and the final value is still the sum of their N's.
//
//   counter [ENDPOINTS] [N]     ENDPOINTS: "host:port,host:port" (RESP
//                               ports), default $LOCKQ_SERVER or
//                               127.0.0.1:6379; N default 100
//
// The write carries the lock's fencing token (SET ... FENCE lock token):
// should this process stall past its session TTL and lose the lock, the
// server refuses its late write instead of letting it overwrite the value
// of the next holder (see fenced_write).

#include <cstdio>
#include <cstdlib>
#include <mutex>
#include <string>
#include <vector>

#include <lockq/client.h>

#include "../endpoints.h"

namespace {

constexpr const char* kLock = "example:counter:lock";
constexpr const char* kKey = "example:counter";

// The counter's value; an absent key counts as 0. A read is safe to
// repeat, so the client may retry it across a failover.
lockq::Result<long> Read(lockq::Client& client) {
  lockq::CallOptions options;
  options.idempotent = true;
  auto r = client.Call({"GET", kKey}, options);
  if (!r.ok()) return r.status();
  return r->kind == lockq::Reply::Kind::kBulk ? std::stol(r->str) : 0L;
}

}  // namespace

int main(int argc, char** argv) {
  const int n = argc > 2 ? std::atoi(argv[2]) : 100;
  lockq::Client client(example::Endpoints(argc, argv));
  lockq::Mutex mutex(client, kLock);

  try {
    for (int i = 0; i < n; ++i) {
      // lock() waits in the server's FIFO queue for the lock (no polling)
      // and throws lockq::Error if the cluster cannot be reached.
      std::unique_lock guard(mutex);
      auto value = Read(client);
      if (!value.ok()) {
        std::fprintf(stderr, "counter: GET: %s\n", value.status().ToString().c_str());
        return 1;
      }
      // Not idempotent: a retried increment after an unknown outcome could
      // count twice, so the client does not retry it on its own.
      auto set = client.Call({"SET", kKey, std::to_string(*value + 1), "FENCE", kLock,
                              std::to_string(mutex.fencing_token())});
      if (!set.ok()) {
        // FailedPrecondition "STALETOKEN ...": we lost the lock meanwhile.
        std::fprintf(stderr, "counter: SET: %s\n", set.status().ToString().c_str());
        return 1;
      }
    }  // each guard unlocks at the end of its iteration
  } catch (const lockq::Error& e) {
    std::fprintf(stderr, "counter: lock: %s\n", e.what());
    return 1;
  }

  auto total = Read(client);
  if (!total.ok()) {
    std::fprintf(stderr, "counter: GET: %s\n", total.status().ToString().c_str());
    return 1;
  }
  std::printf("incremented %d times; counter = %ld\n", n, *total);
  return 0;
}
