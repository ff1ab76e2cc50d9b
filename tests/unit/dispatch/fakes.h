#pragma once
// Test doubles for the dispatcher's seams: a Proposer whose log is a vector
// the test commits by hand, and a Forwarding that records what it was asked
// to send. Both run on the test's thread, as the real ones run on the loop.

#include <cstdint>
#include <string>
#include <utility>
#include <vector>

#include "dispatch/dispatcher.h"
#include "dispatch/forwarding.h"
#include "dispatch/proposer.h"
#include "sm/command.h"

namespace lockq::dispatch::testing {

class FakeProposer final : public Proposer {
 public:
  struct Entry {
    uint64_t index;
    std::string bytes;
    DoneCb done;
    sm::Batch batch;  // decoded, for assertions
  };

  Result<uint64_t> Propose(std::string_view entry, DoneCb done) override {
    if (!leader) return Status::Unavailable("not the leader");
    auto batch = sm::DecodeBatch(entry);
    log.push_back(Entry{++last_index, std::string(entry), std::move(done), batch.value()});
    return last_index;
  }
  bool is_leader() const override { return leader; }
  uint64_t leader_id() const override { return leader ? node_id : known_leader; }
  uint64_t id() const override { return node_id; }
  std::vector<std::pair<uint64_t, bool>> VoterContacts() const override {
    return leader ? contacts : std::vector<std::pair<uint64_t, bool>>{};
  }

  // Commits log[i]: the dispatcher applies it, then the proposal's callback
  // reports success, as consensus::Node does.
  void Commit(Dispatcher& d, size_t i) {
    d.Apply(log[i].index, log[i].bytes);
    if (log[i].done) log[i].done(Status::Ok());
  }
  // Leadership lost before log[i] committed: its callback fails.
  void Fail(size_t i) {
    if (log[i].done) log[i].done(Status::Unavailable("leadership lost"));
  }

  bool leader = true;
  uint64_t node_id = 1;
  uint64_t known_leader = 0;  // leader_id() while not leading
  uint64_t last_index = 0;
  std::vector<Entry> log;
  std::vector<std::pair<uint64_t, bool>> contacts;
};

// Like server::Forwarder: Send() queues, Flush() "sends" (moves to `sent`),
// Reset() fails what was sent and hands what was not back to the dispatcher.
class FakeForwarding final : public Forwarding {
 public:
  struct Sent {
    uint64_t leader;
    sm::Argv argv;
    ReplyCb cb;
    uint64_t deadline_ms;
  };
  void Send(uint64_t leader, sm::Argv argv, ReplyCb cb, uint64_t deadline_ms) override {
    queued.push_back(Sent{leader, std::move(argv), std::move(cb), deadline_ms});
  }
  void Flush() override {
    flushes++;
    for (Sent& s : queued) sent.push_back(std::move(s));
    queued.clear();
  }
  void Reset(const std::string& reason, bool requeue_unsent) override {
    resets++;
    std::vector<Sent> was_sent = std::move(sent), unsent = std::move(queued);
    sent.clear();
    queued.clear();
    for (Sent& s : was_sent) s.cb(sm::Reply::Error(reason));
    for (Sent& s : unsent) {
      if (requeue_unsent && dispatcher != nullptr) {
        dispatcher->Requeue(std::move(s.argv), std::move(s.cb), s.deadline_ms);
      } else {
        s.cb(sm::Reply::Error(reason));
      }
    }
  }
  size_t ExpireDeadlines() override {
    expire_calls++;
    return 0;
  }
  uint64_t forwarded() const override { return queued.size() + sent.size(); }

  Dispatcher* dispatcher = nullptr;  // where Reset hands unsent commands back
  std::vector<Sent> queued;
  std::vector<Sent> sent;
  int flushes = 0;
  int resets = 0;
  int expire_calls = 0;
};

}  // namespace lockq::dispatch::testing
