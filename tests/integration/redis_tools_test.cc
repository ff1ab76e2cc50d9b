// Real Redis clients against lockqd: redis-benchmark and redis-cli (Debian
// redis-tools). Throughput numbers are printed, never asserted.

#include <sys/wait.h>
#include <unistd.h>

#include <cstdio>
#include <cstdlib>
#include <sstream>

#include "it_util.h"

namespace lockq::testing {
namespace {

struct CmdResult {
  int exit_code = -1;
  std::string output;  // stdout + stderr
};

// scripts/install-deps installs redis-tools, so CI (CI=true, .ci/run) fails
// when a tool is missing; a developer without them gets a skip.
bool InCi() {
  const char* ci = std::getenv("CI");
  return ci != nullptr && std::string(ci) == "true";
}
#define LQ_REQUIRE_REDIS_TOOL(tool)                                                             \
  if (!HaveTool(tool)) {                                                                       \
    if (InCi()) FAIL() << tool << " (redis-tools) not installed; scripts/install-deps installs it"; \
    GTEST_SKIP() << tool << " (redis-tools) not installed";                                     \
  }

// Runs a shell command with a hard time limit (coreutils `timeout`).
CmdResult RunShell(const std::string& cmd, int timeout_s) {
  CmdResult res;
  std::string full = "timeout -k 5 " + std::to_string(timeout_s) + " " + cmd + " 2>&1";
  FILE* p = ::popen(full.c_str(), "r");
  if (p == nullptr) return res;
  char buf[4096];
  size_t n;
  while ((n = std::fread(buf, 1, sizeof(buf), p)) > 0) {
    if (res.output.size() < (4 << 20)) res.output.append(buf, n);
  }
  int status = ::pclose(p);
  res.exit_code = WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
  return res;
}

bool HaveTool(const std::string& name) {
  return std::system(("command -v " + name + " >/dev/null 2>&1").c_str()) == 0;
}

// redis-benchmark -q rewrites its progress line with '\r'; keep the final
// lines ("SET: 12345.67 requests per second, p50=...").
std::vector<std::string> ResultLines(const std::string& out) {
  std::vector<std::string> lines;
  std::string cur;
  for (char ch : out) {
    if (ch == '\r' || ch == '\n') {
      if (cur.find("requests per second") != std::string::npos) lines.push_back(cur);
      cur.clear();
    } else {
      cur += ch;
    }
  }
  if (cur.find("requests per second") != std::string::npos) lines.push_back(cur);
  return lines;
}

std::string Lower(std::string s) {
  for (auto& ch : s) ch = static_cast<char>(std::tolower(static_cast<unsigned char>(ch)));
  return s;
}

void RunBenchmark(int port, const std::string& args, const char* label) {
  std::string cmd = "redis-benchmark -h 127.0.0.1 -p " + std::to_string(port) + " " + args;
  CmdResult r = RunShell(cmd, 150);
  std::vector<std::string> lines = ResultLines(r.output);
  std::printf("[redis-benchmark %s] %s -> exit %d\n", label, cmd.c_str(), r.exit_code);
  for (const auto& l : lines) std::printf("[redis-benchmark %s]   %s\n", label, l.c_str());
  EXPECT_EQ(r.exit_code, 0) << cmd << "\n" << r.output.substr(0, 4000);
  std::string lower = Lower(r.output);
  EXPECT_EQ(lower.find("error"), std::string::npos) << cmd << " printed an error:\n" << r.output.substr(0, 4000);
  EXPECT_EQ(lower.find("err "), std::string::npos) << cmd << ":\n" << r.output.substr(0, 4000);
  for (const char* test : {"PING_INLINE", "PING_MBULK", "SET", "GET", "INCR"}) {
    bool found = false;
    for (const auto& l : lines) {
      if (l.rfind(std::string(test) + ":", 0) == 0) found = true;
    }
    EXPECT_TRUE(found) << "no result line for " << test << " in:\n" << r.output.substr(0, 4000);
  }
}

TEST(RedisToolsIT, RedisBenchmarkRunsClean) {
  LQ_REQUIRE_REDIS_TOOL("redis-benchmark");
  ProcessCluster c(ClusterOptions{.nodes = 1});
  LQ_ASSERT_OK(c.Start());
  RunBenchmark(c.RespPort(0), "-t ping,set,get,incr -P 16 -n 20000 -c 20 -q", "pipelined -P 16");
  RunBenchmark(c.RespPort(0), "-t ping,set,get,incr -n 5000 -c 20 -q", "no pipelining");
  // The counter INCR touched ("counter:__rand_int__" with no -r) is exact:
  // 20000 + 5000 increments, each acknowledged.
  LQ_CONNECT(conn, c, 0);
  auto r = conn.Call({"GET", "counter:__rand_int__"});
  ASSERT_TRUE(r.ok()) << r.status().ToString();
  EXPECT_EQ(r->str, "25000") << Dbg(r.value());
}

TEST(RedisToolsIT, RedisCliWorks) {
  LQ_REQUIRE_REDIS_TOOL("redis-cli");
  ProcessCluster c(ClusterOptions{.nodes = 1});
  LQ_ASSERT_OK(c.Start());
  std::string cli = "redis-cli -h 127.0.0.1 -p " + std::to_string(c.RespPort(0));
  auto run = [&](const std::string& args) {
    CmdResult r = RunShell(cli + " " + args, 20);
    std::printf("[redis-cli] %s -> exit %d: %s", args.c_str(), r.exit_code,
                r.output.size() > 400 ? (r.output.substr(0, 400) + "...\n").c_str() : r.output.c_str());
    EXPECT_EQ(r.exit_code, 0) << args << ": " << r.output;
    return r.output;
  };
  EXPECT_EQ(run("SET k v"), "OK\n");
  EXPECT_EQ(run("GET k"), "v\n");
  EXPECT_EQ(run("--no-raw GET k"), "\"v\"\n");
  EXPECT_EQ(run("--no-raw GET missing"), "(nil)\n");
  EXPECT_EQ(run("--no-raw INCR n"), "(integer) 1\n");
  std::string info = run("INFO replication");
  EXPECT_NE(info.find("raft_role:leader"), std::string::npos) << info;
  EXPECT_NE(info.find("role:master"), std::string::npos) << info;
  // RESP3: redis-cli -3 sends HELLO 3 first.
  EXPECT_EQ(run("-3 GET k"), "v\n");
  std::string hello = run("-3 --no-raw HELLO 3");
  EXPECT_NE(hello.find("lockq"), std::string::npos) << hello;
  EXPECT_NE(hello.find("proto"), std::string::npos) << hello;
  std::string status = run("-3 --no-raw LOCKQ.CLUSTER STATUS");
  EXPECT_NE(status.find("applied_index"), std::string::npos) << status;
  // An error reply is printed as such (exit code stays 0 for redis-cli).
  std::string err = run("--no-raw NOSUCHCOMMAND a b");
  EXPECT_NE(err.find("ERR"), std::string::npos) << err;
  // Inline mode through stdin, as a pipe.
  CmdResult piped = RunShell("printf 'SET p 1\\nINCR p\\nGET p\\n' | " + cli, 20);
  EXPECT_EQ(piped.exit_code, 0) << piped.output;
  EXPECT_EQ(piped.output, "OK\n2\n2\n") << piped.output;
}

}  // namespace
}  // namespace lockq::testing
