// lockq cluster status|transfer|add|remove and lockq call.
//
// Membership changes must run on the leader: the CLI asks the node it
// reaches who leads (LOCKQ.CLUSTER STATUS leader_resp_addr) and sends the
// change there, through a Client of that one endpoint.

#include <cstdio>

#include "cli/output.h"

namespace lockq::cli {

namespace {

Result<nlohmann::json> ClusterStatus(Client& client) {
  auto r = client.Call({"LOCKQ.CLUSTER", "STATUS"}, CallOptions{.idempotent = true});
  if (!r.ok()) return r.status();
  return ToJson(*r);
}

void PrintStatus(const nlohmann::json& s) {
  std::printf("node %s (%s, term %s)  leader: %s %s\n", Cell(s.value("id", nlohmann::json())).c_str(),
              Cell(s.value("role", nlohmann::json())).c_str(), Cell(s.value("term", nlohmann::json())).c_str(),
              Cell(s.value("leader_id", nlohmann::json())).c_str(),
              Cell(s.value("leader_resp_addr", nlohmann::json())).c_str());
  std::printf("commit %s  applied %s  last %s  snapshot %s\n\n",
              Cell(s.value("commit_index", nlohmann::json())).c_str(),
              Cell(s.value("applied_index", nlohmann::json())).c_str(),
              Cell(s.value("last_index", nlohmann::json())).c_str(),
              Cell(s.value("snapshot_index", nlohmann::json())).c_str());
  Table t({"ID", "RAFT ADDRESS", "CLIENT ADDRESS", "ROLE", ""});
  for (const auto& m : s.value("members", nlohmann::json::array())) {
    bool leads = m.value("id", nlohmann::json()) == s.value("leader_id", nlohmann::json());
    t.Add({Cell(m.value("id", nlohmann::json())), Cell(m.value("raft_addr", nlohmann::json())),
           Cell(m.value("resp_addr", nlohmann::json())), Cell(m.value("role", nlohmann::json())),
           leads ? "(leader)" : ""});
  }
  t.Print();
}

int RunOnLeader(const Globals& g, std::vector<std::string> argv) {
  auto any = MakeClient(g);
  auto status = ClusterStatus(*any);
  if (!status.ok()) return Fail(status.status());
  std::string leader = status->value("leader_resp_addr", "");
  if (leader.empty()) return Fail("no leader is known to " + any->endpoint() + "; retry shortly");
  Client on_leader({leader});
  auto r = on_leader.Call(std::move(argv));
  if (!r.ok()) return Fail(r.status());
  if (g.json) {
    PrintJson({{"ok", true}, {"leader", leader}});
  } else {
    std::printf("OK (on leader %s)\n", leader.c_str());
  }
  return kExitOk;
}

}  // namespace

void AddClusterCommands(CLI::App& app, Globals& g) {
  auto* cluster = app.add_subcommand("cluster", "Cluster membership and status");
  cluster->require_subcommand(1);
  auto* status = cluster->add_subcommand("status", "Members, roles, term, commit/applied index, leader");
  status->callback([&g] {
    g.action = [&g] {
      auto client = MakeClient(g);
      auto s = ClusterStatus(*client);
      if (!s.ok()) return Fail(s.status());
      if (g.json) {
        PrintJson(*s);
      } else {
        PrintStatus(*s);
      }
      return kExitOk;
    };
  });

  struct Args {
    uint64_t id = 0;
    std::string raft_addr;
    std::vector<std::string> words;
  };
  auto a = std::make_shared<Args>();
  auto* transfer = cluster->add_subcommand("transfer", "Move leadership to node ID (or the most up-to-date follower)");
  transfer->add_option("id", a->id, "Target node id (0 or absent: let the leader pick)");
  transfer->callback([&g, a] { g.action = [&g, a] { return RunOnLeader(g, {"LOCKQ.CLUSTER", "TRANSFER", std::to_string(a->id)}); }; });
  auto* add = cluster->add_subcommand("add", "Add a node (started with --join) as a voter");
  add->add_option("id", a->id, "Node id")->required();
  add->add_option("raft_addr", a->raft_addr, "Its HOST:PORT raft address")->required();
  add->callback([&g, a] { g.action = [&g, a] { return RunOnLeader(g, {"LOCKQ.CLUSTER", "ADD", std::to_string(a->id), a->raft_addr}); }; });
  auto* remove = cluster->add_subcommand("remove", "Remove node ID from the cluster");
  remove->add_option("id", a->id, "Node id")->required();
  remove->callback([&g, a] { g.action = [&g, a] { return RunOnLeader(g, {"LOCKQ.CLUSTER", "REMOVE", std::to_string(a->id)}); }; });

  auto* call = app.add_subcommand("call", "Send any command and print the reply (like redis-cli)");
  call->add_option("command", a->words, "COMMAND [ARGS...]")->required();
  call->footer("Not retried after an unknown outcome: a write may or may not have happened then.");
  call->callback([&g, a] {
    g.action = [&g, a] {
      auto client = MakeClient(g);
      auto r = client->Call(a->words);
      if (!r.ok()) return Fail(r.status());
      if (g.json) {
        PrintJson(ToJson(*r));
      } else {
        std::printf("%s\n", ToText(*r).c_str());
      }
      return kExitOk;
    };
  });
}

}  // namespace lockq::cli
