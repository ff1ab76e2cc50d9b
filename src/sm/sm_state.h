#pragma once
// The whole replicated state, as the command families see it. Everything
// here is written to snapshots (snapshot.cc) and compared between replicas;
// keep it made of ordered containers and plain values.

#include <cstdint>
#include <map>

#include "sm/acl_store.h"
#include "sm/keyspace.h"
#include "sm/locks.h"
#include "sm/queues.h"
#include "sm/script_cache.h"
#include "sm/script_vm.h"
#include "sm/state_machine.h"

namespace lockq::sm {

struct SmState {
  uint64_t applied_index = 0;
  uint64_t now_ms = 0;  // max leader_time_ms seen: never goes backwards
  std::map<uint64_t, NodeInfo> nodes;
  Keyspace keyspace;
  ScriptCache scripts;  // Lua scripts by sha1 (EVAL, SCRIPT LOAD)
  LockTable locks;      // native locks and the fencing token counter
  QueueEngine queues;   // exchanges, queues, messages, consumers
  AclStore acl;         // users and permissions (acl_store.h)

  // Per-batch scratch, not snapshotted: Apply() sets both before any
  // command of a batch runs, so they are a function of the snapshotted
  // now_ms and the batch. prev_batch_ms is the clock after the previous
  // batch (the last applied batch time); leases_rebased makes a second
  // LOCKQ.ANNOUNCE in one batch extend nothing.
  uint64_t prev_batch_ms = 0;
  bool leases_rebased = false;
  // Events of the batch being applied (events.h); StateMachine::TakeEvents()
  // hands them to the front ends.
  Events events;
  // The user the command being applied runs as: set by LOCKQ.USER for
  // the command it wraps, empty (= "default") otherwise.
  std::string acting_user;
  // The Lua state scripts run on (script_vm.h): derived data, neither
  // snapshotted nor copied, and no reply depends on what it holds.
  ScriptVmSlot lua;
};

}  // namespace lockq::sm
