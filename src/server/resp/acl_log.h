#pragma once
// ACL LOG (Redis 7, WAVE2.md A.1): this node's recent denials and failed
// logins, newest first, at most kEntriesMax. A denial like one logged in
// the last kGroupMs (same reason, context, object and user) raises that
// entry's count instead of adding one, as Redis does. Node-local, not
// replicated: each node logs what its own clients tried.
//
// Secrets never enter it: an `auth` entry's object is "AUTH", never the
// password. Thread: the server loop.

#include <cstdint>
#include <deque>
#include <string>

#include "sm/reply.h"

namespace lockq::server {

class AclLog {
 public:
  static constexpr size_t kEntriesMax = 128;  // Redis acllog-max-len
  static constexpr uint64_t kGroupMs = 60000;

  // reason: "command", "key", "channel" or "auth"; context "toplevel" or
  // "lua"; wall clock ms.
  void Add(std::string reason, std::string context, std::string object, std::string username,
           std::string client_info, uint64_t now_ms);
  // ACL LOG [count]: entries as maps, newest first.
  sm::Reply Render(size_t count, uint64_t now_ms) const;
  void Reset() { entries_.clear(); }
  size_t size() const { return entries_.size(); }

 private:
  struct Entry {
    uint64_t count = 1;
    std::string reason, context, object, username, client_info;
    uint64_t entry_id = 0;
    uint64_t created_ms = 0, updated_ms = 0;
  };
  std::deque<Entry> entries_;  // newest first
  uint64_t next_id_ = 0;
};

}  // namespace lockq::server
