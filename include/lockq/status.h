#pragma once
// Status and Result<T>: the error type of lockqd and of liblockq.
//
// In the server, Status is for I/O, network and configuration failures
// (STYLE.md habit 2); replicated outcomes (a held lock, a wrong type) are
// replies produced by the state machine. In liblockq every call returns a
// Status or Result<T>; a server error reply becomes the code that says what
// the caller should do (lockq::FromServerError in client_core.h).

#include <string>
#include <string_view>
#include <utility>
#include <variant>

namespace lockq {

enum class StatusCode : int {
  kOk = 0,
  kInvalidArgument,  // the caller's input is wrong; retrying will not help
  kNotFound,
  kCorruption,       // bytes on disk or on the wire do not decode
  kIoError,          // file system or socket error
  kUnavailable,      // no leader, shutting down: retry later or elsewhere
  kResourceExhausted,
  kInternal,
  kDeadlineExceeded,   // the call's timeout passed; it may or may not have happened
  kFailedPrecondition, // the state forbids it (not the holder, stale token, no session)
  kOutcomeUnknown,     // the connection or leader was lost mid-call: check before retrying
  kPermissionDenied,   // authentication or authorization refused it
  kServerError,        // any other error reply; message() is the server's line
};

class Status {
 public:
  Status() = default;
  static Status Ok() { return Status(); }
  static Status InvalidArgument(std::string msg) { return {StatusCode::kInvalidArgument, std::move(msg)}; }
  static Status NotFound(std::string msg) { return {StatusCode::kNotFound, std::move(msg)}; }
  static Status Corruption(std::string msg) { return {StatusCode::kCorruption, std::move(msg)}; }
  static Status IoError(std::string msg) { return {StatusCode::kIoError, std::move(msg)}; }
  static Status Unavailable(std::string msg) { return {StatusCode::kUnavailable, std::move(msg)}; }
  static Status ResourceExhausted(std::string msg) { return {StatusCode::kResourceExhausted, std::move(msg)}; }
  static Status Internal(std::string msg) { return {StatusCode::kInternal, std::move(msg)}; }
  static Status DeadlineExceeded(std::string msg) { return {StatusCode::kDeadlineExceeded, std::move(msg)}; }
  static Status FailedPrecondition(std::string msg) { return {StatusCode::kFailedPrecondition, std::move(msg)}; }
  static Status OutcomeUnknown(std::string msg) { return {StatusCode::kOutcomeUnknown, std::move(msg)}; }
  static Status PermissionDenied(std::string msg) { return {StatusCode::kPermissionDenied, std::move(msg)}; }
  static Status ServerError(std::string msg) { return {StatusCode::kServerError, std::move(msg)}; }

  bool ok() const { return code_ == StatusCode::kOk; }
  StatusCode code() const { return code_; }
  const std::string& message() const { return message_; }
  // "IoError: open lockq-data/x: No such file or directory"
  std::string ToString() const;

 private:
  Status(StatusCode code, std::string msg) : code_(code), message_(std::move(msg)) {}
  StatusCode code_ = StatusCode::kOk;
  std::string message_;
};

// A value or the Status that explains why there is none.
template <typename T>
class Result {
 public:
  Result(T value) : v_(std::move(value)) {}            // NOLINT: implicit by design
  Result(Status status) : v_(std::move(status)) {}     // NOLINT: must not be Ok
  bool ok() const { return std::holds_alternative<T>(v_); }
  const Status& status() const {
    static const Status kOk;
    return ok() ? kOk : std::get<Status>(v_);
  }
  T& value() & { return std::get<T>(v_); }
  const T& value() const& { return std::get<T>(v_); }
  T&& value() && { return std::get<T>(std::move(v_)); }
  T* operator->() { return &value(); }
  const T* operator->() const { return &value(); }
  T& operator*() & { return value(); }
  const T& operator*() const& { return value(); }

 private:
  std::variant<T, Status> v_;
};

}  // namespace lockq
