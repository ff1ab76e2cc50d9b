// lockq::Publisher (include/lockq/queue.h): Q.PUBLISH pipelined on a
// connection of its own. Each message is outstanding until its reply (the
// confirm: committed by a majority). When the connection or leader is lost
// the unconfirmed ones are sent again, in order, on a new connection
// (at-least-once), by the recovery thread.

#include <atomic>
#include <condition_variable>
#include <map>
#include <thread>

#include "client/client_state.h"
#include "lockq/queue.h"

namespace lockq {

namespace detail {

class PublisherState : public std::enable_shared_from_this<PublisherState> {
 public:
  PublisherState(std::shared_ptr<ClientState> client, PublisherOptions options)
      : client_(std::move(client)), options_(std::move(options)) {}

  const std::string& exchange() const { return options_.exchange; }
  std::chrono::milliseconds call_timeout() const { return client_->options().call_timeout; }

  void Start() {
    recovery_ = std::thread([self = shared_from_this()] { self->Recover(); });
  }

  void Publish(std::vector<std::string> argv, Publisher::Callback done) {
    std::unique_lock lock(mu_);
    const size_t max = std::max<size_t>(1, options_.max_outstanding);
    if (outstanding_.size() >= max) {
      // Full: wait until a quarter of the window is confirmed, so a busy
      // publisher wakes once per batch of confirms rather than per confirm.
      blocked_++;
      cv_.wait(lock, [&] { return outstanding_.size() <= LowWater() || stopping_; });
      blocked_--;
    }
    if (stopping_) {
      lock.unlock();
      done(Status::Unavailable("the publisher is closing"));
      return;
    }
    uint64_t seq = next_seq_++;
    Entry& e = outstanding_[seq];
    e.argv = std::move(argv);
    e.done = std::move(done);
    unsent_++;
    if (pipe_ && pipe_->open()) {
      SendLocked(seq, e);
    } else {
      cv_.notify_all();  // the recovery thread connects and sends it
    }
  }

  Status Flush(std::chrono::milliseconds timeout) {
    std::unique_lock lock(mu_);
    // Also waits for the callbacks of settled messages to return, so that
    // what they record is complete when Flush returns.
    flushing_++;
    bool done = cv_.wait_for(lock, timeout, [&] { return outstanding_.empty() && callbacks_running_ == 0; });
    flushing_--;
    if (!done) {
      return Status::DeadlineExceeded(std::to_string(outstanding_.size()) + " messages still unconfirmed after " +
                                      std::to_string(timeout.count()) + " ms");
    }
    return Status::Ok();
  }

  size_t outstanding() const {
    std::lock_guard lock(mu_);
    return outstanding_.size();
  }

  void Stop() {
    std::vector<Publisher::Callback> failed;
    std::shared_ptr<client::Pipe> pipe;
    {
      std::lock_guard lock(mu_);
      stopping_ = true;
      pipe = pipe_;
      for (auto& [seq, e] : outstanding_) failed.push_back(std::move(e.done));
      outstanding_.clear();
      unsent_ = 0;
    }
    if (pipe) pipe->Close(Status::Unavailable("the publisher is closing"));
    cv_.notify_all();
    if (recovery_.joinable()) recovery_.join();
    for (auto& done : failed) done(Status::Unavailable("the publisher was destroyed before the confirm"));
  }

 private:
  struct Entry {
    std::vector<std::string> argv;
    Publisher::Callback done;
    uint64_t generation = 0;  // the connection it is in flight on; 0 = to send
  };

  // e is counted in unsent_ (generation 0); sent, it is in flight on the
  // current connection.
  void SendLocked(uint64_t seq, Entry& e) {
    e.generation = generation_;
    unsent_--;
    std::weak_ptr<PublisherState> weak = weak_from_this();
    uint64_t gen = generation_;
    if (!pipe_->Send(
            e.argv, [weak, seq, gen](Result<Reply> r) { if (auto self = weak.lock()) self->OnReply(seq, gen, std::move(r)); },
            /*defer=*/true)) {
      e.generation = 0;
      unsent_++;
    }
  }

  void OnReply(uint64_t seq, uint64_t gen, Result<Reply> r) {
    Status s = ReplyStatus(r);
    Publisher::Callback done;
    Result<Confirm> result = Status::Ok();
    {
      std::lock_guard lock(mu_);
      auto it = outstanding_.find(seq);
      if (it == outstanding_.end() || it->second.generation != gen) return;
      bool resend = s.code() == StatusCode::kUnavailable || (options_.republish_unknown && MaybeApplied(s));
      if (resend && !stopping_) {
        it->second.generation = 0;
        unsent_++;
        cv_.notify_all();
        return;
      }
      if (!s.ok()) {
        result = s;
      } else if (r->elems.size() >= 2 && r->elems[1].integer == 1) {
        result = Status::ResourceExhausted(
            "the message was refused: a queue is full (x-overflow reject-publish) or queue memory is exhausted");
      } else {
        result = Confirm{r->elems.empty() ? 0 : r->elems[0].integer};
      }
      done = std::move(it->second.done);
      outstanding_.erase(it);
      callbacks_running_++;
      if (blocked_ > 0 && outstanding_.size() == LowWater()) cv_.notify_all();
    }
    done(std::move(result));
    CallbackDone(1);
  }

  // Wakes Flush() once nothing is outstanding and every callback returned.
  void CallbackDone(size_t n) {
    if (callbacks_running_.fetch_sub(n) != n || flushing_ == 0) return;  // lock-free on the hot path
    std::lock_guard lock(mu_);
    if (outstanding_.empty()) cv_.notify_all();
  }

  size_t LowWater() const {
    size_t max = std::max<size_t>(1, options_.max_outstanding);
    return max - (max + 3) / 4;
  }

  // Connects when there is something to send and no open connection, and
  // (re)sends what is waiting, oldest first.
  void Recover() {
    std::unique_lock lock(mu_);
    auto last_ok = ClientState::Clock::now();
    std::chrono::milliseconds step = client_->options().backoff_initial;
    while (!stopping_) {
      cv_.wait_for(lock, std::chrono::milliseconds(100), [&] { return stopping_ || flush_wanted_ || NeedsSend(); });
      if (stopping_) return;
      if (flush_wanted_) {
        flush_wanted_ = false;
        if (auto pipe = pipe_) {
          lock.unlock();
          pipe->FlushPending();
          lock.lock();
        }
      }
      if (!NeedsSend()) continue;
      if (!pipe_ || !pipe_->open()) {
        lock.unlock();
        auto opened = client_->OpenPipe(nullptr);
        lock.lock();
        if (!opened.ok()) {
          if (ClientState::Clock::now() - last_ok > client_->options().retry_for) FailWaiting(opened.status());
          lock.unlock();
          std::this_thread::sleep_for(step);
          step = std::min(client_->options().backoff_max, step * 2);
          lock.lock();
          continue;
        }
        pipe_ = *opened;
        std::weak_ptr<PublisherState> weak = weak_from_this();
        pipe_->SetPendingHook([weak] {
          if (auto self = weak.lock()) {
            std::lock_guard lock(self->mu_);
            self->flush_wanted_ = true;
            self->cv_.notify_all();
          }
        });
        generation_++;
        step = client_->options().backoff_initial;
      }
      last_ok = ClientState::Clock::now();
      for (auto& [seq, e] : outstanding_) {
        if (e.generation == 0) SendLocked(seq, e);
      }
    }
  }

  bool NeedsSend() const { return unsent_ > 0; }

  void FailWaiting(const Status& why) {
    std::vector<Publisher::Callback> failed;
    for (auto it = outstanding_.begin(); it != outstanding_.end();) {
      if (it->second.generation == 0) {
        failed.push_back(std::move(it->second.done));
        it = outstanding_.erase(it);
        unsent_--;
      } else {
        ++it;
      }
    }
    callbacks_running_ += failed.size();
    mu_.unlock();
    cv_.notify_all();
    for (auto& done : failed) done(Status::Unavailable("could not publish: " + why.message()));
    CallbackDone(failed.size());
    mu_.lock();
  }

  std::shared_ptr<ClientState> client_;
  const PublisherOptions options_;
  mutable std::mutex mu_;
  std::condition_variable cv_;
  bool stopping_ = false;
  bool flush_wanted_ = false;  // the pipe holds deferred publishes
  std::shared_ptr<client::Pipe> pipe_;
  uint64_t generation_ = 0;
  uint64_t next_seq_ = 1;
  std::map<uint64_t, Entry> outstanding_;
  size_t unsent_ = 0;             // entries of outstanding_ with generation 0
  std::atomic<size_t> callbacks_running_{0};  // settled, their `done` not returned yet
  int blocked_ = 0;                           // Publish calls waiting for room
  std::atomic<int> flushing_{0};              // Flush calls waiting
  std::thread recovery_;
};

}  // namespace detail

namespace {

std::vector<std::string> PublishArgv(const std::string& exchange, std::string key, std::string body,
                                     const MessageOptions& o) {
  std::vector<std::string> argv = {"Q.PUBLISH", exchange, std::move(key), std::move(body)};
  if (o.priority) argv.insert(argv.end(), {"PRIORITY", std::to_string(*o.priority)});
  if (o.expiration) argv.insert(argv.end(), {"EXPIRATION", std::to_string(o.expiration->count())});
  for (const auto& [k, v] : o.headers) argv.insert(argv.end(), {"HEADER", k, v});
  if (o.fence) argv.insert(argv.end(), {"FENCE", o.fence->first, std::to_string(o.fence->second)});
  return argv;
}

}  // namespace

Publisher::Publisher(Client& client, PublisherOptions options)
    : state_(std::make_shared<detail::PublisherState>(client.state(), std::move(options))) {
  state_->Start();
}

Publisher::~Publisher() {
  (void)state_->Flush(state_->call_timeout());
  state_->Stop();
}

void Publisher::Publish(std::string routing_key, std::string body, MessageOptions options, Callback done) {
  state_->Publish(PublishArgv(state_->exchange(), std::move(routing_key), std::move(body), options), std::move(done));
}

std::future<Result<Confirm>> Publisher::Publish(std::string routing_key, std::string body, MessageOptions options) {
  auto promise = std::make_shared<std::promise<Result<Confirm>>>();
  auto future = promise->get_future();
  Publish(std::move(routing_key), std::move(body), std::move(options),
          [promise](Result<Confirm> r) { promise->set_value(std::move(r)); });
  return future;
}

Status Publisher::Flush(std::chrono::milliseconds timeout) { return state_->Flush(timeout); }
size_t Publisher::outstanding() const { return state_->outstanding(); }

Status DeclareQueue(Client& client, const std::string& queue,
                    const std::vector<std::pair<std::string, std::string>>& arguments) {
  std::vector<std::string> argv = {"Q.DECLARE", queue, "DURABLE"};
  for (const auto& [k, v] : arguments) argv.insert(argv.end(), {"ARG", k, v});
  auto r = client.Call(std::move(argv), CallOptions{.idempotent = true});
  return r.ok() ? Status::Ok() : r.status();
}

}  // namespace lockq
