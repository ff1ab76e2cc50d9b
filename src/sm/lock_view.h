#pragma once
// Read-only copies of the lock table for audits (the simulation's lock
// checkers, tests/testlib/sim_lock_audit.cc), returned by
// StateMachine::LockViews(). A value type of its own so that audits do not
// depend on LockTable's containers, which will change with WAIT and sessions.
//
// Deterministic: locks in name order, holders in token order, nothing
// filtered by time. Holders whose deadline <= now (lazily expired, not yet
// removed) are included; the reader decides liveness (deadline_ms > now).

#include <cstdint>
#include <string>
#include <vector>

namespace lockq::sm {

struct LockHolderView {
  uint64_t token = 0;
  std::string owner;
  uint64_t since_ms = 0;
  uint64_t lease_ms = 0;
  uint64_t deadline_ms = 0;  // absolute state-machine time
};

struct LockView {
  std::string name;
  bool shared = false;      // the record's mode; meaningless with no live holder
  uint64_t last_grant = 0;  // newest token granted on this lock (what FENCE compares with)
  std::vector<LockHolderView> holders;
};

}  // namespace lockq::sm
