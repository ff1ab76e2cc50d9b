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

std::string UnknownSubcommand(std::string_view command, std::string_view sub) {
  std::string line = "ERR unknown subcommand '" + std::string(sub.substr(0, 128)) + "'. Try " +
                     ToUpper(command) + " HELP.";
  for (char& c : line) {
    if (c == '\r' || c == '\n') c = ' ';
  }
  return line;
}

std::string ScriptCompile(std::string_view lua_message) {
  std::string line = "ERR Error compiling script (new function): " + std::string(lua_message);
  for (char& c : line) {
    if (c == '\r' || c == '\n') c = ' ';
  }
  return line;
}

std::string ScriptBudgetExceeded(uint64_t instructions) {
  return "ERR Script exceeded the instruction budget of " + std::to_string(instructions) +
         " instructions";
}

std::string ScriptMemoryExceeded(uint64_t bytes) {
  return "ERR Script exceeded the memory limit of " + std::to_string(bytes) + " bytes";
}

}  // namespace lockq::sm::errors
