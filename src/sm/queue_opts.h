#pragma once
// The option words of queue engine commands (queue_family.cc): flags and
// `ARG k v` pairs after the fixed arguments. Shared by the commands and by
// the AMQP permission table (amqp_access.cc), which reads the same words.

#include <optional>
#include <set>
#include <string>
#include <string_view>
#include <vector>

#include "common/argv.h"
#include "sm/queues.h"
#include "sm/reply.h"

namespace lockq::sm {

struct QueueOpts {
  std::set<std::string> flags;  // upper case
  Headers args;                 // ARG pairs, in order (a value may be any word)
  std::optional<Reply> error;   // a word not in `allowed`: syntax error
};

QueueOpts ParseQueueOpts(const Argv& argv, size_t first, const std::vector<std::string_view>& allowed);

inline const std::vector<std::string_view> kXDeclareFlags = {"DURABLE", "AUTODELETE", "INTERNAL", "PASSIVE"};
inline const std::vector<std::string_view> kQDeclareFlags = {"DURABLE", "EXCLUSIVE", "AUTODELETE", "PASSIVE"};

}  // namespace lockq::sm
