#pragma once
// Test certificates made by scripts/dev-certs (a CA, server.crt with SANs
// 127.0.0.1/::1/localhost, node1..3, client.crt) at test time, once per
// process and name; each name is its own CA. Removed at exit.

#include <gtest/gtest.h>
#include <unistd.h>

#include <cstdlib>
#include <filesystem>
#include <map>
#include <string>

namespace lockq::testing {

inline std::filesystem::path DevCerts(const std::string& name = "a") {
  namespace fs = std::filesystem;
  static std::map<std::string, fs::path>* made = new std::map<std::string, fs::path>;
  static const fs::path base = [] {
    fs::path b = fs::temp_directory_path() / ("lockq-dev-certs-" + std::to_string(::getpid()));
    std::atexit([] { fs::remove_all(fs::temp_directory_path() / ("lockq-dev-certs-" + std::to_string(::getpid()))); });
    return b;
  }();
  auto it = made->find(name);
  if (it != made->end()) return it->second;
  fs::path dir = base / name;
  std::string cmd = std::string(LOCKQ_SOURCE_DIR) + "/scripts/dev-certs " + dir.string() + " >/dev/null";
  if (std::system(cmd.c_str()) != 0) ADD_FAILURE() << "scripts/dev-certs failed: " << cmd;
  (*made)[name] = dir;
  return dir;
}

}  // namespace lockq::testing
