#pragma once
// What consensus needs from the replicated application. consensus knows
// nothing of keys, locks or queues: an entry is opaque bytes.
//
// Thread: every method is called on the thread that drives raft (the
// server's event loop, or a simulation's stepping thread), except Decode
// and the function PrepareSnapshot() returns, which may run on a worker.

#include <cstdint>
#include <functional>
#include <memory>
#include <string>
#include <string_view>

#include "common/status.h"

namespace lockq::consensus {

class Fsm {
 public:
  virtual ~Fsm() = default;
  // Applies the committed entry at log `index`. Must be deterministic and
  // must not fail: a malformed entry is answered inside the application.
  virtual void Apply(uint64_t index, std::string_view entry) = 0;
  // Captures the current state cheaply on the raft thread and returns a
  // function that serializes that capture; the function may run on another
  // thread and must not touch live state.
  virtual std::function<std::string()> PrepareSnapshot() = 0;
  // Replaces the whole state with a snapshot. On error the state is unchanged.
  virtual Status Restore(std::string_view bytes) = 0;

  // Restore in two steps, for a snapshot installed from the leader, so
  // that decoding a large one does not stop the raft thread.
  // A state held outside the machine (decoded, or replaced), opaque here.
  class Detached {
   public:
    virtual ~Detached() = default;
  };
  // Worker thread, while libraft writes the snapshot's file: decodes
  // `bytes` without touching live state. nullptr means "Restore will do
  // it" (the answer to bytes that do not decode: Restore then reports the
  // error).
  virtual std::unique_ptr<Detached> Decode(std::string_view bytes) = 0;
  // Raft thread, in place of Restore(bytes) when Decode(bytes) gave
  // `decoded`: swaps it in, cheaply, and returns the replaced state, which
  // the caller destroys on a worker.
  virtual std::unique_ptr<Detached> Install(std::string_view bytes, std::unique_ptr<Detached> decoded) = 0;
};

}  // namespace lockq::consensus
