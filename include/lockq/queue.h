#pragma once
// Durable queues through liblockq (docs/queues.md, docs/client.md):
// Publisher sends with confirms, Consumer receives with acks. The same
// queues serve AMQP clients.
//
//   lockq::Publisher pub(client);
//   auto confirmed = pub.Publish("jobs", "payload");   // std::future
//   lockq::Consumer con(client, "jobs");
//   auto m = con.Next(std::chrono::seconds(5));        // pull ...
//   con.Ack(**m);
//   con.Run([](lockq::Message& m) { ...; return true; }); // ... or push

#include <atomic>
#include <chrono>
#include <cstdint>
#include <functional>
#include <future>
#include <memory>
#include <optional>
#include <string>
#include <utility>
#include <vector>

#include "lockq/client_core.h"

namespace lockq {

namespace detail {
class PublisherState;
class ConsumerState;
}

// Declares a durable queue bound to the default exchange under its name
// (idempotent; arguments as AMQP x-arguments, e.g. {"x-max-length", "1000"}).
Status DeclareQueue(Client& client, const std::string& queue,
                    const std::vector<std::pair<std::string, std::string>>& arguments = {});

struct MessageOptions {
  // Matched by headers exchanges when routing (Q.PUBLISH HEADER); they are
  // not stored with the message (AMQP publishers' headers are, in its
  // properties).
  std::vector<std::pair<std::string, std::string>> headers;
  std::optional<int> priority;                       // 0..255, for x-max-priority queues
  std::optional<std::chrono::milliseconds> expiration;
  // Refused (FailedPrecondition, STALETOKEN) when a newer grant of the lock
  // exists: a paused lock holder cannot publish after losing its lock.
  std::optional<std::pair<std::string, uint64_t>> fence;
};

struct Confirm {
  int64_t queues = 0;  // how many queues the message was routed to
};

struct PublisherOptions {
  std::string exchange;          // "" = the default exchange (key = queue name)
  size_t max_outstanding = 1000; // Publish blocks while this many are unconfirmed
  // After a failover, publishes whose outcome is unknown are sent again
  // (at-least-once: a consumer may see a duplicate). When false they fail
  // with kOutcomeUnknown instead.
  bool republish_unknown = true;
};

// Asynchronous publisher with confirms: a confirm means a majority of the
// cluster has the message on disk. Publishes are pipelined on one
// connection and the server commits many per log entry. Thread-safe.
class Publisher {
 public:
  explicit Publisher(Client& client, PublisherOptions options = {});
  ~Publisher();  // waits up to the call timeout for outstanding confirms
  Publisher(const Publisher&) = delete;
  Publisher& operator=(const Publisher&) = delete;

  using Callback = std::function<void(Result<Confirm>)>;
  // Queues one message; `done` runs on a library thread once it is
  // confirmed or failed (ResourceExhausted: a full queue refused it).
  void Publish(std::string routing_key, std::string body, MessageOptions options, Callback done);
  std::future<Result<Confirm>> Publish(std::string routing_key, std::string body, MessageOptions options = {});
  // Waits until nothing is outstanding; DeadlineExceeded after `timeout`.
  Status Flush(std::chrono::milliseconds timeout = std::chrono::seconds(30));
  size_t outstanding() const;

 private:
  std::shared_ptr<detail::PublisherState> state_;
};

struct Message {
  std::string queue;
  uint64_t id = 0;             // what Ack/Nack take (per consumer connection)
  bool redelivered = false;    // delivered before and not acked
  uint64_t delivery_count = 0; // earlier deliveries of this message
  std::string exchange;
  std::string routing_key;
  std::string properties;      // AMQP basic properties, encoded
  std::string body;
  uint64_t generation = 0;     // which connection of the consumer delivered it
};

struct ConsumerOptions {
  uint32_t prefetch = 100;     // unacked messages the server sends ahead
  std::string tag;             // default: generated
  bool auto_ack = false;       // settle on delivery (at-most-once)
};

// A consumer of one queue on a connection of its own. Pull with Next() or
// push with Run(); not both. Acks are pipelined (Ack returns once sent).
// After a failover it reconnects and consumes again; messages it had not
// acked come back to it or to another consumer with `redelivered` set, and
// acks for deliveries of the lost connection return Unavailable.
class Consumer {
 public:
  Consumer(Client& client, std::string queue, ConsumerOptions options = {});
  ~Consumer();
  Consumer(const Consumer&) = delete;
  Consumer& operator=(const Consumer&) = delete;

  // Starts consuming (Next and Run call it; call it to surface errors early).
  Status Start();
  // The next message, or nullopt when `timeout` passes first.
  Result<std::optional<Message>> Next(std::chrono::milliseconds timeout);
  // Calls handler for each message until Stop() (from any thread,
  // including the handler). With manual acks, the handler returning true
  // acks the message and false nacks it with requeue; for other outcomes
  // (dead-lettering) use Next() and Nack(m, false).
  Status Run(const std::function<bool(Message&)>& handler);
  void Stop();

  Status Ack(const Message& m);
  Status Nack(const Message& m, bool requeue);
  const std::string& queue() const;

 private:
  std::shared_ptr<detail::ConsumerState> state_;
};

}  // namespace lockq
