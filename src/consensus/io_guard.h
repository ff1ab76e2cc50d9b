#pragma once
// IoGuard: a raft_io that forwards to a real one (libraft's uv backend, or
// raft_fixture's stub) and enforces two AppendEntries rules that libraft
// 0.15 gets wrong. Both are from Figure 2 of the Raft paper; both bit us in
// simulation (tests/sim) and with real processes.
//
// 1. A follower answers a successful AppendEntries with
//    last_log_index = last_stored: its whole log, including a tail of
//    uncommitted entries from an older term that the new leader never sent.
//    The leader then sets match_index = min(that, its own last index) and
//    counts the follower toward a majority for entries it does not hold: an
//    acknowledged write can be lost, and the follower livelocks (its
//    rejections look stale to the leader). Later libraft forks reply with
//    prev_log_index + n_entries. IoGuard clamps the reply to
//    prev_log_index + n_entries of the request it answers.
// 2. A follower advances commit_index to min(leader_commit, last_stored),
//    so it can apply that stale tail. Raft says min(leaderCommit, index of
//    last new entry). IoGuard clamps leader_commit in each incoming
//    AppendEntries to prev_log_index + n_entries.
//
// Which request a reply answers: libraft sends the result synchronously
// inside the receive callback (heartbeats, rejections, already-stored
// entries) or, when entries must be written first, later, after the disk
// write; those complete in request order, so a FIFO of pending limits
// pairs them (InstallSnapshot replies are AppendEntries results too and go
// through the same FIFO). A mismatch can only make the limit smaller,
// which delays commit but never breaks safety; the FIFO is cleared on a
// term change.
//
// It also offers the real io's async_work to libraft when the real io has
// one, whatever version it claims (libraft 0.15's uv backend has it and says
// version 1): the proxy is then version 2, and libraft may run fsm
// snapshot_async on the backend's worker (fsm_adapter.h, issue 13).
//
// It also decodes a snapshot installed from the leader off the loop: when
// libraft, receiving InstallSnapshot, asks to write the snapshot's file
// (snapshot_put with trailing 0, inside the receive callback), the guard
// runs the install hook's `decode` on the real io's worker beside the
// write, and calls libraft back (which then restores: FsmAdapter swaps the
// decoded state in) only when both are done; then the hook's `done`.
// Meanwhile it holds libraft's ticks back, so that the installing follower
// cannot time out, win an election and restore as leader.
//
// 3. When a disk write (append) fails, libraft 0.15 truncates its in-memory
//    log but a leader stays leader and may reuse indexes within its term.
//    With `exit_on_append_error` the guard ends the process instead
//    (status 75, fail-stop, as etcd does on a WAL write error): it restarts
//    from what is on disk. Simulation turns it off to observe libraft.
//
// Thread: the raft loop.

#include <cstdint>
#include <deque>
#include <functional>

#include "consensus/raft_c.h"

namespace lockq::consensus {

class IoGuard {
 public:
  // `real` must outlive the guard. Pass io() to raft_init instead of `real`.
  explicit IoGuard(struct raft_io* real, bool exit_on_append_error = true);
  IoGuard(const IoGuard&) = delete;
  IoGuard& operator=(const IoGuard&) = delete;

  struct raft_io* io() { return &proxy_; }
  // For a raft already initialized on `real` (raft_fixture): routes it
  // through the guard. Call before raft_start.
  void InstallOn(struct raft* r);
  // Undoes InstallOn (before raft_fixture_close, which closes `real` itself).
  void UninstallFrom(struct raft* r);
  // See above; set once, before raft starts. `decode` runs on a worker
  // thread, `done` on the raft thread after libraft's install callback.
  struct InstallHook {
    std::function<void(const struct raft_buffer& data)> decode;
    std::function<void()> done;
  };
  void SetInstallHook(InstallHook hook) { install_hook_ = std::move(hook); }
  struct PendingInstall;  // an install in flight (io_guard.cc)
  uint64_t replies_clamped() const { return replies_clamped_; }
  uint64_t commits_clamped() const { return commits_clamped_; }

 private:
  static IoGuard* FromProxy(struct raft_io* io) { return static_cast<IoGuard*>(io->impl); }
  static IoGuard* FromReal(struct raft_io* io) { return static_cast<IoGuard*>(io->data); }
  static void TickCb(struct raft_io* real) noexcept;
  static void RecvCb(struct raft_io* real, struct raft_message* msg) noexcept;
  static void CloseCb(struct raft_io* real) noexcept;
  static int Append(struct raft_io* io, struct raft_io_append* req, const struct raft_entry entries[], unsigned n,
                    raft_io_append_cb cb) noexcept;
  static void AppendDoneCb(struct raft_io_append* req, int status) noexcept;
  static int Send(struct raft_io* io, struct raft_io_send* req, const struct raft_message* msg,
                  raft_io_send_cb cb) noexcept;
  void ClampReply(struct raft_append_entries_result* result);
  static int SnapshotPut(struct raft_io* io, unsigned trailing, struct raft_io_snapshot_put* req,
                         const struct raft_snapshot* snapshot, raft_io_snapshot_put_cb cb) noexcept;
  static int DecodeWork(struct raft_io_async_work* work) noexcept;
  static void DecodeDoneCb(struct raft_io_async_work* work, int status) noexcept;
  static void InstallPutCb(struct raft_io_snapshot_put* req, int status) noexcept;
  static void FinishInstall(PendingInstall* p) noexcept;

  struct raft_io* real_;
  struct raft_io proxy_ {};
  raft_io_tick_cb tick_ = nullptr;
  raft_io_recv_cb recv_ = nullptr;
  raft_io_close_cb close_ = nullptr;
  // Reply pairing (see above).
  bool in_recv_ = false;
  bool replied_in_recv_ = false;
  raft_index recv_limit_ = 0;
  raft_term limits_term_ = 0;
  std::deque<raft_index> async_limits_;
  raft_index max_acked_ = 0;  // highest index acknowledged in limits_term_
  bool in_install_recv_ = false;  // inside recv of an InstallSnapshot
  bool installing_ = false;       // an install's write or decode in flight: no ticks
  InstallHook install_hook_;
  bool exit_on_append_error_;
  uint64_t replies_clamped_ = 0;
  uint64_t commits_clamped_ = 0;
};

}  // namespace lockq::consensus
