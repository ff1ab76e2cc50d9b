#include "server/resp/auth_args.h"

#include "common/strings.h"

namespace lockq::server {

std::optional<std::string> ParseAuthArgs(const Argv& argv, AuthArgs* out) {
  if (argv.size() < 2 || argv.size() > 3) return std::string("ERR syntax error");
  out->password_only = argv.size() == 2;
  out->user = out->password_only ? "default" : argv[1];
  out->password = argv.back();
  return std::nullopt;
}

std::optional<std::string> ParseHelloArgs(const Argv& argv, HelloArgs* out) {
  if (argv.size() < 2) return std::nullopt;
  auto v = ParseInt64(argv[1]);
  if (!v) return std::string("ERR Protocol version is not an integer or out of range");
  if (*v != 2 && *v != 3) return std::string("NOPROTO unsupported protocol version");
  out->protocol = static_cast<int>(*v);
  for (size_t i = 2; i < argv.size(); i++) {
    if (EqualsIgnoreCase(argv[i], "AUTH") && i + 2 < argv.size()) {
      out->auth = AuthArgs{argv[i + 1], argv[i + 2], false};
      i += 2;
    } else if (EqualsIgnoreCase(argv[i], "SETNAME") && i + 1 < argv.size()) {
      out->setname = argv[++i];
    } else {
      return "ERR Syntax error in HELLO option '" + argv[i] + "'";
    }
  }
  return std::nullopt;
}

}  // namespace lockq::server
