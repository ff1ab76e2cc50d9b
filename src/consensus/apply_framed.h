#pragma once
// The one way a payload enters the log: framed (entry_frame.h) in a
// raft_malloc'd buffer and submitted with raft_apply. consensus::Node and the
// simulation (tests/testlib/sim_cluster.cc) both use it, so the bytes the
// simulation replicates are exactly lockqd's.

#include <string_view>

#include "consensus/raft_c.h"

namespace lockq::consensus {

// raft_apply's code (0: submitted, `cb` fires later); RAFT_NOMEM when the
// buffer cannot be allocated. On any error the buffer is freed and `cb`
// never fires (libraft 0.15's error path drops the entry without freeing its
// payload, src/log.c logDiscard).
int ApplyFramed(struct raft* r, struct raft_apply* req, std::string_view payload, raft_apply_cb cb);

}  // namespace lockq::consensus
