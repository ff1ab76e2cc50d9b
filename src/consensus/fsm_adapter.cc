#include "consensus/fsm_adapter.h"

#include <cstring>
#include <exception>

#include "common/check.h"
#include "consensus/entry_frame.h"

namespace lockq::consensus {

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
  raft_set_snapshot_threshold(raft, policy_.threshold_entries);
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
  if (self->bytes_since_snapshot_ >= self->policy_.threshold_bytes) {
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
  raft_set_snapshot_threshold(self->raft_, self->policy_.threshold_entries);
  if (self->async_) return 0;  // serialized later in SnapshotAsyncCb
  return Serialize(self, bufs, n);
}

int FsmAdapter::SnapshotAsyncCb(struct raft_fsm* fsm, struct raft_buffer* bufs[], unsigned* n) noexcept {
  // Worker thread: touches only the captured copy.
  return Serialize(static_cast<FsmAdapter*>(fsm->data), bufs, n);
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

int FsmAdapter::RestoreCb(struct raft_fsm* fsm, struct raft_buffer* buf) noexcept {
  auto* self = static_cast<FsmAdapter*>(fsm->data);
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
