#include "sm/locks.h"

#include <cstdint>
#include <vector>

#include "common/check.h"

namespace lockq::sm {

bool LockTable::Held(const LockRecord& rec, uint64_t now_ms) {
  for (const auto& [token, h] : rec.holders) {
    if (Live(h, now_ms)) return true;
  }
  return false;
}

AcquireResult LockTable::TryAcquire(std::string_view name, bool shared, std::string_view owner,
                                    uint64_t lease_ms, uint64_t deadline_ms, uint64_t now_ms) {
  auto it = locks_.find(name);
  if (it == locks_.end()) {
    if (locks_.size() >= kLocksMax) return {AcquireOutcome::kTableFull};
  } else {
    for (const auto& [token, h] : it->second.holders) {
      if (Live(h, now_ms) && (!shared || !it->second.shared)) return {AcquireOutcome::kConflict};
    }
    // Drop expired holders (lazily expired, not yet collected) so the
    // record's mode only describes live holders.
    std::vector<uint64_t> expired;
    for (const auto& [token, h] : it->second.holders) {
      if (!Live(h, now_ms)) expired.push_back(token);
    }
    for (uint64_t token : expired) EraseHolder(it, token);
  }
  if (it == locks_.end()) it = locks_.emplace(std::string(name), LockRecord{}).first;
  LOCKQ_CHECK(last_token_ < UINT64_MAX);
  uint64_t token = ++last_token_;
  LockRecord& rec = it->second;
  rec.shared = shared;
  rec.last_grant = token;
  rec.holders.emplace(token, LockHolder{std::string(owner), now_ms, lease_ms, deadline_ms});
  deadlines_.emplace(deadline_ms, it->first, token);
  return {AcquireOutcome::kGranted, token};
}

LockCheck LockTable::Check(std::string_view name, uint64_t token, uint64_t now_ms) const {
  const LockRecord* rec = Find(name);
  if (rec == nullptr) return LockCheck::kNotOwner;
  auto h = rec->holders.find(token);
  if (h != rec->holders.end() && Live(h->second, now_ms)) return LockCheck::kHolder;
  return token < rec->last_grant ? LockCheck::kStale : LockCheck::kNotOwner;
}

void LockTable::Release(std::string_view name, uint64_t token) {
  auto it = locks_.find(name);
  LOCKQ_CHECK(it != locks_.end());
  EraseHolder(it, token);
}

void LockTable::Renew(std::string_view name, uint64_t token, uint64_t lease_ms,
                      uint64_t deadline_ms) {
  auto it = locks_.find(name);
  LOCKQ_CHECK(it != locks_.end());
  auto h = it->second.holders.find(token);
  LOCKQ_CHECK(h != it->second.holders.end());
  deadlines_.erase({h->second.deadline_ms, it->first, token});
  h->second.lease_ms = lease_ms;
  h->second.deadline_ms = deadline_ms;
  deadlines_.emplace(deadline_ms, it->first, token);
}

const LockRecord* LockTable::Find(std::string_view name) const {
  auto it = locks_.find(name);
  return it == locks_.end() ? nullptr : &it->second;
}

uint64_t LockTable::NewestGrant(std::string_view name) const {
  const LockRecord* rec = Find(name);
  return rec == nullptr ? 0 : rec->last_grant;
}

void LockTable::EraseHolder(Map::iterator it, uint64_t token) {
  auto h = it->second.holders.find(token);
  LOCKQ_CHECK(h != it->second.holders.end());
  deadlines_.erase({h->second.deadline_ms, it->first, token});
  it->second.holders.erase(h);
  // The record stays: its last_grant is what fenced writes compare with.
}

size_t LockTable::RemoveExpired(uint64_t now_ms, size_t max_holders) {
  size_t removed = 0;
  while (removed < max_holders && !deadlines_.empty() &&
         std::get<0>(*deadlines_.begin()) <= now_ms) {
    auto [deadline, name, token] = *deadlines_.begin();
    auto it = locks_.find(name);
    LOCKQ_CHECK(it != locks_.end());
    EraseHolder(it, token);
    removed++;
  }
  return removed;
}

void LockTable::ExtendLeases(uint64_t prev_ms, uint64_t gap_ms) {
  if (gap_ms == 0) return;
  deadlines_.clear();
  for (auto& [name, rec] : locks_) {
    for (auto& [token, h] : rec.holders) {
      if (Live(h, prev_ms)) {
        // Saturate: deadlines stay <= INT64_MAX (the snapshot checks it).
        uint64_t room = static_cast<uint64_t>(INT64_MAX) - h.deadline_ms;
        h.deadline_ms += gap_ms < room ? gap_ms : room;
      }
      deadlines_.emplace(h.deadline_ms, name, token);
    }
  }
}

uint64_t LockTable::NextDeadline() const {
  return deadlines_.empty() ? 0 : std::get<0>(*deadlines_.begin());
}

void LockTable::AppendForRestore(std::string name, LockRecord rec) {
  for (const auto& [token, h] : rec.holders) deadlines_.emplace(h.deadline_ms, name, token);
  locks_.emplace_hint(locks_.end(), std::move(name), std::move(rec));
}

}  // namespace lockq::sm
