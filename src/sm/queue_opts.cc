#include "sm/queue_opts.h"

#include "common/strings.h"
#include "sm/errors.h"

namespace lockq::sm {

QueueOpts ParseQueueOpts(const Argv& argv, size_t first, const std::vector<std::string_view>& allowed) {
  QueueOpts o;
  for (size_t j = first; j < argv.size(); j++) {
    std::string up = ToUpper(argv[j]);
    if (up == "ARG" && j + 2 < argv.size()) {
      o.args.emplace_back(argv[j + 1], argv[j + 2]);
      j += 2;
      continue;
    }
    bool ok = false;
    for (std::string_view a : allowed) ok = ok || up == a;
    if (!ok) {
      o.error = Reply::Error(std::string(errors::kSyntax));
      return o;
    }
    o.flags.insert(up);
  }
  return o;
}

}  // namespace lockq::sm
