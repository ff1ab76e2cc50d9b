#pragma once
// SnapshotPolicy: when a node snapshots its state machine and how much log
// it keeps. Its own header so that node.h, which every server file sees,
// does not include fsm_adapter.h and with it raft.h.

#include <cstdint>

namespace lockq::consensus {

struct SnapshotPolicy {
  unsigned threshold_entries = 8192;    // snapshot after this many entries...
  uint64_t threshold_bytes = 64 << 20;  // ...or this many applied bytes
  unsigned trailing_entries = 1024;     // entries kept after a snapshot
  bool async = true;                    // serialize on a worker thread
};

}  // namespace lockq::consensus
