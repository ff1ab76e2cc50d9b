#include "client/lock_core.h"

#include <thread>

#include "client/session_state.h"

namespace lockq::detail {

using std::chrono::milliseconds;

namespace {

// A wait without limit still needs a client-side bound for the connection:
// a day, after which the call reports DeadlineExceeded and is cancelled.
constexpr milliseconds kForever = std::chrono::hours(24);
// How long each wait lasts once a lost request may be queued (see Acquire).
constexpr milliseconds kGhostSlice = std::chrono::seconds(1);

}  // namespace

LockCore::LockCore(std::shared_ptr<ClientState> client, Client& handle, std::string lock_name, LockOptions options)
    : lock(std::move(lock_name)), client_(std::move(client)), handle_(handle), options_(std::move(options)) {}

Result<bool> LockCore::Acquire(std::vector<std::string> argv, std::optional<milliseconds> wait) {
  if (held()) return Status::FailedPrecondition("'" + lock + "' is already held by this object; unlock it first");
  auto session = options_.session ? Result<std::shared_ptr<Session>>(options_.session) : Session::Default(handle_);
  if (!session.ok()) return session.status();
  if (!(*session)->alive()) return Status::FailedPrecondition("the session of '" + lock + "' has ended; open a new one");
  argv.insert(argv.end(), {"SESSION", std::to_string((*session)->id())});
  const auto& opts = client_->options();
  const auto deadline = wait ? Clock::now() + *wait : Clock::time_point::max();
  milliseconds step = opts.backoff_initial;
  auto give_up = Clock::now() + opts.retry_for;
  // After an attempt with an unknown outcome, that request may still be
  // queued in the cluster (its node died with the connection) and be
  // granted to our session later, ahead of our new request: a grant that
  // nobody here holds. So from then on we wait in short slices and adopt
  // such a grant between them (docs/client.md "Unknown outcomes").
  bool ghost_possible = false;
  for (;;) {
    std::optional<milliseconds> slice;  // nullopt: no WAIT (try once)
    if (!wait || *wait > milliseconds(0)) {
      auto left = wait ? std::chrono::duration_cast<milliseconds>(deadline - Clock::now()) : kForever;
      if (left <= milliseconds(0)) return false;
      slice = ghost_possible ? std::min(left, kGhostSlice) : left;
    }
    std::vector<std::string> attempt = argv;
    if (slice) attempt.insert(attempt.end(), {"WAIT", slice == kForever ? "0" : std::to_string(slice->count())});
    auto r = client_->BlockingCall(attempt, slice ? std::min(kForever, *slice + opts.call_timeout) : opts.call_timeout);
    Status s = ReplyStatus(r);
    if (s.ok() && r->kind == Reply::Kind::kArray && !r->elems.empty()) {
      // SIGNED grants carry a third element, the signed grant string.
      Granted(*session, static_cast<uint64_t>(r->elems[0].integer), r->elems.size() >= 3 ? r->elems[2].str : "");
      return true;
    }
    bool unknown = MaybeApplied(s);
    if (!s.ok() && !unknown && s.code() != StatusCode::kUnavailable) return s;
    if (unknown) {
      ghost_possible = had_unknown_ = true;
      (*session)->state()->SweepFromNowOn();
    }
    if (ghost_possible) {
      if (auto token = FindAdoptable(*session)) {
        Granted(*session, *token);
        // An adopted grant's reply was lost, and its signature with it.
        if (options_.signed_grant) (void)RefreshGrant();
        return true;
      }
    }
    if (s.ok()) {  // nil: the wait (or this slice of it) ended ungranted
      if (!slice || (wait && Clock::now() >= deadline)) return false;
      continue;
    }
    if (Clock::now() >= give_up) return Status::Unavailable("could not reach the cluster to lock '" + lock + "': " + s.message());
    if (wait && Clock::now() >= deadline) return false;
    std::this_thread::sleep_for(step);
    step = std::min(opts.backoff_max, step * 2);
  }
}

std::optional<uint64_t> LockCore::FindAdoptable(const std::shared_ptr<Session>& session) {
  for (const auto& [name, token] : client_->SessionLocks(session->id())) {
    if (name == lock && client_->Claim(lock, token, session->id())) return token;
  }
  return std::nullopt;
}

void LockCore::Granted(const std::shared_ptr<Session>& session, uint64_t token, std::string grant) {
  {
    std::lock_guard g(mu_);
    session_ = session;
    token_ = token;
    grant_ = std::move(grant);
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
  std::shared_ptr<Session> session;
  {
    std::lock_guard g(mu_);
    token = token_;
    was_lost = lost_;
    session = session_;
    token_ = 0;
    grant_.clear();
    lost_ = false;
    session_.reset();
  }
  if (token == 0) return Status::FailedPrecondition("'" + lock + "' is not held by this object");
  client_->Forget(lock, token);
  auto r = client_->Call({"LOCK.RELEASE", lock, std::to_string(token)}, CallOptions{.idempotent = true}, true);
  Status s = r.ok() ? Status::Ok() : r.status();
  if (!s.ok() && was_lost && s.code() == StatusCode::kFailedPrecondition) s = Status::Ok();  // already gone
  if (had_unknown_ && session) {
    // A request lost in a failover may have been granted to the session
    // after we got another grant (shared and semaphore modes): free it.
    while (auto orphan = FindAdoptable(session)) {
      auto released = client_->Call({"LOCK.RELEASE", lock, std::to_string(*orphan)}, CallOptions{.idempotent = true});
      client_->Forget(lock, *orphan);
      if (!released.ok()) break;
    }
    had_unknown_ = false;
  }
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

std::string LockCore::grant() const {
  std::lock_guard g(mu_);
  return grant_;
}

Result<std::string> LockCore::RefreshGrant() {
  uint64_t token = this->token();
  if (token == 0) return Status::FailedPrecondition("'" + lock + "' is not held by this object");
  auto r = client_->Call({"LOCK.SIGN", lock, std::to_string(token)}, CallOptions{.idempotent = true});
  if (!r.ok()) return r.status();
  if (r->kind != Reply::Kind::kBulk) return Status::Internal("LOCK.SIGN: unexpected reply");
  std::lock_guard g(mu_);
  if (token_ == token) grant_ = r->str;
  return r->str;
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
