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

}  // namespace lockq::consensus
