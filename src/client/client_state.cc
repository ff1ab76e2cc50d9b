#include "client/client_state.h"

#include <random>
#include <thread>

#include "lockq/session.h"
#include "resp/resp.h"

namespace lockq::detail {

namespace {

constexpr size_t kMaxIdleConns = 16;
using std::chrono::milliseconds;

// Full jitter (a random sleep up to the current step), so clients that lost
// the same leader do not all come back in the same millisecond.
void Backoff(milliseconds* step, milliseconds max) {
  thread_local std::mt19937 rng(std::random_device{}());
  std::uniform_int_distribution<int64_t> pick(step->count() / 2, step->count());
  std::this_thread::sleep_for(milliseconds(pick(rng)));
  *step = std::min(max, *step * 2);
}

}  // namespace

Status ReplyStatus(const Result<Reply>& r) {
  if (!r.ok()) return r.status();
  return r->is_error() ? FromServerError(r->str) : Status::Ok();
}

bool MaybeApplied(const Status& s) {
  return s.code() == StatusCode::kOutcomeUnknown || s.code() == StatusCode::kDeadlineExceeded;
}

ClientState::ClientState(std::vector<std::string> endpoints, ClientOptions options)
    : endpoints_(std::move(endpoints)), options_(std::move(options)) {}

template <typename T>
Result<T> ClientState::FirstNode(const std::function<Result<T>(const std::string&)>& open) {
  if (endpoints_.empty()) return Status::InvalidArgument("no endpoints: give the client at least one HOST:PORT");
  size_t first;
  {
    std::lock_guard lock(mu_);
    first = next_;
  }
  std::string errors;
  for (size_t i = 0; i < endpoints_.size(); i++) {
    size_t at = (first + i) % endpoints_.size();
    auto opened = open(endpoints_[at]);
    if (opened.ok()) {
      std::lock_guard lock(mu_);
      next_ = at;
      return opened;
    }
    if (opened.status().code() != StatusCode::kUnavailable) return opened.status();  // auth, TLS: not a node problem
    errors += (errors.empty() ? "" : "; ") + opened.status().message();
  }
  std::lock_guard lock(mu_);
  next_ = (first + 1) % endpoints_.size();
  return Status::Unavailable("no lockq node answered (" + errors + ")");
}

Result<std::shared_ptr<client::Pipe>> ClientState::OpenPipe(client::Pipe::PushHandler on_push) {
  return FirstNode<std::shared_ptr<client::Pipe>>(
      [&](const std::string& addr) { return client::Pipe::Open(addr, options_, on_push); });
}

Result<Reply> ClientState::Retry(const CallOptions& o, const Attempt& attempt) {
  milliseconds timeout = o.timeout.value_or(options_.call_timeout);
  auto give_up = Clock::now() + o.retry_for.value_or(options_.retry_for);
  milliseconds step = options_.backoff_initial;
  for (;;) {
    Result<Reply> r = attempt(timeout);
    Status s = ReplyStatus(r);
    if (s.ok()) return r;
    bool again = s.code() == StatusCode::kUnavailable || (o.idempotent && MaybeApplied(s));
    if (!again) return s;
    if (Clock::now() >= give_up) {
      if (s.code() != StatusCode::kUnavailable) return s;
      auto budget = o.retry_for.value_or(options_.retry_for).count();
      return Status::Unavailable("gave up after retrying for " + std::to_string(budget) + " ms: " + s.message());
    }
    Backoff(&step, options_.backoff_max);
  }
}

Result<Reply> ClientState::Call(const std::vector<std::string>& argv, const CallOptions& options, bool pooled) {
  return Retry(options, [&](milliseconds timeout) -> Result<Reply> {
    if (pooled) return BlockingCall(argv, timeout);
    std::shared_ptr<client::Pipe> pipe;
    {
      std::lock_guard lock(mu_);
      if (shared_ && shared_->open()) pipe = shared_;
    }
    if (!pipe) {
      auto opened = OpenPipe([this](const Reply& r) { OnPush(r); });
      if (!opened.ok()) return opened.status();
      std::lock_guard lock(mu_);
      if (shared_ && shared_->open()) {
        pipe = shared_;  // another thread won the race; use its connection
      } else {
        shared_ = pipe = *opened;
        current_ = pipe->addr();
      }
    }
    auto r = pipe->Call(argv, timeout);
    if (r.ok() && ReplyStatus(r).code() == StatusCode::kUnavailable) {
      // This node has no leader: it may be cut off from the majority, so
      // the retry goes through another node.
      pipe->Close(Status::OutcomeUnknown("moving off " + pipe->addr() + ": " + r->str));
      std::lock_guard lock(mu_);
      next_ = (next_ + 1) % endpoints_.size();
    }
    return r;
  });
}

Result<Reply> ClientState::BlockingCall(const std::vector<std::string>& argv, milliseconds timeout) {
  using client::RespConnection;
  std::unique_ptr<RespConnection> conn;
  {
    std::lock_guard lock(mu_);
    if (!idle_.empty()) {
      conn = std::move(idle_.back());
      idle_.pop_back();
    }
  }
  if (!conn) {
    auto opened = FirstNode<std::unique_ptr<RespConnection>>(
        [&](const std::string& addr) -> Result<std::unique_ptr<RespConnection>> {
          auto c = client::ConnectNode(addr, options_);
          if (!c.ok()) return c.status();
          return std::make_unique<RespConnection>(std::move(*c));
        });
    if (!opened.ok()) return opened.status();
    conn = std::move(*opened);
  }
  conn->set_timeout(timeout);
  std::string out;
  resp::WriteCommand(argv, &out);
  if (Status s = conn->SendRaw(out); !s.ok()) return Status::OutcomeUnknown(s.message());
  for (;;) {
    auto r = conn->ReadReply();
    if (!r.ok()) {
      bool timed_out = r.status().message().find("timed out") != std::string::npos;
      return timed_out ? Status::DeadlineExceeded("no reply within " + std::to_string(timeout.count()) + " ms")
                       : Status::OutcomeUnknown(r.status().message());
    }
    if (r->kind == Reply::Kind::kPush) {
      OnPush(*r);
      continue;
    }
    std::lock_guard lock(mu_);
    if (idle_.size() < kMaxIdleConns) idle_.push_back(std::move(conn));
    return r;
  }
}

std::string ClientState::endpoint() const {
  std::lock_guard lock(mu_);
  return current_;
}

void ClientState::Hold(const std::string& lock, uint64_t token, uint64_t session, std::function<void()> on_lost) {
  std::lock_guard g(mu_);
  held_[{lock, token}] = Holder{session, std::move(on_lost)};
}

void ClientState::Forget(const std::string& lock, uint64_t token) {
  std::lock_guard g(mu_);
  held_.erase({lock, token});
}

bool ClientState::Claim(const std::string& lock, uint64_t token, uint64_t session) {
  std::lock_guard g(mu_);
  suspects_.erase({lock, token});
  return held_.emplace(std::make_pair(lock, token), Holder{session, [] {}}).second;
}

std::vector<std::pair<std::string, uint64_t>> ClientState::SessionLocks(uint64_t session) {
  std::vector<std::pair<std::string, uint64_t>> out;
  auto info = Call({"SESSION.INFO", std::to_string(session)}, CallOptions{.idempotent = true});
  if (!info.ok() || info->kind != Reply::Kind::kMap) return out;
  for (size_t i = 0; i + 1 < info->elems.size(); i += 2) {
    if (info->elems[i].str != "locks") continue;
    for (const Reply& held : info->elems[i + 1].elems) {
      if (held.elems.size() >= 2) out.emplace_back(held.elems[0].str, static_cast<uint64_t>(held.elems[1].integer));
    }
  }
  return out;
}

void ClientState::SweepOrphans(uint64_t session) {
  std::vector<std::pair<std::string, uint64_t>> release;
  auto locks = SessionLocks(session);
  {
    std::lock_guard g(mu_);
    for (const auto& key : locks) {
      if (held_.count(key)) continue;
      if (suspects_.count(key)) {
        suspects_.erase(key);
        held_.emplace(key, Holder{session, [] {}});  // claimed: adopters skip it
        release.push_back(key);
      } else {
        suspects_.emplace(key, session);
      }
    }
  }
  for (const auto& [lock, token] : release) {
    (void)Call({"LOCK.RELEASE", lock, std::to_string(token)}, CallOptions{.idempotent = true});
    Forget(lock, token);
  }
}

void ClientState::Lost(std::vector<std::function<void()>> fns) {
  for (auto& fn : fns) fn();
}

void ClientState::SessionLost(uint64_t session) {
  std::vector<std::function<void()>> fns;
  {
    std::lock_guard g(mu_);
    for (auto it = held_.begin(); it != held_.end();) {
      if (it->second.session == session) {
        fns.push_back(std::move(it->second.on_lost));
        it = held_.erase(it);
      } else {
        ++it;
      }
    }
  }
  Lost(std::move(fns));
}

// >4 lock.lost name token reason (docs/locks.md "Pushes").
void ClientState::OnPush(const Reply& push) {
  if (push.elems.size() < 3 || push.elems[0].str != "lock.lost") return;
  std::vector<std::function<void()>> fns;
  {
    std::lock_guard g(mu_);
    auto it = held_.find({push.elems[1].str, static_cast<uint64_t>(push.elems[2].integer)});
    if (it == held_.end()) return;
    fns.push_back(std::move(it->second.on_lost));
    held_.erase(it);
  }
  Lost(std::move(fns));
}

Result<std::shared_ptr<Session>> ClientState::DefaultSession(
    const std::function<Result<std::shared_ptr<Session>>()>& open) {
  std::lock_guard lock(session_mu_);
  if (default_session_ && default_session_->alive()) return default_session_;
  auto s = open();
  if (!s.ok()) return s.status();
  default_session_ = *s;
  return default_session_;
}

void ClientState::Shutdown() {
  std::shared_ptr<Session> session;
  {
    std::lock_guard lock(session_mu_);
    session.swap(default_session_);
  }
  if (session) (void)session->Close();
  std::shared_ptr<client::Pipe> shared;
  std::vector<std::unique_ptr<client::RespConnection>> idle;
  {
    std::lock_guard lock(mu_);
    shared.swap(shared_);
    idle.swap(idle_);
  }
  Status bye = Status::Unavailable("the client was destroyed");
  if (shared) shared->Close(bye);
  idle.clear();
}

}  // namespace lockq::detail
