#pragma once
// Node: one Raft member on libraft's libuv disk and TCP backends. The only
// consensus type the server uses; nothing outside src/consensus sees raft.h
// (this header includes uv.h but not raft.h: the libraft types live in
// Node::Impl, in node.cc; tests/unit/layers_check.py checks it).
//
// Thread: every method and every callback runs on the loop passed to the
// constructor (the server's single event loop). Callbacks never fire from
// inside the call that registered them, except where noted.
//
// Durability: libraft fsyncs entries before counting a server toward a
// majority, so a Propose() callback with Ok means the entry is on the disks
// of a majority and has been applied locally.

#include <uv.h>

#include <cstdint>
#include <functional>
#include <memory>
#include <string>
#include <utility>
#include <vector>

#include "common/status.h"
#include "consensus/fsm.h"
#include "consensus/snapshot_policy.h"
#include "net/peer_link.h"

namespace lockq::consensus {

struct Peer {
  uint64_t id = 0;
  std::string address;  // "host:port" of the raft listener
};

struct NodeOptions {
  uint64_t id = 1;
  std::string address = "127.0.0.1:7379";
  std::string data_dir = "./lockq-data";
  // Bootstrap configuration used when data_dir holds no raft state. Empty:
  // a single voter (this node). Ignored on restart.
  std::vector<Peer> initial_cluster;
  // Start empty and wait to be added by the leader (`lockq cluster add`).
  bool join = false;
  unsigned heartbeat_timeout_ms = 50;
  // Randomized in [T, 2T) by libraft. 200 ms gives a write through a
  // survivor ~0.3-0.6 s after the leader dies (bench/failover; docs/
  // consensus.md "Timeouts and failover"); raise it across slow networks.
  unsigned election_timeout_ms = 200;
  // Resend an InstallSnapshot that got no answer after this long (libraft's
  // default, 30 s, stalls a restarted follower that missed the first one).
  unsigned install_snapshot_timeout_ms = 5000;
  SnapshotPolicy snapshot;
  // Raft links go through it (authenticated, net/peer_link.h). Required;
  // must outlive the Node. The caller binds it (PeerEndpoint::Listen).
  net::PeerEndpoint* peers = nullptr;
};

enum class Role { kUnavailable, kFollower, kCandidate, kLeader };
const char* RoleName(Role role);

struct MemberStatus {
  uint64_t id = 0;
  std::string address;
  std::string role;  // "voter", "standby", "spare"
};

struct NodeStatus {
  uint64_t id = 0;
  std::string address;
  Role role = Role::kUnavailable;
  uint64_t term = 0;
  uint64_t commit_index = 0;
  uint64_t applied_index = 0;
  uint64_t last_index = 0;
  uint64_t snapshot_index = 0;
  uint64_t leader_id = 0;
  std::string leader_address;
  uint64_t snapshots_taken = 0;
  uint64_t snapshots_restored = 0;
  uint64_t snapshots_decoded_ahead = 0;  // of those, decoded off the loop (fsm_adapter.h)
  std::vector<MemberStatus> members;
};

class Node {
 public:
  using DoneCb = std::function<void(Status)>;
  // Called after every change of role or leader (polled every few ms, since
  // libraft 0.15 has no state-change callback). If libraft turns a started
  // node UNAVAILABLE (an unrecoverable disk error), the process exits with
  // status 75 instead: fail-stop, so a supervisor restarts it from disk.
  using RoleChangeCb = std::function<void(Role role, uint64_t leader_id, uint64_t term)>;

  Node(uv_loop_t* loop, NodeOptions options, Fsm* fsm);
  ~Node();
  Node(const Node&) = delete;
  Node& operator=(const Node&) = delete;

  // Opens data_dir, bootstraps when fresh, loads the log and snapshot
  // (replaying committed state through the Fsm as libraft applies it) and
  // starts elections and replication.
  Status Start();
  // Closes raft and its I/O; `done` fires when every handle is released.
  void Stop(std::function<void()> done);

  // Appends `entry` to the log. On success returns the entry's index; `done`
  // fires later with Ok once the entry is committed and applied here, or
  // with Unavailable if leadership was lost first (the entry may or may not
  // commit). Fails at once with Unavailable when this node is not the leader.
  Result<uint64_t> Propose(std::string_view entry, DoneCb done);

  // Leadership transfer to `id` (0: the most up-to-date voter that answers,
  // leader_view.h TransfereeOf). `done` fires once: Ok when this node has
  // heard from the new leader, Unavailable when libraft gave up after an
  // election timeout (or this node closed). Returns an error, and `done`
  // never fires, when this node is not the leader or has no other voter.
  Status Transfer(uint64_t id, DoneCb done);
  // Adds a server and promotes it to voter once caught up.
  Status AddVoter(uint64_t id, const std::string& address, DoneCb done);
  Status Remove(uint64_t id, DoneCb done);

  void SetRoleChangeCallback(RoleChangeCb cb) { on_role_change_ = std::move(cb); }

  bool is_leader() const;
  uint64_t id() const { return options_.id; }
  uint64_t term() const;
  uint64_t leader_id() const;
  NodeStatus GetStatus() const;
  // Leader only: the other voters, each with whether it answered within
  // the current election-timeout window (libraft's progress.recent_recv,
  // cleared every election timeout). Empty on a follower.
  std::vector<std::pair<uint64_t, bool>> VoterContacts() const;

 private:
  struct Impl;
  std::unique_ptr<Impl> impl_;
  NodeOptions options_;
  RoleChangeCb on_role_change_;
};

// Maps a libraft error code to a Status with libraft's message.
Status RaftError(int rv, const char* what);

}  // namespace lockq::consensus
