#pragma once
// Snapshot codec for SmState (docs/state-machine.md "Snapshot"):
//   u8  version (= kSnapshotVersion)
//   u64 applied_index, u64 now_ms
//   varint n_nodes,  n_nodes x (u64 node_id, string resp_addr)   ids ascending
//   varint n_keys,   n_keys  x (string key, u8 type, string value,
//                               u64 deadline_ms)              keyspace order
//   varint n_scripts, n_scripts x (string sha1_hex, string body)  sha ascending
//                                                     (version 2; absent in 1)
//   u64 last_token, varint n_locks, n_locks x (string name, u8 shared,
//       u64 last_grant, varint n_holders, n_holders x (u64 token,
//       string owner, u64 since_ms, u64 lease_ms, u64 deadline_ms))
//                                     names, tokens ascending (version 3)
//   ... queue engine (version 5; queue_snapshot.h)
//   u64 acl_epoch, string boot_digest, varint n_users, n_users x user
//       (acl_store.cc; docs/formats.md)          names ascending (version 7)
// Equal states give byte-identical snapshots: every container is written in
// its (deterministic) iteration order.

#include <string>
#include <string_view>

#include "common/status.h"
#include "sm/sm_state.h"

namespace lockq::sm {

std::string EncodeSnapshot(const SmState& state);
// Decodes into *out only on success; *out is untouched on Corruption.
// Reads versions 1 to 7. Rejects unknown versions and types, script
// digests that do not match their bodies, caches beyond the limits, trailing bytes, out-of-order or
// duplicate nodes/keys, and deadlines beyond INT64_MAX.
Status DecodeSnapshot(std::string_view bytes, SmState* out);

}  // namespace lockq::sm
