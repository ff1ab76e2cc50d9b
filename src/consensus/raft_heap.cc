#include "consensus/raft_heap.h"

#include <malloc.h>

#include <condition_variable>
#include <cstdlib>
#include <deque>
#include <mutex>
#include <thread>

#include "consensus/raft_c.h"

namespace lockq::consensus {

namespace {

// One thread frees what it is given, in order. Never destroyed (blocks
// still queued at exit are the process's to drop).
class Freer {
 public:
  Freer() { std::thread([this] { Run(); }).detach(); }
  void Free(void* p) {
    {
      std::lock_guard lock(mu_);
      queue_.push_back(p);
    }
    cv_.notify_one();
  }

 private:
  [[noreturn]] void Run() {
    for (;;) {
      void* p;
      {
        std::unique_lock lock(mu_);
        cv_.wait(lock, [this] { return !queue_.empty(); });
        p = queue_.front();
        queue_.pop_front();
      }
      std::free(p);
    }
  }
  std::mutex mu_;
  std::condition_variable cv_;
  std::deque<void*> queue_;
};

Freer& TheFreer() {
  static Freer* freer = new Freer;
  return *freer;
}

void FreeMaybeOffThread(void* p) {
  if (p != nullptr && malloc_usable_size(p) >= kOffThreadBytes) {
    TheFreer().Free(p);
  } else {
    std::free(p);
  }
}

struct raft_heap heap = {
    nullptr,
    [](void*, size_t size) { return std::malloc(size); },
    [](void*, void* p) { FreeMaybeOffThread(p); },
    [](void*, size_t n, size_t size) { return std::calloc(n, size); },
    [](void*, void* p, size_t size) { return std::realloc(p, size); },
    [](void*, size_t alignment, size_t size) { return std::aligned_alloc(alignment, size); },
    [](void*, size_t, void* p) { FreeMaybeOffThread(p); },
};

}  // namespace

void InstallRaftHeap() {
  static std::once_flag once;
  std::call_once(once, [] {
    TheFreer();
    raft_heap_set(&heap);
  });
}

}  // namespace lockq::consensus
