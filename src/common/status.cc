#include "lockq/status.h"

namespace lockq {

std::string Status::ToString() const {
  const char* name = "Ok";
  switch (code_) {
    case StatusCode::kOk: return "Ok";
    case StatusCode::kInvalidArgument: name = "InvalidArgument"; break;
    case StatusCode::kNotFound: name = "NotFound"; break;
    case StatusCode::kCorruption: name = "Corruption"; break;
    case StatusCode::kIoError: name = "IoError"; break;
    case StatusCode::kUnavailable: name = "Unavailable"; break;
    case StatusCode::kResourceExhausted: name = "ResourceExhausted"; break;
    case StatusCode::kInternal: name = "Internal"; break;
    case StatusCode::kDeadlineExceeded: name = "DeadlineExceeded"; break;
    case StatusCode::kFailedPrecondition: name = "FailedPrecondition"; break;
    case StatusCode::kOutcomeUnknown: name = "OutcomeUnknown"; break;
    case StatusCode::kPermissionDenied: name = "PermissionDenied"; break;
    case StatusCode::kServerError: name = "ServerError"; break;
  }
  return std::string(name) + ": " + message_;
}

}  // namespace lockq
