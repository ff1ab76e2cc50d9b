#pragma once
// ForkSerializer: serializes a frozen image of this process's memory in a
// fork()ed child, as Redis's BGSAVE does, so that taking a snapshot costs
// the event loop one fork (copying page tables, ~10 ms per GB of heap)
// instead of a deep copy of the state machine plus its serialization.
//
// fork() gives the child a copy-on-write image of the parent at that
// instant: exactly the state after the last applied entry, whatever the
// parent applies afterwards. The child runs `produce` (which may read the
// live objects of that image), writes the bytes to a memfd, then their
// length (u64 little endian) to a pipe, and _exits; it logs nothing, takes
// no lock but malloc's (glibc resets malloc's locks in the child) and runs
// no atexit handler. It closes every inherited descriptor but those two at
// once, runs at nice 10, dies with the parent (PR_SET_PDEATHSIG) and when
// the reader is dropped (SIGKILL). The reader sleeps until the child is
// done before it copies anything (fork_serializer.cc says why).
//
// Thread: Start() on the thread that owns the state `produce` reads (the
// raft loop); the returned function may run on any one thread (a worker),
// once. It blocks until the child has written everything and exited, and
// throws std::runtime_error if the child failed or its bytes fall short of
// their length (the snapshot is then abandoned, and retried at the next
// threshold).

#include <functional>
#include <string>

namespace lockq::dispatch {

// Forks a child that runs `produce`; returns the function that reads its
// bytes, or nullptr if fork() or pipe() failed (then the caller serializes
// another way).
std::function<std::string()> ForkSerializer(const std::function<std::string()>& produce);

}  // namespace lockq::dispatch
