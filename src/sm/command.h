#pragma once
// The log entry format. One Raft entry carries one Batch: every command that
// arrived at the leader in one event-loop turn (group commit), stamped with
// the leader's clock. Commands are argv vectors exactly as a Redis client
// sends them ("SET", "k", "v", "PX", "100"); the state machine's command
// table parses them at apply time. The same argv form is what Lua's
// redis.call() produces, so scripts and clients share one path.
//
// Wire format (little endian; docs/formats.md "Log entry"):
//   u8  version (= kBatchVersion)
//   u64 origin_node, u64 origin_nonce, u64 origin_seq   -- who proposed it
//   u64 leader_time_ms                                  -- proposer's clock
//   varint n_commands, then per command: varint argc, argc x string
// Decoding rejects anything else (unknown version, trailing bytes, argc or
// lengths beyond the limits) with Status::Corruption.

#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include "common/argv.h"
#include "common/status.h"

namespace lockq::sm {

inline constexpr uint8_t kBatchVersion = 1;
inline constexpr uint64_t kMaxArgsPerCommand = 1 << 20;
inline constexpr uint64_t kMaxCommandsPerBatch = 1 << 20;

using Argv = ::lockq::Argv;  // common/argv.h

struct BatchOrigin {
  uint64_t node_id = 0;
  uint64_t nonce = 0;  // random per process start: tells incarnations apart
  uint64_t seq = 0;    // per-process counter of proposed batches
  bool operator==(const BatchOrigin&) const = default;
};

struct Batch {
  BatchOrigin origin;
  uint64_t leader_time_ms = 0;
  std::vector<Argv> commands;
};

std::string EncodeBatch(const Batch& batch);
// Upper bound of one command's encoded size (for batch and chunk budgets).
size_t EncodedArgvBytes(const Argv& argv);
Result<Batch> DecodeBatch(std::string_view bytes);

// A list of argv without header, used by follower->leader forwarding.
std::string EncodeArgvList(const std::vector<Argv>& commands);
Result<std::vector<Argv>> DecodeArgvList(std::string_view bytes);

}  // namespace lockq::sm
