// lockq::Consumer (include/lockq/queue.h): Q.CONSUME on a connection of its
// own; deliveries arrive as RESP3 pushes `deliver tag message` and wait in
// a local buffer (at most `prefetch` unacked, the server's credit). Acks go
// on the same connection: delivery ids belong to it. When the connection is
// lost the watcher reconnects and consumes again; the server redelivers
// what was not acked.

#include <condition_variable>
#include <deque>
#include <random>
#include <thread>

#include "client/client_state.h"
#include "common/error_class.h"
#include "lockq/queue.h"

namespace lockq {

namespace detail {

using std::chrono::milliseconds;

class ConsumerState : public std::enable_shared_from_this<ConsumerState> {
 public:
  ConsumerState(std::shared_ptr<ClientState> client, std::string queue, ConsumerOptions options)
      : client_(std::move(client)), queue_(std::move(queue)), options_(std::move(options)) {
    if (options_.tag.empty()) {
      std::mt19937_64 rng(std::random_device{}());
      options_.tag = "lockq-" + std::to_string(rng());
    }
  }

  const std::string& queue() const { return queue_; }

  Status Start() {
    std::unique_lock lock(mu_);
    if (started_) return error_;
    started_ = true;
    lock.unlock();
    Status s = Consume();
    lock.lock();
    if (!s.ok()) {
      started_ = false;
      return s;
    }
    watcher_ = std::thread([self = shared_from_this()] { self->Watch(); });
    return Status::Ok();
  }

  Result<std::optional<Message>> Next(milliseconds timeout) {
    Status s = Start();
    if (!s.ok()) return s;
    std::unique_lock lock(mu_);
    cv_.wait_for(lock, timeout, [&] { return !ready_.empty() || stopping_ || !error_.ok(); });
    if (!error_.ok()) return error_;
    if (ready_.empty()) return std::optional<Message>();
    Message m = std::move(ready_.front());
    ready_.pop_front();
    return std::optional<Message>(std::move(m));
  }

  Status Settle(const Message& m, std::vector<std::string> argv) {
    if (options_.auto_ack) return Status::FailedPrecondition("this consumer acks automatically (auto_ack)");
    std::shared_ptr<client::Pipe> pipe;
    {
      std::lock_guard lock(mu_);
      if (m.generation == generation_) pipe = pipe_;
    }
    auto lost = Status::Unavailable("the delivery came on a connection that was lost; it will be redelivered");
    if (!pipe) return lost;
    if (!SendSettle(pipe, m.generation, std::move(argv), 0)) return lost;
    return Status::Ok();
  }

  // Pipelined: the reply only matters when it says the ack (or nack) did
  // not reach the log or may not have: during a leader change a follower
  // answers TRYAGAIN. It is sent again (acks are idempotent: a stale id is
  // harmless for at-least-once), from the watcher thread, on the same
  // connection; otherwise the message would stay unacked and hold one unit
  // of the prefetch credit for as long as the connection lives, and a few
  // hundred such would stall the consumer for good. A lost connection
  // needs nothing: its deliveries come back redelivered.
  static constexpr int kSettleAttempts = 50;
  bool SendSettle(const std::shared_ptr<client::Pipe>& pipe, uint64_t gen, std::vector<std::string> argv,
                  int attempt) {
    std::weak_ptr<ConsumerState> weak = weak_from_this();
    auto again = argv;
    return pipe->Send(argv, [weak, gen, again = std::move(again), attempt](Result<Reply> r) mutable {
      if (!r.ok() || !r->is_error() || !IsTryAgain(r->str) || attempt + 1 >= kSettleAttempts) return;
      auto self = weak.lock();
      if (self == nullptr) return;
      std::lock_guard lock(self->mu_);
      if (gen == self->generation_) self->resend_.push_back(Resend{gen, std::move(again), attempt + 1});
    });
  }

  void StopRun() {
    std::lock_guard lock(mu_);
    stopping_ = true;
    cv_.notify_all();
  }

  bool stopping() {
    std::lock_guard lock(mu_);
    return stopping_;
  }

  void ResumeRun() {
    std::lock_guard lock(mu_);
    stopping_ = false;
  }

  void Close() {
    {
      std::lock_guard lock(mu_);
      closed_ = stopping_ = true;
      if (pipe_) pipe_->Close(Status::Unavailable("the consumer was closed"));
    }
    cv_.notify_all();
    if (watcher_.joinable()) watcher_.join();
  }

 private:
  Status Consume() {
    std::weak_ptr<ConsumerState> weak = weak_from_this();
    uint64_t gen;
    {
      // Deliveries may be pushed right after Q.CONSUME's reply, before it
      // is read here: accept the new connection's pushes from the start.
      std::lock_guard lock(mu_);
      gen = pending_ = generation_ + 1;
    }
    auto pipe = client_->OpenPipe([weak, gen](const Reply& push) {
      if (auto self = weak.lock()) self->OnPush(gen, push);
    });
    if (!pipe.ok()) return pipe.status();
    std::vector<std::string> argv = {"Q.CONSUME", queue_, options_.tag, "PREFETCH", std::to_string(options_.prefetch)};
    if (options_.auto_ack) argv.push_back("NOACK");
    auto r = (*pipe)->Call(argv, client_->options().call_timeout);
    if (!r.ok()) return r.status();
    if (r->is_error()) return FromServerError(r->str);
    std::lock_guard lock(mu_);
    // Messages buffered from the lost connection come back redelivered.
    std::erase_if(ready_, [&](const Message& m) { return m.generation != gen; });
    pipe_ = *pipe;
    generation_ = gen;
    if (closed_) pipe_->Close(Status::Unavailable("the consumer was closed"));
    return Status::Ok();
  }

  // >3 deliver tag [queue, id, redelivered, delivery_count, exchange,
  // routing_key, props, body, deaths]; >2 cancel tag (queue deleted).
  void OnPush(uint64_t gen, const Reply& push) {
    if (push.elems.size() < 2 || push.elems[1].str != options_.tag) return;
    std::lock_guard lock(mu_);
    if (gen != generation_ && gen != pending_) return;
    if (push.elems[0].str == "cancel") {
      error_ = Status::NotFound("the server cancelled the consumer of '" + queue_ + "' (queue deleted?)");
    } else if (push.elems[0].str == "deliver" && push.elems.size() >= 3 && push.elems[2].elems.size() >= 8) {
      const auto& f = push.elems[2].elems;
      ready_.push_back(Message{f[0].str, static_cast<uint64_t>(f[1].integer), f[2].integer != 0,
                               static_cast<uint64_t>(f[3].integer), f[4].str, f[5].str, f[6].str, f[7].str, gen});
    }
    cv_.notify_all();
  }

  void Watch() {
    milliseconds step = client_->options().backoff_initial;
    for (;;) {
      std::shared_ptr<client::Pipe> pipe;
      {
        std::unique_lock lock(mu_);
        cv_.wait_for(lock, milliseconds(100), [&] { return closed_; });
        if (closed_) return;
        if (pipe_ && pipe_->open()) {
          auto resend = std::move(resend_);
          resend_.clear();
          pipe = pipe_;
          uint64_t gen = generation_;
          lock.unlock();
          for (Resend& r : resend) {
            if (r.gen == gen) SendSettle(pipe, gen, std::move(r.argv), r.attempt);
          }
          continue;
        }
      }
      Status s = Consume();
      if (s.ok()) {
        step = client_->options().backoff_initial;
      } else if (s.code() == StatusCode::kNotFound) {
        std::lock_guard lock(mu_);
        error_ = s;
        cv_.notify_all();
        return;
      } else {
        std::this_thread::sleep_for(step);
        step = std::min(client_->options().backoff_max, step * 2);
      }
    }
  }

  std::shared_ptr<ClientState> client_;
  const std::string queue_;
  ConsumerOptions options_;
  std::mutex mu_;
  std::condition_variable cv_;
  bool started_ = false;
  bool stopping_ = false;
  bool closed_ = false;
  Status error_;
  std::shared_ptr<client::Pipe> pipe_;
  uint64_t generation_ = 0;  // of the connection in use
  uint64_t pending_ = 0;     // of the connection being set up
  std::deque<Message> ready_;
  struct Resend {  // an ack or nack answered TRYAGAIN, to send again
    uint64_t gen;
    std::vector<std::string> argv;
    int attempt;
  };
  std::vector<Resend> resend_;
  std::thread watcher_;
};

}  // namespace detail

Consumer::Consumer(Client& client, std::string queue, ConsumerOptions options)
    : state_(std::make_shared<detail::ConsumerState>(client.state(), std::move(queue), std::move(options))) {}

Consumer::~Consumer() { state_->Close(); }

Status Consumer::Start() { return state_->Start(); }

Result<std::optional<Message>> Consumer::Next(std::chrono::milliseconds timeout) { return state_->Next(timeout); }

Status Consumer::Run(const std::function<bool(Message&)>& handler) {
  state_->ResumeRun();
  while (!state_->stopping()) {
    auto m = state_->Next(std::chrono::milliseconds(100));
    if (!m.ok()) return m.status();
    if (!*m) continue;
    bool ok = handler(**m);
    Status s = ok ? Ack(**m) : Nack(**m, true);
    (void)s;  // a lost connection's delivery comes back redelivered
  }
  return Status::Ok();
}

void Consumer::Stop() { state_->StopRun(); }

Status Consumer::Ack(const Message& m) {
  return state_->Settle(m, {"Q.ACK", m.queue, std::to_string(m.id)});
}

Status Consumer::Nack(const Message& m, bool requeue) {
  std::vector<std::string> argv = {"Q.NACK", m.queue, std::to_string(m.id)};
  if (requeue) argv.push_back("REQUEUE");
  return state_->Settle(m, std::move(argv));
}

const std::string& Consumer::queue() const { return state_->queue(); }

}  // namespace lockq
