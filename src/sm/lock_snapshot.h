#pragma once
// The lock table's part of the snapshot (docs/state-machine.md "Snapshot").
//
// Version 6 (current): version 4, each waiter followed by u8 signed (0|1),
//   then the grant signing keys:
//   u64 last_key_id, varint n_keys, n x (u64 id, string secret (32 bytes),
//     u8 state (0 verify, 1 signing), u64 created_ms)                ids ascending
// Version 5 is version 4 (the queue engine follows in the snapshot).
// Version 4:
//   u64 last_token, u64 last_session
//   varint n_sessions, n x (u64 id, u64 ttl_ms, u64 deadline_ms)      ids ascending
//   varint n_locks, n x (string name, u8 mode, u64 permits, u64 last_grant,
//     varint n_holders, n x (u64 token, string owner, u64 since_ms,
//       u64 lease_ms, u64 deadline_ms, u64 session, client),        tokens ascending
//     varint n_waiters, n x (u8 mode, u64 permits, string owner,
//       u64 lease_ms, u64 session, client, u64 since_ms,
//       u64 wait_deadline_ms))                                      FIFO order
//   client := u64 node, u64 nonce, u64 conn, u64 slot
// Version 3: u64 last_token, varint n_locks, n x (string name, u8 shared,
//   u64 last_grant, varint n_holders, n x (u64 token, string owner,
//   u64 since_ms, u64 lease_ms, u64 deadline_ms)); read as TTL holders
//   without clients, no waiters, no sessions.

#include <cstdint>

#include "common/bytes.h"
#include "common/status.h"
#include "sm/locks.h"

namespace lockq::sm {

void EncodeLocks(const LockTable& locks, ByteWriter* w);
// Appends into an empty *locks; `version` is the snapshot's (3 to 6).
Status DecodeLocks(ByteReader* r, uint8_t version, LockTable* locks);

}  // namespace lockq::sm
