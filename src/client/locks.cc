// Mutex, SharedMutex, Semaphore and Election (include/lockq/mutex.h,
// election.h): thin shapes over LockCore.

#include <thread>

#include "client/lock_core.h"
#include "lockq/election.h"

namespace lockq {

using std::chrono::milliseconds;

LockBase::LockBase(Client& client, std::string name, LockOptions options)
    : core_(std::make_shared<detail::LockCore>(client.state(), client, std::move(name), std::move(options))) {}

LockBase::~LockBase() {
  if (core_->held()) (void)core_->Release();
}

const std::string& LockBase::name() const { return core_->lock; }
bool LockBase::held() const { return core_->held(); }
bool LockBase::lost() const { return core_->lost(); }
uint64_t LockBase::fencing_token() const { return core_->token(); }
LockBase::Clock::time_point LockBase::guaranteed_until() const { return core_->guaranteed_until(); }
Status LockBase::last_error() const { return core_->last_error(); }
std::string LockBase::grant() const { return core_->grant(); }
Result<std::string> LockBase::RefreshGrant() { return core_->RefreshGrant(); }

Result<bool> LockBase::Acquire(std::optional<milliseconds> wait, const std::vector<std::string>& mode) {
  std::vector<std::string> argv = {"LOCK.ACQUIRE", core_->lock};
  argv.insert(argv.end(), mode.begin(), mode.end());
  if (!core_->options().owner.empty()) argv.insert(argv.end(), {"OWNER", core_->options().owner});
  if (core_->options().signed_grant) argv.push_back("SIGNED");
  return core_->Acquire(std::move(argv), wait);
}

Status LockBase::Release() { return core_->Release(); }

void LockBase::LockOrThrow(const std::vector<std::string>& mode) {
  for (;;) {
    auto r = Acquire(std::nullopt, mode);
    if (!r.ok()) throw Error(r.status());
    if (*r) return;
    // A wait without limit answered nil: the server's backstop; go again.
  }
}

bool LockBase::TryOrThrow(std::optional<milliseconds> wait, const std::vector<std::string>& mode) {
  if (wait && *wait < milliseconds(0)) wait = milliseconds(0);
  auto r = Acquire(wait, mode);
  if (!r.ok()) throw Error(r.status());
  return *r;
}

Mutex::Mutex(Client& client, std::string name, LockOptions options)
    : LockBase(client, std::move(name), std::move(options)) {}

SharedMutex::SharedMutex(Client& client, std::string name, LockOptions options)
    : Mutex(client, std::move(name), std::move(options)) {}

Semaphore::Semaphore(Client& client, std::string name, uint32_t permits, LockOptions options)
    : LockBase(client, std::move(name), std::move(options)),
      permits_(permits),
      mode_({"SEMAPHORE", std::to_string(permits)}) {}

Election::Election(Client& client, std::string name, LockOptions options)
    : LockBase(client, "elect:" + name, std::move(options)), election_(std::move(name)), client_(client) {}

Result<bool> Election::Campaign(const std::string& value, std::optional<milliseconds> wait) {
  return core_->Acquire({"ELECT.CAMPAIGN", election_, value}, wait);
}

Status Election::Resign() { return Release(); }

namespace {

// ELECT.LEADER's map {value, token, since_ms, remaining_ms}, or nil.
std::optional<LeaderInfo> ParseLeader(const Reply& r) {
  if (r.kind != Reply::Kind::kMap) return std::nullopt;
  LeaderInfo info;
  for (size_t i = 0; i + 1 < r.elems.size(); i += 2) {
    if (r.elems[i].str == "value") info.value = r.elems[i + 1].str;
    if (r.elems[i].str == "token") info.token = static_cast<uint64_t>(r.elems[i + 1].integer);
  }
  return info;
}

// Observes on a connection of its own; after a failover it reconnects and
// observes again, reporting the leader it finds then.
class ElectionObserver : public Observer {
 public:
  using Fn = std::function<void(const std::optional<LeaderInfo>&)>;
  ElectionObserver(std::shared_ptr<detail::ClientState> client, std::string name, Fn fn)
      : client_(std::move(client)), name_(std::move(name)), fn_(std::move(fn)) {}
  ~ElectionObserver() override {
    {
      std::lock_guard lock(mu_);
      stopping_ = true;
      if (pipe_) pipe_->Close(Status::Unavailable("observer stopped"));
    }
    cv_.notify_all();
    if (thread_.joinable()) thread_.join();
  }

  Status Start() {
    auto first = Connect();
    if (!first.ok()) return first;
    thread_ = std::thread([this] { Watch(); });
    return Status::Ok();
  }

 private:
  // Reports in order and once per change: the first answer (on the
  // caller's thread) and pushes (on the reader's) both go through here,
  // under report_mu_, which Connect holds until its first answer is out.
  void Report(const std::optional<LeaderInfo>& l) {
    std::optional<std::pair<std::string, uint64_t>> now;
    if (l) now.emplace(l->value, l->token);
    if (reported_ && last_ == now) return;
    reported_ = true;
    last_ = now;
    fn_(l);
  }

  Status Connect() {
    std::lock_guard report(report_mu_);
    auto pipe = client_->OpenPipe([this](const Reply& push) {
      // >4 elect name value token
      if (push.elems.size() < 4 || push.elems[0].str != "elect" || push.elems[1].str != name_) return;
      std::lock_guard report(report_mu_);
      if (push.elems[2].kind == Reply::Kind::kNull) {
        Report(std::nullopt);
      } else {
        Report(LeaderInfo{push.elems[2].str, static_cast<uint64_t>(push.elems[3].integer)});
      }
    });
    if (!pipe.ok()) return pipe.status();
    auto r = (*pipe)->Call({"ELECT.OBSERVE", name_}, client_->options().call_timeout);
    if (!r.ok()) return r.status();
    if (r->is_error()) return FromServerError(r->str);
    Report(ParseLeader(*r));
    std::lock_guard lock(mu_);
    pipe_ = *pipe;
    if (stopping_) pipe_->Close(Status::Unavailable("observer stopped"));
    return Status::Ok();
  }

  void Watch() {
    for (;;) {
      std::unique_lock lock(mu_);
      cv_.wait_for(lock, milliseconds(100), [&] { return stopping_ || !pipe_->open(); });
      if (stopping_) return;
      if (pipe_->open()) continue;
      lock.unlock();
      if (!Connect().ok()) std::this_thread::sleep_for(client_->options().backoff_max);
    }
  }

  std::shared_ptr<detail::ClientState> client_;
  const std::string name_;
  Fn fn_;
  std::mutex report_mu_;
  bool reported_ = false;
  std::optional<std::pair<std::string, uint64_t>> last_;
  std::mutex mu_;
  std::condition_variable cv_;
  bool stopping_ = false;
  std::shared_ptr<client::Pipe> pipe_;
  std::thread thread_;
};

}  // namespace

Result<std::optional<LeaderInfo>> Election::Leader() {
  auto r = client_.Call({"ELECT.LEADER", election_}, CallOptions{.idempotent = true});
  if (!r.ok()) return r.status();
  return ParseLeader(*r);
}

Result<std::unique_ptr<Observer>> Election::Observe(std::function<void(const std::optional<LeaderInfo>&)> fn) {
  auto obs = std::make_unique<ElectionObserver>(client_.state(), election_, std::move(fn));
  Status s = obs->Start();
  if (!s.ok()) return s;
  return std::unique_ptr<Observer>(std::move(obs));
}

}  // namespace lockq
