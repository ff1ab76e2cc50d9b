#pragma once
// The replicated user store (docs/security.md "Users and permissions"):
// part of SmState, written to snapshots (version 6), changed only by log
// entries (ACL SETUSER / DELUSER, LOCKQ.ACLBOOT: acl_family.cc).
//
// `epoch` counts changes (every SETUSER, DELUSER and bootstrap adds one),
// so a front end can tell its cached view is stale. `boot_digest` is the
// SHA-256 of the last bootstrap the leader proposed from its flags
// (--requirepass, --aclfile); a new leader proposes its own only when its
// digest differs (dispatch::LeaderDuties), so identical flags on every
// node bootstrap once and later ACL SETUSERs survive leader changes.

#include <cstdint>
#include <map>
#include <string>
#include <string_view>
#include <vector>

#include "common/bytes.h"
#include "common/status.h"
#include "sm/acl_user.h"

namespace lockq::sm {

inline constexpr size_t kAclUsersMax = 10000;

// The boot_digest of LOCKQ.ACLBOOT's lines: "" for none, else SHA-256 hex
// of the lines joined by '\n'. The leader compares its own with the
// store's to decide whether to propose.
std::string AclBootDigest(const std::vector<std::string>& lines);

class AclStore {
 public:
  AclStore();  // the default user only

  const AclUser* Find(std::string_view name) const;
  AclUser* FindMutable(std::string_view name);
  // Inserts or replaces; false past kAclUsersMax.
  bool Put(AclUser user);
  bool Erase(std::string_view name);  // never "default"
  // Back to the default user only (ACL LOAD, bootstrap).
  void Reset();
  const std::map<std::string, AclUser, std::less<>>& users() const { return users_; }

  uint64_t epoch() const { return epoch_; }
  void BumpEpoch() { epoch_++; }
  const std::string& boot_digest() const { return boot_digest_; }
  void set_boot_digest(std::string d) { boot_digest_ = std::move(d); }

  // Snapshot section (docs/formats.md "Snapshot", versions 7 and 8:
  // 8 adds topic permissions); `version` is the snapshot's.
  void Encode(ByteWriter* w) const;
  static Status Decode(ByteReader* r, uint8_t version, AclStore* out);

  bool operator==(const AclStore&) const = default;

 private:
  std::map<std::string, AclUser, std::less<>> users_;
  uint64_t epoch_ = 0;
  std::string boot_digest_;
};

}  // namespace lockq::sm
