#include "sm/keyspace.h"

#include "common/check.h"

namespace lockq::sm {

std::string_view TypeName(ValueType type) {
  switch (type) {
    case ValueType::kString:
      return "string";
  }
  return "none";
}

uint64_t ScanHash(std::string_view key) {
  uint64_t h = 14695981039346656037ull;  // FNV-1a 64 offset basis
  for (char c : key) {
    h ^= static_cast<unsigned char>(c);
    h *= 1099511628211ull;  // FNV-1a 64 prime
  }
  return (h & ((uint64_t{1} << 62) - 1)) | 1;
}

Keyspace::Keyspace(const Keyspace& other) : map_(other.map_), deadlines_(other.deadlines_) {
  RebuildIndex();
}

Keyspace& Keyspace::operator=(const Keyspace& other) {
  if (this == &other) return *this;
  map_ = other.map_;
  deadlines_ = other.deadlines_;
  RebuildIndex();
  return *this;
}

void Keyspace::RebuildIndex() {
  for (IndexShard& shard : index_) shard.clear();
  for (auto it = map_.begin(); it != map_.end(); ++it) index_[ShardOf(it->first.hash)].emplace(it->first.key, it);
}

Keyspace::Map::iterator Keyspace::Lookup(std::string_view key) {
  IndexShard& shard = Shard(key);
  auto it = shard.find(key);
  return it == shard.end() ? map_.end() : it->second;
}

Keyspace::Map::const_iterator Keyspace::Lookup(std::string_view key) const {
  const IndexShard& shard = Shard(key);
  auto it = shard.find(key);
  return it == shard.end() ? map_.end() : Map::const_iterator(it->second);
}

const Value* Keyspace::Find(std::string_view key, uint64_t now_ms) const {
  auto it = Lookup(key);
  if (it == map_.end() || !Live(it->second, now_ms)) return nullptr;
  return &it->second;
}

Value* Keyspace::FindMutable(std::string_view key, uint64_t now_ms) {
  auto it = Lookup(key);
  if (it == map_.end()) return nullptr;
  if (!Live(it->second, now_ms)) {
    EraseIt(it);
    return nullptr;
  }
  return &it->second;
}

void Keyspace::Put(std::string_view key, Value value, uint64_t now_ms) {
  auto it = Lookup(key);
  if (value.deadline_ms != 0 && value.deadline_ms <= now_ms) {
    if (it != map_.end()) EraseIt(it);
    return;
  }
  if (it == map_.end()) {
    uint64_t h = ScanHash(key);
    it = map_.emplace(MapKey{h, std::string(key)}, Value{}).first;
    index_[ShardOf(h)].emplace(it->first.key, it);
  } else if (it->second.deadline_ms != 0) {
    deadlines_.erase({it->second.deadline_ms, it->first.key});
  }
  if (value.deadline_ms != 0) deadlines_.emplace(value.deadline_ms, it->first.key);
  it->second = std::move(value);
}

void Keyspace::SetDeadline(std::string_view key, uint64_t deadline_ms) {
  auto it = Lookup(key);
  LOCKQ_CHECK(it != map_.end());
  Value& v = it->second;
  if (v.deadline_ms == deadline_ms) return;
  if (v.deadline_ms != 0) deadlines_.erase({v.deadline_ms, it->first.key});
  v.deadline_ms = deadline_ms;
  if (deadline_ms != 0) deadlines_.emplace(deadline_ms, it->first.key);
}

bool Keyspace::Erase(std::string_view key, uint64_t now_ms) {
  auto it = Lookup(key);
  if (it == map_.end()) return false;
  bool live = Live(it->second, now_ms);
  EraseIt(it);
  return live;
}

void Keyspace::EraseIt(Map::iterator it) {
  if (it->second.deadline_ms != 0) deadlines_.erase({it->second.deadline_ms, it->first.key});
  index_[ShardOf(it->first.hash)].erase(it->first.key);
  map_.erase(it);
}

void Keyspace::Clear() {
  for (IndexShard& shard : index_) shard.clear();
  map_.clear();
  deadlines_.clear();
}

void Keyspace::AppendForRestore(std::string key, Value value) {
  uint64_t h = ScanHash(key);
  if (value.deadline_ms != 0) deadlines_.emplace(value.deadline_ms, key);
  auto it = map_.emplace_hint(map_.end(), MapKey{h, std::move(key)}, std::move(value));
  index_[ShardOf(h)].emplace(it->first.key, it);
}

size_t Keyspace::RemoveExpired(uint64_t now_ms, size_t max_keys) {
  size_t removed = 0;
  while (removed < max_keys && !deadlines_.empty() && deadlines_.begin()->first <= now_ms) {
    auto it = Lookup(deadlines_.begin()->second);
    LOCKQ_CHECK(it != map_.end());
    EraseIt(it);
    removed++;
  }
  return removed;
}

size_t Keyspace::LiveCount(uint64_t now_ms) const {
  size_t expired = 0;
  for (auto it = deadlines_.begin(); it != deadlines_.end() && it->first <= now_ms; ++it) {
    expired++;
  }
  return map_.size() - expired;
}

uint64_t Keyspace::NextDeadline() const {
  return deadlines_.empty() ? 0 : deadlines_.begin()->first;
}

uint64_t Keyspace::Scan(uint64_t cursor, uint64_t count, uint64_t now_ms,
                        const std::function<void(const std::string&, const Value&)>& visit) const {
  auto it = map_.lower_bound(MapKeyView{cursor, std::string_view()});
  uint64_t visited = 0;
  uint64_t last_hash = 0;
  while (it != map_.end() && (visited < count || it->first.hash == last_hash)) {
    if (Live(it->second, now_ms)) visit(it->first.key, it->second);
    last_hash = it->first.hash;
    visited++;
    ++it;
  }
  return it == map_.end() ? 0 : last_hash + 1;
}

}  // namespace lockq::sm
