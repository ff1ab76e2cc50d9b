#pragma once
// Helpers shared by the scripting tests (script_*_test.cc).

#include <gtest/gtest.h>

#include <string>
#include <vector>

#include "sm/reply.h"
#include "sm/sha1.h"
#include "testlib/sm_harness.h"

namespace lockq::sm {

namespace script_test {

inline Reply B(std::string s) { return Reply::Bulk(std::move(s)); }
inline Reply I(int64_t v) { return Reply::Int(v); }
inline Reply E(std::string_view s) { return Reply::Error(std::string(s)); }
inline Reply A(std::vector<Reply> e) { return Reply::Array(std::move(e)); }

// EVAL script numkeys keys... args...
inline Reply Eval(testing::SmHarness& h, const std::string& script,
                  const std::vector<std::string>& keys = {},
                  const std::vector<std::string>& args = {}, const char* command = "EVAL") {
  Argv argv{command, script, std::to_string(keys.size())};
  argv.insert(argv.end(), keys.begin(), keys.end());
  argv.insert(argv.end(), args.begin(), args.end());
  return h.Run(argv);
}

// The suffix Redis 7 appends to an error raised inside a script.
inline std::string At(const std::string& script, int line) {
  return " script: " + Sha1Hex(script) + ", on @user_script:" + std::to_string(line) + ".";
}

}  // namespace script_test
}  // namespace lockq::sm
