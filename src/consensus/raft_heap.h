#pragma once
// libraft's heap, with large blocks freed off the caller's thread.
//
// libraft frees snapshot buffers on the raft loop: its own after writing
// them (snapshot_finalize), the copy it sent a follower, the one a
// follower installed. A 150 MB buffer is an munmap of ~37,000 pages, tens
// of milliseconds the loop would not answer. InstallRaftHeap() makes
// raft_free hand blocks of kOffThreadBytes or more to one background
// thread; everything else is the C library's malloc and free, as
// libraft's default heap.
//
// Call once before the first raft object is made (lockqd's Node::Start;
// later calls do nothing). Thread-safe.

#include <cstddef>

namespace lockq::consensus {

inline constexpr size_t kOffThreadBytes = size_t{4} << 20;

void InstallRaftHeap();

}  // namespace lockq::consensus
