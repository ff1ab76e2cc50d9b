// libFuzzer target for src/amqp/sasl.cc: the SASL responses of AMQP
// connection.start-ok (PLAIN and AMQPLAIN), the only bytes an
// unauthenticated AMQP client controls besides the frames amqp_fuzz covers.
//
// Input layout: byte 0 picks the mechanism (even: PLAIN, odd: AMQPLAIN;
// 0xff: an unknown one), the rest is the response. A parsed login encoded
// again must parse to the same user and password. Any disagreement aborts.
#include <cstddef>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <string>
#include <string_view>

#include "amqp/sasl.h"

namespace lockq::amqp {
namespace {

#define FUZZ_ASSERT(cond)                                              \
  do {                                                                 \
    if (!(cond)) {                                                     \
      std::fprintf(stderr, "sasl_fuzz: assertion failed: %s\n", #cond); \
      std::abort();                                                    \
    }                                                                  \
  } while (0)

std::string LongStr(const std::string& s) {
  std::string out;
  for (int shift = 24; shift >= 0; shift -= 8) out.push_back(static_cast<char>((s.size() >> shift) & 0xff));
  return out + s;
}

std::string EncodePlain(const SaslLogin& l) { return std::string(1, '\0') + l.user + '\0' + l.password; }

std::string EncodeAmqplain(const SaslLogin& l) {
  return std::string("\x05LOGINS") + LongStr(l.user) + "\x08PASSWORDS" + LongStr(l.password);
}

void Check(std::string_view mechanism, std::string_view response) {
  std::optional<SaslLogin> login = ParseSaslResponse(mechanism, response);
  if (!login) return;
  FUZZ_ASSERT(mechanism == "PLAIN" || mechanism == "AMQPLAIN");
  if (mechanism == "PLAIN") {
    // A user containing NUL cannot come out of a PLAIN response.
    FUZZ_ASSERT(login->user.find('\0') == std::string::npos);
    std::optional<SaslLogin> again = ParsePlain(EncodePlain(*login));
    FUZZ_ASSERT(again && again->user == login->user && again->password == login->password);
  }
  std::optional<SaslLogin> again = ParseAmqplain(EncodeAmqplain(*login));
  FUZZ_ASSERT(again && again->user == login->user && again->password == login->password);
}

}  // namespace
}  // namespace lockq::amqp

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  if (size == 0) return 0;
  std::string_view response(reinterpret_cast<const char*>(data) + 1, size - 1);
  std::string_view mechanism = data[0] == 0xff ? "EXTERNAL" : (data[0] % 2 == 0 ? "PLAIN" : "AMQPLAIN");
  lockq::amqp::Check(mechanism, response);
  return 0;
}
