// lockq::Session (include/lockq/session.h): SESSION.OPEN, a keepalive every
// ttl/3 through the shared connection, SESSION.CLOSE.

#include "client/session_state.h"
#include "lockq/session.h"

namespace lockq {

namespace detail {

using std::chrono::milliseconds;

SessionState::SessionState(std::shared_ptr<ClientState> c, uint64_t session_id, milliseconds session_ttl,
                           Clock::time_point guaranteed)
    : client(std::move(c)), id(session_id), ttl(session_ttl), guaranteed_until_(guaranteed) {
  thread_ = std::thread([this] { KeepAlive(); });
}

SessionState::~SessionState() {
  {
    std::lock_guard lock(mu_);
    stopping_ = true;
  }
  cv_.notify_all();
  if (thread_.get_id() == std::this_thread::get_id()) {
    thread_.detach();
  } else if (thread_.joinable()) {
    thread_.join();
  }
}

// Renews every ttl/3. A failed keepalive is retried until it succeeds or
// the session is known gone: re-basing in the cluster keeps a session
// alive across a leader change, so "no answer" alone is not loss.
void SessionState::KeepAlive() {
  const std::string sid = std::to_string(id);
  for (;;) {
    {
      std::unique_lock lock(mu_);
      cv_.wait_for(lock, ttl / 3, [&] { return stopping_; });
      if (stopping_ || !alive_) return;
    }
    auto sent = Clock::now();
    auto r = client->Call({"SESSION.KEEPALIVE", sid},
                          CallOptions{.timeout = ttl / 3, .idempotent = true, .retry_for = ttl / 3});
    if (r.ok()) {
      {
        std::lock_guard lock(mu_);
        guaranteed_until_ = std::max(guaranteed_until_, sent + milliseconds(r->integer));
      }
      if (sweep_) client->SweepOrphans(id);
    } else if (r.status().code() == StatusCode::kFailedPrecondition) {  // NOSESSION
      MarkLost();
      return;
    }
  }
}

void SessionState::MarkLost() {
  std::vector<std::function<void()>> fns;
  {
    std::lock_guard lock(mu_);
    if (!alive_) return;
    alive_ = false;
    fns.swap(on_lost_);
  }
  client->SessionLost(id);
  for (auto& fn : fns) fn();
}

Status SessionState::Close() {
  {
    std::lock_guard lock(mu_);
    if (!alive_) return Status::Ok();
    stopping_ = true;
  }
  cv_.notify_all();
  auto r = client->Call({"SESSION.CLOSE", std::to_string(id)}, CallOptions{.idempotent = true});
  MarkLost();
  if (!r.ok() && r.status().code() != StatusCode::kFailedPrecondition) return r.status();
  return Status::Ok();
}

bool SessionState::alive() const {
  std::lock_guard lock(mu_);
  return alive_;
}

SessionState::Clock::time_point SessionState::guaranteed_until() const {
  std::lock_guard lock(mu_);
  return guaranteed_until_;
}

void SessionState::OnLost(std::function<void()> fn) {
  {
    std::lock_guard lock(mu_);
    if (alive_) {
      on_lost_.push_back(std::move(fn));
      return;
    }
  }
  fn();
}

}  // namespace detail

Session::Session(std::shared_ptr<detail::SessionState> state) : state_(std::move(state)) {}

Session::~Session() { (void)state_->Close(); }

Result<std::shared_ptr<Session>> Session::Open(Client& client, std::chrono::milliseconds ttl) {
  if (ttl < std::chrono::milliseconds(100)) return Status::InvalidArgument("session TTL must be at least 100 ms");
  auto sent = detail::SessionState::Clock::now();
  // Not idempotent: a retried OPEN after an unknown outcome would leave an
  // orphan session, which only costs its TTL; so it is retried all the same.
  auto r = client.state()->Call({"SESSION.OPEN", std::to_string(ttl.count())}, CallOptions{.idempotent = true});
  if (!r.ok()) return r.status();
  if (r->kind != Reply::Kind::kInt) return Status::Internal("SESSION.OPEN: unexpected reply");
  return std::make_shared<Session>(std::make_shared<detail::SessionState>(
      client.state(), static_cast<uint64_t>(r->integer), ttl, sent + ttl));
}

Result<std::shared_ptr<Session>> Session::Default(Client& client) {
  return client.state()->DefaultSession([&] { return Open(client); });
}

Status Session::Close() { return state_->Close(); }
uint64_t Session::id() const { return state_->id; }
std::chrono::milliseconds Session::ttl() const { return state_->ttl; }
bool Session::alive() const { return state_->alive(); }
Session::Clock::time_point Session::guaranteed_until() const { return state_->guaranteed_until(); }
void Session::OnLost(std::function<void()> fn) { state_->OnLost(std::move(fn)); }

}  // namespace lockq
