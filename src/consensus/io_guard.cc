#include "consensus/io_guard.h"

#include <spdlog/spdlog.h>

#include <algorithm>
#include <cstdlib>
#include <type_traits>
#include <unordered_map>

namespace lockq::consensus {

namespace {

constexpr size_t kMaxPendingLimits = 1 << 16;

}  // namespace

IoGuard::IoGuard(struct raft_io* real, bool exit_on_append_error)
    : real_(real), exit_on_append_error_(exit_on_append_error) {
  proxy_.version = real->version;
  proxy_.impl = this;
  // Plain forwarding for everything but start, close and send.
  proxy_.init = [](struct raft_io* io, raft_id id, const char* address) {
    auto* g = FromProxy(io);
    return g->real_->init(g->real_, id, address);
  };
  proxy_.close = [](struct raft_io* io, raft_io_close_cb cb) {
    auto* g = FromProxy(io);
    g->close_ = cb;
    g->real_->data = g;
    g->real_->close(g->real_, cb ? &IoGuard::CloseCb : nullptr);
  };
  proxy_.load = [](struct raft_io* io, raft_term* term, raft_id* voted_for, struct raft_snapshot** snapshot,
                   raft_index* start_index, struct raft_entry* entries[], size_t* n) {
    auto* g = FromProxy(io);
    return g->real_->load(g->real_, term, voted_for, snapshot, start_index, entries, n);
  };
  proxy_.start = [](struct raft_io* io, unsigned msecs, raft_io_tick_cb tick, raft_io_recv_cb recv) {
    auto* g = FromProxy(io);
    g->tick_ = tick;
    g->recv_ = recv;
    g->real_->data = g;
    return g->real_->start(g->real_, msecs, &IoGuard::TickCb, &IoGuard::RecvCb);
  };
  proxy_.bootstrap = [](struct raft_io* io, const struct raft_configuration* conf) {
    auto* g = FromProxy(io);
    return g->real_->bootstrap(g->real_, conf);
  };
  proxy_.recover = [](struct raft_io* io, const struct raft_configuration* conf) {
    auto* g = FromProxy(io);
    return g->real_->recover(g->real_, conf);
  };
  proxy_.set_term = [](struct raft_io* io, raft_term term) {
    auto* g = FromProxy(io);
    return g->real_->set_term(g->real_, term);
  };
  proxy_.set_vote = [](struct raft_io* io, raft_id id) {
    auto* g = FromProxy(io);
    return g->real_->set_vote(g->real_, id);
  };
  proxy_.send = &IoGuard::Send;
  proxy_.append = &IoGuard::Append;
  proxy_.truncate = [](struct raft_io* io, raft_index index) {
    auto* g = FromProxy(io);
    return g->real_->truncate(g->real_, index);
  };
  proxy_.snapshot_put = &IoGuard::SnapshotPut;
  proxy_.snapshot_get = [](struct raft_io* io, struct raft_io_snapshot_get* req, raft_io_snapshot_get_cb cb) {
    auto* g = FromProxy(io);
    return g->real_->snapshot_get(g->real_, req, cb);
  };
  proxy_.time = [](struct raft_io* io) {
    auto* g = FromProxy(io);
    return g->real_->time(g->real_);
  };
  proxy_.random = [](struct raft_io* io, int min, int max) {
    auto* g = FromProxy(io);
    return g->real_->random(g->real_, min, max);
  };
  // libraft 0.15's uv backend fills in async_work (uv_work.c: a libuv
  // threadpool job, and uv's close waits for it) but says version 1, and
  // raft_init refuses fsm->snapshot_async unless io->version >= 2 (raft.c).
  // raft_io structs are zero-initialized (Node, raft_fixture), so a set
  // pointer means a backend that has it: the proxy says version 2, and the
  // snapshot is serialized off the loop (fsm_adapter.h).
  if (real->async_work != nullptr) {
    proxy_.version = std::max(real->version, 2);
    proxy_.async_work = [](struct raft_io* io, struct raft_io_async_work* req, raft_io_async_work_cb cb) {
      auto* g = FromProxy(io);
      // req->data is libraft's (its struct raft). raft_fixture's stub sets it
      // to its io's data, which is this guard while the guard is installed:
      // put libraft's back (the uv backend leaves it alone).
      void* owner = req->data;
      int rv = g->real_->async_work(g->real_, req, cb);
      req->data = owner;
      return rv;
    };
  }
}

void IoGuard::InstallOn(struct raft* r) {
  proxy_.data = r;
  r->io = &proxy_;
}

void IoGuard::UninstallFrom(struct raft* r) {
  real_->data = r;
  r->io = real_;
}

// In-flight appends and their real callbacks. req->data belongs to
// libraft, so the request pointer is the key. Raft loop only.
static std::unordered_map<struct raft_io_append*, raft_io_append_cb>& PendingAppends() {
  static std::unordered_map<struct raft_io_append*, raft_io_append_cb> pending;
  return pending;
}

int IoGuard::Append(struct raft_io* io, struct raft_io_append* req, const struct raft_entry entries[], unsigned n,
                    raft_io_append_cb cb) noexcept {
  IoGuard* g = FromProxy(io);
  if (!g->exit_on_append_error_) return g->real_->append(g->real_, req, entries, n, cb);
  PendingAppends()[req] = cb;
  int rv = g->real_->append(g->real_, req, entries, n, &IoGuard::AppendDoneCb);
  if (rv != 0) PendingAppends().erase(req);
  return rv;
}

void IoGuard::AppendDoneCb(struct raft_io_append* req, int status) noexcept {
  auto it = PendingAppends().find(req);
  raft_io_append_cb cb = it->second;
  PendingAppends().erase(it);
  if (status != 0 && status != RAFT_CANCELED) {
    spdlog::critical("raft: writing the log failed ({}); exiting so the node restarts from disk",
                     raft_strerror(status));
    spdlog::shutdown();
    std::_Exit(75);
  }
  if (cb != nullptr) cb(req, status);
}

void IoGuard::TickCb(struct raft_io* real) noexcept {
  IoGuard* g = FromReal(real);
  // A follower installing a snapshot does not tick: libraft 0.15 lets an
  // installing follower's election timer fire, and one that wins restores
  // the snapshot as leader when the install completes. The decode makes
  // that window as long as decoding the state takes.
  if (g->installing_) return;
  g->tick_(&g->proxy_);
}

void IoGuard::CloseCb(struct raft_io* real) noexcept {
  IoGuard* g = FromReal(real);
  if (g->close_) g->close_(&g->proxy_);
}

void IoGuard::RecvCb(struct raft_io* real, struct raft_message* msg) noexcept {
  IoGuard* g = FromReal(real);
  raft_index limit = 0;
  raft_term term = 0;
  bool track = false;
  if (msg->type == RAFT_IO_APPEND_ENTRIES) {
    struct raft_append_entries& ae = msg->append_entries;
    limit = ae.prev_log_index + ae.n_entries;
    term = ae.term;
    track = true;
    if (ae.leader_commit > limit) {  // rule 2
      ae.leader_commit = limit;
      g->commits_clamped_++;
    }
  } else if (msg->type == RAFT_IO_INSTALL_SNAPSHOT) {
    limit = msg->install_snapshot.last_index;
    term = msg->install_snapshot.term;
    track = true;
  }
  if (track && term > g->limits_term_) {
    g->async_limits_.clear();
    g->max_acked_ = 0;
    g->limits_term_ = term;
  }
  // A stale leader's message is rejected inside the callback; its reply is
  // still paired with it (so it does not consume a pending limit).
  bool stale = track && term < g->limits_term_;
  g->in_recv_ = track;
  g->replied_in_recv_ = false;
  g->recv_limit_ = stale ? 0 : limit;
  g->in_install_recv_ = msg->type == RAFT_IO_INSTALL_SNAPSHOT;
  g->recv_(&g->proxy_, msg);  // may free msg's payload: do not touch msg after
  bool went_async = track && !stale && !g->replied_in_recv_;
  g->in_recv_ = false;
  g->in_install_recv_ = false;
  if (went_async && g->async_limits_.size() < kMaxPendingLimits) g->async_limits_.push_back(limit);
}

void IoGuard::ClampReply(struct raft_append_entries_result* result) {
  raft_index limit;
  if (in_recv_) {
    replied_in_recv_ = true;
    limit = recv_limit_;
  } else if (!async_limits_.empty()) {
    limit = async_limits_.front();
    async_limits_.pop_front();
  } else {
    limit = max_acked_;  // unpaired: claim no more than already verified
  }
  if (result->rejected != 0) return;
  if (result->last_log_index > limit) {  // rule 1
    result->last_log_index = limit;
    replies_clamped_++;
  }
  max_acked_ = std::max(max_acked_, result->last_log_index);
}

int IoGuard::Send(struct raft_io* io, struct raft_io_send* req, const struct raft_message* msg,
                  raft_io_send_cb cb) noexcept {
  IoGuard* g = FromProxy(io);
  if (msg->type != RAFT_IO_APPEND_ENTRIES_RESULT) return g->real_->send(g->real_, req, msg, cb);
  struct raft_message copy = *msg;
  g->ClampReply(&copy.append_entries_result);
  return g->real_->send(g->real_, req, &copy, cb);
}

// An InstallSnapshot's file write and decode, both in flight. Plain data,
// `work` first: the async work callbacks get &work back.
struct IoGuard::PendingInstall {
  struct raft_io_async_work work;
  IoGuard* guard;
  struct raft_io_snapshot_put* req;
  raft_io_snapshot_put_cb cb;
  struct raft_buffer data;
  int put_status;
  int remaining;  // of the write and the decode
};
static_assert(std::is_standard_layout_v<IoGuard::PendingInstall>);

// Installs in flight by libraft's request (at most one per raft: libraft
// ignores InstallSnapshot while one is being written). Raft loop only.
static std::unordered_map<struct raft_io_snapshot_put*, IoGuard::PendingInstall*>& PendingInstalls() {
  static std::unordered_map<struct raft_io_snapshot_put*, IoGuard::PendingInstall*> pending;
  return pending;
}

int IoGuard::SnapshotPut(struct raft_io* io, unsigned trailing, struct raft_io_snapshot_put* req,
                         const struct raft_snapshot* snapshot, raft_io_snapshot_put_cb cb) noexcept {
  IoGuard* g = FromProxy(io);
  // libraft's own snapshots keep a trailing log and are not written from
  // a receive callback; only an install from the leader is decoded ahead.
  bool install = g->in_install_recv_ && trailing == 0 && snapshot->n_bufs == 1 && g->install_hook_.decode &&
                 g->real_->async_work != nullptr;
  if (!install) return g->real_->snapshot_put(g->real_, trailing, req, snapshot, cb);
  auto* p = new PendingInstall{{}, g, req, cb, snapshot->bufs[0], 0, 2};
  PendingInstalls()[req] = p;
  int rv = g->real_->snapshot_put(g->real_, trailing, req, snapshot, &IoGuard::InstallPutCb);
  if (rv != 0) {
    PendingInstalls().erase(req);
    delete p;
    return rv;
  }
  g->installing_ = true;
  p->work.work = &IoGuard::DecodeWork;
  if (g->real_->async_work(g->real_, &p->work, &IoGuard::DecodeDoneCb) != 0) {
    p->remaining--;  // no worker: restore decodes on the loop, as without the hook
  }
  return 0;
}

int IoGuard::DecodeWork(struct raft_io_async_work* work) noexcept {
  auto* p = reinterpret_cast<PendingInstall*>(work);
  p->guard->install_hook_.decode(p->data);
  return 0;
}

void IoGuard::DecodeDoneCb(struct raft_io_async_work* work, int /*status*/) noexcept {
  FinishInstall(reinterpret_cast<PendingInstall*>(work));
}

void IoGuard::InstallPutCb(struct raft_io_snapshot_put* req, int status) noexcept {
  PendingInstall* p = PendingInstalls().at(req);
  p->put_status = status;
  FinishInstall(p);
}

void IoGuard::FinishInstall(PendingInstall* p) noexcept {
  if (--p->remaining > 0) return;
  IoGuard* g = p->guard;
  struct raft_io_snapshot_put* req = p->req;
  raft_io_snapshot_put_cb cb = p->cb;
  int status = p->put_status;
  PendingInstalls().erase(req);
  delete p;
  g->installing_ = false;
  cb(req, status);  // libraft restores here (or drops the snapshot on error)
  if (g->install_hook_.done) g->install_hook_.done();
}

}  // namespace lockq::consensus
