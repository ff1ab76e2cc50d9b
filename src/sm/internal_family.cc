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
//
// Peer commands (kCmdPeer): a node proposes them for its own clients, and a
// follower may forward them to the leader. A ClientRef is four integers:
// node nonce conn slot (events.h).
//
//   LOCKQ.AS node nonce conn slot cmd args...
//                                  runs cmd (a kCmdClientRef command, checked
//                                  as a client's) knowing which connection
//                                  sent it; its reply is cmd's
//   LOCKQ.CANCEL node nonce conn slot
//                                  that request's connection is gone: it
//                                  leaves its lock queue, or its grant is
//                                  released; Int(0)
//   LOCKQ.INCARNATION node nonce   `node` restarted as `nonce`: waiters of its
//                                  earlier incarnations leave their queues,
//                                  their channels close (unacked messages come
//                                  back). Nonce 0: the leader declared the node
//                                  down (dispatch::LeaderDuties); all of
//                                  its clients' state goes. Emits a kChange
//                                  event on kIncarnationTopic.

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
  n += ctx.state.locks.RemoveExpired(ctx.now_ms, static_cast<size_t>(max_keys), &ctx.state.events);
  for (auto& [vhost, engine] : ctx.state.vhosts) {
    if (n >= max_keys) break;
    n += engine.RemoveExpired(ctx.now_ms, static_cast<size_t>(max_keys - n), &ctx.state.events);
  }
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

// argv[first .. first+3] as a ClientRef; false when any is not a uint64.
bool ParseClientRef(const Argv& argv, size_t first, ClientRef* c) {
  return ParseUint64(argv[first], &c->node) && ParseUint64(argv[first + 1], &c->nonce) &&
         ParseUint64(argv[first + 2], &c->conn) && ParseUint64(argv[first + 3], &c->slot);
}

// The wrapped command, checked as a client's: it must be one that wants a
// client reference.
std::optional<Reply> ValidateAs(const Argv& argv, Argv* inner) {
  ClientRef c;
  if (!ParseClientRef(argv, 1, &c)) return Err(errors::kNotInteger);
  inner->assign(argv.begin() + 5, argv.end());
  if (auto err = CheckCommand(*inner, /*allow_internal=*/false)) return err;
  if (!(FindCommandDef((*inner)[0])->spec.flags & (kCmdClientRef | kCmdChannelRef))) return Err(errors::kSyntax);
  return std::nullopt;
}

std::optional<Reply> ValidateAsOnly(const Argv& argv) {
  Argv inner;
  return ValidateAs(argv, &inner);
}

Reply AsCommand(CommandContext& ctx) {
  Argv inner;
  if (auto err = ValidateAs(ctx.argv, &inner)) return *err;
  ClientRef c;
  ParseClientRef(ctx.argv, 1, &c);
  return Dispatch(ctx.state, inner, ctx.index, c);
}

std::optional<Reply> ValidateCancel(const Argv& argv) {
  ClientRef c;
  if (!ParseClientRef(argv, 1, &c)) return Err(errors::kNotInteger);
  return std::nullopt;
}

Reply CancelCommand(CommandContext& ctx) {
  ClientRef c;
  if (!ParseClientRef(ctx.argv, 1, &c)) return Err(errors::kNotInteger);
  ctx.state.locks.Cancel(c, ctx.now_ms, &ctx.state.events);
  return Reply::Int(0);
}

std::optional<Reply> ValidateIncarnation(const Argv& argv) {
  uint64_t node, nonce;
  if (!ParseUint64(argv[1], &node) || !ParseUint64(argv[2], &nonce)) return Err(errors::kNotInteger);
  return std::nullopt;
}

Reply IncarnationCommand(CommandContext& ctx) {
  if (auto err = ValidateIncarnation(ctx.argv)) return *err;
  uint64_t node = 0, nonce = 0;
  ParseUint64(ctx.argv[1], &node);
  ParseUint64(ctx.argv[2], &nonce);
  ctx.state.locks.DropIncarnation(node, nonce, ctx.now_ms, &ctx.state.events);
  for (auto& [vhost, engine] : ctx.state.vhosts) engine.DropIncarnation(node, nonce, ctx.now_ms, &ctx.state.events);
  ctx.state.events.push_back(
      Event{Event::Kind::kChange, ClientRef{node, nonce, 0, 0}, std::string(kIncarnationTopic), {}});
  return Reply::Ok();
}

}  // namespace

void AddInternalFamily(std::vector<CommandDef>* t) {
  constexpr uint32_t kI = kCmdInternal | kCmdWrite;
  t->insert(t->end(), {
      {{"LOCKQ.EXPIRE", 2, kI, 0, 0, 0, 0, kKeyAny}, ExpireCommand, ValidateExpire},
      {{"LOCKQ.ANNOUNCE", 3, kI, 0, 0, 0, 0, kKeyAny}, AnnounceCommand, ValidateAnnounce},
      {{"LOCKQ.NOOP", 1, kI | kCmdFast, 0, 0, 0, 0, kKeyAny}, NoopCommand, nullptr},
      {{"LOCKQ.AS", -6, kI | kCmdPeer | kCmdFast, 0, 0, 0, 0, kKeyAny}, AsCommand, ValidateAsOnly},
      {{"LOCKQ.CANCEL", 5, kI | kCmdPeer | kCmdFast, 0, 0, 0, 0, kKeyAny}, CancelCommand, ValidateCancel},
      {{"LOCKQ.INCARNATION", 3, kI | kCmdPeer, 0, 0, 0, 0, kKeyAny}, IncarnationCommand, ValidateIncarnation},
  });
}

}  // namespace lockq::sm
