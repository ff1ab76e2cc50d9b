#pragma once
// AuthGate: the one login check of every front end (RESP AUTH / HELLO AUTH,
// AMQP connection.start-ok; docs/security.md "Users and permissions"),
// against this node's applied copy of the replicated user store. A failure
// goes into ACL LOG (reason `auth`) and through the brute-force brake
// (server/resp/auth_throttle.h), both shared by the protocols, so that
// switching protocol does not reset the brake. The caller holds its error
// reply for the returned delay (on a loop timer, never blocking).
//
// Owned by Core. Thread: the server loop.

#include <cstdint>
#include <string>
#include <string_view>

#include "server/config.h"
#include "server/resp/acl_log.h"
#include "server/resp/auth_throttle.h"
#include "sm/acl_user.h"

namespace lockq::server {

class Core;

// ACL LOG's client-info, in CLIENT INFO's full field set: redis-py's
// acl_log() parses it and needs every integer field Redis sends. AMQP
// connections give `protocol` 0.
std::string AclClientInfo(uint64_t id, std::string_view addr, std::string_view name, std::string_view user,
                          int protocol);

class AuthGate {
 public:
  enum class Outcome : uint8_t {
    kOk,
    kBootPending,  // this node's --aclfile/--requirepass not applied yet: not a guess
    kNoPassword,   // `AUTH pass` for a nopass user (Redis's own error)
    kWrong,        // unknown user, wrong password or user off
  };
  struct Result {
    Outcome outcome = Outcome::kWrong;
    uint64_t delay_ms = 0;  // kWrong: hold the error this long
  };

  AuthGate(const Core* core, const Config& config);

  // `peer` ("ip:port") keys the brake; `context` ("toplevel", "amqp") and
  // `client_info` go to the ACL LOG entry. `password_only`: RESP's
  // one-argument AUTH.
  Result Check(const std::string& user, std::string_view password, bool password_only, const std::string& peer,
               const std::string& context, const std::string& client_info);

  // Whether `user` exists, is on and `password` is one of its passwords
  // (or it is nopass). No log, no brake: Check() adds those.
  bool Matches(std::string_view user, std::string_view password) const;
  // This node's --aclfile/--requirepass lines are not applied yet.
  bool BootPending() const;
  // The user `name` as of the last applied entry, or nullptr.
  const sm::AclUser* Find(std::string_view name) const;

  AclLog& log() { return log_; }
  const AuthThrottle& throttle() const { return throttle_; }

 private:
  const Core* core_;
  std::string boot_digest_;  // of this node's --aclfile/--requirepass lines
  AclLog log_;
  AuthThrottle throttle_;
};

}  // namespace lockq::server
