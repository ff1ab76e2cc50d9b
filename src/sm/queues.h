#pragma once
// The queue engine (docs/queues.md): exchanges, queues, bindings, messages
// and consumers, AMQP 0-9-1 semantics, protocol-neutral. The commands are
// in queue_family.cc; the AMQP and RESP front ends translate to them.
//
// Rules:
//  - Routing: the default exchange "" routes to the queue named by the
//    routing key; direct (key equality), fanout (all), topic (`*` one word,
//    `#` zero or more words), headers (x-match all|any over the binding's
//    non-x- arguments, values compared as strings); exchange-to-exchange
//    bindings are followed once per exchange.
//  - At-least-once: a delivered message stays in the queue as unacked,
//    owned by the consumer's channel, until that channel acks it. A nack or
//    reject with requeue, or the channel closing, returns it: it keeps its
//    place (its id), is marked redelivered and its delivery count grows.
//  - Deliveries are decided here, deterministically: after every change to
//    a queue, ready messages go round-robin to consumers with room under
//    their prefetch and their channel's. Each delivery is a kPush event
//    to the consumer's channel (ClientRef with slot = channel number); the
//    node that owns the connection sends it.
//  - Dead-lettering (x-dead-letter-exchange / -routing-key) on reject
//    without requeue, expiry, overflow (drop-head) and delivery limit; the
//    message carries its deaths (x-death). Without a DLX such messages are
//    dropped.
//  - Time (message TTLs) is the state machine's clock; expiry runs through
//    LOCKQ.EXPIRE like key and lease expiry.
//  - Bounded (STYLE.md habit 8): counts of queues, exchanges, bindings,
//    consumers, and the bytes of all message bodies (kQueueBytesMax: past it
//    publishes are refused, the high-water mark the AMQP front end turns
//    into connection.blocked).
//
// Every container is ordered, so equal engines snapshot to equal bytes.
//
// Thread: the state machine's owner.

#include <cstdint>
#include <map>
#include <optional>
#include <set>
#include <string>
#include <string_view>
#include <tuple>
#include <utility>
#include <vector>

#include "sm/events.h"

namespace lockq::sm {

inline constexpr size_t kQueuesMax = 100'000;
inline constexpr size_t kExchangesMax = 100'000;
inline constexpr size_t kBindingsMax = 1'000'000;
inline constexpr size_t kConsumersMax = 100'000;
inline constexpr uint64_t kQueueBytesMax = uint64_t{1} << 30;  // message bodies+props, all queues
inline constexpr size_t kNameMax = 255;                        // AMQP shortstr

enum class ExchangeType : uint8_t { kDirect = 0, kFanout = 1, kTopic = 2, kHeaders = 3 };
inline constexpr uint8_t kMaxExchangeType = 3;
std::optional<ExchangeType> ParseExchangeType(std::string_view s);
const char* ExchangeTypeName(ExchangeType t);

using Headers = std::vector<std::pair<std::string, std::string>>;  // ordered as given

struct Exchange {
  ExchangeType type = ExchangeType::kDirect;
  bool durable = true, auto_delete = false, internal = false;
  bool builtin = false;  // "" and amq.*: cannot be deleted or redeclared differently
  bool operator==(const Exchange&) const = default;
};

struct Binding {
  bool to_exchange = false;  // destination is an exchange (e2e binding)
  std::string dest;
  std::string key;
  Headers args;
  auto operator<=>(const Binding&) const = default;
};

// One dead-lettering of a message (AMQP x-death entry).
struct Death {
  std::string queue, reason, exchange, routing_key;
  uint64_t time_ms = 0;
  bool operator==(const Death&) const = default;
};

struct Message {
  std::string exchange, routing_key;
  std::string props;  // opaque: encoded by the front end (AMQP basic properties)
  std::string body;
  uint8_t priority = 0;
  uint64_t expires_ms = 0;      // absolute; 0: never
  uint64_t delivery_count = 0;  // returned deliveries (x-delivery-count)
  bool redelivered = false;
  std::vector<Death> deaths;    // newest first
  uint64_t bytes() const { return props.size() + body.size(); }
  bool operator==(const Message&) const = default;
};

enum class Overflow : uint8_t { kDropHead = 0, kRejectPublish = 1 };

struct QueueArgs {
  std::optional<std::string> dlx;  // x-dead-letter-exchange
  std::optional<std::string> dlrk; // x-dead-letter-routing-key
  std::optional<uint64_t> message_ttl_ms;
  std::optional<uint64_t> max_length, max_length_bytes;
  Overflow overflow = Overflow::kDropHead;
  std::optional<uint64_t> delivery_limit;
  bool single_active = false;
  uint8_t max_priority = 0;  // 0: no priorities
  bool operator==(const QueueArgs&) const = default;
};

// A consumer: a channel and a consumer tag.
struct ConsumerKey {
  ClientRef channel;  // slot = channel number
  std::string tag;
  auto operator<=>(const ConsumerKey&) const = default;
};

struct Consumer {
  std::string queue;
  uint64_t prefetch = 0;  // 0: unlimited
  bool no_ack = false;
  bool exclusive = false;
  uint64_t unacked = 0;
  bool operator==(const Consumer&) const = default;
};

struct ChannelState {
  uint64_t prefetch = 0;  // basic.qos global=true; 0: unlimited
  uint64_t unacked = 0;   // over all its consumers and gets
  bool operator==(const ChannelState&) const = default;
};

struct Unacked {
  Message msg;
  ConsumerKey owner;  // tag "" for basic.get / Q.FETCH
  bool operator==(const Unacked&) const = default;
};

struct Queue {
  bool durable = true, exclusive = false, auto_delete = false;
  ClientRef owner;  // exclusive queues: the connection (slot 0)
  QueueArgs args;
  // Ready messages in delivery order: priority high first, then id.
  std::map<std::pair<uint8_t, uint64_t>, Message> ready;  // key: (255 - priority, id)
  std::map<uint64_t, Unacked> unacked;                    // by id
  std::vector<ConsumerKey> consumers;                     // registration order
  uint64_t next_id = 1;
  uint64_t ready_bytes = 0;
  uint64_t rr = 0;  // round-robin position among consumers
  bool had_consumer = false;
  bool operator==(const Queue&) const = default;
};

enum class QueueError {
  kNone,
  kNotFound,        // 404
  kLocked,          // 405: another connection's exclusive queue
  kPrecondition,    // 406: different declaration, not empty, in use, unknown tag
  kAccessRefused,   // 403: builtin exchanges, reserved names
  kLimit,           // too many queues/exchanges/bindings/consumers, or full
};

struct PublishResult {
  size_t routed = 0;     // queues that took the message
  bool rejected = false; // a reject-publish queue was full, or the engine is
};

class QueueEngine {
 public:
  QueueEngine();  // with the builtin exchanges

  // Exchanges.
  QueueError DeclareExchange(const std::string& name, const Exchange& x, bool passive);
  QueueError DeleteExchange(const std::string& name, bool if_unused);
  QueueError Bind(const std::string& source, const Binding& b);
  QueueError Unbind(const std::string& source, const Binding& b);

  // Queues. Declare returns the queue's name (generated "amq.gen-N" when
  // `name` is empty) in *out_name.
  QueueError DeclareQueue(const std::string& name, const Queue& shape, bool passive,
                          const ClientRef& conn, uint64_t index, std::string* out_name);
  QueueError DeleteQueue(const std::string& name, bool if_unused, bool if_empty, const ClientRef& conn,
                         uint64_t now_ms, size_t* messages, Events* ev);
  QueueError Purge(const std::string& name, const ClientRef& conn, size_t* messages);

  // Publishing: routes and enqueues; deliveries follow at once.
  PublishResult Publish(const std::string& exchange, const std::string& routing_key,
                        const Headers& headers, Message msg, uint64_t now_ms, Events* ev);
  bool ExchangeExists(const std::string& name) const { return exchanges_.count(name) != 0; }
  const Exchange* FindExchange(const std::string& name) const;

  // Consuming.
  QueueError Consume(const ConsumerKey& key, const std::string& queue, uint64_t prefetch, bool no_ack,
                     bool exclusive, uint64_t now_ms, Events* ev);
  QueueError CancelConsumer(const ConsumerKey& key, uint64_t now_ms, Events* ev);
  void Qos(const ClientRef& channel, uint64_t prefetch, uint64_t now_ms, Events* ev);
  // basic.get / Q.FETCH: up to `max` ready messages, delivered to `owner`
  // (tag "" unless the caller says otherwise); no_ack drops them at once.
  std::vector<std::pair<uint64_t, Message>> Get(const std::string& queue, const ConsumerKey& owner, size_t max,
                                                bool no_ack, uint64_t now_ms, QueueError* err, Events* ev);
  // Settling: `ids` of `queue` owned by `channel`.
  QueueError Ack(const ClientRef& channel, const std::string& queue, uint64_t id, uint64_t now_ms, Events* ev);
  QueueError Nack(const ClientRef& channel, const std::string& queue, uint64_t id, bool requeue,
                  uint64_t now_ms, Events* ev);
  // Returns every unacked message of `channel` (basic.recover, channel
  // close) and, with `close`, cancels its consumers.
  void ReleaseChannel(const ClientRef& channel, bool close, uint64_t now_ms, Events* ev);
  // A connection closed: its channels close and its exclusive queues go.
  void CloseConnection(const ClientRef& conn, uint64_t now_ms, Events* ev);
  // A node restarted as `nonce`: what older incarnations owned is released.
  void DropIncarnation(uint64_t node, uint64_t nonce, uint64_t now_ms, Events* ev);

  // Expiry of message TTLs (LOCKQ.EXPIRE).
  size_t RemoveExpired(uint64_t now_ms, size_t max, Events* ev);
  uint64_t NextDeadline() const;

  const std::map<std::string, Queue, std::less<>>& queues() const { return queues_; }
  const std::map<std::string, Exchange, std::less<>>& exchanges() const { return exchanges_; }
  const std::map<std::string, std::set<Binding>, std::less<>>& bindings() const { return bindings_; }
  const std::map<ConsumerKey, Consumer>& consumers() const { return consumers_; }
  const std::map<ClientRef, ChannelState>& channels() const { return channels_; }
  const Queue* FindQueue(std::string_view name) const;
  uint64_t total_bytes() const { return total_bytes_; }
  uint64_t next_generated() const { return next_generated_; }

  // Snapshot restore (queue_snapshot.cc): set, then RebuildIndexes().
  void RestoreState(std::map<std::string, Exchange, std::less<>> exchanges,
                    std::map<std::string, std::set<Binding>, std::less<>> bindings,
                    std::map<std::string, Queue, std::less<>> queues, std::map<ConsumerKey, Consumer> consumers,
                    std::map<ClientRef, ChannelState> channels, uint64_t next_generated);

 private:
  using QueueMap = std::map<std::string, Queue, std::less<>>;
  void RebuildIndexes();
  std::set<std::string> Route(const std::string& exchange, const std::string& routing_key,
                              const Headers& headers) const;
  // Adds msg to q's ready set (overflow rules applied); false: rejected.
  bool Enqueue(QueueMap::iterator q, Message msg, uint64_t now_ms, Events* ev);
  void InsertReady(Queue& q, const std::string& name, uint64_t id, Message msg);
  Message TakeReady(Queue& q, const std::string& name, std::map<std::pair<uint8_t, uint64_t>, Message>::iterator it);
  void DeadLetter(const std::string& queue, Message msg, std::string_view reason, uint64_t now_ms, Events* ev);
  void Dispatch(QueueMap::iterator q, uint64_t now_ms, Events* ev);
  void Deliver(QueueMap::iterator q, uint64_t id, Message msg, const ConsumerKey& to, bool no_ack, Events* ev);
  // Puts an unacked message back (requeue) or dead-letters it.
  void Return(QueueMap::iterator q, uint64_t id, bool requeue, std::string_view reason, uint64_t now_ms,
              Events* ev);
  void RemoveConsumer(const ConsumerKey& key, uint64_t now_ms, Events* ev);
  void EraseQueue(QueueMap::iterator q, uint64_t now_ms, Events* ev);
  void MaybeAutoDeleteExchange(const std::string& name);
  int dead_letter_depth_ = 0;  // dead-lettering that re-enters dead-lettering is bounded
  bool Accessible(const Queue& q, const ClientRef& conn) const;

  std::map<std::string, Exchange, std::less<>> exchanges_;
  std::map<std::string, std::set<Binding>, std::less<>> bindings_;  // by source exchange
  QueueMap queues_;
  std::map<ConsumerKey, Consumer> consumers_;
  std::map<ClientRef, ChannelState> channels_;
  uint64_t next_generated_ = 1;  // amq.gen-N names

  // Derived.
  // (expires_ms, queue, ready key) of ready messages with a TTL.
  std::set<std::tuple<uint64_t, std::string, std::pair<uint8_t, uint64_t>>> expiries_;
  std::map<ClientRef, std::set<std::pair<std::string, uint64_t>>> owned_;  // channel -> unacked (queue, id)
  uint64_t total_bytes_ = 0;
  size_t binding_count_ = 0;
};

}  // namespace lockq::sm
