// Queue commands (docs/queues.md): the one interface of the queue engine
// (queues.h). redis-cli and the C++ client use them directly; the AMQP
// front end translates every method to them.
//
//   X.DECLARE name type [DURABLE] [AUTODELETE] [INTERNAL] [PASSIVE]     -> OK
//   X.DELETE  name [IFUNUSED]                                          -> OK
//   X.BIND    dest source key [ARG k v]...   X.UNBIND (same)           -> OK
//   Q.DECLARE name [DURABLE] [EXCLUSIVE] [AUTODELETE] [PASSIVE] [ARG k v]...
//                                             -> [name, ready messages, consumers]
//   Q.DELETE  name [IFUNUSED] [IFEMPTY]       -> ready messages deleted
//   Q.PURGE   name                            -> ready messages deleted
//   Q.BIND    queue exchange key [ARG k v]... Q.UNBIND (same)          -> OK
//   Q.PUBLISH exchange key body [PROPS bytes] [PRIORITY n] [EXPIRATION ms]
//             [HEADER k v]... [FENCE lock token]       -> [queues routed to, rejected 0|1]
//   Q.CONSUME queue tag [PREFETCH n] [NOACK] [EXCLUSIVE]               -> OK
//   Q.CANCEL  tag                                                      -> OK
//   Q.QOS     prefetch                        (for the whole channel)  -> OK
//   Q.FETCH   queue [COUNT n] [NOACK]         -> [message...] (basic.get)
//   Q.ACK     queue id [id...]                -> ids settled
//   Q.NACK    queue id [id...] [REQUEUE]      -> ids settled
//   Q.RECOVER                                 -> OK (unacked come back, redelivered)
//   Q.CLOSE                                   -> OK (the channel's consumers and unacked go)
//   Q.DISCONNECT                              -> OK (all channels; exclusive queues go)
//   Q.INFO    queue                           -> map
//   Q.LIST    [MATCH pattern]                 -> queue names
//
// A message is [queue, id, redelivered, delivery_count, exchange,
// routing_key, props, body, deaths]. Commands marked kCmdChannelRef act
// for a channel: front ends wrap them in LOCKQ.AS with slot = the AMQP
// channel number (0 for a RESP connection), so acks, consumers and
// exclusive queues belong to that channel or connection.
//
// Errors name the AMQP reply code the AMQP front end sends: NOTFOUND (404),
// LOCKED (405), PRECONDITION (406), ACCESSREFUSED (403), ERR ... (506).

#include <optional>
#include <string>

#include "sm/command_table.h"
#include "sm/errors.h"
#include "sm/glob.h"
#include "sm/parse.h"
#include "sm/queue_opts.h"
#include "sm/queues.h"

namespace lockq::sm {

Reply MessageReply(const std::string& queue, uint64_t id, const Message& m);  // queues.cc

namespace {

Reply Err(std::string line) { return Reply::Error(std::move(line)); }
Reply I(uint64_t v) { return Reply::Int(static_cast<int64_t>(v)); }

Reply ErrorFor(const CommandContext& ctx, QueueError e, std::string_view what) {
  std::string w(what);
  std::string_view vhost = ctx.state.acting_vhost.empty() ? std::string_view("/") : ctx.state.acting_vhost;
  switch (e) {
    case QueueError::kNone: return Reply::Ok();
    case QueueError::kNotFound: return Err("NOTFOUND no " + w + " in vhost '" + std::string(vhost) + "'");
    case QueueError::kLocked: return Err("LOCKED cannot access exclusive " + w + " of another connection");
    case QueueError::kPrecondition: return Err("PRECONDITION " + w + ": inequivalent arguments, in use, or unknown delivery");
    case QueueError::kAccessRefused: return Err("ACCESSREFUSED access to " + w + " refused");
    case QueueError::kLimit: return Err("ERR queue engine limit reached for " + w);
  }
  return Err("ERR internal");
}

bool ValidName(std::string_view s) { return s.size() <= kNameMax; }

// x-arguments of Q.DECLARE, as RabbitMQ reads them.
std::optional<Reply> ParseQueueArgs(const Headers& args, QueueArgs* a) {
  auto number = [](const std::string& v, uint64_t* out) { return ParseUint64(v, out); };
  for (const auto& [k, v] : args) {
    uint64_t n = 0;
    if (k == "x-dead-letter-exchange") {
      a->dlx = v;
    } else if (k == "x-dead-letter-routing-key") {
      a->dlrk = v;
    } else if (k == "x-message-ttl" && number(v, &n)) {
      a->message_ttl_ms = n;
    } else if (k == "x-max-length" && number(v, &n)) {
      a->max_length = n;
    } else if (k == "x-max-length-bytes" && number(v, &n)) {
      a->max_length_bytes = n;
    } else if (k == "x-overflow" && (v == "drop-head" || v == "reject-publish")) {
      a->overflow = v == "drop-head" ? Overflow::kDropHead : Overflow::kRejectPublish;
    } else if (k == "x-delivery-limit" && number(v, &n)) {
      a->delivery_limit = n;
    } else if (k == "x-single-active-consumer" && (v == "true" || v == "false" || v == "1" || v == "0")) {
      a->single_active = v == "true" || v == "1";
    } else if (k == "x-max-priority" && number(v, &n) && n <= 255) {
      a->max_priority = static_cast<uint8_t>(n);
    } else if (k == "x-queue-type" && (v == "quorum" || v == "classic")) {
      // Every lockq queue is replicated; accepted for RabbitMQ clients.
    } else if (k.rfind("x-", 0) == 0) {
      return Err("PRECONDITION invalid or unsupported queue argument '" + k + "'");
    }
  }
  return std::nullopt;
}

// ---- exchanges ----------------------------------------------------------------

std::optional<Reply> ValidateXDeclare(const Argv& argv) {
  if (!ValidName(argv[1])) return Err(std::string(errors::kSyntax));
  if (!ParseExchangeType(argv[2])) return Err("PRECONDITION unknown exchange type '" + argv[2] + "'");
  QueueOpts o = ParseQueueOpts(argv, 3, kXDeclareFlags);
  return o.error;
}

Reply XDeclare(CommandContext& ctx) {
  if (auto err = ValidateXDeclare(ctx.argv)) return *err;
  QueueOpts o = ParseQueueOpts(ctx.argv, 3, kXDeclareFlags);
  Exchange x{*ParseExchangeType(ctx.argv[2]), o.flags.count("DURABLE") != 0, o.flags.count("AUTODELETE") != 0,
             o.flags.count("INTERNAL") != 0, false};
  QueueError e = ctx.state.queues().DeclareExchange(ctx.argv[1], x, o.flags.count("PASSIVE") != 0);
  return ErrorFor(ctx, e, "exchange '" + ctx.argv[1] + "'");
}

std::optional<Reply> ValidateXDelete(const Argv& argv) { return ParseQueueOpts(argv, 2, {"IFUNUSED"}).error; }

Reply XDelete(CommandContext& ctx) {
  QueueOpts o = ParseQueueOpts(ctx.argv, 2, {"IFUNUSED"});
  if (o.error) return *o.error;
  return ErrorFor(ctx, ctx.state.queues().DeleteExchange(ctx.argv[1], o.flags.count("IFUNUSED") != 0),
                  "exchange '" + ctx.argv[1] + "'");
}

std::optional<Reply> ValidateBind(const Argv& argv) {
  if (!ValidName(argv[1]) || !ValidName(argv[2]) || !ValidName(argv[3])) return Err(std::string(errors::kSyntax));
  return ParseQueueOpts(argv, 4, {}).error;
}

// X.BIND / Q.BIND / X.UNBIND / Q.UNBIND: argv = cmd dest source key [ARG k v]...
Reply BindCommon(CommandContext& ctx, bool to_exchange, bool bind) {
  if (auto err = ValidateBind(ctx.argv)) return *err;
  Binding b{to_exchange, ctx.argv[1], ctx.argv[3], ParseQueueOpts(ctx.argv, 4, {}).args};
  QueueEngine& q = ctx.state.queues();
  QueueError e = bind ? q.Bind(ctx.argv[2], b) : q.Unbind(ctx.argv[2], b);
  return ErrorFor(ctx, e, "exchange '" + ctx.argv[2] + "' or " + (to_exchange ? "exchange '" : "queue '") +
                         ctx.argv[1] + "'");
}

Reply XBind(CommandContext& ctx) { return BindCommon(ctx, true, true); }
Reply XUnbind(CommandContext& ctx) { return BindCommon(ctx, true, false); }
Reply QBind(CommandContext& ctx) { return BindCommon(ctx, false, true); }
Reply QUnbind(CommandContext& ctx) { return BindCommon(ctx, false, false); }

// ---- queues -------------------------------------------------------------------


std::optional<Reply> ValidateQDeclare(const Argv& argv) {
  if (!ValidName(argv[1])) return Err(std::string(errors::kSyntax));
  QueueOpts o = ParseQueueOpts(argv, 2, kQDeclareFlags);
  if (o.error) return o.error;
  QueueArgs a;
  return ParseQueueArgs(o.args, &a);
}

Reply QDeclare(CommandContext& ctx) {
  if (auto err = ValidateQDeclare(ctx.argv)) return *err;
  QueueOpts o = ParseQueueOpts(ctx.argv, 2, kQDeclareFlags);
  Queue shape;
  shape.durable = o.flags.count("DURABLE") != 0;
  shape.exclusive = o.flags.count("EXCLUSIVE") != 0;
  shape.auto_delete = o.flags.count("AUTODELETE") != 0;
  ParseQueueArgs(o.args, &shape.args);
  std::string name;
  QueueEngine& engine = ctx.state.queues();
  QueueError e = engine.DeclareQueue(ctx.argv[1], shape, o.flags.count("PASSIVE") != 0, ctx.client, ctx.index, &name);
  if (e != QueueError::kNone) return ErrorFor(ctx, e, "queue '" + ctx.argv[1] + "'");
  const Queue* q = engine.FindQueue(name);
  return Reply::Array({Reply::Bulk(name), I(q->ready.size()), I(q->consumers.size())});
}

std::optional<Reply> ValidateQDelete(const Argv& argv) {
  return ParseQueueOpts(argv, 2, {"IFUNUSED", "IFEMPTY"}).error;
}

Reply QDelete(CommandContext& ctx) {
  QueueOpts o = ParseQueueOpts(ctx.argv, 2, {"IFUNUSED", "IFEMPTY"});
  if (o.error) return *o.error;
  size_t n = 0;
  QueueError e = ctx.state.queues().DeleteQueue(ctx.argv[1], o.flags.count("IFUNUSED") != 0,
                                              o.flags.count("IFEMPTY") != 0, ctx.client, ctx.now_ms, &n,
                                              &ctx.state.events);
  return e == QueueError::kNone ? I(n) : ErrorFor(ctx, e, "queue '" + ctx.argv[1] + "'");
}

Reply QPurge(CommandContext& ctx) {
  size_t n = 0;
  QueueError e = ctx.state.queues().Purge(ctx.argv[1], ctx.client, &n);
  return e == QueueError::kNone ? I(n) : ErrorFor(ctx, e, "queue '" + ctx.argv[1] + "'");
}

// ---- publish ------------------------------------------------------------------

struct PublishArgs {
  Message msg;
  uint64_t expiration_ms = 0;
  bool has_expiration = false;
  Headers headers;
  bool fence = false;
  std::string fence_lock;
  uint64_t fence_token = 0;
};

std::optional<Reply> ParsePublish(const Argv& argv, PublishArgs* p) {
  if (!ValidName(argv[1]) || !ValidName(argv[2])) return Err(std::string(errors::kSyntax));
  for (size_t j = 4; j < argv.size(); j++) {
    std::string up = ToUpper(argv[j]);
    bool one = j + 1 < argv.size(), two = j + 2 < argv.size();
    uint64_t n;
    if (up == "PROPS" && one) {
      p->msg.props = argv[++j];
    } else if (up == "PRIORITY" && one) {
      if (!ParseUint64(argv[++j], &n) || n > 255) return Err(std::string(errors::kNotInteger));
      p->msg.priority = static_cast<uint8_t>(n);
    } else if (up == "EXPIRATION" && one) {
      if (!ParseUint64(argv[++j], &p->expiration_ms)) return Err(std::string(errors::kNotInteger));
      p->has_expiration = true;
    } else if (up == "HEADER" && two) {
      p->headers.emplace_back(argv[j + 1], argv[j + 2]);
      j += 2;
    } else if (up == "FENCE" && two) {
      p->fence = true;
      p->fence_lock = argv[j + 1];
      if (!ParseUint64(argv[j + 2], &p->fence_token)) return Err(std::string(errors::kNotInteger));
      j += 2;
    } else {
      return Err(std::string(errors::kSyntax));
    }
  }
  return std::nullopt;
}

std::optional<Reply> ValidatePublish(const Argv& argv) {
  PublishArgs p;
  return ParsePublish(argv, &p);
}

Reply QPublish(CommandContext& ctx) {
  PublishArgs p;
  if (auto err = ParsePublish(ctx.argv, &p)) return *err;
  QueueEngine& engine = ctx.state.queues();
  const Exchange* x = engine.FindExchange(ctx.argv[1]);
  if (x == nullptr) return ErrorFor(ctx, QueueError::kNotFound, "exchange '" + ctx.argv[1] + "'");
  if (x->internal) return ErrorFor(ctx, QueueError::kAccessRefused, "internal exchange '" + ctx.argv[1] + "'");
  if (p.fence && !ctx.state.locks.FenceAdmits(p.fence_lock, p.fence_token)) {
    return Err(std::string(errors::kFenceStale));
  }
  if (p.has_expiration) {
    if (p.expiration_ms > static_cast<uint64_t>(INT64_MAX) - ctx.now_ms) p.expiration_ms = 0;
    p.msg.expires_ms = ctx.now_ms + p.expiration_ms;
    if (p.msg.expires_ms == 0) p.msg.expires_ms = 1;  // "0": expires unless delivered now
  }
  p.msg.body = ctx.argv[3];
  PublishResult r = engine.Publish(ctx.argv[1], ctx.argv[2], p.headers, std::move(p.msg), ctx.now_ms,
                                   &ctx.state.events);
  return Reply::Array({I(r.routed), I(r.rejected ? 1 : 0)});
}

// ---- consuming ----------------------------------------------------------------

std::optional<Reply> ParseConsume(const Argv& argv, uint64_t* prefetch, std::set<std::string>* flags) {
  if (!ValidName(argv[1]) || !ValidName(argv[2])) return Err(std::string(errors::kSyntax));
  for (size_t j = 3; j < argv.size(); j++) {
    std::string up = ToUpper(argv[j]);
    if (up == "PREFETCH" && j + 1 < argv.size()) {
      if (!ParseUint64(argv[++j], prefetch)) return Err(std::string(errors::kNotInteger));
    } else if (up == "NOACK" || up == "EXCLUSIVE") {
      flags->insert(up);
    } else {
      return Err(std::string(errors::kSyntax));
    }
  }
  return std::nullopt;
}

std::optional<Reply> ValidateConsume(const Argv& argv) {
  uint64_t prefetch = 0;
  std::set<std::string> flags;
  return ParseConsume(argv, &prefetch, &flags);
}

Reply QConsume(CommandContext& ctx) {
  uint64_t prefetch = 0;
  std::set<std::string> flags;
  if (auto err = ParseConsume(ctx.argv, &prefetch, &flags)) return *err;
  QueueError e = ctx.state.queues().Consume(ConsumerKey{ctx.client, ctx.argv[2]}, ctx.argv[1], prefetch,
                                          flags.count("NOACK") != 0, flags.count("EXCLUSIVE") != 0, ctx.now_ms,
                                          &ctx.state.events);
  if (e == QueueError::kPrecondition) return Err("NOTALLOWED consumer tag '" + ctx.argv[2] + "' is in use");
  return ErrorFor(ctx, e, "queue '" + ctx.argv[1] + "'");
}

Reply QCancel(CommandContext& ctx) {
  ctx.state.queues().CancelConsumer(ConsumerKey{ctx.client, ctx.argv[1]}, ctx.now_ms, &ctx.state.events);
  return Reply::Ok();
}

std::optional<Reply> ValidateUint(const Argv& argv) {
  uint64_t n;
  if (!ParseUint64(argv[1], &n)) return Err(std::string(errors::kNotInteger));
  return std::nullopt;
}

Reply QQos(CommandContext& ctx) {
  uint64_t n;
  if (!ParseUint64(ctx.argv[1], &n)) return Err(std::string(errors::kNotInteger));
  ctx.state.queues().Qos(ctx.client, n, ctx.now_ms, &ctx.state.events);
  return Reply::Ok();
}

std::optional<Reply> ParseFetch(const Argv& argv, uint64_t* count, bool* no_ack) {
  for (size_t j = 2; j < argv.size(); j++) {
    std::string up = ToUpper(argv[j]);
    if (up == "COUNT" && j + 1 < argv.size()) {
      if (!ParseUint64(argv[++j], count) || *count == 0 || *count > 10000) {
        return Err("ERR COUNT must be between 1 and 10000");
      }
    } else if (up == "NOACK") {
      *no_ack = true;
    } else {
      return Err(std::string(errors::kSyntax));
    }
  }
  return std::nullopt;
}

std::optional<Reply> ValidateFetch(const Argv& argv) {
  uint64_t count = 1;
  bool no_ack = false;
  return ParseFetch(argv, &count, &no_ack);
}

Reply QFetch(CommandContext& ctx) {
  uint64_t count = 1;
  bool no_ack = false;
  if (auto err = ParseFetch(ctx.argv, &count, &no_ack)) return *err;
  QueueError e;
  auto got = ctx.state.queues().Get(ctx.argv[1], ConsumerKey{ctx.client, ""}, count, no_ack, ctx.now_ms, &e,
                                  &ctx.state.events);
  if (e != QueueError::kNone) return ErrorFor(ctx, e, "queue '" + ctx.argv[1] + "'");
  std::vector<Reply> out;
  for (const auto& [id, m] : got) out.push_back(MessageReply(ctx.argv[1], id, m));
  return Reply::Array(std::move(out));
}

// Q.ACK queue id [id...] / Q.NACK queue id [id...] [REQUEUE]
std::optional<Reply> ParseSettle(const Argv& argv, bool allow_requeue, std::vector<uint64_t>* ids, bool* requeue) {
  for (size_t j = 2; j < argv.size(); j++) {
    uint64_t id;
    if (allow_requeue && j == argv.size() - 1 && EqualsIgnoreCase(argv[j], "REQUEUE")) {
      *requeue = true;
    } else if (ParseUint64(argv[j], &id)) {
      ids->push_back(id);
    } else {
      return Err(std::string(errors::kNotInteger));
    }
  }
  if (ids->empty()) return Err(std::string(errors::kSyntax));
  return std::nullopt;
}

std::optional<Reply> ValidateAck(const Argv& argv) {
  std::vector<uint64_t> ids;
  bool requeue = false;
  return ParseSettle(argv, false, &ids, &requeue);
}

std::optional<Reply> ValidateNack(const Argv& argv) {
  std::vector<uint64_t> ids;
  bool requeue = false;
  return ParseSettle(argv, true, &ids, &requeue);
}

// Settles what it can; an unknown id is skipped (the reply counts the
// settled ones; the AMQP front end checks its own delivery tags first).
Reply Settle(CommandContext& ctx, bool ack) {
  std::vector<uint64_t> ids;
  bool requeue = false;
  if (auto err = ParseSettle(ctx.argv, !ack, &ids, &requeue)) return *err;
  size_t done = 0;
  for (uint64_t id : ids) {
    QueueError e = ack ? ctx.state.queues().Ack(ctx.client, ctx.argv[1], id, ctx.now_ms, &ctx.state.events)
                       : ctx.state.queues().Nack(ctx.client, ctx.argv[1], id, requeue, ctx.now_ms, &ctx.state.events);
    if (e == QueueError::kNone) done++;
  }
  return I(done);
}

Reply QAck(CommandContext& ctx) { return Settle(ctx, true); }
Reply QNack(CommandContext& ctx) { return Settle(ctx, false); }

Reply QRecover(CommandContext& ctx) {
  ctx.state.queues().ReleaseChannel(ctx.client, /*close=*/false, ctx.now_ms, &ctx.state.events);
  return Reply::Ok();
}

// Q.CLOSE and Q.DISCONNECT are the front ends' cleanup: they come without
// a vhost (and must work for a user deleted meanwhile), so they release
// the channel or connection in every vhost; it holds nothing in the others.
Reply QClose(CommandContext& ctx) {
  for (auto& [vhost, engine] : ctx.state.vhosts) {
    engine.ReleaseChannel(ctx.client, /*close=*/true, ctx.now_ms, &ctx.state.events);
  }
  return Reply::Ok();
}

Reply QDisconnect(CommandContext& ctx) {
  for (auto& [vhost, engine] : ctx.state.vhosts) engine.CloseConnection(ctx.client, ctx.now_ms, &ctx.state.events);
  return Reply::Ok();
}

// ---- introspection ------------------------------------------------------------

Reply QInfo(CommandContext& ctx) {
  const Queue* q = ctx.state.queues().FindQueue(ctx.argv[1]);
  if (q == nullptr) return ErrorFor(ctx, QueueError::kNotFound, "queue '" + ctx.argv[1] + "'");
  std::vector<Reply> consumers;
  for (const ConsumerKey& k : q->consumers) consumers.push_back(Reply::Bulk(k.tag));
  return Reply::Map({Reply::Bulk("messages_ready"), I(q->ready.size()),
                     Reply::Bulk("messages_unacked"), I(q->unacked.size()),
                     Reply::Bulk("bytes_ready"), I(q->ready_bytes),
                     Reply::Bulk("consumers"), Reply::Array(std::move(consumers)),
                     Reply::Bulk("durable"), I(q->durable), Reply::Bulk("exclusive"), I(q->exclusive),
                     Reply::Bulk("auto_delete"), I(q->auto_delete)});
}

std::optional<Reply> ValidateList(const Argv& argv) {
  if (argv.size() == 1) return std::nullopt;
  if (argv.size() != 3 || !EqualsIgnoreCase(argv[1], "MATCH")) return Err(std::string(errors::kSyntax));
  return std::nullopt;
}

Reply QList(CommandContext& ctx) {
  if (auto err = ValidateList(ctx.argv)) return *err;
  std::string_view pattern = ctx.argv.size() == 3 ? std::string_view(ctx.argv[2]) : "*";
  std::vector<Reply> out;
  for (const auto& [name, q] : ctx.state.queues().queues()) {
    if (pattern == "*" || GlobMatch(pattern, name)) out.push_back(Reply::Bulk(name));
  }
  return Reply::Array(std::move(out));
}

}  // namespace

void AddQueueFamily(std::vector<CommandDef>* t) {
  constexpr uint32_t kW = kCmdWrite | kCmdFast;
  constexpr uint32_t kCh = kW | kCmdChannelRef;
  constexpr uint32_t kR = kCmdReadOnly | kCmdFast;
  t->insert(t->end(), {
      {{"X.DECLARE", -3, kW, 1, 1, 1, kAclQueue, kKeyWrite}, XDeclare, ValidateXDeclare},
      {{"X.DELETE", -2, kW, 1, 1, 1, kAclQueue, kKeyWrite}, XDelete, ValidateXDelete},
      {{"X.BIND", -4, kW, 1, 1, 1, kAclQueue, kKeyWrite}, XBind, ValidateBind},
      {{"X.UNBIND", -4, kW, 1, 1, 1, kAclQueue, kKeyWrite}, XUnbind, ValidateBind},
      {{"Q.DECLARE", -2, kCh, 1, 1, 1, kAclQueue, kKeyWrite}, QDeclare, ValidateQDeclare},
      {{"Q.DELETE", -2, kCh, 1, 1, 1, kAclQueue, kKeyWrite}, QDelete, ValidateQDelete},
      {{"Q.PURGE", 2, kCh, 1, 1, 1, kAclQueue, kKeyWrite}, QPurge, nullptr},
      {{"Q.BIND", -4, kW, 1, 1, 1, kAclQueue, kKeyWrite}, QBind, ValidateBind},
      {{"Q.UNBIND", -4, kW, 1, 1, 1, kAclQueue, kKeyWrite}, QUnbind, ValidateBind},
      {{"Q.PUBLISH", -4, kW, 1, 1, 1, kAclQueue, kKeyWrite}, QPublish, ValidatePublish},
      {{"Q.CONSUME", -3, kCh, 1, 1, 1, kAclQueue, kKeyReadWrite}, QConsume, ValidateConsume},
      {{"Q.CANCEL", 2, kCh, 0, 0, 0, kAclQueue, kKeyAny}, QCancel, nullptr},
      {{"Q.QOS", 2, kCh, 0, 0, 0, kAclQueue, kKeyAny}, QQos, ValidateUint},
      {{"Q.FETCH", -2, kCh, 1, 1, 1, kAclQueue, kKeyReadWrite}, QFetch, ValidateFetch},
      {{"Q.ACK", -3, kCh, 1, 1, 1, kAclQueue, kKeyWrite}, QAck, ValidateAck},
      {{"Q.NACK", -3, kCh, 1, 1, 1, kAclQueue, kKeyWrite}, QNack, ValidateNack},
      {{"Q.RECOVER", 1, kCh, 0, 0, 0, kAclQueue, kKeyAny}, QRecover, nullptr},
      {{"Q.CLOSE", 1, kCh | kCmdAclExempt, 0, 0, 0, kAclQueue, kKeyAny}, QClose, nullptr},
      {{"Q.DISCONNECT", 1, kCh | kCmdAclExempt, 0, 0, 0, kAclQueue, kKeyAny}, QDisconnect, nullptr},
      {{"Q.INFO", 2, kR, 1, 1, 1, kAclQueue, kKeyRead}, QInfo, nullptr},
      {{"Q.LIST", -1, kCmdReadOnly, 0, 0, 0, kAclQueue, kKeyAny}, QList, ValidateList},
  });
}

}  // namespace lockq::sm
