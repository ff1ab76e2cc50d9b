#pragma once
// The cluster's grant signing keys (docs/locks.md "Signed grants"):
// replicated state, changed only by LOCK.SIGNKEY entries and written to
// snapshots, so every replica signs a grant with the same key and the same
// bytes, whichever node delivers it.
//
// At most one key signs; every key in the table verifies (LOCK.SIGNKEY
// EXPORT hands them all to verifiers). Rotation: ROTATE adds a key that
// signs at once and leaves the previous one verifying; REMOVE drops a key,
// after which grants it signed no longer verify anywhere the new keys file
// reaches. The secret bytes come from the front end that proposed the
// command (random there), never from apply, so apply stays deterministic.
//
// Thread: the state machine's owner.

#include <cstddef>
#include <cstdint>
#include <map>
#include <optional>
#include <string>
#include <string_view>

#include "lockq/grant.h"

namespace lockq::sm {

inline constexpr size_t kSignKeysMax = 16;

enum class SignKeyState : uint8_t { kVerify = 0, kSigning = 1 };
inline constexpr uint8_t kMaxSignKeyState = 1;

struct SignKey {
  std::string secret;  // kGrantKeyBytes raw bytes
  SignKeyState state = SignKeyState::kVerify;
  uint64_t created_ms = 0;
  bool operator==(const SignKey&) const = default;
};

class SignKeys {
 public:
  using Map = std::map<uint64_t, SignKey>;

  // Adds a key with the next id and returns it; 0 when the table is full.
  // `signing`: it becomes the signing key and the previous one verifies only.
  uint64_t Add(std::string secret, bool signing, uint64_t now_ms);
  // False when `id` does not exist. The previous signing key verifies only.
  bool Activate(uint64_t id);
  // `id` stops signing (it still verifies). False when it does not exist.
  bool Retire(uint64_t id);
  // False when `id` does not exist.
  bool Remove(uint64_t id);

  // The signing key's id, 0 when no key signs.
  uint64_t signing_id() const;
  // The grant string for `g` (g.key_id is set here), or nullopt when no
  // key signs.
  std::optional<std::string> Sign(Grant g) const;
  // Every key, for verifiers (lockq/grant.h's keys file).
  GrantKeys Export() const;

  const Map& map() const { return keys_; }
  uint64_t last_id() const { return last_id_; }
  size_t size() const { return keys_.size(); }

  // Snapshot restore: ids ascending, at most one signing (checked by the
  // caller, lock_snapshot.cc).
  void SetLastIdForRestore(uint64_t last_id) { last_id_ = last_id; }
  void AppendForRestore(uint64_t id, SignKey key) { keys_.emplace_hint(keys_.end(), id, std::move(key)); }
  bool operator==(const SignKeys&) const = default;

 private:
  Map keys_;
  uint64_t last_id_ = 0;  // ids are never reused, so a removed key's grants never verify under a new key
};

}  // namespace lockq::sm
