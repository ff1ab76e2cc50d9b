// Commands lockqd proposes itself (kCmdInternal). Precheck() refuses them
// from clients with Redis's "unknown command" wording; Apply() runs them
// whoever proposed them, since only lockqd can write to the log.
//
//   LOCKQ.EXPIRE max_keys          delete up to max_keys keys whose deadline
//                                  <= now, earliest first, then release up
//                                  to max_keys lock holders whose lease
//                                  deadline <= now, in (deadline, name,
//                                  token) order; Int(keys + holders). The
//                                  leader proposes it once its clock passes
//                                  next_expiry_ms() (active expiry through
//                                  the log, as ClickHouse Keeper expires
//                                  sessions).
//   LOCKQ.ANNOUNCE node_id addr    record a node's client address (nodes()).
//                                  A new leader's first entry, so it also
//                                  re-bases lock leases: every lease live at
//                                  the previous batch's time is extended by
//                                  (this batch's time - that time), the time
//                                  no holder could renew through
//                                  (docs/design/native-locks.md).
//   LOCKQ.NOOP                     nothing; a new leader commits one to learn
//                                  its commit index (Raft thesis 6.4).

#include <optional>
#include <string>

#include "sm/command_table.h"
#include "sm/errors.h"
#include "sm/parse.h"

namespace lockq::sm {

namespace {

// "host:port" or "[v6]:port" fit easily; bounded so the node table is.
constexpr size_t kNodeAddrMax = 256;
constexpr size_t kNodesMax = 1024;

Reply Err(std::string_view line) { return Reply::Error(std::string(line)); }

std::optional<Reply> ValidateExpire(const Argv& argv) {
  uint64_t max_keys;
  if (!ParseUint64(argv[1], &max_keys)) return Err(errors::kNotInteger);
  return std::nullopt;
}

Reply ExpireCommand(CommandContext& ctx) {
  uint64_t max_keys;
  if (!ParseUint64(ctx.argv[1], &max_keys)) return Err(errors::kNotInteger);
  size_t n = ctx.state.keyspace.RemoveExpired(ctx.now_ms, static_cast<size_t>(max_keys));
  n += ctx.state.locks.RemoveExpired(ctx.now_ms, static_cast<size_t>(max_keys));
  return Reply::Int(static_cast<int64_t>(n));
}

std::optional<Reply> ValidateAnnounce(const Argv& argv) {
  uint64_t node_id;
  if (!ParseUint64(argv[1], &node_id)) return Err(errors::kNotInteger);
  if (argv[2].size() > kNodeAddrMax) return Err(errors::kSyntax);
  return std::nullopt;
}

Reply AnnounceCommand(CommandContext& ctx) {
  if (std::optional<Reply> err = ValidateAnnounce(ctx.argv)) return *err;
  uint64_t node_id = 0;
  ParseUint64(ctx.argv[1], &node_id);
  auto& nodes = ctx.state.nodes;
  if (nodes.size() >= kNodesMax && nodes.count(node_id) == 0) {
    return Err(errors::kTooManyNodes);
  }
  ctx.state.nodes[node_id] = NodeInfo{ctx.argv[2]};
  // The state machine clock is max(prev, leader_time), so now_ms >=
  // prev_batch_ms and the gap is never negative.
  if (!ctx.state.leases_rebased) {
    ctx.state.leases_rebased = true;
    ctx.state.locks.ExtendLeases(ctx.state.prev_batch_ms, ctx.now_ms - ctx.state.prev_batch_ms);
  }
  return Reply::Ok();
}

Reply NoopCommand(CommandContext&) { return Reply::Ok(); }

}  // namespace

void AddInternalFamily(std::vector<CommandDef>* t) {
  constexpr uint32_t kI = kCmdInternal | kCmdWrite;
  t->insert(t->end(), {
      {{"LOCKQ.EXPIRE", 2, kI, 0, 0, 0}, ExpireCommand, ValidateExpire},
      {{"LOCKQ.ANNOUNCE", 3, kI, 0, 0, 0}, AnnounceCommand, ValidateAnnounce},
      {{"LOCKQ.NOOP", 1, kI | kCmdFast, 0, 0, 0}, NoopCommand, nullptr},
  });
}

}  // namespace lockq::sm
