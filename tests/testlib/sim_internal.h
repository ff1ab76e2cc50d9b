#pragma once
// Helpers shared by sim_cluster.cc (driving the fixture) and sim_audit.cc
// (the checkers). Internal to tests/testlib.

extern "C" {
#include <raft.h>
}

#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>

namespace lockq::testing::sim_internal {

inline constexpr size_t kTraceMax = 60;

// The entry at `index` in a raft instance's in-memory log, or nullptr when it
// is not there (compacted into a snapshot, or beyond the end). struct
// raft_log is a circular buffer (raft.h): slots [front, back), first index
// offset + 1.
const struct raft_entry* LogEntryAt(const struct raft_log& log, uint64_t index);

inline std::string Who(unsigned server) { return "server " + std::to_string(server); }

}  // namespace lockq::testing::sim_internal
