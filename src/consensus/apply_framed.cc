#include "consensus/apply_framed.h"

#include "consensus/entry_frame.h"

namespace lockq::consensus {

int ApplyFramed(struct raft* r, struct raft_apply* req, std::string_view payload, raft_apply_cb cb) {
  struct raft_buffer buf;
  buf.len = FramedSize(payload.size());
  buf.base = raft_malloc(buf.len);
  if (buf.base == nullptr) return RAFT_NOMEM;
  WriteFrame(payload, static_cast<char*>(buf.base));
  int rv = raft_apply(r, req, &buf, 1, cb);
  if (rv != 0) raft_free(buf.base);
  return rv;
}

}  // namespace lockq::consensus
