#include "server/resp/local_commands.h"

#include <functional>
#include <vector>

#include "common/strings.h"
#include "server/resp/resp_session.h"
#include "server/core.h"
#include "server/errors.h"
#include "server/resp/auth_args.h"
#include "server/resp/local_table.h"
#include "server/resp/resp_server.h"
#include "sm/state_machine.h"

namespace lockq::server {

namespace {

using sm::Reply;

Reply WrongArity(std::string_view name) {
  return Reply::Error("ERR wrong number of arguments for '" + ToLower(name) + "' command");
}

std::optional<Reply> Ping(LocalCtx& c) {
  if (c.argv.size() > 2) return WrongArity("ping");
  return c.argv.size() == 2 ? Reply::Bulk(c.argv[1]) : Reply::Status("PONG");
}

std::optional<Reply> Echo(LocalCtx& c) { return Reply::Bulk(c.argv[1]); }

std::optional<Reply> Hello(LocalCtx& c) {
  HelloArgs args;
  if (auto err = ParseHelloArgs(c.argv, &args)) return Reply::Error(*err);
  // Redis helloCommand: authenticate first; nothing changes on failure.
  if (args.auth && !c.server.Authenticate(c.conn, args.auth->user, args.auth->password, c.slot, false)) {
    return std::nullopt;
  }
  if (!c.server.Authenticated(*c.conn)) return Reply::Error(kErrHelloNoAuth);
  if (args.setname) c.conn->set_name(*args.setname);
  if (args.protocol != 0) c.conn->set_protocol(args.protocol);
  bool leader = c.server.core().node().is_leader();
  return Reply::Map({Reply::Bulk("server"), Reply::Bulk("lockq"), Reply::Bulk("version"), Reply::Bulk("7.2.0"),
                     Reply::Bulk("proto"), Reply::Int(c.conn->protocol()), Reply::Bulk("id"),
                     Reply::Int(static_cast<int64_t>(c.conn->id())), Reply::Bulk("mode"), Reply::Bulk("standalone"),
                     Reply::Bulk("role"), Reply::Bulk(leader ? "master" : "replica"), Reply::Bulk("modules"),
                     Reply::Array({})});
}

std::optional<Reply> Select(LocalCtx& c) {
  auto v = ParseInt64(c.argv[1]);
  if (!v) return Reply::Error("ERR value is not an integer or out of range");
  if (*v != 0) return Reply::Error("ERR DB index is out of range");
  return Reply::Ok();
}

std::optional<Reply> Quit(LocalCtx& c) {
  c.conn->CloseAfterReplies();
  return Reply::Ok();
}

std::optional<Reply> Reset(LocalCtx& c) {
  c.conn->set_protocol(2);
  c.conn->set_name("");
  c.conn->ResetUser();  // Redis: back to `default`, unauthenticated if it needs a password
  return Reply::Status("RESET");
}

std::string ClientLine(const RespSession& conn) {
  return "id=" + std::to_string(conn.id()) + " addr=" + conn.peer() + " name=" + conn.name() +
         " db=0 resp=" + std::to_string(conn.protocol()) + " cmds=" + std::to_string(conn.commands_processed());
}

bool ValidClientName(const std::string& name) {
  for (char ch : name) {
    if (ch < '!' || ch > '~') return false;
  }
  return true;
}

std::optional<Reply> Client(LocalCtx& c) {
  std::string sub = ToUpper(c.argv[1]);
  size_t n = c.argv.size();
  if (sub == "ID" && n == 2) return Reply::Int(static_cast<int64_t>(c.conn->id()));
  if (sub == "GETNAME" && n == 2) return c.conn->name().empty() ? Reply::Null() : Reply::Bulk(c.conn->name());
  if (sub == "SETNAME" && n == 3) {
    if (!ValidClientName(c.argv[2])) {
      return Reply::Error("ERR Client names cannot contain spaces, newlines or special characters.");
    }
    c.conn->set_name(c.argv[2]);
    return Reply::Ok();
  }
  if (sub == "SETINFO" && n == 4) return Reply::Ok();
  if ((sub == "NO-EVICT" || sub == "NO-TOUCH") && n == 3) return Reply::Ok();
  if (sub == "INFO" && n == 2) return Reply::Bulk(ClientLine(*c.conn) + "\n");
  if (sub == "LIST" && n == 2) {
    std::string out;
    for (const auto& [id, conn] : c.server.connections()) {
      if (conn->peer_node() == 0) out += ClientLine(*conn) + "\n";  // forward links are not clients
    }
    return Reply::Bulk(out);
  }
  return Reply::Error("ERR unknown subcommand or wrong number of arguments for '" + c.argv[1] +
                      "'. Try CLIENT HELP.");
}

Reply CommandInfo(std::string_view name, int arity, uint32_t flags, int first, int last, int step) {
  std::vector<Reply> fl;
  if (flags & sm::kCmdWrite) fl.push_back(Reply::Status("write"));
  if (flags & sm::kCmdReadOnly) fl.push_back(Reply::Status("readonly"));
  if (flags & sm::kCmdAdmin) fl.push_back(Reply::Status("admin"));
  if (flags & sm::kCmdFast) fl.push_back(Reply::Status("fast"));
  return Reply::Array({Reply::Bulk(ToLower(name)), Reply::Int(arity), Reply::Set(std::move(fl)), Reply::Int(first),
                       Reply::Int(last), Reply::Int(step)});
}

std::vector<Reply> AllCommandInfo() {
  std::vector<Reply> out;
  for (const auto& spec : sm::StateMachine::Commands()) {
    if (spec.flags & sm::kCmdInternal) continue;
    out.push_back(CommandInfo(spec.name, spec.arity, spec.flags, spec.first_key, spec.last_key, spec.key_step));
  }
  for (const auto& lc : LocalCommands()) {
    if (!lc.internal) out.push_back(CommandInfo(lc.name, lc.arity, 0, 0, 0, 0));
  }
  return out;
}

std::optional<Reply> Command(LocalCtx& c) {
  if (c.argv.size() == 1) return Reply::Array(AllCommandInfo());
  std::string sub = ToUpper(c.argv[1]);
  if (sub == "COUNT") return Reply::Int(static_cast<int64_t>(AllCommandInfo().size()));
  if (sub == "DOCS") return Reply::Map({});  // clients use docs only for hints
  if (sub == "LIST") {
    std::vector<Reply> names;
    for (auto& info : AllCommandInfo()) names.push_back(info.elems[0]);
    return Reply::Array(std::move(names));
  }
  if (sub == "INFO") {
    std::vector<Reply> out;
    auto all = AllCommandInfo();
    for (size_t i = 2; i < c.argv.size(); i++) {
      Reply found = Reply::NullArray();
      for (auto& info : all) {
        if (EqualsIgnoreCase(info.elems[0].str, c.argv[i])) found = info;
      }
      out.push_back(found);
    }
    return Reply::Array(std::move(out));
  }
  return Reply::Error("ERR unknown subcommand '" + c.argv[1] + "'. Try COMMAND HELP.");
}

bool GlobMatchSimple(std::string_view pat, std::string_view s) {
  // CONFIG GET patterns: '*' and literal characters are all clients use.
  if (pat.empty()) return s.empty();
  if (pat[0] == '*') {
    for (size_t i = 0; i <= s.size(); i++) {
      if (GlobMatchSimple(pat.substr(1), s.substr(i))) return true;
    }
    return false;
  }
  return !s.empty() && (pat[0] == '?' || std::tolower(pat[0]) == std::tolower(s[0])) &&
         GlobMatchSimple(pat.substr(1), s.substr(1));
}

std::optional<Reply> ConfigCmd(LocalCtx& c) {
  std::string sub = ToUpper(c.argv[1]);
  const server::Config& cfg = c.server.config();
  if (sub == "GET" && c.argv.size() >= 3) {
    const std::vector<std::pair<std::string, std::string>> params = {
        {"save", ""},
        {"appendonly", "yes"},  // every acknowledged write is fsync'd on a majority
        {"appendfsync", "always"},
        {"databases", "1"},
        {"maxclients", std::to_string(cfg.limits.max_clients)},
        {"proto-max-bulk-len", std::to_string(cfg.limits.max_bulk_bytes)},
        {"timeout", "0"},
        {"maxmemory", "0"},
        {"port", std::to_string(cfg.resp_port)},
        {"bind", cfg.bind},
        {"dir", cfg.data_dir},
    };
    std::vector<Reply> kv;
    for (const auto& [k, v] : params) {
      for (size_t i = 2; i < c.argv.size(); i++) {
        if (GlobMatchSimple(c.argv[i], k)) {
          kv.push_back(Reply::Bulk(k));
          kv.push_back(Reply::Bulk(v));
          break;
        }
      }
    }
    return Reply::Map(std::move(kv));
  }
  if (sub == "RESETSTAT" && c.argv.size() == 2) {
    c.server.core().loop_lag().Reset();  // the only statistic lockq resets so far
    return Reply::Ok();
  }
  if (sub == "SET") return Reply::Error("ERR CONFIG SET is not supported by lockq; restart lockqd with the new flag");
  return Reply::Error("ERR unknown subcommand or wrong number of arguments for '" + c.argv[1] +
                      "'. Try CONFIG HELP.");
}

// ELECT.OBSERVE name: the current leader now (ELECT.LEADER's reply), then
// a push after every change (deferred_replies.cc). ELECT.UNOBSERVE name.
std::optional<Reply> ElectObserve(LocalCtx& c) {
  c.server.Observe(c.conn, c.argv[1], c.slot);
  return std::nullopt;
}

std::optional<Reply> ElectUnobserve(LocalCtx& c) {
  bool was = c.conn->watching().count(c.argv[1]) != 0;
  c.server.Unobserve(*c.conn, c.argv[1]);
  return Reply::Int(was ? 1 : 0);
}

std::optional<Reply> Info(LocalCtx& c) {
  std::string section = c.argv.size() > 1 ? ToLower(c.argv[1]) : "default";
  return Reply::Bulk(BuildInfo(c.server, section));
}

}  // namespace

const std::vector<LocalCommand>& LocalCommands() {
  static const std::vector<LocalCommand> kTable = {
      {"PING", -1, false, Ping},
      {"ECHO", 2, false, Echo},
      {"HELLO", -1, false, Hello},
      {"AUTH", -2, false, Auth},
      {"SELECT", 2, false, Select},
      {"QUIT", -1, false, Quit},
      {"RESET", 1, false, Reset},
      {"CLIENT", -2, false, Client},
      {"COMMAND", -1, false, Command},
      {"CONFIG", -2, false, ConfigCmd},
      {"INFO", -1, false, Info},
      {"LOCKQ.FORWARD", 2, true, Forward},
      {"LOCKQ.CLUSTER", -2, false, Cluster},
      {"ELECT.OBSERVE", 2, false, ElectObserve},
      {"ELECT.UNOBSERVE", 2, false, ElectUnobserve},
  };
  return kTable;
}

bool RunLocalCommand(RespServer& server, const std::shared_ptr<RespSession>& conn, const sm::Argv& argv,
                     uint64_t slot) {
  if (IsLocalAclSubcommand(argv)) {
    if (auto denied = server.CheckPermission(*conn, argv)) {
      conn->Fill(slot, *denied);
    } else {
      LocalCtx ctx{server, conn, argv, slot};
      if (auto reply = AclLocal(ctx)) conn->Fill(slot, *reply);
    }
    return true;
  }
  std::string name = ToUpper(argv[0]);
  for (const auto& lc : LocalCommands()) {
    if (name != lc.name) continue;
    if (lc.internal && conn->peer_node() == 0) return false;  // looks unknown to clients
    int n = static_cast<int>(argv.size());
    if ((lc.arity > 0 && n != lc.arity) || (lc.arity < 0 && n < -lc.arity)) {
      conn->Fill(slot, WrongArity(lc.name));
      return true;
    }
    if (!lc.internal && !IsNoAuthCommand(lc.name)) {
      if (auto denied = server.CheckPermission(*conn, argv)) {
        conn->Fill(slot, *denied);
        return true;
      }
    }
    LocalCtx ctx{server, conn, argv, slot};
    std::optional<Reply> reply = lc.handler(ctx);
    if (reply) conn->Fill(slot, *reply);
    return true;
  }
  return false;
}

}  // namespace lockq::server
