#pragma once
// SASL responses of connection.start-ok (WAVE2.md A.3): the two mechanisms
// lockq offers in connection.start.
//
//   PLAIN     "[authzid]\0user\0password" (RFC 4616; pika, amqplib)
//   AMQPLAIN  a field table {LOGIN, PASSWORD} without its 4-byte length
//             (py-amqp, Celery); both values longstr ('S'). Other entries
//             are skipped when they are longstr too; any other value type
//             makes the response malformed.
//
// Pure parsing, no I/O: fuzzed by tests/fuzz/sasl_fuzz.cc.

#include <optional>
#include <string>
#include <string_view>

namespace lockq::amqp {

struct SaslLogin {
  std::string user, password;
};

// nullopt: unknown mechanism or malformed response.
std::optional<SaslLogin> ParseSaslResponse(std::string_view mechanism, std::string_view response);
std::optional<SaslLogin> ParsePlain(std::string_view response);
std::optional<SaslLogin> ParseAmqplain(std::string_view response);

}  // namespace lockq::amqp
