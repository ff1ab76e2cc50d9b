#include "consensus/leader_view.h"

namespace lockq::consensus {

std::vector<std::pair<uint64_t, bool>> VoterContactsOf(const struct raft* r) {
  std::vector<std::pair<uint64_t, bool>> out;
  if (raft_state(const_cast<struct raft*>(r)) != RAFT_LEADER || r->leader_state.progress == nullptr) return out;
  for (unsigned i = 0; i < r->configuration.n; i++) {
    const struct raft_server& s = r->configuration.servers[i];
    if (s.id == r->id || s.role != RAFT_VOTER) continue;
    out.emplace_back(s.id, r->leader_state.progress[i].recent_recv);
  }
  return out;
}

uint64_t TransfereeOf(const struct raft* r) {
  if (raft_state(const_cast<struct raft*>(r)) != RAFT_LEADER || r->leader_state.progress == nullptr) return 0;
  uint64_t best = 0;
  std::pair<bool, raft_index> best_rank{false, 0};  // (heard from recently, match index), compared in that order
  for (unsigned i = 0; i < r->configuration.n; i++) {
    const struct raft_server& s = r->configuration.servers[i];
    if (s.id == r->id || s.role != RAFT_VOTER) continue;
    const struct raft_progress& p = r->leader_state.progress[i];
    std::pair<bool, raft_index> rank{p.recent_recv, p.match_index};
    if (best == 0 || rank > best_rank) {
      best = s.id;
      best_rank = rank;
    }
  }
  return best;
}

void WaiveSilentLeader(const struct raft* r, struct raft_message* msg) {
  if (msg->type != RAFT_IO_REQUEST_VOTE || r->state != RAFT_FOLLOWER) return;
  if (r->follower_state.current_leader.id == 0) return;
  if (r->io->time(r->io) - r->election_timer_start < r->election_timeout) return;
  msg->request_vote.disrupt_leader = true;
}

}  // namespace lockq::consensus
