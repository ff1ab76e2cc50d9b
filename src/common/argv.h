#pragma once
// Argv: one command as a Redis client sends it ("SET", "k", "v", "PX",
// "100"). The RESP parser produces it, the client writes it, the log entry
// carries it (sm/command.h, which aliases it as sm::Argv). It lives in common
// so that src/resp and src/client need not include the state machine's
// headers (docs/architecture.md "Layers").

#include <string>
#include <vector>

namespace lockq {

using Argv = std::vector<std::string>;

}  // namespace lockq
