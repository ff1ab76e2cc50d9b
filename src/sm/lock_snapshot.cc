#include "sm/lock_snapshot.h"

#include <set>
#include <string>

#include "sm/client_ref_codec.h"

namespace lockq::sm {

namespace {

constexpr auto kMaxDeadline = static_cast<uint64_t>(INT64_MAX);

Status Bad(const char* what) { return Status::Corruption(std::string("snapshot: ") + what); }

bool ValidMode(uint8_t mode, uint64_t permits) {
  if (mode > kMaxLockMode) return false;
  if (static_cast<LockMode>(mode) == LockMode::kSemaphore) return permits >= 1 && permits <= kPermitsMax;
  return permits == 0;
}

Status DecodeSessions(ByteReader* r, LockTable* locks) {
  uint64_t n;
  if (!r->GetVarint(&n) || n > kSessionsMax || n > r->remaining() / 24) return Bad("bad session count");
  uint64_t prev = 0;
  for (uint64_t i = 0; i < n; i++) {
    uint64_t id;
    Session s;
    if (!r->GetU64(&id) || !r->GetU64(&s.ttl_ms) || !r->GetU64(&s.deadline_ms)) return Bad("truncated session");
    if (id <= prev || id > locks->last_session() || s.deadline_ms > kMaxDeadline) return Bad("bad session");
    prev = id;
    locks->AppendSessionForRestore(id, s);
  }
  return Status::Ok();
}

Status DecodeHolder(ByteReader* r, uint8_t version, const LockTable& locks, LockRecord* rec) {
  uint64_t token;
  LockHolder h;
  if (!r->GetU64(&token) || !r->GetString(&h.owner, kLockOwnerMax) || !r->GetU64(&h.since_ms) ||
      !r->GetU64(&h.lease_ms) || !r->GetU64(&h.deadline_ms)) {
    return Bad("truncated lock holder");
  }
  if (version >= 4 && (!r->GetU64(&h.session) || !GetClientRef(r, &h.client))) return Bad("truncated lock holder");
  if (token == 0 || token > rec->last_grant ||
      (!rec->holders.empty() && rec->holders.rbegin()->first >= token)) {
    return Bad("lock holders out of order");
  }
  if (h.deadline_ms > kMaxDeadline) return Bad("lease deadline out of range");
  if (h.session != 0 && (locks.FindSession(h.session) == nullptr || h.lease_ms != 0)) {
    return Bad("lock holder of an unknown session");
  }
  rec->holders.emplace_hint(rec->holders.end(), token, std::move(h));
  return Status::Ok();
}

Status DecodeWaiter(ByteReader* r, uint8_t version, const LockTable& locks, std::set<ClientRef>* clients,
                    LockRecord* rec) {
  LockWaiter w;
  uint8_t mode, sign = 0;
  if (!r->GetU8(&mode) || !r->GetU64(&w.req.permits) || !r->GetString(&w.req.owner, kLockOwnerMax) ||
      !r->GetU64(&w.req.lease_ms) || !r->GetU64(&w.req.session) || !GetClientRef(r, &w.req.client) ||
      !r->GetU64(&w.since_ms) || !r->GetU64(&w.wait_deadline_ms) || (version >= 6 && !r->GetU8(&sign))) {
    return Bad("truncated lock waiter");
  }
  if (sign > 1) return Bad("bad lock waiter");
  w.req.sign = sign == 1;
  if (!ValidMode(mode, w.req.permits) || w.req.client.empty() || !clients->insert(w.req.client).second ||
      w.wait_deadline_ms > kMaxDeadline ||
      (w.req.session != 0 && (locks.FindSession(w.req.session) == nullptr || w.req.lease_ms != 0))) {
    // A session request has no lease (RunAcquire): granted with one, it
    // would become a holder DecodeHolder refuses.
    return Bad("bad lock waiter");
  }
  w.req.mode = static_cast<LockMode>(mode);
  rec->waiters.push_back(std::move(w));
  return Status::Ok();
}

// Version 6: ids ascending, none above last_id, at most one signing.
Status DecodeSignKeys(ByteReader* r, SignKeys* keys) {
  uint64_t last_id, n;
  if (!r->GetU64(&last_id) || !r->GetVarint(&n) || n > kSignKeysMax) return Bad("bad signing keys");
  keys->SetLastIdForRestore(last_id);
  uint64_t prev = 0;
  bool signing = false;
  for (uint64_t i = 0; i < n; i++) {
    uint64_t id;
    uint8_t state;
    SignKey key;
    if (!r->GetU64(&id) || !r->GetString(&key.secret, kGrantKeyBytes) || !r->GetU8(&state) ||
        !r->GetU64(&key.created_ms)) {
      return Bad("truncated signing key");
    }
    if (id <= prev || id > last_id || key.secret.size() != kGrantKeyBytes || state > kMaxSignKeyState ||
        (signing && state == static_cast<uint8_t>(SignKeyState::kSigning))) {
      return Bad("bad signing key");
    }
    key.state = static_cast<SignKeyState>(state);
    signing = signing || key.state == SignKeyState::kSigning;
    prev = id;
    keys->AppendForRestore(id, std::move(key));
  }
  return Status::Ok();
}

}  // namespace

void EncodeLocks(const LockTable& locks, ByteWriter* w) {
  w->PutU64(locks.last_token());
  w->PutU64(locks.last_session());
  w->PutVarint(locks.sessions().size());
  for (const auto& [id, s] : locks.sessions()) {
    w->PutU64(id);
    w->PutU64(s.ttl_ms);
    w->PutU64(s.deadline_ms);
  }
  w->PutVarint(locks.size());
  for (const auto& [name, rec] : locks.map()) {
    w->PutString(name);
    w->PutU8(static_cast<uint8_t>(rec.mode));
    w->PutU64(rec.permits);
    w->PutU64(rec.last_grant);
    w->PutVarint(rec.holders.size());
    for (const auto& [token, h] : rec.holders) {
      w->PutU64(token);
      w->PutString(h.owner);
      w->PutU64(h.since_ms);
      w->PutU64(h.lease_ms);
      w->PutU64(h.deadline_ms);
      w->PutU64(h.session);
      PutClientRef(h.client, w);
    }
    w->PutVarint(rec.waiters.size());
    for (const LockWaiter& wt : rec.waiters) {
      w->PutU8(static_cast<uint8_t>(wt.req.mode));
      w->PutU64(wt.req.permits);
      w->PutString(wt.req.owner);
      w->PutU64(wt.req.lease_ms);
      w->PutU64(wt.req.session);
      PutClientRef(wt.req.client, w);
      w->PutU64(wt.since_ms);
      w->PutU64(wt.wait_deadline_ms);
      w->PutU8(wt.req.sign ? 1 : 0);
    }
  }
  const SignKeys& keys = locks.sign_keys();
  w->PutU64(keys.last_id());
  w->PutVarint(keys.size());
  for (const auto& [id, key] : keys.map()) {
    w->PutU64(id);
    w->PutString(key.secret);
    w->PutU8(static_cast<uint8_t>(key.state));
    w->PutU64(key.created_ms);
  }
}

Status DecodeLocks(ByteReader* r, uint8_t version, LockTable* locks) {
  constexpr uint64_t kMinLockBytes = 1 + 1 + 8 + 1;
  constexpr uint64_t kMinHolderBytes = 8 + 1 + 8 + 8 + 8;
  constexpr uint64_t kMinWaiterBytes = 1 + 8 + 1 + 8 + 8 + 32 + 8 + 8;
  uint64_t last_token, last_session = 0, n;
  if (!r->GetU64(&last_token) || last_token > kMaxDeadline) return Bad("bad lock counters");
  if (version >= 4 && !r->GetU64(&last_session)) return Bad("bad lock counters");
  locks->SetCountersForRestore(last_token, last_session);
  if (version >= 4) {
    if (Status st = DecodeSessions(r, locks); !st.ok()) return st;
  }
  if (!r->GetVarint(&n) || n > kLocksMax || n > r->remaining() / kMinLockBytes) return Bad("bad lock count");
  std::set<ClientRef> waiting_clients;
  std::string prev;
  for (uint64_t i = 0; i < n; i++) {
    std::string name;
    uint8_t mode;
    uint64_t n_holders;
    LockRecord rec;
    if (!r->GetString(&name) || !r->GetU8(&mode)) return Bad("truncated lock");
    if (version >= 4 && !r->GetU64(&rec.permits)) return Bad("truncated lock");
    if (!r->GetU64(&rec.last_grant) || !r->GetVarint(&n_holders) ||
        n_holders > r->remaining() / kMinHolderBytes) {
      return Bad("truncated lock");
    }
    if (i > 0 && name <= prev) return Bad("locks out of order");
    if (!ValidMode(mode, rec.permits) || rec.last_grant > last_token ||
        (version < 4 && rec.last_grant == 0)) {
      return Bad("bad lock record");
    }
    rec.mode = static_cast<LockMode>(mode);
    if ((rec.mode == LockMode::kExclusive && n_holders > 1) ||
        (rec.mode == LockMode::kSemaphore && n_holders > rec.permits)) {
      return Bad("bad lock record");
    }
    for (uint64_t k = 0; k < n_holders; k++) {
      if (Status st = DecodeHolder(r, version, *locks, &rec); !st.ok()) return st;
    }
    if (version >= 4) {
      uint64_t n_waiters;
      if (!r->GetVarint(&n_waiters) || n_waiters > kWaitersMax ||
          n_waiters > r->remaining() / kMinWaiterBytes) {
        return Bad("bad waiter count");
      }
      for (uint64_t k = 0; k < n_waiters; k++) {
        if (Status st = DecodeWaiter(r, version, *locks, &waiting_clients, &rec); !st.ok()) return st;
      }
    }
    prev = name;
    locks->AppendForRestore(std::move(name), std::move(rec));
  }
  if (waiting_clients.size() > kWaitersMax) return Bad("too many waiters");
  if (version >= 6) {
    if (Status st = DecodeSignKeys(r, &locks->mutable_sign_keys()); !st.ok()) return st;
  }
  locks->RebuildIndexes();
  return Status::Ok();
}

}  // namespace lockq::sm
