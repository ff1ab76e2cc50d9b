// INFO: Redis-style "# Section" / "key:value" text. The Replication section
// speaks Redis's words (role:master|slave) for tools that read them, plus
// lockq's own (raft role, term, leader, indexes).

#include <unistd.h>

#include <fstream>
#include <sstream>

#include "consensus/node.h"
#include "server/core.h"
#include "server/resp/local_commands.h"
#include "server/resp/resp_server.h"
#include "sm/state_machine.h"

namespace lockq::server {

namespace {

size_t ResidentBytes() {
  std::ifstream f("/proc/self/statm");
  size_t pages = 0, resident = 0;
  f >> pages >> resident;
  return resident * static_cast<size_t>(sysconf(_SC_PAGESIZE));
}

void Server(std::ostringstream& o, RespServer& s) {
  uint64_t up_s = (WallClockMs() - s.started_ms()) / 1000;
  o << "# Server\r\nredis_version:7.2.0\r\nlockq_version:0.1.0\r\nredis_mode:standalone\r\nprocess_id:" << getpid()
    << "\r\ntcp_port:" << s.config().resp_port << "\r\nuptime_in_seconds:" << up_s
    << "\r\nnode_id:" << s.config().node_id << "\r\n\r\n";
}

void Clients(std::ostringstream& o, RespServer& s) {
  // connected_peers: followers' forward links (lockq's own field), not clients.
  o << "# Clients\r\nconnected_clients:" << s.client_count() << "\r\nconnected_peers:" << s.peer_count()
    << "\r\nmaxclients:" << s.config().limits.max_clients << "\r\n\r\n";
}

void Memory(std::ostringstream& o) {
  size_t rss = ResidentBytes();
  o << "# Memory\r\nused_memory:" << rss << "\r\nused_memory_rss:" << rss << "\r\n\r\n";
}

void Stats(std::ostringstream& o, RespServer& s) {
  const RespStats& st = s.stats();
  o << "# Stats\r\ntotal_connections_received:" << st.connections_accepted
    << "\r\nrejected_connections:" << st.connections_rejected
    << "\r\ntotal_commands_processed:" << st.commands_processed << "\r\nprotocol_errors:" << st.protocol_errors
    << "\r\noutput_limit_disconnects:" << st.output_limit_disconnects
    << "\r\nraft_batches_proposed:" << s.core().batches_proposed()
    << "\r\nraft_commands_proposed:" << s.core().commands_proposed()
    << "\r\nforwarded_commands:" << s.core().commands_forwarded()
    // Users and permissions (Redis's names where it has them).
    << "\r\nacl_access_denied_auth:" << st.acl_access_denied_auth
    << "\r\nacl_access_denied_cmd:" << st.acl_access_denied_cmd
    << "\r\nacl_access_denied_key:" << st.acl_access_denied_key
    << "\r\nprotected_mode_refused:" << st.protected_mode_refused
    << "\r\nauth_delayed_replies:" << st.auth_delayed_replies
    << "\r\nauth_last_delay_ms:" << s.auth_throttle().last_delay_ms() << "\r\n\r\n";
}

void Replication(std::ostringstream& o, RespServer& s) {
  Core& core = s.core();
  consensus::NodeStatus st = core.node().GetStatus();
  const auto& nodes = core.state().nodes();
  auto leader = nodes.find(st.leader_id);
  bool is_leader = st.role == consensus::Role::kLeader;
  o << "# Replication\r\nrole:" << (is_leader ? "master" : "slave") << "\r\nraft_role:" << consensus::RoleName(st.role)
    << "\r\nraft_term:" << st.term << "\r\nleader_id:" << st.leader_id << "\r\nleader_raft_addr:" << st.leader_address
    << "\r\nleader_resp_addr:" << (leader != nodes.end() ? leader->second.resp_addr : "")
    << "\r\ncommit_index:" << st.commit_index << "\r\napplied_index:" << st.applied_index
    << "\r\nlast_index:" << st.last_index << "\r\nsnapshot_index:" << st.snapshot_index
    << "\r\nsnapshots_taken:" << st.snapshots_taken << "\r\nsnapshots_restored:" << st.snapshots_restored
    << "\r\nsnapshots_decoded_off_loop:" << st.snapshots_decoded_ahead
    << "\r\nmembers:" << st.members.size() << "\r\n";
  for (size_t i = 0; i < st.members.size(); i++) {
    const auto& m = st.members[i];
    o << "member" << i << ":id=" << m.id << ",raft_addr=" << m.address << ",role=" << m.role << "\r\n";
  }
  if (!is_leader && leader != nodes.end()) {
    size_t colon = leader->second.resp_addr.rfind(':');
    o << "master_host:" << leader->second.resp_addr.substr(0, colon)
      << "\r\nmaster_port:" << leader->second.resp_addr.substr(colon + 1) << "\r\nmaster_link_status:up\r\n";
  }
  o << "\r\n";
}

void Keyspace(std::ostringstream& o, RespServer& s) {
  const sm::StateMachine& state = s.core().state();
  o << "# Keyspace\r\n";
  if (state.key_count() > 0) {
    o << "db0:keys=" << state.key_count() << ",expires=" << state.expiring_key_count() << ",avg_ttl=0\r\n";
  }
  o << "\r\n";
}

// lockq's native locks (docs/locks.md), from this node's applied state.
void Locks(std::ostringstream& o, RespServer& s) {
  const sm::StateMachine& state = s.core().state();
  o << "# Locks\r\nlock_holders:" << state.lock_holder_count() << "\r\nlock_waiters:" << state.lock_waiter_count()
    << "\r\nlock_sessions:" << state.session_count() << "\r\nlock_last_token:" << state.last_lock_token()
    << "\r\n\r\n";
}

// The loop's busy time per turn (server/loop_lag.h): lockq's own section.
// loop_busy_le_<N>ms counts the turns that took more than the previous
// bound and at most N ms; loop_busy_gt_<last>ms the rest.
void Latency(std::ostringstream& o, RespServer& s) {
  const LoopLag& lag = s.core().loop_lag();
  o << "# Latency\r\nloop_turns:" << lag.turns() << "\r\nloop_busy_max_us:" << lag.max_us() << "\r\n";
  for (size_t i = 0; i < LoopLag::kBoundsMs.size(); i++) {
    o << "loop_busy_le_" << LoopLag::kBoundsMs[i] << "ms:" << lag.bucket(i) << "\r\n";
  }
  o << "loop_busy_gt_" << LoopLag::kBoundsMs.back() << "ms:" << lag.bucket(LoopLag::kBoundsMs.size()) << "\r\n\r\n";
}

}  // namespace

std::string BuildInfo(RespServer& server, std::string_view section) {
  std::ostringstream o;
  bool all = section == "default" || section == "all" || section == "everything";
  if (all || section == "server") Server(o, server);
  if (all || section == "clients") Clients(o, server);
  if (all || section == "memory") Memory(o);
  if (all || section == "stats") Stats(o, server);
  if (all || section == "replication") Replication(o, server);
  if (all || section == "keyspace") Keyspace(o, server);
  if (all || section == "locks") Locks(o, server);
  if (all || section == "latency") Latency(o, server);
  std::string out = o.str();
  while (out.size() >= 2 && out.compare(out.size() - 2, 2, "\r\n") == 0) out.resize(out.size() - 2);
  return out + "\r\n";
}

}  // namespace lockq::server
