#include "sm/amqp_access.h"

#include <vector>

#include "common/strings.h"
#include "sm/acl_user.h"
#include "sm/perm_regex.h"
#include "sm/queue_opts.h"
#include "sm/sm_state.h"

namespace lockq::sm {

namespace {

enum class Perm : uint8_t { kConfigure, kWrite, kRead, kAny };

struct Need {  // one row of RabbitMQ's table
  Perm perm;
  bool queue;  // else an exchange
  std::string name;
};

struct TopicNeed {  // a topic permission, checked when `exchange` is a topic exchange
  bool write;       // else read
  std::string exchange, key;
};

// The default exchange is checked and reported as "amq.default".
std::string ExchangeName(const std::string& name) { return name.empty() ? "amq.default" : name; }

// False: argv is not a queue engine command an AMQP client may send.
bool Needs(const Argv& a, std::vector<Need>* out, std::vector<TopicNeed>* topics) {
  std::string cmd = ToUpper(a[0]);
  if (cmd == "X.DECLARE") {
    out->push_back({ParseQueueOpts(a, 3, kXDeclareFlags).flags.count("PASSIVE") ? Perm::kAny : Perm::kConfigure, false,
                    a[1]});
  } else if (cmd == "X.DELETE") {
    out->push_back({Perm::kConfigure, false, a[1]});
  } else if (cmd == "X.BIND" || cmd == "X.UNBIND") {  // destination, source, key
    out->push_back({Perm::kWrite, false, a[1]});
    out->push_back({Perm::kRead, false, a[2]});
    topics->push_back({false, a[2], a[3]});
  } else if (cmd == "Q.DECLARE") {
    // A server-named queue is checked as "amq.gen" (its name starts so).
    std::string queue = a[1].empty() ? std::string("amq.gen") : a[1];
    QueueOpts o = ParseQueueOpts(a, 2, kQDeclareFlags);
    if (o.flags.count("PASSIVE")) {
      out->push_back({Perm::kAny, true, queue});  // a passive declare needs any one (RabbitMQ 4.3)
      return true;
    }
    out->push_back({Perm::kConfigure, true, queue});
    const std::string* dlx = nullptr;  // the last one counts, as in ParseQueueArgs
    for (const auto& [k, v] : o.args) {
      if (k == "x-dead-letter-exchange") dlx = &v;
    }
    if (dlx != nullptr) {
      // The queue publishes its dead letters: write on the DLX, read on the queue.
      out->push_back({Perm::kWrite, false, *dlx});
      out->push_back({Perm::kRead, true, queue});
    }
  } else if (cmd == "Q.DELETE") {
    out->push_back({Perm::kConfigure, true, a[1]});
  } else if (cmd == "Q.PURGE" || cmd == "Q.CONSUME" || cmd == "Q.FETCH" || cmd == "Q.INFO") {
    out->push_back({Perm::kRead, true, a[1]});
  } else if (cmd == "Q.BIND" || cmd == "Q.UNBIND") {  // queue, exchange, key
    out->push_back({Perm::kWrite, true, a[1]});
    out->push_back({Perm::kRead, false, a[2]});
    topics->push_back({false, a[2], a[3]});
  } else if (cmd == "Q.PUBLISH") {  // exchange, routing key
    out->push_back({Perm::kWrite, false, a[1]});
    topics->push_back({true, a[1], a[2]});
  } else if (cmd != "Q.CANCEL" && cmd != "Q.QOS" && cmd != "Q.ACK" && cmd != "Q.NACK" && cmd != "Q.RECOVER" &&
             cmd != "Q.CLOSE" && cmd != "Q.DISCONNECT" && cmd != "Q.LIST") {
    return false;
  }
  return true;
}

bool Matches(const std::string& pattern, std::string_view name, std::string_view user, std::string_view vhost) {
  return PermissionMatches(ExpandPermissionPattern(pattern, user, vhost), name);
}

const char* PermName(Perm p) {
  switch (p) {
    case Perm::kConfigure: return "configure";
    case Perm::kWrite: return "write";
    case Perm::kRead: return "read";
    case Perm::kAny: return "configure";  // RabbitMQ reports a failed passive declare so
  }
  return "";
}

}  // namespace

std::optional<std::string> AmqpVhostDenied(const SmState& state, std::string_view user, std::string_view vhost) {
  if (state.vhosts.count(vhost) == 0) return "NOTALLOWED vhost " + std::string(vhost) + " not found";
  const AclUser* u = state.acl.Find(user);
  if (u == nullptr || !u->enabled || !AclVhostPermissions(*u, vhost)) {
    return "NOTALLOWED access to vhost '" + std::string(vhost) + "' refused for user '" + std::string(user) + "'";
  }
  return std::nullopt;
}

std::optional<std::string> AmqpCommandDenied(const SmState& state, std::string_view user, std::string_view vhost,
                                             const Argv& argv) {
  std::vector<Need> needs;
  std::vector<TopicNeed> topics;
  if (!Needs(argv, &needs, &topics)) {
    return "ACCESSREFUSED command '" + ToLower(argv[0]) + "' is not available over AMQP";
  }
  if (needs.empty()) return std::nullopt;
  const AclUser* u = state.acl.Find(user);
  std::optional<VhostPermissions> p;
  if (u != nullptr && u->enabled) p = AclVhostPermissions(*u, vhost);
  std::string who = " in vhost '" + std::string(vhost) + "' refused for user '" + std::string(user) + "'";
  for (const Need& n : needs) {
    std::string name = n.queue ? n.name : ExchangeName(n.name);
    bool ok = false;
    if (p) {
      bool c = (n.perm == Perm::kConfigure || n.perm == Perm::kAny) && Matches(p->configure, name, user, vhost);
      bool w = (n.perm == Perm::kWrite || n.perm == Perm::kAny) && Matches(p->write, name, user, vhost);
      bool r = (n.perm == Perm::kRead || n.perm == Perm::kAny) && Matches(p->read, name, user, vhost);
      ok = c || w || r;
    }
    if (!ok) {
      return std::string("ACCESSREFUSED ") + PermName(n.perm) + " access to " + (n.queue ? "queue" : "exchange") +
             " '" + name + "'" + who;
    }
  }
  auto engine = state.vhosts.find(vhost);
  for (const TopicNeed& t : topics) {
    auto entry = u->topics.find(TopicKey(std::string(vhost), t.exchange));
    if (entry == u->topics.end() || engine == state.vhosts.end()) continue;
    const Exchange* x = engine->second.FindExchange(t.exchange);
    if (x == nullptr || x->type != ExchangeType::kTopic) continue;
    if (!Matches(t.write ? entry->second.write : entry->second.read, t.key, user, vhost)) {
      return std::string("ACCESSREFUSED ") + (t.write ? "write" : "read") + " access to topic '" + t.key +
             "' in exchange '" + ExchangeName(t.exchange) + "'" + who;
    }
  }
  return std::nullopt;
}

}  // namespace lockq::sm
