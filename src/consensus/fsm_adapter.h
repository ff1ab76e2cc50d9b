#pragma once
// Adapts consensus::Fsm to libraft's struct raft_fsm (version 3: the
// snapshot is captured on the raft thread, serialized in snapshot_async on a
// worker thread, and released in snapshot_finalize). Used by Node and by
// simulation tests on raft_fixture.
//
// It also gives Apply the entry's log index: libraft calls fsm->apply while
// raft->last_applied still holds the previous index (replication.c sets
// last_applied after apply returns), so index = raft_last_applied() + 1.
//
// libraft only triggers snapshots by entry count; the adapter adds a byte
// threshold by lowering the entry threshold to 1 once the applied bytes
// since the last snapshot pass `snapshot_threshold_bytes`.

#include "consensus/raft_c.h"

#include <cstdint>
#include <functional>
#include <string>

#include "consensus/fsm.h"
#include "consensus/snapshot_policy.h"

namespace lockq::consensus {

class FsmAdapter {
 public:
  FsmAdapter(Fsm* fsm, SnapshotPolicy policy);
  FsmAdapter(const FsmAdapter&) = delete;
  FsmAdapter& operator=(const FsmAdapter&) = delete;

  // Returns the libraft fsm for `io`: asynchronous snapshots only when the
  // I/O backend can run work off the loop (raft_io version >= 2 with
  // async_work; libraft 0.15's uv backend is version 1, so there the
  // snapshot is serialized on the loop).
  struct raft_fsm* raft_fsm(const struct raft_io* io);
  // Must be called once the raft instance exists, before it starts.
  void Attach(struct raft* raft);

  uint64_t snapshots_taken() const { return snapshots_taken_; }
  uint64_t snapshots_restored() const { return snapshots_restored_; }

 private:
  static int ApplyCb(struct raft_fsm* fsm, const struct raft_buffer* buf, void** result) noexcept;
  static int SnapshotCb(struct raft_fsm* fsm, struct raft_buffer* bufs[], unsigned* n) noexcept;
  static int SnapshotAsyncCb(struct raft_fsm* fsm, struct raft_buffer* bufs[], unsigned* n) noexcept;
  static int SnapshotFinalizeCb(struct raft_fsm* fsm, struct raft_buffer* bufs[], unsigned* n) noexcept;
  static int RestoreCb(struct raft_fsm* fsm, struct raft_buffer* buf) noexcept;
  static int Serialize(FsmAdapter* self, struct raft_buffer* bufs[], unsigned* n) noexcept;

  Fsm* fsm_;
  SnapshotPolicy policy_;
  struct raft* raft_ = nullptr;
  struct raft_fsm raft_fsm_ {};
  std::function<std::string()> pending_;  // captured state awaiting serialization
  uint64_t bytes_since_snapshot_ = 0;
  uint64_t snapshots_taken_ = 0;
  uint64_t snapshots_restored_ = 0;
};

}  // namespace lockq::consensus
