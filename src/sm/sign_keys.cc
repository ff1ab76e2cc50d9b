#include "sm/sign_keys.h"

#include <utility>

namespace lockq::sm {

uint64_t SignKeys::Add(std::string secret, bool signing, uint64_t now_ms) {
  if (keys_.size() >= kSignKeysMax) return 0;
  uint64_t id = ++last_id_;
  keys_.emplace(id, SignKey{std::move(secret), SignKeyState::kVerify, now_ms});
  if (signing) Activate(id);
  return id;
}

bool SignKeys::Activate(uint64_t id) {
  auto it = keys_.find(id);
  if (it == keys_.end()) return false;
  for (auto& [other, key] : keys_) key.state = SignKeyState::kVerify;
  it->second.state = SignKeyState::kSigning;
  return true;
}

bool SignKeys::Retire(uint64_t id) {
  auto it = keys_.find(id);
  if (it == keys_.end()) return false;
  it->second.state = SignKeyState::kVerify;
  return true;
}

bool SignKeys::Remove(uint64_t id) { return keys_.erase(id) != 0; }

uint64_t SignKeys::signing_id() const {
  for (const auto& [id, key] : keys_) {
    if (key.state == SignKeyState::kSigning) return id;
  }
  return 0;
}

std::optional<std::string> SignKeys::Sign(Grant g) const {
  uint64_t id = signing_id();
  if (id == 0) return std::nullopt;
  g.key_id = id;
  return SignGrant(g, keys_.at(id).secret);
}

GrantKeys SignKeys::Export() const {
  GrantKeys out;
  for (const auto& [id, key] : keys_) out.emplace(id, key.secret);
  return out;
}

}  // namespace lockq::sm
