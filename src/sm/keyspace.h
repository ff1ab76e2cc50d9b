#pragma once
// The key/value store of the state machine, with its expiry index.
//
// Order. The primary map is ordered by (ScanHash(key), key). SCAN's cursor is
// a position in that order (docs/state-machine.md "SCAN cursor"): because a
// key's hash never changes, a key present for a whole iteration is returned
// by it whatever else is inserted or deleted meanwhile, and the cursor stays
// a plain integer, which redis-py's scan_iter() requires.
//
// Expiry. A value may carry an absolute deadline in leader time (ms). A key
// whose deadline <= now is logically absent: Find() skips it. It stays in
// memory until a write touches it or RemoveExpired() (LOCKQ.EXPIRE) runs, so
// reads never change state. The deadline index is a std::set of
// (deadline, key), earliest first.
//
// Every container that is iterated is ordered: iteration order, and so
// snapshots, depend only on the contents. The hash index (key -> map entry)
// is only ever probed, never iterated.

#include <array>
#include <cstddef>
#include <cstdint>
#include <functional>
#include <map>
#include <set>
#include <string>
#include <string_view>
#include <unordered_map>
#include <utility>
#include <vector>

namespace lockq::sm {

// KEYS refuses to run on a keyspace larger than this (bounded work per
// command, STYLE.md habit 8); SCAN has no such limit.
inline constexpr size_t kKeysScanMax = 100000;

// The type of a stored value. Persisted in snapshots: append only.
enum class ValueType : uint8_t {
  kString = 0,
};
inline constexpr uint8_t kMaxValueType = 0;
// Redis's TYPE name: "string".
std::string_view TypeName(ValueType type);

// 64-bit FNV-1a of the key, masked to 62 bits and OR 1: never 0 (cursor "0"
// means start/done), and next cursor = hash + 1 fits in int64 for clients
// that parse the cursor as a signed integer.
uint64_t ScanHash(std::string_view key);

struct Value {
  ValueType type = ValueType::kString;
  std::string str;
  uint64_t deadline_ms = 0;  // absolute leader time; 0 = no TTL
  bool operator==(const Value&) const = default;
};

class Keyspace {
 public:
  struct MapKey {
    uint64_t hash;
    std::string key;
  };
  struct MapKeyView {
    uint64_t hash;
    std::string_view key;
  };
  struct MapLess {
    using is_transparent = void;
    template <typename A, typename B>
    bool operator()(const A& a, const B& b) const {
      if (a.hash != b.hash) return a.hash < b.hash;
      return std::string_view(a.key) < std::string_view(b.key);
    }
  };
  using Map = std::map<MapKey, Value, MapLess>;

  Keyspace() = default;
  // Copies rebuild the index (it points into map_); moves keep it, since
  // moving a std::map keeps its nodes.
  Keyspace(const Keyspace& other);
  Keyspace& operator=(const Keyspace& other);
  Keyspace(Keyspace&&) = default;
  Keyspace& operator=(Keyspace&&) = default;

  // The live value of `key` at `now_ms`, or nullptr when missing or expired.
  const Value* Find(std::string_view key, uint64_t now_ms) const;
  // Same, for changing value.str in place. An expired entry met here is
  // removed. Never assign deadline_ms through this pointer: use SetDeadline.
  Value* FindMutable(std::string_view key, uint64_t now_ms);

  // Inserts or replaces `key`. A deadline already <= now_ms erases the key
  // instead (it could never be read).
  void Put(std::string_view key, Value value, uint64_t now_ms);
  // Changes the deadline of an existing key (0 removes the TTL).
  void SetDeadline(std::string_view key, uint64_t deadline_ms);
  // Physically removes `key`; true when it was there and live at now_ms.
  bool Erase(std::string_view key, uint64_t now_ms);
  void Clear();
  // Snapshot restore: inserts `key` as is (even if already expired, so the
  // restored state re-snapshots byte-identically). The caller guarantees keys
  // arrive in map order without duplicates.
  void AppendForRestore(std::string key, Value value);

  // Removes up to `max_keys` keys whose deadline <= now_ms, earliest
  // deadline first; returns how many.
  size_t RemoveExpired(uint64_t now_ms, size_t max_keys);

  size_t size() const { return map_.size(); }  // includes expired, not yet removed
  size_t LiveCount(uint64_t now_ms) const;
  size_t expiring_count() const { return deadlines_.size(); }
  uint64_t NextDeadline() const;  // 0 when none

  // One SCAN step: visits entries with hash >= cursor in order, at least
  // `count` of them (live or not), then every remaining entry sharing the
  // last visited hash. `visit` sees live entries only. Returns the next
  // cursor: last hash + 1, or 0 when the end was reached.
  uint64_t Scan(uint64_t cursor, uint64_t count, uint64_t now_ms,
                const std::function<void(const std::string&, const Value&)>& visit) const;

  const Map& map() const { return map_; }

 private:
  static bool Live(const Value& v, uint64_t now_ms) {
    return v.deadline_ms == 0 || v.deadline_ms > now_ms;
  }
  Map::iterator Lookup(std::string_view key);
  Map::const_iterator Lookup(std::string_view key) const;
  void EraseIt(Map::iterator it);
  void RebuildIndex();

  Map map_;
  // key -> its entry in map_ (the string_view points at the key inside the
  // map node, which never moves). A lookup is one hash probe instead of a
  // walk down a tree of ~17 levels at 100k keys, each level a cache miss:
  // that walk was 12% of lockqd's CPU for SET with 50 clients and 29% with
  // pipelining (perf, 1 node, 100k random keys).
  //
  // Sharded by the key's ScanHash: a hash table that outgrows its buckets
  // relinks every node at once, which at 10^6 keys stopped the loop for
  // seconds after a snapshot's fork (each relinked node a copy-on-write
  // fault; docs/architecture.md "One event loop"). A shard holds 1/1024 of
  // the keys, so a rehash relinks only that many (Redis rehashes
  // incrementally for the same reason).
  static constexpr size_t kIndexShards = 1024;
  using IndexShard = std::unordered_map<std::string_view, Map::iterator>;
  static size_t ShardOf(uint64_t hash) { return static_cast<size_t>(hash >> 52) % kIndexShards; }
  IndexShard& Shard(std::string_view key) { return index_[ShardOf(ScanHash(key))]; }
  const IndexShard& Shard(std::string_view key) const { return index_[ShardOf(ScanHash(key))]; }
  std::array<IndexShard, kIndexShards> index_;
  std::set<std::pair<uint64_t, std::string>> deadlines_;
};

}  // namespace lockq::sm
