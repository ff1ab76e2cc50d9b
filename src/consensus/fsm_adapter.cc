#include "consensus/fsm_adapter.h"

#include <sys/resource.h>
#include <unistd.h>

#include <cstring>
#include <exception>
#include <system_error>
#include <thread>

#include "common/check.h"
#include "consensus/entry_frame.h"

namespace lockq::consensus {

namespace {

constexpr int kBackgroundNice = 10;  // as the fork child (dispatch/fork_serializer.cc)

// Runs `fn` on a thread of its own at nice kBackgroundNice and waits for
// it: the snapshot work done on libraft's workers (serializing, decoding,
// freeing hundreds of MB) is background work, and on shared cores the
// event loops must go first. The pool's worker itself only waits: its
// priority, once lowered, could not be raised back for the log writes it
// also runs.
void RunNiced(const std::function<void()>& fn) {
  try {
    std::thread t([&] {
      (void)setpriority(PRIO_PROCESS, static_cast<id_t>(gettid()), kBackgroundNice);
      fn();
    });
    t.join();
  } catch (const std::system_error&) {
    fn();  // no thread to be had: run it here
  }
}

}  // namespace

FsmAdapter::FsmAdapter(Fsm* fsm, SnapshotPolicy policy) : fsm_(fsm), policy_(policy) {
  raft_fsm_.version = 3;
  raft_fsm_.data = this;
  raft_fsm_.apply = &FsmAdapter::ApplyCb;
  raft_fsm_.snapshot = &FsmAdapter::SnapshotCb;
  raft_fsm_.restore = &FsmAdapter::RestoreCb;
  raft_fsm_.snapshot_finalize = &FsmAdapter::SnapshotFinalizeCb;
  raft_fsm_.snapshot_async = nullptr;  // raft_fsm(io) decides
}

struct raft_fsm* FsmAdapter::raft_fsm(const struct raft_io* io) {
  bool io_async = io != nullptr && io->version >= 2 && io->async_work != nullptr;
  async_ = policy_.async && io_async;
  raft_fsm_.snapshot_async = async_ ? &FsmAdapter::SnapshotAsyncCb : nullptr;
  return &raft_fsm_;
}

void FsmAdapter::Attach(struct raft* raft) {
  raft_ = raft;
  raft_set_snapshot_threshold(raft, Staggered(policy_.threshold_entries));
  raft_set_snapshot_trailing(raft, policy_.trailing_entries);
}

int FsmAdapter::ApplyCb(struct raft_fsm* fsm, const struct raft_buffer* buf, void** result) noexcept {
  auto* self = static_cast<FsmAdapter*>(fsm->data);
  LOCKQ_CHECK(self->raft_ != nullptr);
  *result = nullptr;  // replies travel through the application, not libraft
  uint64_t index = raft_last_applied(self->raft_) + 1;
  auto payload = ReadFrame(std::string_view(static_cast<const char*>(buf->base), buf->len));
  if (!payload) {
    // Every replica reads the same bytes; a frame we did not write means a
    // corrupt log, and going on would apply garbage. Stop (fail-stop).
    std::fprintf(stderr, "fatal: log entry %llu is not a lockq frame (%zu bytes)\n",
                 static_cast<unsigned long long>(index), buf->len);
    std::abort();
  }
  try {
    self->fsm_->Apply(index, *payload);
  } catch (const std::exception& e) {
    // Apply must not throw (bad_alloc aside): a replica that cannot apply a
    // committed entry cannot go on without diverging.
    std::fprintf(stderr, "fatal: apply of entry %llu threw: %s\n",
                 static_cast<unsigned long long>(index), e.what());
    std::abort();
  }
  self->bytes_since_snapshot_ += buf->len;
  if (self->bytes_since_snapshot_ >= self->Staggered(self->policy_.threshold_bytes)) {
    raft_set_snapshot_threshold(self->raft_, 1);  // snapshot after this apply
  }
  return 0;
}

int FsmAdapter::SnapshotCb(struct raft_fsm* fsm, struct raft_buffer* bufs[], unsigned* n) noexcept {
  auto* self = static_cast<FsmAdapter*>(fsm->data);
  *bufs = nullptr;
  *n = 0;
  try {
    self->pending_ = self->fsm_->PrepareSnapshot();
  } catch (const std::exception&) {
    return RAFT_NOMEM;
  }
  self->bytes_since_snapshot_ = 0;
  self->staggered_ = false;
  raft_set_snapshot_threshold(self->raft_, self->policy_.threshold_entries);
  if (self->async_) return 0;  // serialized later in SnapshotAsyncCb
  return Serialize(self, bufs, n);
}

int FsmAdapter::SnapshotAsyncCb(struct raft_fsm* fsm, struct raft_buffer* bufs[], unsigned* n) noexcept {
  // Worker thread: touches only the captured copy, at background priority.
  auto* self = static_cast<FsmAdapter*>(fsm->data);
  int rv = RAFT_NOMEM;
  RunNiced([&] { rv = Serialize(self, bufs, n); });
  return rv;
}

int FsmAdapter::Serialize(FsmAdapter* self, struct raft_buffer* bufs[], unsigned* n) noexcept {
  std::string bytes;
  try {
    bytes = self->pending_();
  } catch (const std::exception&) {
    return RAFT_NOMEM;
  }
  auto* array = static_cast<struct raft_buffer*>(raft_malloc(sizeof(struct raft_buffer)));
  void* base = raft_malloc(bytes.empty() ? 1 : bytes.size());
  if (array == nullptr || base == nullptr) {
    raft_free(array);
    raft_free(base);
    return RAFT_NOMEM;
  }
  std::memcpy(base, bytes.data(), bytes.size());
  array[0].base = base;
  array[0].len = bytes.size();
  *bufs = array;
  *n = 1;
  return 0;
}

int FsmAdapter::SnapshotFinalizeCb(struct raft_fsm* fsm, struct raft_buffer* bufs[], unsigned* n) noexcept {
  auto* self = static_cast<FsmAdapter*>(fsm->data);
  if (*bufs != nullptr) {
    for (unsigned i = 0; i < *n; i++) raft_free((*bufs)[i].base);
    raft_free(*bufs);
  }
  *bufs = nullptr;
  *n = 0;
  self->pending_ = nullptr;
  self->snapshots_taken_++;
  return 0;
}

void FsmAdapter::DecodeAhead(const struct raft_buffer& data) {
  std::unique_ptr<Fsm::Detached> decoded;
  RunNiced([&] {
    try {
      decoded = fsm_->Decode(std::string_view(static_cast<const char*>(data.base), data.len));
    } catch (const std::exception&) {
      decoded = nullptr;  // RestoreCb decodes again on the raft thread and reports it
    }
  });
  ahead_.base = data.base;
  ahead_.len = data.len;
  ahead_.decoded = std::move(decoded);
}

void FsmAdapter::InstallDone() {
  // Left over when the file write failed or libraft dropped the install.
  if (ahead_.decoded) DestroyOffThread(std::move(ahead_.decoded));
  ahead_ = Ahead{};
}

void FsmAdapter::DestroyOffThread(std::unique_ptr<Fsm::Detached> state) {
  struct raft_io* io = raft_ == nullptr ? nullptr : raft_->io;
  if (io == nullptr || io->version < 2 || io->async_work == nullptr) return;  // `state` goes here
  struct Job {
    struct raft_io_async_work work;  // first: the callbacks get &work back
    Fsm::Detached* state;
  };
  auto* job = new Job{{}, state.release()};
  job->work.work = [](struct raft_io_async_work* w) noexcept {
    RunNiced([w] { delete reinterpret_cast<Job*>(w)->state; });
    return 0;
  };
  if (io->async_work(io, &job->work, [](struct raft_io_async_work* w, int) noexcept { delete reinterpret_cast<Job*>(w); }) !=
      0) {
    delete job->state;
    delete job;
  }
}

int FsmAdapter::RestoreCb(struct raft_fsm* fsm, struct raft_buffer* buf) noexcept {
  auto* self = static_cast<FsmAdapter*>(fsm->data);
  if (self->ahead_.decoded && self->ahead_.base == buf->base && self->ahead_.len == buf->len) {
    std::string_view bytes(static_cast<const char*>(buf->base), buf->len);
    self->DestroyOffThread(self->fsm_->Install(bytes, std::move(self->ahead_.decoded)));
    self->ahead_ = Ahead{};
    raft_free(buf->base);
    self->snapshots_restored_++;
    self->restores_decoded_ahead_++;
    self->bytes_since_snapshot_ = 0;
    return 0;
  }
  Status s;
  try {
    s = self->fsm_->Restore(std::string_view(static_cast<const char*>(buf->base), buf->len));
  } catch (const std::exception&) {
    return RAFT_NOMEM;
  }
  if (!s.ok()) {
    std::fprintf(stderr, "restore snapshot failed: %s\n", s.ToString().c_str());
    return RAFT_CORRUPT;  // libraft frees the buffer on error
  }
  raft_free(buf->base);  // on success the fsm owns the buffer (libraft snapshot.c)
  self->snapshots_restored_++;
  self->bytes_since_snapshot_ = 0;
  return 0;
}

}  // namespace lockq::consensus
