#pragma once
// Shared pieces of the lockq CLI: global options, the Client they make,
// argument parsing (durations, k=v pairs), and output (tables for people,
// JSON for scripts, one-line errors on stderr).

#include <chrono>
#include <cstdio>
#include <functional>
#include <memory>
#include <string>
#include <vector>

#include <CLI/CLI.hpp>
#include <nlohmann/json.hpp>

#include "lockq/client.h"

namespace lockq::cli {

// Exit codes (docs/cli.md "Exit codes").
constexpr int kExitOk = 0;
constexpr int kExitError = 1;   // server, network, not found, lock not acquired
constexpr int kExitUsage = 2;   // bad arguments
constexpr int kExitCannotRun = 126;
constexpr int kExitNotFound = 127;

// What every command sees: the global flags, and the action the chosen
// subcommand sets while CLI11 parses (run after parsing; returns the exit code).
struct Globals {
  std::string servers = "127.0.0.1:6379";  // --server / $LOCKQ_SERVER, comma-separated
  bool json = false;
  std::chrono::milliseconds retry_for{20000};  // --retry-for: how long to ride out an unreachable cluster
  // --user, --password / $LOCKQ_PASSWORD (HELLO 3 AUTH); --tls, --cacert,
  // --cert, --key, --sni (ClientOptions::tls)
  std::string user;
  std::string password;
  TlsOptions tls;
  std::function<int()> action;
};

// "a:1,b:2" -> {"a:1", "b:2"}; empty items dropped.
std::vector<std::string> SplitEndpoints(const std::string& list);
std::unique_ptr<Client> MakeClient(const Globals& g, ClientOptions options = {});

// "500ms", "10s", "2m", "1h", "1.5s"; a bare number is seconds.
Result<std::chrono::milliseconds> ParseDuration(const std::string& text);
// "k=v" -> {k, v}; InvalidArgument without '='.
Result<std::pair<std::string, std::string>> ParseKeyValue(const std::string& text);
// "LOCK:TOKEN" (the lock name may itself contain ':'; the token is after the last one).
Result<std::pair<std::string, uint64_t>> ParseFence(const std::string& text);

// Prints "lockq: <message>" on stderr and returns kExitError.
int Fail(const std::string& message);
int Fail(const Status& status);

// A reply as JSON: maps become objects, nil null, errors {"error": line}.
nlohmann::json ToJson(const Reply& reply);
// A reply the way redis-cli prints it (for `lockq call`).
std::string ToText(const Reply& reply);
// Milliseconds for people: "850ms", "12.3s", "4m05s".
std::string HumanMs(int64_t ms);
// JSON scalar as table text (strings unquoted).
std::string Cell(const nlohmann::json& v);

// A plain-text table: a header row and left-aligned columns.
class Table {
 public:
  explicit Table(std::vector<std::string> header) : header_(std::move(header)) {}
  void Add(std::vector<std::string> row) { rows_.push_back(std::move(row)); }
  bool empty() const { return rows_.empty(); }
  void Print(std::FILE* out = stdout) const;

 private:
  std::vector<std::string> header_;
  std::vector<std::vector<std::string>> rows_;
};

void PrintJson(const nlohmann::json& value);

// `info_cmd name` as JSON with "name" added (LOCK.INFO, Q.INFO).
Result<nlohmann::json> NamedInfo(Client& client, const std::string& info_cmd, const std::string& name);
// `list_cmd MATCH pattern`, then `info_cmd` for each of the first `detailed`
// names (the rest as {"name": ...}); names gone in between are skipped.
Result<nlohmann::json> ListWithInfo(Client& client, const std::string& list_cmd, const std::string& info_cmd,
                                    const std::string& match, size_t detailed);

// Command families (one file each); each adds its subcommands to `app`.
void AddLockCommands(CLI::App& app, Globals& g);
// `lockq lock verify` and `lockq lock keys` (lock_grant_cmd.cc), under `lock`.
void AddLockGrantCommands(CLI::App& lock, Globals& g);
void AddQueueCommands(CLI::App& app, Globals& g);
void AddClusterCommands(CLI::App& app, Globals& g);
void AddBenchCommand(CLI::App& app, Globals& g);

}  // namespace lockq::cli
