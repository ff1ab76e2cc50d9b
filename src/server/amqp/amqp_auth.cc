// AMQP connection, users side (amqp_connection.h; docs/security.md "AMQP";
// WAVE2.md A.3): the login of connection.start-ok, the vhost of
// connection.open, and RabbitMQ's method-to-permission table, checked
// against the user's per-vhost regexes.

#include <amqp.h>
#include <amqp_framing.h>
#include <spdlog/spdlog.h>

#include "amqp/field_value.h"
#include "amqp/frame.h"
#include "amqp/sasl.h"
#include "common/clock.h"
#include "server/amqp/amqp_connection.h"
#include "server/amqp/amqp_server.h"
#include "server/core.h"
#include "sm/acl_store.h"

namespace lockq::server {

namespace {

constexpr size_t kRegexCacheMax = 64;

std::string LoginRefused(const std::string& mechanism) {
  return "ACCESS_REFUSED - Login was refused using authentication mechanism " + mechanism +
         ". For details see the broker logfile.";
}

// Open mode: `default` is on and needs no password (and this node's
// --requirepass/--aclfile are applied): any credentials are accepted.
bool OpenMode(AuthGate& gate) {
  const sm::AclUser* d = gate.Find("default");
  return d != nullptr && d->enabled && d->nopass && !gate.BootPending();
}

}  // namespace

// Section 1.4.2.2: the client's mechanism and response. A refusal is a
// connection.close 403 (class/method 0/0, as RabbitMQ sends it) before
// connection.tune: clients that advertised authentication_failure_close
// (pika, amqplib) report it as an authentication failure.
void AmqpConnection::Login(const amqp_connection_start_ok_t& m) {
  AuthGate& gate = server_->core().auth();
  std::string mechanism = amqp::ToString(m.mechanism);
  std::optional<amqp::SaslLogin> login = amqp::ParseSaslResponse(mechanism, amqp::ToString(m.response));
  std::string peer = stream_->PeerName();
  if (OpenMode(gate)) {
    // A valid pair of another user logs in as that user; anything else
    // (pika's and amqplib's default guest/guest) runs as `default`.
    user_ = login && gate.Matches(login->user, login->password) ? login->user : "default";
    return;
  }
  if (mechanism != "PLAIN" && mechanism != "AMQPLAIN") {
    Refuse(504, "COMMAND_INVALID - unknown authentication mechanism '" + mechanism + "'", 0);
    return;
  }
  std::string info = AclClientInfo(id_, peer, "amqp", login ? login->user : std::string(), 0);
  // A malformed response counts as a wrong password (an empty user name
  // never exists), so it is braked and logged too.
  AuthGate::Result r = gate.Check(login ? login->user : std::string(), login ? login->password : std::string(),
                                  /*password_only=*/false, peer, "amqp", info);
  switch (r.outcome) {
    case AuthGate::Outcome::kOk:
      user_ = login->user;
      return;
    case AuthGate::Outcome::kBootPending:
      Refuse(403, LoginRefused(mechanism) + " (users are still loading; retry)", 0);
      return;
    case AuthGate::Outcome::kNoPassword:
    case AuthGate::Outcome::kWrong:
      spdlog::info("amqp client {} ({}): login refused for user '{}' ({})", id_, peer,
                   login ? login->user : std::string("?"), mechanism);
      Refuse(403, LoginRefused(mechanism), r.delay_ms);
      return;
  }
}

void AmqpConnection::Refuse(uint16_t code, const std::string& text, uint64_t delay_ms) {
  if (delay_ms == 0) {
    Send(ConnectionError(code, text));
    return;
  }
  refusing_ = true;  // Tick sends it when due
  refusal_code_ = code;
  refusal_text_ = text;
  refuse_at_ms_ = clock_.MonotonicMs() + delay_ms;
}

// Section 1.4.2.7: the vhost. Only "/" exists (queue and exchange names
// are not namespaced by vhost yet), so any other is "not found".
bool AmqpConnection::OpenVhost(const std::string& vhost) {
  const sm::AclUser* u = server_->core().auth().Find(user_);
  if (vhost != "/") {
    Send(ConnectionError(530, "NOT_ALLOWED - vhost " + vhost + " not found", AMQP_CONNECTION_OPEN_METHOD));
    return false;
  }
  if (u == nullptr || !u->enabled || !sm::AclVhostPermissions(*u, vhost)) {
    Send(ConnectionError(530, "NOT_ALLOWED - access to vhost '" + vhost + "' refused for user '" + user_ + "'",
                         AMQP_CONNECTION_OPEN_METHOD));
    return false;
  }
  vhost_ = vhost;
  return true;
}

bool AmqpConnection::Matches(const std::string& pattern, const std::string& name) {
  if (pattern.empty()) return false;  // RabbitMQ: '' matches nothing
  if (pattern == ".*") return true;  // the common grant (and `default`'s): no regex on the hot path
  auto it = regexes_.find(pattern);
  if (it == regexes_.end()) {
    if (regexes_.size() >= kRegexCacheMax) regexes_.clear();
    try {
      it = regexes_.emplace(pattern, std::regex(pattern)).first;
    } catch (const std::regex_error&) {
      return false;  // LOCKQ.PERMISSIONS validated it; fail closed anyway
    }
  }
  // RabbitMQ matches unanchored (re:run): a pattern matches anywhere in the name.
  return std::regex_search(name, it->second);
}

bool AmqpConnection::Permit(uint16_t ch, Access access, bool queue, const std::string& name,
                            amqp_method_number_t cause) {
  const sm::AclUser* u = server_->core().auth().Find(user_);
  std::optional<sm::VhostPermissions> p;
  if (u != nullptr && u->enabled) p = sm::AclVhostPermissions(*u, vhost_);
  std::string resource = queue || !name.empty() ? name : "amq.default";
  bool ok = false;
  if (p) {
    switch (access) {
      case Access::kConfigure: ok = Matches(p->configure, resource); break;
      case Access::kWrite: ok = Matches(p->write, resource); break;
      case Access::kRead: ok = Matches(p->read, resource); break;
      case Access::kAny:
        ok = Matches(p->configure, resource) || Matches(p->write, resource) || Matches(p->read, resource);
        break;
    }
  }
  if (ok) return true;
  static constexpr const char* kNames[] = {"configure", "write", "read", "configure"};
  Send(ChannelError(ch, 403,
                    std::string("ACCESS_REFUSED - ") + kNames[static_cast<int>(access)] + " access to " +
                        (queue ? "queue" : "exchange") + " '" + resource + "' in vhost '" + vhost_ +
                        "' refused for user '" + user_ + "'",
                    cause));
  return false;
}

}  // namespace lockq::server
