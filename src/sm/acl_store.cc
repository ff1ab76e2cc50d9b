#include "sm/acl_store.h"

namespace lockq::sm {

namespace {

constexpr size_t kSmallestUserBytes = 1 + 1 + 1 + 1 + 1 + 1 + 1 + 1;

void PutStrings(ByteWriter* w, const auto& strings) {
  w->PutVarint(strings.size());
  for (const std::string& s : strings) w->PutString(s);
}

template <typename Container>
bool GetStrings(ByteReader* r, size_t max, Container* out) {
  uint64_t n;
  if (!r->GetVarint(&n) || n > max || n > r->remaining()) return false;
  for (uint64_t i = 0; i < n; i++) {
    std::string s;
    if (!r->GetString(&s, kAclPatternMax)) return false;
    out->insert(out->end(), std::move(s));
  }
  return true;
}

void EncodeUser(const AclUser& u, ByteWriter* w) {
  w->PutString(u.name);
  w->PutU8(static_cast<uint8_t>((u.enabled ? 1 : 0) | (u.nopass ? 2 : 0)));
  w->PutVarint(u.credentials.size());
  for (const Credential& c : u.credentials) {
    w->PutU8(static_cast<uint8_t>(c.scheme));
    w->PutString(c.salt);
    w->PutString(c.hash_hex);
    w->PutU32(c.iterations);
  }
  w->PutVarint(u.keys.size());
  for (const KeyPattern& k : u.keys) {
    w->PutU8(k.access);
    w->PutString(k.pattern);
  }
  PutStrings(w, u.channels);
  PutStrings(w, u.command_rules);
  PutStrings(w, u.tags);
  w->PutVarint(u.vhosts.size());
  for (const auto& [vhost, p] : u.vhosts) {
    w->PutString(vhost);
    w->PutString(p.configure);
    w->PutString(p.write);
    w->PutString(p.read);
  }
  w->PutVarint(u.topics.size());  // version 8
  for (const auto& [key, t] : u.topics) {
    w->PutString(key.first);
    w->PutString(key.second);
    w->PutString(t.write);
    w->PutString(t.read);
  }
}

bool DecodeCredentials(ByteReader* r, AclUser* u) {
  uint64_t n;
  if (!r->GetVarint(&n) || n > kAclPasswordsMax) return false;
  for (uint64_t i = 0; i < n; i++) {
    Credential c;
    uint8_t scheme;
    if (!r->GetU8(&scheme) || scheme > kMaxCredentialScheme || !r->GetString(&c.salt, kAclPatternMax) ||
        !r->GetString(&c.hash_hex, kAclPatternMax) || !r->GetU32(&c.iterations)) {
      return false;
    }
    c.scheme = static_cast<CredentialScheme>(scheme);
    if (!u->credentials.insert(std::move(c)).second) return false;
  }
  return true;
}

bool DecodeKeys(ByteReader* r, AclUser* u) {
  uint64_t n;
  if (!r->GetVarint(&n) || n > kAclPatternsMax) return false;
  for (uint64_t i = 0; i < n; i++) {
    KeyPattern k;
    if (!r->GetU8(&k.access) || k.access > kKeyReadWrite || !r->GetString(&k.pattern, kAclPatternMax)) {
      return false;
    }
    u->keys.push_back(std::move(k));
  }
  return true;
}

bool DecodeVhosts(ByteReader* r, AclUser* u) {
  uint64_t n;
  if (!r->GetVarint(&n) || n > kAclPatternsMax) return false;
  for (uint64_t i = 0; i < n; i++) {
    std::string vhost;
    VhostPermissions p;
    if (!r->GetString(&vhost, kAclPatternMax) || !r->GetString(&p.configure, kAclPatternMax) ||
        !r->GetString(&p.write, kAclPatternMax) || !r->GetString(&p.read, kAclPatternMax)) {
      return false;
    }
    if (!u->vhosts.emplace(std::move(vhost), std::move(p)).second) return false;
  }
  return true;
}

bool DecodeTopics(ByteReader* r, AclUser* u) {
  uint64_t n;
  if (!r->GetVarint(&n) || n > kAclPatternsMax) return false;
  for (uint64_t i = 0; i < n; i++) {
    TopicKey key;
    TopicPermissions t;
    if (!r->GetString(&key.first, kAclPatternMax) || !r->GetString(&key.second, kAclPatternMax) ||
        !r->GetString(&t.write, kAclPatternMax) || !r->GetString(&t.read, kAclPatternMax)) {
      return false;
    }
    if (!u->topics.emplace(std::move(key), std::move(t)).second) return false;
  }
  return true;
}

bool DecodeUser(ByteReader* r, uint8_t version, AclUser* u) {
  uint8_t flags;
  if (!r->GetString(&u->name, kAclNameMax) || !ValidAclUserName(u->name) || !r->GetU8(&flags) || flags > 3) {
    return false;
  }
  u->enabled = flags & 1;
  u->nopass = flags & 2;
  return DecodeCredentials(r, u) && DecodeKeys(r, u) && GetStrings(r, kAclPatternsMax, &u->channels) &&
         GetStrings(r, kAclCommandRulesMax, &u->command_rules) && GetStrings(r, kAclPatternsMax, &u->tags) &&
         DecodeVhosts(r, u) && (version < 8 || DecodeTopics(r, u));
}

}  // namespace

std::string AclBootDigest(const std::vector<std::string>& lines) {
  if (lines.empty()) return {};
  std::string joined;
  for (size_t i = 0; i < lines.size(); i++) {
    if (i > 0) joined += '\n';
    joined += lines[i];
  }
  return Sha256Hex(joined);
}

AclStore::AclStore() { Reset(); }

const AclUser* AclStore::Find(std::string_view name) const {
  auto it = users_.find(name);
  return it == users_.end() ? nullptr : &it->second;
}

AclUser* AclStore::FindMutable(std::string_view name) {
  auto it = users_.find(name);
  return it == users_.end() ? nullptr : &it->second;
}

bool AclStore::Put(AclUser user) {
  auto it = users_.find(user.name);
  if (it != users_.end()) {
    it->second = std::move(user);
    return true;
  }
  if (users_.size() >= kAclUsersMax) return false;
  std::string name = user.name;
  users_.emplace(std::move(name), std::move(user));
  return true;
}

bool AclStore::Erase(std::string_view name) {
  if (name == "default") return false;
  auto it = users_.find(name);
  if (it == users_.end()) return false;
  users_.erase(it);
  return true;
}

void AclStore::Reset() {
  users_.clear();
  users_.emplace("default", DefaultAclUser());
}

void AclStore::Encode(ByteWriter* w) const {
  w->PutU64(epoch_);
  w->PutString(boot_digest_);
  w->PutVarint(users_.size());
  for (const auto& [name, u] : users_) EncodeUser(u, w);
}

Status AclStore::Decode(ByteReader* r, uint8_t version, AclStore* out) {
  AclStore s;
  s.users_.clear();
  uint64_t n;
  if (!r->GetU64(&s.epoch_) || !r->GetString(&s.boot_digest_, 64) || !r->GetVarint(&n) || n > kAclUsersMax ||
      n > r->remaining() / kSmallestUserBytes) {
    return Status::Corruption("snapshot: bad acl header");
  }
  for (uint64_t i = 0; i < n; i++) {
    AclUser u;
    if (!DecodeUser(r, version, &u)) return Status::Corruption("snapshot: bad acl user");
    if (!s.users_.empty() && s.users_.rbegin()->first >= u.name) {
      return Status::Corruption("snapshot: acl users out of order");
    }
    std::string name = u.name;
    s.users_.emplace_hint(s.users_.end(), std::move(name), std::move(u));
  }
  if (s.users_.count("default") == 0) return Status::Corruption("snapshot: no default user");
  *out = std::move(s);
  return Status::Ok();
}

}  // namespace lockq::sm
