#include "sm/errors.h"

#include "sm/parse.h"

namespace lockq::sm::errors {

std::string WrongArity(std::string_view command_name) {
  return "ERR wrong number of arguments for '" + ToLower(command_name) + "' command";
}

std::string InvalidExpireTime(std::string_view command_name) {
  return "ERR invalid expire time in '" + ToLower(command_name) + "' command";
}

std::string UnsupportedOption(std::string_view option) {
  return "ERR Unsupported option " + std::string(option);
}

std::string UnknownCommand(const Argv& argv) {
  // Mirrors Redis 7 processCommand(): the name is cut at 128 bytes; each
  // argument is quoted and followed by a space while the list is under 128
  // bytes, each cut to what is left of the 128.
  constexpr size_t kQuoteMax = 128;
  std::string name = argv.empty() ? std::string() : argv[0].substr(0, kQuoteMax);
  std::string args;
  for (size_t i = 1; i < argv.size() && args.size() < kQuoteMax; i++) {
    args += "'" + argv[i].substr(0, kQuoteMax - args.size()) + "' ";
  }
  std::string line = "ERR unknown command '" + name + "', with args beginning with: " + args;
  for (char& c : line) {
    if (c == '\r' || c == '\n') c = ' ';
  }
  return line;
}

}  // namespace lockq::sm::errors
