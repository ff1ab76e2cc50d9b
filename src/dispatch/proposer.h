#pragma once
// Proposer: what the dispatcher proposes through. lockqd implements it over
// consensus::Node (server/core.cc); the simulation over raft_fixture
// (tests/testlib/sim_cluster.cc); unit tests with a fake. Keeping libraft
// behind this seam is also what a later libraft swap would use.
//
// Thread: every method and callback on the dispatcher's thread (the loop).

#include <cstdint>
#include <functional>
#include <string_view>
#include <utility>
#include <vector>

#include "common/status.h"

namespace lockq::dispatch {

class Proposer {
 public:
  using DoneCb = std::function<void(Status)>;
  virtual ~Proposer() = default;

  // Appends `entry` (an sm::EncodeBatch payload; the implementation frames
  // it) to the log and returns its index. `done` fires later with Ok once
  // the entry is committed and applied here, or with an error if leadership
  // was lost first (the entry may or may not commit). Fails at once, without
  // calling `done`, when this node is not the leader.
  virtual Result<uint64_t> Propose(std::string_view entry, DoneCb done) = 0;
  virtual bool is_leader() const = 0;
  // The leader this node knows; 0: none.
  virtual uint64_t leader_id() const = 0;
  // This node's id.
  virtual uint64_t id() const = 0;
  // Leader only: the other voters, each with whether it answered within the
  // current election-timeout window. Empty when not leading.
  virtual std::vector<std::pair<uint64_t, bool>> VoterContacts() const = 0;
};

}  // namespace lockq::dispatch
