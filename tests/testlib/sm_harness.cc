#include "testlib/sm_harness.h"

namespace lockq::testing {

SmHarness::SmHarness(uint64_t start_ms) : time_ms_(start_ms) {}

sm::Reply SmHarness::Run(std::initializer_list<std::string> argv) {
  return Run(sm::Argv(argv));
}

sm::Reply SmHarness::Run(const sm::Argv& argv) {
  if (auto err = sm::StateMachine::Precheck(argv, /*from_client=*/true)) return *err;
  return ApplyOnly(argv);
}

sm::Reply SmHarness::ApplyOnly(const sm::Argv& argv) {
  sm::Batch batch;
  batch.leader_time_ms = time_ms_;
  batch.commands.push_back(argv);
  return ApplyBatch(batch).at(0);
}

std::vector<sm::Reply> SmHarness::ApplyBatch(const sm::Batch& batch) {
  std::vector<sm::Reply> replies = sm_.Apply(batch, ++index_);
  events_ = sm_.TakeEvents();
  return replies;
}

sm::Reply SmHarness::RunAs(uint64_t conn, uint64_t slot, const sm::Argv& argv) {
  if (auto err = sm::StateMachine::Precheck(argv, /*from_client=*/true)) return *err;
  sm::ClientRef c = ClientOf(conn, slot);
  sm::Argv wrapped{"LOCKQ.AS", std::to_string(c.node), std::to_string(c.nonce), std::to_string(c.conn),
                   std::to_string(c.slot)};
  wrapped.insert(wrapped.end(), argv.begin(), argv.end());
  return ApplyOnly(wrapped);
}

}  // namespace lockq::testing
