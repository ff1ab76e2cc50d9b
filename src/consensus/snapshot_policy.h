#pragma once
// SnapshotPolicy: when a node snapshots its state machine and how much log
// it keeps. Its own header so that node.h, which every server file sees,
// does not include fsm_adapter.h and with it raft.h.

#include <cstdint>

namespace lockq::consensus {

struct SnapshotPolicy {
  unsigned threshold_entries = 8192;    // snapshot after this many entries...
  // ...or this many applied bytes, or as many as the last snapshot held
  // when that is more: a state of N bytes is written once per N bytes of
  // log, as Redis rewrites its AOF when it has doubled, and not every
  // 64 MiB (with 1 GiB of keys, the node was then always inside a
  // snapshot's copy-on-write window, docs/architecture.md).
  uint64_t threshold_bytes = 64 << 20;
  unsigned trailing_entries = 1024;     // entries kept after a snapshot
  bool async = true;                    // serialize on a worker thread
  // The first snapshot after start waits this many percent more than the
  // thresholds say. Meant to stagger replicas by node id (config.cc; off
  // for now, see there), so
  // that they do not all snapshot at the same entry: a quorum then always
  // has members that are not paying a snapshot's fork and copy-on-write
  // faults, and replicas sharing cores do not pay them at once. Later
  // snapshots keep the phase (each counts from its own last one).
  unsigned first_stagger_percent = 0;
};

}  // namespace lockq::consensus
