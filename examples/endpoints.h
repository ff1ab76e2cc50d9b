#pragma once
// Shared by the examples: where the cluster is.

#include <cstdlib>
#include <string>
#include <vector>

namespace example {

// "host:port,host:port" from argv[1], else $LOCKQ_SERVER, else the
// default; an empty value counts as absent.
inline std::vector<std::string> Endpoints(int argc, char** argv) {
  const char* env = std::getenv("LOCKQ_SERVER");
  std::string list = argc > 1 && *argv[1] ? argv[1] : env && *env ? env : "127.0.0.1:6379";
  std::vector<std::string> out;
  for (size_t start = 0; start <= list.size();) {
    size_t comma = list.find(',', start);
    if (comma == std::string::npos) comma = list.size();
    if (comma > start) out.push_back(list.substr(start, comma - start));
    start = comma + 1;
  }
  return out;
}

}  // namespace example
