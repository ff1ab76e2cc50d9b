// lockq::Client and FromServerError (include/lockq/client_core.h).

#include <string_view>

#include "client/client_state.h"
#include "common/error_class.h"

namespace lockq {

// Retries are decided by the outcome table (common/error_class.h), from the
// line's stable prefix. Plain ERR lines are then told apart by their
// wording only to pick a more helpful status code, never to retry.
Status FromServerError(const std::string& line) {
  switch (ClassifyError(line).status) {
    case StatusCode::kUnavailable: return Status::Unavailable(line);
    case StatusCode::kOutcomeUnknown: return Status::OutcomeUnknown(line);
    case StatusCode::kFailedPrecondition: return Status::FailedPrecondition(line);
    case StatusCode::kNotFound: return Status::NotFound(line);
    case StatusCode::kPermissionDenied: return Status::PermissionDenied(line);
    case StatusCode::kResourceExhausted: return Status::ResourceExhausted(line);
    default: break;
  }
  auto has = [&](std::string_view s) { return line.find(s) != std::string::npos; };
  if (has("too many")) return Status::ResourceExhausted(line);
  if (line.rfind("ERR ", 0) == 0 && (has("syntax") || has("wrong number") || has("unknown command") ||
                                     has("invalid") || has("not an integer") || has("out of range"))) {
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
