#include "sm/snapshot.h"

#include <optional>

#include "common/bytes.h"
#include "sm/lock_snapshot.h"
#include "sm/queue_snapshot.h"
#include "sm/sha1.h"

namespace lockq::sm {

namespace {

// The smallest encoded key: empty key, type, empty value, deadline.
constexpr uint64_t kMinKeyBytes = 1 + 1 + 1 + 8;
constexpr uint64_t kMinNodeBytes = 8 + 1;

Status DecodeNodes(ByteReader* r, std::map<uint64_t, NodeInfo>* nodes) {
  uint64_t n;
  if (!r->GetVarint(&n) || n > r->remaining() / kMinNodeBytes) {
    return Status::Corruption("snapshot: bad node count");
  }
  for (uint64_t i = 0; i < n; i++) {
    uint64_t id;
    NodeInfo info;
    if (!r->GetU64(&id) || !r->GetString(&info.resp_addr)) {
      return Status::Corruption("snapshot: truncated node");
    }
    if (!nodes->empty() && nodes->rbegin()->first >= id) {
      return Status::Corruption("snapshot: nodes out of order");
    }
    nodes->emplace_hint(nodes->end(), id, std::move(info));
  }
  return Status::Ok();
}

Status DecodeKeys(ByteReader* r, Keyspace* ks) {
  uint64_t n;
  if (!r->GetVarint(&n) || n > r->remaining() / kMinKeyBytes) {
    return Status::Corruption("snapshot: bad key count");
  }
  std::optional<Keyspace::MapKey> prev;
  for (uint64_t i = 0; i < n; i++) {
    std::string key;
    uint8_t type;
    Value v;
    if (!r->GetString(&key) || !r->GetU8(&type) || !r->GetString(&v.str) ||
        !r->GetU64(&v.deadline_ms)) {
      return Status::Corruption("snapshot: truncated key");
    }
    if (type > kMaxValueType) return Status::Corruption("snapshot: unknown value type");
    if (v.deadline_ms > static_cast<uint64_t>(INT64_MAX)) {
      return Status::Corruption("snapshot: deadline out of range");
    }
    v.type = static_cast<ValueType>(type);
    Keyspace::MapKey mk{ScanHash(key), key};
    if (prev && !Keyspace::MapLess()(*prev, mk)) {
      return Status::Corruption("snapshot: keys out of order");
    }
    prev = mk;
    ks->AppendForRestore(std::move(key), std::move(v));
  }
  return Status::Ok();
}

// Version 2: the script cache, sha ascending; each sha must be the body's.
Status DecodeScripts(ByteReader* r, ScriptCache* scripts) {
  uint64_t n;
  constexpr uint64_t kMinScriptBytes = 1 + 40 + 1;
  if (!r->GetVarint(&n) || n > kScriptsMax || n > r->remaining() / kMinScriptBytes) {
    return Status::Corruption("snapshot: bad script count");
  }
  std::string prev;
  for (uint64_t i = 0; i < n; i++) {
    std::string sha, body;
    if (!r->GetString(&sha, 40) || !r->GetString(&body, kScriptCacheBytesMax)) {
      return Status::Corruption("snapshot: truncated script");
    }
    if (i > 0 && sha <= prev) return Status::Corruption("snapshot: scripts out of order");
    if (sha != Sha1Hex(body)) return Status::Corruption("snapshot: script digest mismatch");
    if (!scripts->Add(sha, body)) return Status::Corruption("snapshot: script cache too large");
    prev = std::move(sha);
  }
  return Status::Ok();
}

// Version 8: vhosts other than "/" (each a queue engine), name ascending.
Status DecodeVhosts(ByteReader* r, std::map<std::string, QueueEngine, std::less<>>* vhosts) {
  uint64_t n;
  if (!r->GetVarint(&n) || n > r->remaining()) return Status::Corruption("snapshot: bad vhost count");
  std::string prev = "/";
  for (uint64_t i = 0; i < n; i++) {
    std::string name;
    if (!r->GetString(&name, 256) || name.empty() || name == "/" || (i > 0 && name <= prev)) {
      return Status::Corruption("snapshot: bad vhost name");
    }
    QueueEngine engine;
    if (Status st = DecodeQueues(r, &engine); !st.ok()) return st;
    vhosts->emplace(name, std::move(engine));
    prev = std::move(name);
  }
  return Status::Ok();
}

}  // namespace

std::string EncodeSnapshot(const SmState& state) {
  std::string out;
  ByteWriter w(&out);
  w.PutU8(kSnapshotVersion);
  w.PutU64(state.applied_index);
  w.PutU64(state.now_ms);
  w.PutVarint(state.nodes.size());
  for (const auto& [id, info] : state.nodes) {
    w.PutU64(id);
    w.PutString(info.resp_addr);
  }
  const Keyspace::Map& map = state.keyspace.map();
  w.PutVarint(map.size());
  for (const auto& [k, v] : map) {
    w.PutString(k.key);
    w.PutU8(static_cast<uint8_t>(v.type));
    w.PutString(v.str);
    w.PutU64(v.deadline_ms);
  }
  w.PutVarint(state.scripts.size());
  for (const auto& [sha, body] : state.scripts.map()) {
    w.PutString(sha);
    w.PutString(body);
  }
  EncodeLocks(state.locks, &w);
  EncodeQueues(state.vhosts.find(std::string_view("/"))->second, &w);
  state.acl.Encode(&w);  // version 7
  // Version 8: the vhosts other than "/", name ascending.
  w.PutVarint(state.vhosts.size() - 1);
  for (const auto& [name, engine] : state.vhosts) {
    if (name == "/") continue;
    w.PutString(name);
    EncodeQueues(engine, &w);
  }
  return out;
}

Status DecodeSnapshot(std::string_view bytes, SmState* out) {
  ByteReader r(bytes);
  uint8_t version;
  if (!r.GetU8(&version)) return Status::Corruption("snapshot: empty");
  // Versions 1 (no script cache) and 2 (no lock table) are still read: a
  // node upgraded from them restores its old snapshots with an empty cache
  // and no locks.
  if (version < 1 || version > kSnapshotVersion) {
    return Status::Corruption("snapshot: unknown version " + std::to_string(version));
  }
  SmState s;
  if (!r.GetU64(&s.applied_index) || !r.GetU64(&s.now_ms)) {
    return Status::Corruption("snapshot: truncated header");
  }
  if (Status st = DecodeNodes(&r, &s.nodes); !st.ok()) return st;
  if (Status st = DecodeKeys(&r, &s.keyspace); !st.ok()) return st;
  if (version >= 2) {
    if (Status st = DecodeScripts(&r, &s.scripts); !st.ok()) return st;
  }
  if (version >= 3) {
    if (Status st = DecodeLocks(&r, version, &s.locks); !st.ok()) return st;
  }
  if (version >= 5) {
    if (Status st = DecodeQueues(&r, &s.vhosts.find(std::string_view("/"))->second); !st.ok()) return st;
  }
  // Version 7: the user store. Older snapshots restore with the default
  // user only; a leader with --requirepass/--aclfile bootstraps again.
  if (version >= 7) {
    if (Status st = AclStore::Decode(&r, version, &s.acl); !st.ok()) return st;
  }
  if (version >= 8) {
    if (Status st = DecodeVhosts(&r, &s.vhosts); !st.ok()) return st;
  }
  if (!r.done()) return Status::Corruption("snapshot: trailing bytes");
  *out = std::move(s);
  return Status::Ok();
}

}  // namespace lockq::sm
