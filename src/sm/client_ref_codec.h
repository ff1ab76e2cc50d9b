#pragma once
// ClientRef in snapshots: u64 node, u64 nonce, u64 conn, u64 slot
// (lock_snapshot.cc, queue_snapshot.cc).

#include "common/bytes.h"
#include "sm/events.h"

namespace lockq::sm {

inline void PutClientRef(const ClientRef& c, ByteWriter* w) {
  w->PutU64(c.node);
  w->PutU64(c.nonce);
  w->PutU64(c.conn);
  w->PutU64(c.slot);
}

// False on truncation (the reader then stays failed).
inline bool GetClientRef(ByteReader* r, ClientRef* c) {
  return r->GetU64(&c->node) && r->GetU64(&c->nonce) && r->GetU64(&c->conn) && r->GetU64(&c->slot);
}

}  // namespace lockq::sm
