#include "amqp/sasl.h"

#include <cstdint>

namespace lockq::amqp {

std::optional<SaslLogin> ParsePlain(std::string_view response) {
  size_t first = response.find('\0');
  if (first == std::string_view::npos) return std::nullopt;
  size_t second = response.find('\0', first + 1);
  if (second == std::string_view::npos) return std::nullopt;
  SaslLogin login;
  login.user = std::string(response.substr(first + 1, second - first - 1));
  login.password = std::string(response.substr(second + 1));
  if (login.password.find('\0') != std::string::npos) return std::nullopt;
  return login;
}

std::optional<SaslLogin> ParseAmqplain(std::string_view response) {
  std::optional<std::string> user, password;
  size_t pos = 0;
  // Every entry consumes at least 6 bytes, so this ends.
  while (pos < response.size()) {
    size_t key_len = static_cast<uint8_t>(response[pos]);
    if (response.size() - pos < 1 + key_len + 1 + 4) return std::nullopt;
    std::string_view key = response.substr(pos + 1, key_len);
    pos += 1 + key_len;
    if (response[pos] != 'S') return std::nullopt;
    pos++;
    uint32_t len = 0;
    for (int i = 0; i < 4; i++) len = (len << 8) | static_cast<uint8_t>(response[pos + i]);
    pos += 4;
    if (response.size() - pos < len) return std::nullopt;
    std::string value(response.substr(pos, len));
    pos += len;
    if (key == "LOGIN") {
      user = std::move(value);
    } else if (key == "PASSWORD") {
      password = std::move(value);
    }
  }
  if (!user || !password) return std::nullopt;
  return SaslLogin{std::move(*user), std::move(*password)};
}

std::optional<SaslLogin> ParseSaslResponse(std::string_view mechanism, std::string_view response) {
  if (mechanism == "PLAIN") return ParsePlain(response);
  if (mechanism == "AMQPLAIN") return ParseAmqplain(response);
  return std::nullopt;
}

}  // namespace lockq::amqp
