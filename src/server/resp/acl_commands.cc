// Users and permissions on the RESP front end (docs/security.md "Users and
// permissions"; WAVE2.md A.1 and A.5):
//
//  - AUTH [user] pass and HELLO ... AUTH user pass are checked here, against
//    this node's applied copy of the replicated user store. A failure gets
//    WRONGPASS (one text for a wrong user, a wrong password and a user that
//    is off), an `auth` entry in ACL LOG, and is held back by the
//    brute-force brake (auth_throttle.h).
//  - Before authentication only AUTH, HELLO, QUIT and RESET run (NOAUTH).
//    A connection that never sent AUTH runs as `default` while `default` is
//    on and needs no password; while this node's --aclfile/--requirepass
//    have not been applied yet, it does not (fail closed at start).
//  - Every other command is checked here first (fail fast, no log entry)
//    and again by the state machine at apply (the authority). Commands of a
//    user other than `default` enter the log as LOCKQ.USER <user> argv...
//  - ACL DELUSER applied anywhere: this node closes that user's
//    connections (an event of the entry).
//  - Protected mode: while `default` needs no password, clients outside
//    the loopback interface get DENIED and are closed.
//
// Secrets: AUTH and HELLO arguments and ACL SETUSER rules are never
// logged; nothing in this front end logs command arguments.

#include <openssl/rand.h>
#include <spdlog/spdlog.h>

#include "common/clock.h"
#include "common/strings.h"
#include "server/core.h"
#include "server/errors.h"
#include "server/resp/auth_args.h"
#include "server/resp/local_commands.h"
#include "server/resp/local_table.h"
#include "server/resp/resp_server.h"
#include "server/resp/resp_session.h"
#include "sm/acl_check.h"
#include "sm/acl_store.h"

namespace lockq::server {

namespace {

using sm::Reply;

constexpr int kGenPassBitsMax = 4096;

bool IsLoopback(const std::string& peer) {
  std::string addr = AuthThrottle::AddressOf(peer);
  return addr.rfind("127.", 0) == 0 || addr == "::1" || addr.rfind("::ffff:127.", 0) == 0;
}

std::string ClientInfo(const RespSession& conn) {
  return AclClientInfo(conn.id(), conn.peer(), conn.name(), conn.user(), conn.protocol());
}

Reply GenPass(const sm::Argv& argv) {
  int64_t bits = 256;
  if (argv.size() > 2) {
    auto v = ParseInt64(argv[2]);
    if (!v || *v <= 0 || *v > kGenPassBitsMax) {
      return Reply::Error(
          "ERR ACL GENPASS argument must be the number of bits for the output password, a positive number up to "
          "4096");
    }
    bits = *v;
  }
  size_t hex_chars = static_cast<size_t>((bits + 3) / 4);
  std::vector<unsigned char> raw((hex_chars + 1) / 2);
  if (RAND_bytes(raw.data(), static_cast<int>(raw.size())) != 1) return Reply::Error("ERR no random bytes");
  static constexpr char kHex[] = "0123456789abcdef";
  std::string out;
  for (unsigned char b : raw) {
    out += kHex[b >> 4];
    out += kHex[b & 15];
  }
  out.resize(hex_chars);
  return Reply::Bulk(out);
}

}  // namespace

bool IsNoAuthCommand(std::string_view name) {
  return EqualsIgnoreCase(name, "AUTH") || EqualsIgnoreCase(name, "HELLO") || EqualsIgnoreCase(name, "QUIT") ||
         EqualsIgnoreCase(name, "RESET");
}

bool IsLocalAclSubcommand(const sm::Argv& argv) {
  if (argv.size() < 2 || !EqualsIgnoreCase(argv[0], "ACL")) return false;
  std::string sub = ToUpper(argv[1]);
  return sub == "WHOAMI" || sub == "LOG" || sub == "GENPASS";
}

// AUTH password | AUTH user password.
std::optional<Reply> Auth(LocalCtx& c) {
  AuthArgs args;
  if (auto err = ParseAuthArgs(c.argv, &args)) return Reply::Error(*err);
  if (!c.server.Authenticate(c.conn, args.user, args.password, c.slot, args.password_only)) return std::nullopt;
  return Reply::Ok();
}

// ACL WHOAMI | ACL LOG [count | RESET] | ACL GENPASS [bits]: per
// connection or per node, never through the log.
std::optional<Reply> AclLocal(LocalCtx& c) {
  std::string sub = ToUpper(c.argv[1]);
  size_t n = c.argv.size();
  if (sub == "WHOAMI" && n == 2) return Reply::Bulk(c.conn->user());
  if (sub == "GENPASS" && n <= 3) return GenPass(c.argv);
  if (sub == "LOG" && n <= 3) {
    if (n == 3 && EqualsIgnoreCase(c.argv[2], "RESET")) {
      c.server.acl_log().Reset();
      return Reply::Ok();
    }
    size_t count = AclLog::kEntriesMax;
    if (n == 3) {
      auto v = ParseInt64(c.argv[2]);
      if (!v || *v < 0) return Reply::Error("ERR value is out of range, must be positive");
      count = static_cast<size_t>(*v);
    }
    return c.server.acl_log().Render(count, WallClockMs());
  }
  return Reply::Error("ERR unknown subcommand or wrong number of arguments for '" + c.argv[1] +
                      "'. Try ACL HELP.");
}

bool RespServer::AclBootPending() const { return core_->auth().BootPending(); }

AclLog& RespServer::acl_log() { return core_->auth().log(); }
const AuthThrottle& RespServer::auth_throttle() const { return core_->auth().throttle(); }

bool RespServer::Authenticated(const RespSession& conn) const {
  if (conn.authenticated_explicitly()) return true;
  const sm::AclUser* d = core_->state().acl().Find("default");
  return d != nullptr && d->enabled && d->nopass && !AclBootPending();
}

bool RespServer::ProtectedModeRefuses(const std::string& peer) const {
  if (!config_.protected_mode || IsLoopback(peer)) return false;
  // (Followers' forward links come through the raft port, as peers, and
  // never reach this check.)
  const sm::AclUser* d = core_->state().acl().Find("default");
  // While this node's own --requirepass is not applied yet, clients get
  // NOAUTH instead (Authenticated()), so they may stay connected.
  return d != nullptr && d->nopass && !AclBootPending();
}

bool RespServer::Authenticate(const std::shared_ptr<RespSession>& conn, const std::string& user,
                              const std::string& password, uint64_t slot, bool password_only) {
  AuthGate::Result r = core_->auth().Check(user, password, password_only, conn->peer(), "toplevel", ClientInfo(*conn));
  switch (r.outcome) {
    case AuthGate::Outcome::kOk:
      conn->SetAuthenticated(user);
      return true;
    case AuthGate::Outcome::kBootPending:  // not a guess: no brake, no ACL LOG entry
      conn->Fill(slot, Reply::Error(kErrAclLoading));
      return false;
    case AuthGate::Outcome::kNoPassword:
      conn->Fill(slot, Reply::Error(kErrAuthNoPassword));
      return false;
    case AuthGate::Outcome::kWrong:
      break;
  }
  stats_.acl_access_denied_auth++;
  if (r.delay_ms > 0) stats_.auth_delayed_replies++;
  FillLater(conn, slot, Reply::Error(kErrWrongPass), r.delay_ms);
  return false;
}

std::optional<Reply> RespServer::CheckPermission(const RespSession& conn, const sm::Argv& argv) {
  const sm::AclUser* u = core_->state().acl().Find(conn.user());
  std::optional<sm::AclDenial> denied;
  if (u == nullptr) {
    std::string cmd = sm::AclCommandName(argv);
    denied = sm::AclDenial{sm::AclDenial::Reason::kCommand, cmd, sm::AclCommandDenied(conn.user(), cmd)};
  } else {
    denied = sm::AclCheck(*u, argv);
  }
  if (!denied) return std::nullopt;
  bool key = denied->reason == sm::AclDenial::Reason::kKey;
  (key ? stats_.acl_access_denied_key : stats_.acl_access_denied_cmd)++;
  acl_log().Add(key ? "key" : "command", "toplevel", denied->object, conn.user(), ClientInfo(conn), WallClockMs());
  return Reply::Error("NOPERM " + denied->message);
}

sm::Argv RespServer::WrapUser(const RespSession& conn, sm::Argv argv) {
  if (conn.user() == "default") return argv;
  sm::Argv wrapped{"LOCKQ.USER", conn.user()};
  wrapped.reserve(argv.size() + 2);
  for (std::string& a : argv) wrapped.push_back(std::move(a));
  return wrapped;
}

void RespServer::CloseUserConnections(const std::string& user) {
  size_t closed = 0;
  for (auto& [id, c] : conns_) {
    if (c->authenticated_explicitly() && c->user() == user) {
      c->CloseAfterReplies();
      closed++;
    }
  }
  if (closed > 0) spdlog::info("acl: user {} was deleted; closed {} connection(s)", user, closed);
}

void RespServer::FillLater(const std::shared_ptr<RespSession>& conn, uint64_t slot, Reply reply, uint64_t delay_ms) {
  if (delay_ms == 0 || !listening_) {
    conn->Fill(slot, reply);
    return;
  }
  uint64_t due = SystemClock().MonotonicMs() + delay_ms;
  bool earliest = delayed_.empty() || due < delayed_.begin()->first;
  delayed_.emplace(due, DelayedReply{conn, slot, std::move(reply)});
  if (earliest) uv_timer_start(&delayed_timer_, &RespServer::DelayedCb, delay_ms, 0);
}

void RespServer::DelayedCb(uv_timer_t* h) noexcept { static_cast<RespServer*>(h->data)->FillDueReplies(); }

void RespServer::FillDueReplies() {
  uint64_t now = SystemClock().MonotonicMs();
  while (!delayed_.empty() && delayed_.begin()->first <= now) {
    DelayedReply d = std::move(delayed_.begin()->second);
    delayed_.erase(delayed_.begin());
    if (auto c = d.conn.lock()) c->Fill(d.slot, d.reply);
  }
  if (!delayed_.empty()) uv_timer_start(&delayed_timer_, &RespServer::DelayedCb, delayed_.begin()->first - now, 0);
}

}  // namespace lockq::server
