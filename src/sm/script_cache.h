#pragma once
// The Lua script cache (EVAL, EVALSHA, SCRIPT LOAD/EXISTS/FLUSH): sha1 hex of
// the body -> body. It is replicated state: EVAL and SCRIPT LOAD/FLUSH are
// log commands, so every replica holds the same scripts, and the cache is in
// the snapshot (docs/state-machine.md "Snapshot", version 2). Only the source
// is kept here; compiled chunks live in the state machine's Lua state
// (script_vm.h), which is rebuilt from nothing when needed, so nothing here
// depends on a Lua state.
//
// Bounded (STYLE.md habit 8): at most kScriptsMax scripts and
// kScriptCacheBytesMax bytes of bodies; Add() refuses beyond that and the
// client gets errors::kScriptCacheFull.

#include <cstddef>
#include <cstdint>
#include <map>
#include <string>
#include <string_view>

namespace lockq::sm {

inline constexpr size_t kScriptsMax = 10000;
inline constexpr uint64_t kScriptCacheBytesMax = uint64_t{64} << 20;

class ScriptCache {
 public:
  using Map = std::map<std::string, std::string, std::less<>>;

  // The body cached under `sha` (40 lower-case hex digits), or nullptr.
  const std::string* Find(std::string_view sha) const {
    auto it = scripts_.find(sha);
    return it == scripts_.end() ? nullptr : &it->second;
  }
  // Adds `body` under `sha` (the caller computed Sha1Hex(body)). True when
  // it is cached afterwards; false, and nothing changes, when the cache is
  // full.
  bool Add(std::string sha, std::string_view body) {
    if (scripts_.count(sha) != 0) return true;
    if (scripts_.size() >= kScriptsMax || body.size() > kScriptCacheBytesMax - bytes_) {
      return false;
    }
    bytes_ += body.size();
    scripts_.emplace(std::move(sha), std::string(body));
    return true;
  }
  void Clear() {
    scripts_.clear();
    bytes_ = 0;
  }

  size_t size() const { return scripts_.size(); }
  uint64_t body_bytes() const { return bytes_; }
  const Map& map() const { return scripts_; }

 private:
  Map scripts_;
  uint64_t bytes_ = 0;  // sum of body sizes
};

}  // namespace lockq::sm
