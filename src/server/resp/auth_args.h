#pragma once
// The arguments of AUTH and HELLO, parsed without touching any state, so
// the libFuzzer target (tests/fuzz/acl_fuzz.cc) can run exactly this code.
// Error texts are Redis 7's (WAVE2.md A.1).

#include <optional>
#include <string>

#include "common/argv.h"

namespace lockq::server {

struct AuthArgs {
  std::string user;  // "default" for AUTH <password>
  std::string password;
  bool password_only = false;
};

struct HelloArgs {
  int protocol = 0;  // 0: not given (HELLO alone)
  std::optional<AuthArgs> auth;
  std::optional<std::string> setname;
};

// AUTH [user] password. argv.size() >= 2 (the arity check ran).
// Returns the error line on failure.
std::optional<std::string> ParseAuthArgs(const Argv& argv, AuthArgs* out);
// HELLO [protover [AUTH user pass] [SETNAME name]].
std::optional<std::string> ParseHelloArgs(const Argv& argv, HelloArgs* out);

}  // namespace lockq::server
