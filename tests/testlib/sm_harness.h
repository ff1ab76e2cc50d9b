#pragma once
// In-process command harness for the state machine (STYLE.md habit 10):
//
//   SmHarness h;
//   EXPECT_EQ(h.Run({"SET", "k", "v", "PX", "100"}), Reply::Ok());
//   h.AdvanceTime(100);
//   EXPECT_EQ(h.Run({"GET", "k"}), Reply::Null());
//
// Run() does what a front end plus the log would: Precheck() (as a client),
// and if that passes, Apply() of a one-command batch at the next log index,
// stamped with the harness's clock. Thread: the test's.

#include <cstdint>
#include <initializer_list>
#include <string>
#include <vector>

#include "sm/command.h"
#include "sm/reply.h"
#include "sm/state_machine.h"

namespace lockq::testing {

class SmHarness {
 public:
  // Starts at leader time `start_ms` (non-zero so that absolute and relative
  // times differ in tests).
  explicit SmHarness(uint64_t start_ms = 1'000'000);

  sm::Reply Run(std::initializer_list<std::string> argv);
  sm::Reply Run(const sm::Argv& argv);
  // Skips Precheck: what Apply does with a command a buggy or old proposer
  // logged, or an internal command.
  sm::Reply ApplyOnly(const sm::Argv& argv);
  // Applies a whole batch at the next index (its leader_time_ms as given).
  std::vector<sm::Reply> ApplyBatch(const sm::Batch& batch);
  // Runs argv as client connection `conn`'s request in reply slot `slot`
  // (node 1, nonce 1), as a front end does for kCmdClientRef commands
  // (LOCKQ.AS). ClientOf() is that ClientRef.
  sm::Reply RunAs(uint64_t conn, uint64_t slot, const sm::Argv& argv);
  static sm::ClientRef ClientOf(uint64_t conn, uint64_t slot) { return {1, 1, conn, slot}; }
  // The events of the last applied batch.
  const sm::Events& events() const { return events_; }

  void AdvanceTime(uint64_t ms) { time_ms_ += ms; }
  void SetTime(uint64_t ms) { time_ms_ = ms; }
  uint64_t time_ms() const { return time_ms_; }
  uint64_t next_index() const { return index_ + 1; }

  std::string Snapshot() const { return sm_.Snapshot(); }
  sm::StateMachine& sm() { return sm_; }

 private:
  sm::StateMachine sm_;
  uint64_t time_ms_;
  uint64_t index_ = 0;
  sm::Events events_;
};

}  // namespace lockq::testing
