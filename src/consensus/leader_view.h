#pragma once
// Reads of libraft 0.15's struct raft that it has no API for, shared by
// consensus::Node and the simulation (so both see the same thing).

#include <cstdint>
#include <utility>
#include <vector>

#include "consensus/raft_c.h"

namespace lockq::consensus {

// Leader only: the other voters, each with whether it answered within the
// current election-timeout window (progress.recent_recv, cleared every
// election timeout). Empty when `r` is not the leader.
std::vector<std::pair<uint64_t, bool>> VoterContactsOf(const struct raft* r);

}  // namespace lockq::consensus
