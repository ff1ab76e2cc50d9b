#pragma once
// Adapts consensus::Fsm to libraft's struct raft_fsm (version 3: the
// snapshot is captured on the raft thread, serialized in snapshot_async on a
// worker thread, and released in snapshot_finalize). Used by Node and by
// simulation tests on raft_fixture.
//
// How libraft 0.15 takes one (replication.c takeSnapshot): after applying,
// on the raft thread, fsm->snapshot (SnapshotCb: Fsm::PrepareSnapshot, which
// must be cheap: lockqd forks, dispatch/fork_serializer.h); then
// io->async_work runs fsm->snapshot_async (SnapshotAsyncCb: the serializer,
// on a libuv worker); back on the raft thread io->snapshot_put writes the
// file (itself on a worker) and fsm->snapshot_finalize frees the buffers.
// No second snapshot starts before that (snapshot.pending.term is set), and
// entries keep being applied meanwhile.
//
// It also gives Apply the entry's log index: libraft calls fsm->apply while
// raft->last_applied still holds the previous index (replication.c sets
// last_applied after apply returns), so index = raft_last_applied() + 1.
//
// A snapshot installed from the leader is decoded ahead, off the loop:
// IoGuard runs DecodeAhead on a worker while libraft writes the file, and
// RestoreCb then only swaps the decoded state in (Fsm::Install); the state
// it replaces is destroyed on a worker too. Restores of other bytes (a
// node starting from its own snapshot) decode on the raft thread as before.
//
// libraft only triggers snapshots by entry count; the adapter adds a byte
// threshold by lowering the entry threshold to 1 once the applied bytes
// since the last snapshot pass `snapshot_threshold_bytes`.

#include "consensus/raft_c.h"

#include <algorithm>
#include <cstdint>
#include <limits>
#include <functional>
#include <memory>
#include <string>

#include "consensus/fsm.h"
#include "consensus/snapshot_policy.h"

namespace lockq::consensus {

class FsmAdapter {
 public:
  FsmAdapter(Fsm* fsm, SnapshotPolicy policy);
  FsmAdapter(const FsmAdapter&) = delete;
  FsmAdapter& operator=(const FsmAdapter&) = delete;

  // Returns the libraft fsm for `io`, the io libraft runs on: asynchronous
  // snapshots when the policy asks and `io` can run work off the loop
  // (version >= 2 with async_work: IoGuard's proxy over libraft 0.15's uv
  // backend, io_guard.h); otherwise the snapshot is serialized on the loop.
  // May be called again on the same fsm before raft_start (the simulation
  // grows its servers synchronous, then turns async on through the guard).
  struct raft_fsm* raft_fsm(const struct raft_io* io);
  // Must be called once the raft instance exists, before it starts.
  void Attach(struct raft* raft);

  // IoGuard's install hook (io_guard.h): DecodeAhead on a worker,
  // InstallDone on the raft thread once libraft's install callback returned.
  void DecodeAhead(const struct raft_buffer& data);
  void InstallDone();

  uint64_t snapshots_taken() const { return snapshots_taken_; }
  // Restores that swapped in a state decoded off the raft thread.
  uint64_t restores_decoded_ahead() const { return restores_decoded_ahead_; }
  uint64_t snapshots_restored() const { return snapshots_restored_; }

 private:
  static int ApplyCb(struct raft_fsm* fsm, const struct raft_buffer* buf, void** result) noexcept;
  static int SnapshotCb(struct raft_fsm* fsm, struct raft_buffer* bufs[], unsigned* n) noexcept;
  static int SnapshotAsyncCb(struct raft_fsm* fsm, struct raft_buffer* bufs[], unsigned* n) noexcept;
  static int SnapshotFinalizeCb(struct raft_fsm* fsm, struct raft_buffer* bufs[], unsigned* n) noexcept;
  static int RestoreCb(struct raft_fsm* fsm, struct raft_buffer* buf) noexcept;
  static int Serialize(FsmAdapter* self, struct raft_buffer* bufs[], unsigned* n) noexcept;
  // A threshold, raised by the policy's stagger until the first snapshot.
  template <typename T>
  T Staggered(T threshold) const {
    if (!staggered_) return threshold;
    uint64_t raised = uint64_t{threshold} + uint64_t{threshold} * policy_.first_stagger_percent / 100;
    return static_cast<T>(std::min<uint64_t>(raised, std::numeric_limits<T>::max()));
  }
  // Destroys `state` on the io's worker (on this thread when it has none).
  void DestroyOffThread(std::unique_ptr<Fsm::Detached> state);

  Fsm* fsm_;
  SnapshotPolicy policy_;
  struct raft* raft_ = nullptr;
  struct raft_fsm raft_fsm_ {};
  bool async_ = false;  // snapshot_async is set (raft_fsm)
  std::function<std::string()> pending_;  // captured state awaiting serialization
  uint64_t bytes_since_snapshot_ = 0;
  bool staggered_ = true;  // no snapshot taken yet: Staggered() applies
  uint64_t snapshots_taken_ = 0;
  uint64_t snapshots_restored_ = 0;
  uint64_t restores_decoded_ahead_ = 0;
  // DecodeAhead's result, for the restore of these same bytes. Written on
  // the worker, read on the raft thread after the work's callback.
  struct Ahead {
    const void* base = nullptr;
    size_t len = 0;
    std::unique_ptr<Fsm::Detached> decoded;
  } ahead_;
};

}  // namespace lockq::consensus
