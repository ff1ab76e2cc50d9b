// Fenced write: why a lock alone does not protect a resource, and how the
// fencing token does. A holder that loses its lock (its process paused past
// the session TTL, or its session ended) may not know it yet; if it writes
// then, it overwrites the next holder's data. Writes that carry the token
// (SET ... FENCE lock token) are refused once a newer grant exists.
//
//   fenced_write [ENDPOINTS]   default $LOCKQ_SERVER or 127.0.0.1:6379
//
// Steps: A takes the lock and writes; A's session ends (here: closed; in
// real life: expired); B takes the lock and writes; A's late write with
// its old token is refused with STALETOKEN and B's value stands.

#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <string>
#include <vector>

#include <lockq/client.h>

#include "../endpoints.h"

namespace {

constexpr const char* kLock = "example:fenced:lock";
constexpr const char* kKey = "example:fenced";

lockq::Status FencedSet(lockq::Client& client, const std::string& value, uint64_t token) {
  auto r = client.Call({"SET", kKey, value, "FENCE", kLock, std::to_string(token)});
  return r.ok() ? lockq::Status::Ok() : r.status();
}

int Fail(const std::string& what, const lockq::Status& s) {
  std::fprintf(stderr, "fenced_write: %s: %s\n", what.c_str(), s.ToString().c_str());
  return 1;
}

}  // namespace

int main(int argc, char** argv) {
  const auto endpoints = example::Endpoints(argc, argv);
  // Two clients stand for two processes.
  lockq::Client client_a(endpoints);
  lockq::Client client_b(endpoints);

  // A holds the lock through a session of its own, so we can end it.
  auto session_a = lockq::Session::Open(client_a, std::chrono::seconds(5));
  if (!session_a.ok()) return Fail("open A's session", session_a.status());
  lockq::LockOptions options_a;
  options_a.session = *session_a;
  options_a.owner = "A";
  options_a.on_lost = [](const std::string& name, uint64_t token) {  // on a library thread
    std::printf("A: lost %s (token %llu)\n", name.c_str(), static_cast<unsigned long long>(token));
  };
  lockq::Mutex a(client_a, kLock, options_a);
  auto got = a.Lock(std::chrono::seconds(10));
  if (!got.ok()) return Fail("A locks", got.status());
  if (!*got) return Fail("A locks", lockq::Status::DeadlineExceeded("lock still held by someone else after 10 s"));
  const uint64_t token_a = a.fencing_token();
  if (auto s = FencedSet(client_a, "written by A", token_a); !s.ok()) return Fail("A's write", s);
  std::printf("A: holds token %llu and wrote\n", static_cast<unsigned long long>(token_a));

  // A's session ends: the cluster releases A's lock. A still has its token.
  if (auto s = (*session_a)->Close(); !s.ok()) return Fail("end A's session", s);

  // B takes the lock (on the default session of its client) and writes.
  lockq::LockOptions options_b;
  options_b.owner = "B";
  lockq::Mutex b(client_b, kLock, options_b);
  auto got_b = b.Lock(std::chrono::seconds(10));
  if (!got_b.ok()) return Fail("B locks", got_b.status());
  if (!*got_b) return Fail("B locks", lockq::Status::DeadlineExceeded("A's lock was not released"));
  const uint64_t token_b = b.fencing_token();
  if (auto s = FencedSet(client_b, "written by B", token_b); !s.ok()) return Fail("B's write", s);
  std::printf("B: holds token %llu and wrote\n", static_cast<unsigned long long>(token_b));

  // A wakes up and writes with its old token: refused.
  lockq::Status stale = FencedSet(client_a, "late write by A", token_a);
  if (stale.ok()) {
    std::fprintf(stderr, "fenced_write: A's stale write was accepted\n");
    return 1;
  }
  if (stale.code() != lockq::StatusCode::kFailedPrecondition || stale.message().rfind("STALETOKEN", 0) != 0) {
    return Fail("A's stale write failed, but not with STALETOKEN", stale);
  }
  std::printf("A: stale write refused: %s\n", stale.ToString().c_str());
  std::printf("A: lost() = %s\n", a.lost() ? "true" : "false");

  auto value = client_b.Call({"GET", kKey});
  if (!value.ok()) return Fail("GET", value.status());
  std::printf("%s = \"%s\"\n", kKey, value->str.c_str());
  a.unlock();  // A's grant is gone already; unlock() just forgets it
  b.unlock();
  return value->str == "written by B" ? 0 : 1;
}
