#include "client/lock_core.h"

#include "client/session_state.h"

namespace lockq::detail {

using std::chrono::milliseconds;

namespace {

// A wait without limit still needs a client-side bound for the connection:
// a day, after which the call reports DeadlineExceeded and is cancelled.
constexpr milliseconds kForever = std::chrono::hours(24);

}  // namespace

LockCore::LockCore(std::shared_ptr<ClientState> client, Client& handle, std::string lock_name, LockOptions options)
    : lock(std::move(lock_name)), client_(std::move(client)), handle_(handle), options_(std::move(options)) {}

Result<bool> LockCore::Acquire(std::vector<std::string> argv, std::optional<milliseconds> wait) {
  if (held()) return Status::FailedPrecondition("'" + lock + "' is already held by this object; unlock it first");
  auto session = options_.session ? Result<std::shared_ptr<Session>>(options_.session) : Session::Default(handle_);
  if (!session.ok()) return session.status();
  if (!(*session)->alive()) return Status::FailedPrecondition("the session of '" + lock + "' has ended; open a new one");
  argv.insert(argv.end(), {"SESSION", std::to_string((*session)->id())});
  auto deadline = wait ? Clock::now() + *wait : Clock::time_point::max();
  const auto& opts = client_->options();
  return [&]() -> Result<bool> {
    milliseconds step = opts.backoff_initial;
    auto give_up = Clock::now() + opts.retry_for;
    for (;;) {
      std::vector<std::string> attempt = argv;
      milliseconds timeout = kForever;
      if (wait && *wait > milliseconds(0)) {
        auto left = std::chrono::duration_cast<milliseconds>(deadline - Clock::now());
        if (left <= milliseconds(0)) return false;
        attempt.insert(attempt.end(), {"WAIT", std::to_string(left.count())});
        timeout = left + opts.call_timeout;
      } else if (!wait) {
        attempt.insert(attempt.end(), {"WAIT", "0"});
      } else {
        timeout = opts.call_timeout;
      }
      auto r = client_->BlockingCall(attempt, timeout);
      Status s = r.ok() ? (r->is_error() ? FromServerError(r->str) : Status::Ok()) : r.status();
      if (s.ok()) {
        if (r->kind != Reply::Kind::kArray || r->elems.empty()) return false;  // nil: not granted in time
        Granted(*session, static_cast<uint64_t>(r->elems[0].integer));
        return true;
      }
      bool unknown = s.code() == StatusCode::kOutcomeUnknown || s.code() == StatusCode::kDeadlineExceeded;
      if (!unknown && s.code() != StatusCode::kUnavailable) return s;
      if (unknown) {
        // The grant may have happened with its reply lost. The server
        // releases grants whose connection is gone, but a grant made just
        // before may already be on the session: adopt it.
        if (auto token = FindAdoptable(*session)) {
          Granted(*session, *token);
          return true;
        }
      }
      if (Clock::now() >= give_up) return Status::Unavailable("could not reach the cluster to lock '" + lock + "': " + s.message());
      if (wait && Clock::now() >= deadline) return false;
      std::this_thread::sleep_for(step);
      step = std::min(opts.backoff_max, step * 2);
    }
  }();
}

std::optional<uint64_t> LockCore::FindAdoptable(const std::shared_ptr<Session>& session) {
  auto info = client_->Call({"SESSION.INFO", std::to_string(session->id())}, CallOptions{.idempotent = true});
  if (!info.ok() || info->kind != Reply::Kind::kMap) return std::nullopt;
  for (size_t i = 0; i + 1 < info->elems.size(); i += 2) {
    if (info->elems[i].str != "locks") continue;
    for (const Reply& held : info->elems[i + 1].elems) {
      if (held.elems.size() < 2 || held.elems[0].str != lock) continue;
      auto token = static_cast<uint64_t>(held.elems[1].integer);
      if (!client_->IsHeld(lock, token)) return token;
    }
  }
  return std::nullopt;
}

void LockCore::Granted(const std::shared_ptr<Session>& session, uint64_t token) {
  {
    std::lock_guard g(mu_);
    session_ = session;
    token_ = token;
    lost_ = false;
  }
  std::weak_ptr<LockCore> weak = weak_from_this();
  client_->Hold(lock, token, session->id(), [weak, token] {
    auto self = weak.lock();
    if (!self) return;
    {
      std::lock_guard g(self->mu_);
      if (self->token_ != token) return;
      self->lost_ = true;
    }
    if (self->options_.on_lost) self->options_.on_lost(self->lock, token);
  });
  if (!session->alive()) client_->SessionLost(session->id());  // ended while we were granted
}

Status LockCore::Release() {
  uint64_t token;
  bool was_lost;
  {
    std::lock_guard g(mu_);
    token = token_;
    was_lost = lost_;
    token_ = 0;
    lost_ = false;
    session_.reset();
  }
  if (token == 0) return Status::FailedPrecondition("'" + lock + "' is not held by this object");
  client_->Forget(lock, token);
  auto r = client_->Call({"LOCK.RELEASE", lock, std::to_string(token)}, CallOptions{.idempotent = true});
  Status s = r.ok() ? Status::Ok() : r.status();
  if (!s.ok() && was_lost && s.code() == StatusCode::kFailedPrecondition) s = Status::Ok();  // already gone
  set_last_error(s);
  return s;
}

bool LockCore::held() const {
  std::lock_guard g(mu_);
  return token_ != 0;
}

bool LockCore::lost() const {
  std::lock_guard g(mu_);
  return lost_;
}

uint64_t LockCore::token() const {
  std::lock_guard g(mu_);
  return token_;
}

LockCore::Clock::time_point LockCore::guaranteed_until() const {
  std::lock_guard g(mu_);
  if (token_ == 0 || lost_ || !session_) return Clock::time_point::min();
  return session_->guaranteed_until();
}

Status LockCore::last_error() const {
  std::lock_guard g(mu_);
  return last_error_;
}

void LockCore::set_last_error(Status s) {
  std::lock_guard g(mu_);
  last_error_ = std::move(s);
}

}  // namespace lockq::detail
