#pragma once
// The whole replicated state, as the command families see it. Everything
// here is written to snapshots (snapshot.cc) and compared between replicas;
// keep it made of ordered containers and plain values.

#include <cstdint>
#include <map>
#include <string>
#include <string_view>

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
  // Exchanges, queues, messages and consumers, one engine per AMQP vhost
  // (docs/security.md "Vhosts"): "/" always exists, and RESP's Q.*
  // commands use it; LOCKQ.VHOST ADD makes others.
  std::map<std::string, QueueEngine, std::less<>> vhosts{{"/", QueueEngine()}};
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
  // The vhost an AMQP command runs in: set by LOCKQ.AMQP (with
  // acting_user) for the command it wraps; empty otherwise. When set, the
  // command is checked against RabbitMQ's permission table instead of the
  // Redis ACL (vhost_family.cc).
  std::string acting_vhost;
  // The Lua state scripts run on (script_vm.h): derived data, neither
  // snapshotted nor copied, and no reply depends on what it holds.
  ScriptVmSlot lua;

  // `vhost`'s engine, "/"'s when it does not exist (or is empty).
  QueueEngine& Engine(std::string_view vhost) {
    auto it = vhosts.find(vhost.empty() ? std::string_view("/") : vhost);
    return it != vhosts.end() ? it->second : vhosts.find(std::string_view("/"))->second;
  }
  const QueueEngine& Engine(std::string_view vhost) const { return const_cast<SmState*>(this)->Engine(vhost); }
  // The acting vhost's engine: LOCKQ.AMQP makes sure the vhost exists
  // before it sets acting_vhost.
  QueueEngine& queues() { return Engine(acting_vhost); }
};

}  // namespace lockq::sm
