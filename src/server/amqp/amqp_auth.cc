// AMQP connection, users side (amqp_connection.h; docs/security.md "AMQP";
// WAVE2.md A.3): the login of connection.start-ok and the vhost of
// connection.open. RabbitMQ's method-to-permission table is the state
// machine's (sm/amqp_access.h), checked in Run() and again at apply.

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

// Section 1.4.2.7: the vhost must exist (LOCKQ.VHOST ADD) and the user
// must have permissions in it (530 otherwise; amqp_access.h).
bool AmqpConnection::OpenVhost(const std::string& vhost) {
  if (auto denied = server_->core().state().AmqpDenied(user_, vhost, {})) {
    Send(ErrorReply(0, *denied, AMQP_CONNECTION_OPEN_METHOD));
    return false;
  }
  vhost_ = vhost;
  return true;
}

}  // namespace lockq::server
