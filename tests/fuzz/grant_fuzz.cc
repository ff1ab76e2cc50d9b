// libFuzzer target for the signed-grant parsers (lockq/grant.h; STYLE.md
// habit 10: every decoder is fuzzed). The input is tried both as a grant
// string and as a keys file. A grant that parses must format back to the
// same string once re-signed with its own MAC stripped (the encoding is
// canonical); a keys file that parses must format and parse to the same
// keys. Any disagreement aborts.
#include <cstddef>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <string>
#include <string_view>

#include "lockq/grant.h"

namespace {

#define FUZZ_ASSERT(cond)                                               \
  do {                                                                  \
    if (!(cond)) {                                                      \
      std::fprintf(stderr, "grant_fuzz: assertion failed: %s\n", #cond); \
      std::abort();                                                     \
    }                                                                   \
  } while (0)

const std::string kKey(lockq::kGrantKeyBytes, '\x5a');

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  std::string_view in(reinterpret_cast<const char*>(data), size);
  std::string mac;
  lockq::Result<lockq::Grant> g = lockq::ParseGrant(in, &mac);
  if (g.ok()) {
    std::string again = lockq::SignGrant(*g, kKey);
    // Same fields before the MAC: the text form is canonical.
    FUZZ_ASSERT(again.substr(0, again.rfind('.')) == in.substr(0, in.rfind('.')));
    FUZZ_ASSERT(lockq::VerifyGrant(again, {{g->key_id, kKey}}, 0).ok() || g->lease_end_ms == 0);
  }
  (void)lockq::VerifyGrant(in, {{1, kKey}}, 0);
  lockq::Result<lockq::GrantKeys> keys = lockq::ParseGrantKeys(in);
  if (keys.ok()) {
    lockq::Result<lockq::GrantKeys> back = lockq::ParseGrantKeys(lockq::FormatGrantKeys(*keys));
    FUZZ_ASSERT(back.ok() && *back == *keys);
  }
  return 0;
}
