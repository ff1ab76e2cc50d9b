// AMQP virtual hosts (docs/security.md "Vhosts"; WAVE2.md A.3): each vhost
// is its own queue engine (sm_state.h), so exchanges, queues and bindings
// of one never see another's. "/" always exists; RESP's Q.* commands use
// it.
//
//   LOCKQ.VHOST ADD name        -> 1 added, 0 already there       (@admin)
//   LOCKQ.VHOST DELETE name     -> 1 deleted, 0 not there          (@admin)
//                                  its queues and messages go; every node
//                                  closes its AMQP connections to it
//                                  (kVhostDeletedTopic)
//   LOCKQ.VHOST LIST            -> names
//   LOCKQ.PERMISSIONS SET user vhost configure write read  -> OK
//   LOCKQ.PERMISSIONS CLEAR user vhost                     -> 1 or 0
//   LOCKQ.PERMISSIONS LIST user        -> [[vhost, configure, write, read]...]
//   LOCKQ.PERMISSIONS SETTOPIC user vhost exchange write read -> OK
//   LOCKQ.PERMISSIONS CLEARTOPIC user vhost exchange          -> 1 or 0
//   LOCKQ.PERMISSIONS TOPICS user      -> [[vhost, exchange, write, read]...]
//                                  RabbitMQ's set_permissions and
//                                  set_topic_permissions: PCRE patterns
//                                  (perm_regex.h), "" matches nothing;
//                                  `{username}` and `{vhost}` expand. The
//                                  vhost need not exist yet.     (@admin)
//   LOCKQ.AMQP user vhost cmd [arg...]                            (internal)
//                                  runs cmd (a queue engine command, or
//                                  LOCKQ.AS around one) as `user` in
//                                  `vhost`: the AMQP front end wraps every
//                                  command so. Checked here, as of this
//                                  entry: the vhost exists and the user may
//                                  open it (NOTALLOWED); Dispatch then
//                                  checks RabbitMQ's permission table
//                                  (amqp_access.h), not the Redis ACL.

#include "common/strings.h"
#include "sm/acl_user.h"
#include "sm/amqp_access.h"
#include "sm/command_table.h"
#include "sm/errors.h"
#include "sm/perm_regex.h"

namespace lockq::sm {

namespace {

inline constexpr size_t kVhostsMax = 1024;

bool ValidVhostName(std::string_view v) { return !v.empty() && v.size() <= kAclNameMax; }

std::optional<Reply> ValidateVhost(const Argv& argv) {
  std::string sub = ToUpper(argv[1]);
  bool ok = ((sub == "ADD" || sub == "DELETE") && argv.size() == 3) || (sub == "LIST" && argv.size() == 2);
  if (!ok) {
    return Reply::Error("ERR unknown subcommand or wrong number of arguments for '" + argv[1] +
                        "'. Try LOCKQ.VHOST ADD|DELETE|LIST.");
  }
  if (argv.size() == 3 && !ValidVhostName(argv[2])) return Reply::Error("ERR invalid vhost name");
  return std::nullopt;
}

Reply VhostCommand(CommandContext& ctx) {
  if (auto err = ValidateVhost(ctx.argv)) return *err;
  std::string sub = ToUpper(ctx.argv[1]);
  auto& vhosts = ctx.state.vhosts;
  if (sub == "LIST") {
    std::vector<Reply> out;
    for (const auto& [name, engine] : vhosts) out.push_back(Reply::Bulk(name));
    return Reply::Array(std::move(out));
  }
  const std::string& name = ctx.argv[2];
  if (sub == "ADD") {
    if (vhosts.count(name) != 0) return Reply::Int(0);
    if (vhosts.size() >= kVhostsMax) return Reply::Error("ERR too many vhosts (1024)");
    vhosts.emplace(name, QueueEngine());
    return Reply::Int(1);
  }
  if (name == "/") return Reply::Error("ERR the default vhost '/' cannot be deleted");
  auto it = vhosts.find(name);
  if (it == vhosts.end()) return Reply::Int(0);
  vhosts.erase(it);
  ctx.state.events.push_back(Event{Event::Kind::kChange, {}, std::string(kVhostDeletedTopic), Reply::Bulk(name)});
  return Reply::Int(1);
}

std::optional<Reply> ValidatePermissions(const Argv& argv) {
  std::string sub = ToUpper(argv[1]);
  size_t n = argv.size();
  bool ok = (sub == "SET" && n == 7) || (sub == "CLEAR" && n == 4) || (sub == "LIST" && n == 3) ||
            (sub == "SETTOPIC" && n == 7) || (sub == "CLEARTOPIC" && n == 5) || (sub == "TOPICS" && n == 3);
  if (!ok) {
    return Reply::Error("ERR unknown subcommand or wrong number of arguments for '" + argv[1] +
                        "'. Try LOCKQ.PERMISSIONS SET|CLEAR|LIST|SETTOPIC|CLEARTOPIC|TOPICS.");
  }
  if (!ValidAclUserName(argv[2])) return Reply::Error("ERR invalid user name");
  if (n >= 4 && !ValidVhostName(argv[3])) return Reply::Error("ERR invalid vhost name");
  if (sub.ends_with("TOPIC") && argv[4].size() > kAclNameMax) return Reply::Error("ERR invalid exchange name");
  size_t first_pattern = sub == "SET" ? 4 : sub == "SETTOPIC" ? 5 : n;
  for (size_t i = first_pattern; i < n; i++) {
    if (!ValidPermissionRegex(argv[i])) return Reply::Error("ERR invalid permission regex '" + argv[i] + "'");
  }
  return std::nullopt;
}

Reply ListPermissions(const AclUser& u, bool topics) {
  std::vector<Reply> out;
  if (topics) {
    for (const auto& [key, t] : u.topics) {
      out.push_back(Reply::Array({Reply::Bulk(key.first), Reply::Bulk(key.second), Reply::Bulk(t.write),
                                  Reply::Bulk(t.read)}));
    }
  } else {
    for (const auto& [vhost, p] : u.vhosts) {
      out.push_back(Reply::Array({Reply::Bulk(vhost), Reply::Bulk(p.configure), Reply::Bulk(p.write),
                                  Reply::Bulk(p.read)}));
    }
  }
  return Reply::Array(std::move(out));
}

Reply PermissionsCommand(CommandContext& ctx) {
  if (auto err = ValidatePermissions(ctx.argv)) return *err;
  std::string sub = ToUpper(ctx.argv[1]);
  const Argv& a = ctx.argv;
  AclUser* u = ctx.state.acl.FindMutable(a[2]);
  if (u == nullptr) return Reply::Error("ERR User '" + a[2] + "' not found");
  if (sub == "LIST" || sub == "TOPICS") return ListPermissions(*u, sub == "TOPICS");
  bool erased = false;
  if (sub == "CLEAR") {
    erased = u->vhosts.erase(a[3]) > 0;
  } else if (sub == "CLEARTOPIC") {
    erased = u->topics.erase(TopicKey(a[3], a[4])) > 0;
  } else if (sub == "SET") {
    if (u->vhosts.size() >= kAclVhostsMax && u->vhosts.count(a[3]) == 0) {
      return Reply::Error("ERR too many vhost permissions for one user (1024)");
    }
    u->vhosts[a[3]] = VhostPermissions{a[4], a[5], a[6]};
  } else {  // SETTOPIC
    if (u->topics.size() >= kAclVhostsMax && u->topics.count(TopicKey(a[3], a[4])) == 0) {
      return Reply::Error("ERR too many topic permissions for one user (1024)");
    }
    u->topics[TopicKey(a[3], a[4])] = TopicPermissions{a[5], a[6]};
  }
  if (sub.starts_with("SET") || erased) ctx.state.acl.BumpEpoch();
  return sub.starts_with("SET") ? Reply::Ok() : Reply::Int(erased ? 1 : 0);
}

// The wrapped command is a client command, or LOCKQ.AS (which checks its
// own inner command as a client's).
std::optional<Reply> ValidateAmqp(const Argv& argv) {
  if (!ValidAclUserName(argv[1])) return Reply::Error("ERR invalid user name");
  if (!ValidVhostName(argv[2])) return Reply::Error("ERR invalid vhost name");
  return CheckWrapped(argv, 3);
}

// Dispatch ran ValidateAmqp; the wrapped command is checked (arity,
// RabbitMQ's table as of this entry) when it is dispatched.
Reply AmqpCommand(CommandContext& ctx) {
  if (auto denied = AmqpVhostDenied(ctx.state, ctx.argv[1], ctx.argv[2])) return Reply::Error(*denied);
  Argv inner(ctx.argv.begin() + 3, ctx.argv.end());
  std::string saved_user = std::move(ctx.state.acting_user);
  std::string saved_vhost = std::move(ctx.state.acting_vhost);
  ctx.state.acting_user = ctx.argv[1];
  ctx.state.acting_vhost = ctx.argv[2];
  Reply r = Dispatch(ctx.state, inner, ctx.index, ctx.client);
  ctx.state.acting_user = std::move(saved_user);
  ctx.state.acting_vhost = std::move(saved_vhost);
  return r;
}

}  // namespace

void AddVhostFamily(std::vector<CommandDef>* t) {
  constexpr uint32_t kI = kCmdInternal | kCmdWrite;
  t->insert(t->end(), {
      {{"LOCKQ.VHOST", -2, kCmdWrite | kCmdAdmin | kCmdNoScript, 0, 0, 0, 0, kKeyAny}, VhostCommand, ValidateVhost},
      {{"LOCKQ.PERMISSIONS", -3, kCmdWrite | kCmdAdmin | kCmdNoScript, 0, 0, 0, 0, kKeyAny}, PermissionsCommand,
       ValidatePermissions},
      {{"LOCKQ.AMQP", -4, kI | kCmdPeer | kCmdFast, 0, 0, 0, 0, kKeyAny}, AmqpCommand, ValidateAmqp},
  });
}

}  // namespace lockq::sm
