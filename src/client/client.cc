// lockq::Client and FromServerError (include/lockq/client_core.h).

#include <string_view>

#include "client/client_state.h"

namespace lockq {

Status FromServerError(const std::string& line) {
  std::string_view code(line);
  code = code.substr(0, code.find(' '));
  auto has = [&](std::string_view s) { return line.find(s) != std::string::npos; };
  if (code == "TRYAGAIN") {
    return has("outcome unknown") ? Status::OutcomeUnknown(line) : Status::Unavailable(line);
  }
  if (code == "NOTOWNER" || code == "STALETOKEN" || code == "NOSESSION" || code == "PRECONDITION" ||
      code == "LOCKED" || code == "WRONGTYPE" || code == "NOTALLOWED" || code == "BUSYKEY") {
    return Status::FailedPrecondition(line);
  }
  if (code == "NOTFOUND" || code == "NOSCRIPT") return Status::NotFound(line);
  if (code == "NOAUTH" || code == "WRONGPASS" || code == "NOPERM" || code == "ACCESSREFUSED") {
    return Status::PermissionDenied(line);
  }
  if (code == "OOM" || has("too many")) return Status::ResourceExhausted(line);
  if (code == "ERR" && (has("syntax") || has("wrong number") || has("unknown command") || has("invalid") ||
                        has("not an integer") || has("out of range"))) {
    return Status::InvalidArgument(line);
  }
  return Status::ServerError(line);
}

Client::Client(std::vector<std::string> endpoints, ClientOptions options)
    : state_(std::make_shared<detail::ClientState>(std::move(endpoints), std::move(options))) {}

Client::~Client() { state_->Shutdown(); }

Result<Reply> Client::Call(std::vector<std::string> argv, CallOptions options) {
  if (argv.empty()) return Status::InvalidArgument("empty command");
  return state_->Call(argv, options);
}

Status Client::Ping() {
  auto r = state_->Call({"PING"}, CallOptions{.idempotent = true});
  return r.ok() ? Status::Ok() : r.status();
}

std::string Client::endpoint() const { return state_->endpoint(); }

const ClientOptions& Client::options() const { return state_->options(); }

}  // namespace lockq
