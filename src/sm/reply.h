#pragma once
// Reply: a protocol-neutral answer produced by the state machine (or by a
// front end for connection-local commands); defined in include/lockq/reply.h
// because liblockq returns it too. src/resp writes it as RESP2 or RESP3;
// forwarding between nodes encodes it with EncodeReplies().

#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include "common/status.h"
#include "lockq/reply.h"

namespace lockq::sm {

using Reply = ::lockq::Reply;

// Binary encoding of a list of replies (version byte first; docs/formats.md).
std::string EncodeReplies(const std::vector<Reply>& replies);
Result<std::vector<Reply>> DecodeReplies(std::string_view bytes);

// Debug form, e.g. `["OK", 3, nil]`, for tests and logs.
std::string ToDebugString(const Reply& r);

}  // namespace lockq::sm
