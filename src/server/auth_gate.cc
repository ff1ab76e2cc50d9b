#include "server/auth_gate.h"

#include "common/clock.h"
#include "server/core.h"
#include "sm/acl_store.h"

namespace lockq::server {

std::string AclClientInfo(uint64_t id, std::string_view addr, std::string_view name, std::string_view user,
                          int protocol) {
  return "id=" + std::to_string(id) + " addr=" + std::string(addr) + " laddr= fd=0 name=" + std::string(name) +
         " age=0 idle=0 flags=N db=0 sub=0 psub=0 ssub=0 multi=-1 qbuf=0 qbuf-free=0 argv-mem=0 multi-mem=0"
         " obl=0 oll=0 omem=0 tot-mem=0 events=r cmd=NULL user=" + std::string(user) +
         " redir=-1 resp=" + std::to_string(protocol);
}

AuthGate::AuthGate(const Core* core, const Config& config)
    : core_(core), boot_digest_(sm::AclBootDigest(config.acl_boot_lines)) {}

bool AuthGate::BootPending() const {
  return !boot_digest_.empty() && core_->state().acl().boot_digest() != boot_digest_;
}

const sm::AclUser* AuthGate::Find(std::string_view name) const { return core_->state().acl().Find(name); }

bool AuthGate::Matches(std::string_view user, std::string_view password) const {
  const sm::AclUser* u = Find(user);
  return u != nullptr && u->enabled && sm::AclCheckPassword(*u, password);
}

AuthGate::Result AuthGate::Check(const std::string& user, std::string_view password, bool password_only,
                                 const std::string& peer, const std::string& context,
                                 const std::string& client_info) {
  if (BootPending()) return {Outcome::kBootPending, 0};
  const sm::AclUser* u = Find(user);
  if (password_only && u != nullptr && u->nopass) return {Outcome::kNoPassword, 0};
  if (Matches(user, password)) return {Outcome::kOk, 0};
  log_.Add("auth", context, "AUTH", user, client_info, WallClockMs());
  return {Outcome::kWrong, throttle_.OnFailure(peer, SystemClock().MonotonicMs())};
}

}  // namespace lockq::server
