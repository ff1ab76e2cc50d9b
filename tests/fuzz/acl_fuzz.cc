// libFuzzer target for the ACL rule parser and the AUTH / HELLO arguments
// (issue 12: "the ACL rule parser and the SASL/auth frames get libFuzzer
// targets").
//
// Input: a client's byte stream. Each RESP request parsed from it is
//  - AUTH / HELLO: run through ParseAuthArgs / ParseHelloArgs (what the
//    front end runs before it looks at any user);
//  - anything else: its arguments are ACL SETUSER rules for one user.
// Invariants (a violation aborts, which libFuzzer reports as a crash):
//  - a failed SETUSER leaves the user unchanged;
//  - the user's ACL-file description, applied as rules to a fresh user of
//    the same name, describes the same user (the ACL file round-trips);
//  - the checker answers for any command without crashing, and the
//    unrestricted default user is never denied;
//  - the snapshot section decodes to an equal store.
#include <cstddef>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <string>
#include <string_view>

#include "common/bytes.h"
#include "resp/resp.h"
#include "server/resp/auth_args.h"
#include "sm/acl_check.h"
#include "sm/acl_store.h"
#include "sm/acl_user.h"
#include "common/strings.h"
#include "sm/command_table.h"

namespace lockq {
namespace {

#define FUZZ_ASSERT(cond)                                             \
  do {                                                                \
    if (!(cond)) {                                                    \
      std::fprintf(stderr, "acl_fuzz: assertion failed: %s\n", #cond); \
      std::abort();                                                   \
    }                                                                 \
  } while (0)

void CheckAuth(const Argv& argv) {
  if (EqualsIgnoreCase(argv[0], "AUTH") && argv.size() >= 2) {
    server::AuthArgs a;
    if (!server::ParseAuthArgs(argv, &a)) FUZZ_ASSERT(a.password == argv.back());
  } else {
    server::HelloArgs h;
    if (!server::ParseHelloArgs(argv, &h)) FUZZ_ASSERT(h.protocol == 0 || h.protocol == 2 || h.protocol == 3);
  }
}

void CheckRules(const Argv& argv) {
  sm::AclUser user = sm::NewAclUser("fuzz");
  std::vector<std::string_view> rules(argv.begin(), argv.end());
  sm::AclUser before = user;
  if (sm::ApplyAclRules(&user, rules)) {
    FUZZ_ASSERT(user == before);
    // The same argv as a command, for a user that may run part of it.
    (void)sm::ApplyAclRules(&user, {"on", "+@string", "+@lock", "~a*", "%R~b*"});
  } else {
    std::string desc = sm::DescribeAclUser(user);
    std::vector<std::string_view> words = sm::SplitAclLine(desc);
    FUZZ_ASSERT(words.size() >= 3 && words[0] == "user" && words[1] == "fuzz");
    sm::AclUser again = sm::NewAclUser("fuzz");
    FUZZ_ASSERT(!sm::ApplyAclRules(&again, std::vector<std::string_view>(words.begin() + 2, words.end())));
    FUZZ_ASSERT(sm::DescribeAclUser(again) == desc);
  }
  // Any command, any keys: an answer, never a crash.
  Argv cmd(argv.begin(), argv.end());
  if (sm::CheckCommand(cmd, /*allow_internal=*/false) == std::nullopt) {
    (void)sm::AclCheck(user, cmd);
    FUZZ_ASSERT(!sm::AclCheck(sm::DefaultAclUser(), cmd));
  }
  sm::AclStore store;
  store.Put(user);
  std::string bytes;
  ByteWriter w(&bytes);
  store.Encode(&w);
  ByteReader r(bytes);
  sm::AclStore decoded;
  FUZZ_ASSERT(sm::AclStore::Decode(&r, sm::kSnapshotVersion, &decoded).ok() && r.done() && decoded == store);
}

}  // namespace
}  // namespace lockq

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  std::string_view in(reinterpret_cast<const char*>(data), size);
  lockq::resp::RequestParser parser(lockq::resp::ParserLimits{});
  size_t pos = 0;
  for (int n = 0; n < 64 && pos < in.size(); n++) {
    lockq::Argv argv;
    lockq::resp::ParseResult r = parser.Parse(in.substr(pos), &argv);
    if (r.kind != lockq::resp::ParseResult::Kind::kDone) break;
    pos += r.consumed;
    if (argv.empty()) continue;
    if (lockq::EqualsIgnoreCase(argv[0], "AUTH") || lockq::EqualsIgnoreCase(argv[0], "HELLO")) {
      lockq::CheckAuth(argv);
    } else {
      lockq::CheckRules(argv);
    }
  }
  return 0;
}
