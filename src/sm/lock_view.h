#pragma once
// Read-only copies of the lock table for audits (the simulation's lock
// checkers, tests/testlib/sim_lock_audit.cc), returned by
// StateMachine::LockViews() and SessionViews(). A value type of its own so
// that audits do not depend on LockTable's containers.
//
// Deterministic: locks in name order, holders in token order, waiters in
// queue (FIFO) order, sessions in id order; nothing is filtered by time.
// Holders, waiters and sessions past their deadline (lazily expired, not yet
// removed) are included; `live` and `expiry_ms` say what the state machine
// itself makes of a holder at its now_ms(), the reader may decide otherwise.

#include <cstdint>
#include <string>
#include <vector>

#include "sm/events.h"

namespace lockq::sm {

struct LockHolderView {
  uint64_t token = 0;
  std::string owner;
  uint64_t since_ms = 0;
  uint64_t lease_ms = 0;
  uint64_t deadline_ms = 0;  // absolute state-machine time; 0 when held through a session
  uint64_t session = 0;      // 0: a TTL lease
  uint64_t expiry_ms = 0;    // end of the hold: deadline_ms, or the session's deadline (0: gone)
  bool live = false;         // LockTable::Live at the state machine's now_ms()
  ClientRef client;          // the request that was granted (empty from scripts)
};

struct LockWaiterView {
  ClientRef client;
  uint8_t mode = 0;       // sm::LockMode: 0 exclusive, 1 shared, 2 semaphore
  uint64_t permits = 0;   // semaphore permits; 0 otherwise
  uint64_t session = 0;   // 0: a TTL lease once granted
  uint64_t lease_ms = 0;
  uint64_t since_ms = 0;
  uint64_t wait_deadline_ms = 0;  // 0: waits without limit
};

struct LockView {
  std::string name;
  bool shared = false;      // the record's mode; meaningless with no live holder
  uint8_t mode = 0;         // sm::LockMode of the current holders
  uint64_t permits = 0;     // semaphore permits of the current holders
  uint64_t last_grant = 0;  // newest token granted on this lock (what FENCE compares with)
  std::vector<LockHolderView> holders;
  std::vector<LockWaiterView> waiters;  // queue order, head first
};

struct SessionView {
  uint64_t id = 0;
  uint64_t ttl_ms = 0;
  uint64_t deadline_ms = 0;  // live while > now
};

}  // namespace lockq::sm
