// LOCKQ.FORWARD (follower -> leader plumbing) and LOCKQ.CLUSTER (operator
// commands behind `lockq cluster ...`).

#include <memory>

#include "common/strings.h"
#include "consensus/node.h"
#include "server/resp/resp_session.h"
#include "server/core.h"
#include "server/resp/local_table.h"
#include "server/resp/resp_server.h"
#include "sm/state_machine.h"

namespace lockq::server {

namespace {

using sm::Reply;

// Collects the replies of one forwarded batch and answers when all are in.
struct ForwardJoin {
  std::weak_ptr<RespSession> conn;
  uint64_t slot = 0;
  std::vector<Reply> replies;
  size_t remaining = 0;
};

std::string LeaderHint(Core& core) {
  uint64_t leader = core.node().leader_id();
  if (leader == 0) return "no leader is elected";
  const auto& nodes = core.state().nodes();
  auto it = nodes.find(leader);
  return "the leader is node " + std::to_string(leader) +
         (it != nodes.end() ? " at " + it->second.resp_addr : std::string());
}

Reply MemberReply(const consensus::MemberStatus& m, const std::map<uint64_t, sm::NodeInfo>& nodes) {
  auto it = nodes.find(m.id);
  return Reply::Map({Reply::Bulk("id"), Reply::Int(static_cast<int64_t>(m.id)), Reply::Bulk("raft_addr"),
                     Reply::Bulk(m.address), Reply::Bulk("resp_addr"),
                     Reply::Bulk(it != nodes.end() ? it->second.resp_addr : ""), Reply::Bulk("role"),
                     Reply::Bulk(m.role)});
}

Reply StatusReply(Core& core) {
  consensus::NodeStatus s = core.node().GetStatus();
  const auto& nodes = core.state().nodes();
  std::vector<Reply> members;
  for (const auto& m : s.members) members.push_back(MemberReply(m, nodes));
  auto leader_it = nodes.find(s.leader_id);
  auto I = [](uint64_t v) { return Reply::Int(static_cast<int64_t>(v)); };
  return Reply::Map({Reply::Bulk("id"), I(s.id), Reply::Bulk("raft_addr"), Reply::Bulk(s.address),
                     Reply::Bulk("resp_addr"), Reply::Bulk(core.config().RespAddress()), Reply::Bulk("role"),
                     Reply::Bulk(consensus::RoleName(s.role)), Reply::Bulk("term"), I(s.term),
                     Reply::Bulk("leader_id"), I(s.leader_id), Reply::Bulk("leader_raft_addr"),
                     Reply::Bulk(s.leader_address), Reply::Bulk("leader_resp_addr"),
                     Reply::Bulk(leader_it != nodes.end() ? leader_it->second.resp_addr : ""),
                     Reply::Bulk("commit_index"), I(s.commit_index), Reply::Bulk("applied_index"),
                     I(s.applied_index), Reply::Bulk("last_index"), I(s.last_index), Reply::Bulk("snapshot_index"),
                     I(s.snapshot_index), Reply::Bulk("snapshots_taken"), I(s.snapshots_taken),
                     Reply::Bulk("snapshots_restored"), I(s.snapshots_restored),
                     Reply::Bulk("snapshots_decoded_off_loop"), I(s.snapshots_decoded_ahead), Reply::Bulk("members"),
                     Reply::Array(std::move(members))});
}

// Completes `slot` when a membership change or transfer finishes.
consensus::Node::DoneCb FillWhenDone(const std::shared_ptr<RespSession>& conn, uint64_t slot) {
  std::weak_ptr<RespSession> weak = conn;
  return [weak, slot](Status s) {
    if (auto c = weak.lock()) c->Fill(slot, s.ok() ? Reply::Ok() : Reply::Error("ERR " + s.message()));
  };
}

}  // namespace

std::optional<Reply> Forward(LocalCtx& c) {
  auto argvs = sm::DecodeArgvList(c.argv[1]);
  if (!argvs.ok()) return Reply::Error("ERR malformed LOCKQ.FORWARD payload");
  Core& core = c.server.core();
  if (!core.node().is_leader()) return Reply::Error("TRYAGAIN this node is not the leader");
  auto join = std::make_shared<ForwardJoin>();
  join->conn = c.conn;
  join->slot = c.slot;
  join->replies.resize(argvs->size());
  join->remaining = argvs->size();
  if (join->remaining == 0) return Reply::Bulk(sm::EncodeReplies({}));
  for (size_t i = 0; i < argvs->size(); i++) {
    auto done = [join, i](Reply r) {
      join->replies[i] = std::move(r);
      if (--join->remaining == 0) {
        if (auto conn = join->conn.lock()) conn->Fill(join->slot, Reply::Bulk(sm::EncodeReplies(join->replies)));
      }
    };
    sm::Argv& argv = (*argvs)[i];
    if (auto err = sm::StateMachine::PrecheckForwarded(argv)) {
      done(*err);
      continue;
    }
    core.Submit(std::move(argv), done, /*may_forward=*/false);
  }
  return std::nullopt;
}

std::optional<Reply> Cluster(LocalCtx& c) {
  Core& core = c.server.core();
  std::string sub = ToUpper(c.argv[1]);
  size_t n = c.argv.size();
  if (sub == "STATUS" && n == 2) return StatusReply(core);
  if (sub != "TRANSFER" && sub != "ADD" && sub != "REMOVE") {
    return Reply::Error("ERR unknown subcommand '" + c.argv[1] + "'; use STATUS, TRANSFER [id], ADD id raft_addr, REMOVE id");
  }
  if (!core.node().is_leader()) return Reply::Error("ERR not the leader; " + LeaderHint(core));
  std::optional<int64_t> id = n >= 3 ? ParseInt64(c.argv[2]) : std::optional<int64_t>(0);
  if (!id || *id < 0) return Reply::Error("ERR node id must be a non-negative integer");
  Status s;
  if (sub == "TRANSFER" && n <= 3) {
    s = core.node().Transfer(static_cast<uint64_t>(*id), FillWhenDone(c.conn, c.slot));
  } else if (sub == "ADD" && n == 4 && *id > 0) {
    s = core.node().AddVoter(static_cast<uint64_t>(*id), c.argv[3], FillWhenDone(c.conn, c.slot));
  } else if (sub == "REMOVE" && n == 3 && *id > 0) {
    s = core.node().Remove(static_cast<uint64_t>(*id), FillWhenDone(c.conn, c.slot));
  } else {
    return Reply::Error("ERR wrong arguments; use TRANSFER [id], ADD id raft_addr, REMOVE id");
  }
  if (!s.ok()) return Reply::Error("ERR " + s.message());
  return std::nullopt;
}

}  // namespace lockq::server
