#pragma once
// Reads of libraft 0.15's struct raft that it has no API for, shared by
// consensus::Node and the simulation (so both see the same thing), and the
// one incoming-message rewrite lockq makes (WaiveSilentLeader).

#include <cstdint>
#include <utility>
#include <vector>

#include "consensus/raft_c.h"

namespace lockq::consensus {

// Leader only: the other voters, each with whether it answered within the
// current election-timeout window (progress.recent_recv, cleared every
// election timeout). Empty when `r` is not the leader.
std::vector<std::pair<uint64_t, bool>> VoterContactsOf(const struct raft* r);

// Leader only: the voter a leadership transfer should go to, the most
// up-to-date one: among the other voters heard from in the current
// election-timeout window, the highest match index (so libraft can send
// TimeoutNow at once instead of first catching it up); among silent ones
// only if none answered. 0: no other voter, or `r` is not the leader.
// libraft's own choice (raft_transfer with id 0) takes the first voter
// that is up to date, else the last one listed, which may be a dead node.
uint64_t TransfereeOf(const struct raft* r);

// libraft 0.15 refuses every vote, pre-votes included, while a follower
// knows a leader (recv_request_vote.c), and forgets the leader only when
// its own randomized timer fires. So with the leader gone, the follower
// that times out first is refused by the other until that one's timer
// fires too: the election waits for the later of two timers drawn in
// [T, 2T) (T: --election-timeout-ms), about 1.67 T instead of 1.33 T.
// The Raft thesis (§4.2.3) withholds votes only "within the minimum
// election timeout of hearing from a current leader". Called on every
// incoming message before libraft sees it: a RequestVote reaching a
// follower that has not heard from its leader for T is marked
// disrupt_leader, the flag libraft's own transfers use to pass that check
// (its only use on the receiving side), so the first candidate gets its
// votes (docs/consensus.md "Timeouts and failover"). Safety is untouched:
// the vote still needs an up-to-date log and a current term. (Clearing the
// follower's leader instead crashed libraft: a follower's late append
// reply goes to the current leader's address, then NULL.)
void WaiveSilentLeader(const struct raft* r, struct raft_message* msg);

}  // namespace lockq::consensus
