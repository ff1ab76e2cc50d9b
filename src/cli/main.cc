// lockq: the operator's command-line tool. Talks RESP to any node
// (--server HOST:PORT, or $LOCKQ_SERVER; default 127.0.0.1:6379).
//
//   lockq cluster status [--json]
//   lockq cluster transfer [ID] | add ID RAFT_ADDR | remove ID
//   lockq call COMMAND [ARGS...]        (any command, reply printed)
//
// Membership changes must run on the leader: the CLI asks the given node
// who leads and sends the change there.

#include <CLI/CLI.hpp>
#include <nlohmann/json.hpp>

#include <cstdlib>
#include <iostream>

#include "client/resp_connection.h"
#include "sm/reply.h"

namespace {

using lockq::client::RespConnection;
using lockq::sm::Reply;

// Converts a reply to JSON (maps become objects).
nlohmann::json ToJson(const Reply& r) {
  switch (r.kind) {
    case Reply::Kind::kNull:
    case Reply::Kind::kNullArray: return nullptr;
    case Reply::Kind::kInt: return r.integer;
    case Reply::Kind::kBool: return r.integer != 0;
    case Reply::Kind::kError: return {{"error", r.str}};
    case Reply::Kind::kMap: {
      nlohmann::json o = nlohmann::json::object();
      for (size_t i = 0; i + 1 < r.elems.size(); i += 2) o[r.elems[i].str] = ToJson(r.elems[i + 1]);
      return o;
    }
    case Reply::Kind::kArray:
    case Reply::Kind::kSet:
    case Reply::Kind::kPush: {
      nlohmann::json a = nlohmann::json::array();
      for (const auto& e : r.elems) a.push_back(ToJson(e));
      return a;
    }
    default: return r.str;
  }
}

// RESP2 servers send maps as flat arrays; HELLO 3 makes them maps.
int Fail(const std::string& msg) {
  std::cerr << "lockq: " << msg << "\n";
  return 1;
}

lockq::Result<Reply> CallOn(const std::string& server, const lockq::sm::Argv& argv) {
  auto conn = RespConnection::Connect(server);
  if (!conn.ok()) return conn.status();
  auto hello = conn->Call({"HELLO", "3"});
  if (!hello.ok()) return hello.status();
  return conn->Call(argv);
}

void PrintStatus(const nlohmann::json& s) {
  std::cout << "node " << s["id"] << " (" << s["role"].get<std::string>() << ", term " << s["term"]
            << ")  leader: " << s["leader_id"] << " " << s["leader_resp_addr"].get<std::string>() << "\n"
            << "commit " << s["commit_index"] << "  applied " << s["applied_index"] << "  last " << s["last_index"]
            << "  snapshot " << s["snapshot_index"] << "\n\n";
  std::printf("%-4s %-22s %-22s %-8s\n", "ID", "RAFT ADDRESS", "CLIENT ADDRESS", "ROLE");
  for (const auto& m : s["members"]) {
    std::string mark = m["id"] == s["leader_id"] ? " (leader)" : "";
    std::printf("%-4llu %-22s %-22s %-8s%s\n", m["id"].get<unsigned long long>(),
                m["raft_addr"].get<std::string>().c_str(), m["resp_addr"].get<std::string>().c_str(),
                m["role"].get<std::string>().c_str(), mark.c_str());
  }
}

int RunOnLeader(const std::string& server, const lockq::sm::Argv& argv) {
  auto status = CallOn(server, {"LOCKQ.CLUSTER", "STATUS"});
  if (!status.ok()) return Fail(status.status().ToString());
  nlohmann::json s = ToJson(status.value());
  std::string leader = s.value("leader_resp_addr", "");
  if (leader.empty()) return Fail("no leader is known to " + server + "; retry shortly");
  auto r = CallOn(leader, argv);
  if (!r.ok()) return Fail(r.status().ToString());
  if (r->is_error()) return Fail(r->str);
  std::cout << "OK\n";
  return 0;
}

}  // namespace

int main(int argc, char** argv) {
  CLI::App app{"lockq: command-line tool for lockq clusters"};
  app.require_subcommand(1);
  const char* env = std::getenv("LOCKQ_SERVER");
  std::string server = env ? env : "127.0.0.1:6379";
  app.add_option("--server,-s", server, "HOST:PORT of any node (env LOCKQ_SERVER)")->capture_default_str();
  bool json = false;
  app.add_flag("--json", json, "Print JSON instead of tables");

  auto* cluster = app.add_subcommand("cluster", "Cluster membership and status");
  cluster->require_subcommand(1);
  cluster->add_subcommand("status", "Members, roles, term, commit/applied index, leader");
  uint64_t id = 0;
  std::string raft_addr;
  auto* transfer = cluster->add_subcommand("transfer", "Move leadership (to ID, or the most up-to-date follower)");
  transfer->add_option("id", id, "Target node id");
  auto* add = cluster->add_subcommand("add", "Add a node (started with --join) as a voter");
  add->add_option("id", id, "Node id")->required();
  add->add_option("raft_addr", raft_addr, "Its HOST:PORT raft address")->required();
  auto* remove = cluster->add_subcommand("remove", "Remove a node");
  remove->add_option("id", id, "Node id")->required();

  std::vector<std::string> words;
  auto* call = app.add_subcommand("call", "Send any command and print the reply");
  call->add_option("command", words, "COMMAND [ARGS...]")->required();

  CLI11_PARSE(app, argc, argv);

  if (call->parsed()) {
    auto r = CallOn(server, words);
    if (!r.ok()) return Fail(r.status().ToString());
    if (json) std::cout << ToJson(r.value()).dump(2) << "\n";
    else std::cout << lockq::sm::ToDebugString(r.value()) << "\n";
    return r->is_error() ? 1 : 0;
  }
  if (cluster->got_subcommand("status")) {
    auto r = CallOn(server, {"LOCKQ.CLUSTER", "STATUS"});
    if (!r.ok()) return Fail(r.status().ToString());
    if (r->is_error()) return Fail(r->str);
    nlohmann::json s = ToJson(r.value());
    if (json) std::cout << s.dump(2) << "\n";
    else PrintStatus(s);
    return 0;
  }
  if (transfer->parsed()) return RunOnLeader(server, {"LOCKQ.CLUSTER", "TRANSFER", std::to_string(id)});
  if (add->parsed()) return RunOnLeader(server, {"LOCKQ.CLUSTER", "ADD", std::to_string(id), raft_addr});
  if (remove->parsed()) return RunOnLeader(server, {"LOCKQ.CLUSTER", "REMOVE", std::to_string(id)});
  return 0;
}
