// Queues, messages and consumers of the queue engine (queues.h).

#include "sm/queues.h"

#include <algorithm>

#include "common/check.h"

namespace lockq::sm {

namespace {

constexpr int kDeadLetterDepthMax = 4;   // dead-lettering inside dead-lettering
constexpr size_t kDeathsMax = 16;        // x-death entries kept per message

std::pair<uint8_t, uint64_t> ReadyKey(const Message& m, uint64_t id) {
  return {static_cast<uint8_t>(255 - m.priority), id};
}

Reply I(uint64_t v) { return Reply::Int(static_cast<int64_t>(v)); }

Reply DeathsReply(const std::vector<Death>& deaths) {
  std::vector<Reply> out;
  for (const Death& d : deaths) {
    out.push_back(Reply::Array({Reply::Bulk(d.queue), Reply::Bulk(d.reason), Reply::Bulk(d.exchange),
                                Reply::Bulk(d.routing_key), I(d.time_ms)}));
  }
  return Reply::Array(std::move(out));
}

bool SameConnection(const ClientRef& a, const ClientRef& b) {
  return a.node == b.node && a.nonce == b.nonce && a.conn == b.conn;
}

}  // namespace

// A delivery as the front ends receive it (in a kPush event, or in a
// Q.FETCH reply): [queue, id, redelivered, delivery_count, exchange,
// routing_key, props, body, deaths].
Reply MessageReply(const std::string& queue, uint64_t id, const Message& m) {
  return Reply::Array({Reply::Bulk(queue), I(id), I(m.redelivered ? 1 : 0), I(m.delivery_count),
                       Reply::Bulk(m.exchange), Reply::Bulk(m.routing_key), Reply::Bulk(m.props),
                       Reply::Bulk(m.body), DeathsReply(m.deaths)});
}

const Queue* QueueEngine::FindQueue(std::string_view name) const {
  auto it = queues_.find(name);
  return it == queues_.end() ? nullptr : &it->second;
}

bool QueueEngine::Accessible(const Queue& q, const ClientRef& conn) const {
  return !q.exclusive || SameConnection(q.owner, conn);
}

// ---- declare / delete / purge ------------------------------------------------

QueueError QueueEngine::DeclareQueue(const std::string& name, const Queue& shape, bool passive,
                                     const ClientRef& conn, uint64_t index, std::string* out_name) {
  std::string actual = name;
  if (actual.empty() && !passive) actual = "amq.gen-" + std::to_string(next_generated_++);
  auto it = queues_.find(actual);
  if (it != queues_.end()) {
    const Queue& have = it->second;
    if (!Accessible(have, conn)) return QueueError::kLocked;
    if (!passive && (have.durable != shape.durable || have.exclusive != shape.exclusive ||
                     have.auto_delete != shape.auto_delete || !(have.args == shape.args))) {
      return QueueError::kPrecondition;
    }
    *out_name = actual;
    return QueueError::kNone;
  }
  if (passive) return QueueError::kNotFound;
  if (actual.rfind("amq.", 0) == 0 && name == actual) return QueueError::kAccessRefused;
  if (queues_.size() >= kQueuesMax) return QueueError::kLimit;
  Queue q;
  q.durable = shape.durable;
  q.exclusive = shape.exclusive;
  q.auto_delete = shape.auto_delete;
  q.args = shape.args;
  if (q.exclusive) q.owner = ClientRef{conn.node, conn.nonce, conn.conn, 0};
  queues_.emplace(actual, std::move(q));
  *out_name = actual;
  (void)index;
  return QueueError::kNone;
}

QueueError QueueEngine::DeleteQueue(const std::string& name, bool if_unused, bool if_empty,
                                    const ClientRef& conn, uint64_t now_ms, size_t* messages, Events* ev) {
  *messages = 0;
  auto it = queues_.find(name);
  if (it == queues_.end()) return QueueError::kNone;  // idempotent, as RabbitMQ
  if (!Accessible(it->second, conn)) return QueueError::kLocked;
  if (if_unused && !it->second.consumers.empty()) return QueueError::kPrecondition;
  if (if_empty && !it->second.ready.empty()) return QueueError::kPrecondition;
  *messages = it->second.ready.size();
  EraseQueue(it, now_ms, ev);
  return QueueError::kNone;
}

QueueError QueueEngine::Purge(const std::string& name, const ClientRef& conn, size_t* messages) {
  auto it = queues_.find(name);
  if (it == queues_.end()) return QueueError::kNotFound;
  if (!Accessible(it->second, conn)) return QueueError::kLocked;
  Queue& q = it->second;
  *messages = q.ready.size();
  while (!q.ready.empty()) TakeReady(q, name, q.ready.begin());
  return QueueError::kNone;
}

void QueueEngine::EraseQueue(QueueMap::iterator q, uint64_t now_ms, Events* ev) {
  const std::string name = q->first;
  // Consumers are told (basic.cancel from the server: consumer_cancel_notify).
  std::vector<ConsumerKey> consumers = q->second.consumers;
  for (const ConsumerKey& key : consumers) {
    ev->push_back(Event{Event::Kind::kPush, key.channel, {},
                        Reply::Array({Reply::Bulk("cancel"), Reply::Bulk(key.tag)})});
    consumers_.erase(key);
  }
  q->second.consumers.clear();
  for (auto& [id, u] : q->second.unacked) {
    total_bytes_ -= u.msg.bytes();
    auto& ch = channels_[u.owner.channel];
    if (ch.unacked > 0) ch.unacked--;
    auto o = owned_.find(u.owner.channel);
    if (o != owned_.end()) {
      o->second.erase({name, id});
      if (o->second.empty()) owned_.erase(o);
    }
  }
  while (!q->second.ready.empty()) TakeReady(q->second, name, q->second.ready.begin());
  std::vector<std::string> sources;
  for (auto& [source, set] : bindings_) {
    for (auto bi = set.begin(); bi != set.end();) {
      if (!bi->to_exchange && bi->dest == name) {
        bi = set.erase(bi);
        binding_count_--;
        sources.push_back(source);
      } else {
        ++bi;
      }
    }
  }
  for (auto bi = bindings_.begin(); bi != bindings_.end();) {
    bi = bi->second.empty() ? bindings_.erase(bi) : std::next(bi);
  }
  queues_.erase(q);
  for (const std::string& s : sources) MaybeAutoDeleteExchange(s);
  (void)now_ms;
}

// ---- ready messages -------------------------------------------------------------

void QueueEngine::InsertReady(Queue& q, const std::string& name, uint64_t id, Message msg) {
  uint64_t bytes = msg.bytes();
  auto key = ReadyKey(msg, id);
  if (msg.expires_ms != 0) expiries_.emplace(msg.expires_ms, name, key);
  q.ready_bytes += bytes;
  total_bytes_ += bytes;
  q.ready.emplace(key, std::move(msg));
}

Message QueueEngine::TakeReady(Queue& q, const std::string& name,
                               std::map<std::pair<uint8_t, uint64_t>, Message>::iterator it) {
  Message msg = std::move(it->second);
  if (msg.expires_ms != 0) expiries_.erase({msg.expires_ms, name, it->first});
  q.ready_bytes -= msg.bytes();
  total_bytes_ -= msg.bytes();
  q.ready.erase(it);
  return msg;
}

bool QueueEngine::Enqueue(QueueMap::iterator q, Message msg, uint64_t now_ms, Events* ev) {
  Queue& Q = q->second;
  const QueueArgs& a = Q.args;
  msg.priority = std::min(msg.priority, a.max_priority);
  if (a.message_ttl_ms) {
    uint64_t by_queue = now_ms + *a.message_ttl_ms;
    if (msg.expires_ms == 0 || by_queue < msg.expires_ms) msg.expires_ms = by_queue;
  }
  auto full = [&](const Message& m) {
    return (a.max_length && Q.ready.size() >= *a.max_length) ||
           (a.max_length_bytes && Q.ready_bytes + m.bytes() > *a.max_length_bytes);
  };
  if (full(msg)) {
    if (a.overflow == Overflow::kRejectPublish) return false;
    // drop-head: the oldest ready messages make room (dead-lettered).
    while (!Q.ready.empty() && full(msg)) {
      Message head = TakeReady(Q, q->first, Q.ready.begin());
      DeadLetter(q->first, std::move(head), "maxlen", now_ms, ev);
    }
    if (full(msg)) {  // a limit of 0, or a message bigger than the byte limit
      DeadLetter(q->first, std::move(msg), "maxlen", now_ms, ev);
      return true;
    }
  }
  InsertReady(Q, q->first, Q.next_id++, std::move(msg));
  Dispatch(q, now_ms, ev);
  return true;
}

PublishResult QueueEngine::Publish(const std::string& exchange, const std::string& routing_key,
                                   const Headers& headers, Message msg, uint64_t now_ms, Events* ev) {
  PublishResult r;
  std::set<std::string> targets = Route(exchange, routing_key, headers);
  if (targets.empty()) return r;
  if (total_bytes_ + msg.bytes() * targets.size() > kQueueBytesMax) {
    r.rejected = true;
    return r;
  }
  msg.exchange = exchange;
  msg.routing_key = routing_key;
  for (const std::string& name : targets) {
    auto q = queues_.find(name);
    LOCKQ_CHECK(q != queues_.end());
    r.routed++;
    if (!Enqueue(q, msg, now_ms, ev)) r.rejected = true;
  }
  return r;
}

void QueueEngine::DeadLetter(const std::string& queue, Message msg, std::string_view reason, uint64_t now_ms,
                             Events* ev) {
  auto q = queues_.find(queue);
  if (q == queues_.end() || !q->second.args.dlx) return;  // dropped
  // A message that already died here for the same reason is in a cycle
  // (RabbitMQ drops those unless a client rejected it).
  for (const Death& d : msg.deaths) {
    if (d.queue == queue && d.reason == reason && reason != "rejected") return;
  }
  if (dead_letter_depth_ >= kDeadLetterDepthMax) return;
  const QueueArgs& a = q->second.args;
  std::string key = a.dlrk ? *a.dlrk : msg.routing_key;
  msg.deaths.insert(msg.deaths.begin(), Death{queue, std::string(reason), msg.exchange, msg.routing_key, now_ms});
  if (msg.deaths.size() > kDeathsMax) msg.deaths.resize(kDeathsMax);
  msg.expires_ms = 0;  // the per-message TTL applied to the first queue only
  msg.redelivered = false;
  dead_letter_depth_++;
  Publish(*a.dlx, key, {}, std::move(msg), now_ms, ev);
  dead_letter_depth_--;
}

// ---- delivery ---------------------------------------------------------------------

void QueueEngine::Dispatch(QueueMap::iterator q, uint64_t now_ms, Events* ev) {
  Queue& Q = q->second;
  while (!Q.ready.empty() && !Q.consumers.empty()) {
    auto head = Q.ready.begin();
    if (head->second.expires_ms != 0 && head->second.expires_ms <= now_ms) {
      Message dead = TakeReady(Q, q->first, head);
      DeadLetter(q->first, std::move(dead), "expired", now_ms, ev);
      continue;
    }
    size_t n = Q.consumers.size();
    size_t tries = Q.args.single_active ? 1 : n;
    std::optional<size_t> chosen;
    for (size_t k = 0; k < tries && !chosen; k++) {
      size_t idx = Q.args.single_active ? 0 : (Q.rr + k) % n;
      const ConsumerKey& key = Q.consumers[idx];
      const Consumer& c = consumers_.at(key);
      const ChannelState& ch = channels_[key.channel];
      bool room = c.no_ack || ((c.prefetch == 0 || c.unacked < c.prefetch) &&
                               (ch.prefetch == 0 || ch.unacked < ch.prefetch));
      if (room) chosen = idx;
    }
    if (!chosen) return;
    if (!Q.args.single_active) Q.rr = (*chosen + 1) % n;
    ConsumerKey to = Q.consumers[*chosen];
    uint64_t id = head->first.second;
    Message msg = TakeReady(Q, q->first, head);
    Deliver(q, id, std::move(msg), to, consumers_.at(to).no_ack, ev);
  }
}

void QueueEngine::Deliver(QueueMap::iterator q, uint64_t id, Message msg, const ConsumerKey& to, bool no_ack,
                          Events* ev) {
  Reply r = MessageReply(q->first, id, msg);
  ev->push_back(Event{Event::Kind::kPush, to.channel, {},
                      Reply::Array({Reply::Bulk("deliver"), Reply::Bulk(to.tag), std::move(r)})});
  if (no_ack) return;
  total_bytes_ += msg.bytes();
  if (auto c = consumers_.find(to); c != consumers_.end()) c->second.unacked++;
  channels_[to.channel].unacked++;
  owned_[to.channel].emplace(q->first, id);
  q->second.unacked.emplace(id, Unacked{std::move(msg), to});
}

std::vector<std::pair<uint64_t, Message>> QueueEngine::Get(const std::string& queue, const ConsumerKey& owner,
                                                           size_t max, bool no_ack, uint64_t now_ms,
                                                           QueueError* err, Events* ev) {
  std::vector<std::pair<uint64_t, Message>> out;
  auto q = queues_.find(queue);
  *err = q == queues_.end() ? QueueError::kNotFound
         : !Accessible(q->second, owner.channel) ? QueueError::kLocked
                                                 : QueueError::kNone;
  if (*err != QueueError::kNone) return out;
  Queue& Q = q->second;
  while (out.size() < max && !Q.ready.empty()) {
    auto head = Q.ready.begin();
    uint64_t id = head->first.second;
    Message msg = TakeReady(Q, queue, head);
    if (msg.expires_ms != 0 && msg.expires_ms <= now_ms) {
      DeadLetter(queue, std::move(msg), "expired", now_ms, ev);
      continue;
    }
    if (!no_ack) {
      total_bytes_ += msg.bytes();
      channels_[owner.channel].unacked++;
      owned_[owner.channel].emplace(queue, id);
      Q.unacked.emplace(id, Unacked{msg, owner});
    }
    out.emplace_back(id, std::move(msg));
  }
  return out;
}

// ---- settling -----------------------------------------------------------------------

QueueError QueueEngine::Ack(const ClientRef& channel, const std::string& queue, uint64_t id, uint64_t now_ms,
                            Events* ev) {
  auto q = queues_.find(queue);
  if (q == queues_.end()) return QueueError::kPrecondition;
  auto u = q->second.unacked.find(id);
  if (u == q->second.unacked.end() || !(u->second.owner.channel == channel)) return QueueError::kPrecondition;
  Return(q, id, /*requeue=*/false, "", now_ms, ev);
  return QueueError::kNone;
}

QueueError QueueEngine::Nack(const ClientRef& channel, const std::string& queue, uint64_t id, bool requeue,
                             uint64_t now_ms, Events* ev) {
  auto q = queues_.find(queue);
  if (q == queues_.end()) return QueueError::kPrecondition;
  auto u = q->second.unacked.find(id);
  if (u == q->second.unacked.end() || !(u->second.owner.channel == channel)) return QueueError::kPrecondition;
  Return(q, id, requeue, "rejected", now_ms, ev);
  return QueueError::kNone;
}

// Settles unacked message `id`: requeued (redelivered, counted, or
// dead-lettered past the delivery limit), dead-lettered with `reason`, or
// (reason "") acknowledged.
void QueueEngine::Return(QueueMap::iterator q, uint64_t id, bool requeue, std::string_view reason,
                         uint64_t now_ms, Events* ev) {
  Queue& Q = q->second;
  auto u = Q.unacked.find(id);
  LOCKQ_CHECK(u != Q.unacked.end());
  Message msg = std::move(u->second.msg);
  ConsumerKey owner = std::move(u->second.owner);
  Q.unacked.erase(u);
  total_bytes_ -= msg.bytes();
  if (auto c = consumers_.find(owner); c != consumers_.end() && c->second.unacked > 0) c->second.unacked--;
  if (auto ch = channels_.find(owner.channel); ch != channels_.end() && ch->second.unacked > 0) {
    ch->second.unacked--;
  }
  if (auto o = owned_.find(owner.channel); o != owned_.end()) {
    o->second.erase({q->first, id});
    if (o->second.empty()) owned_.erase(o);
  }
  if (requeue) {
    msg.delivery_count++;
    msg.redelivered = true;
    if (Q.args.delivery_limit && msg.delivery_count > *Q.args.delivery_limit) {
      DeadLetter(q->first, std::move(msg), "delivery_limit", now_ms, ev);
    } else {
      InsertReady(Q, q->first, id, std::move(msg));  // its old place: ids order the queue
    }
  } else if (!reason.empty()) {
    DeadLetter(q->first, std::move(msg), reason, now_ms, ev);
  }
  Dispatch(q, now_ms, ev);
}

// ---- consumers and channels -----------------------------------------------------------

QueueError QueueEngine::Consume(const ConsumerKey& key, const std::string& queue, uint64_t prefetch, bool no_ack,
                                bool exclusive, uint64_t now_ms, Events* ev) {
  auto q = queues_.find(queue);
  if (q == queues_.end()) return QueueError::kNotFound;
  if (!Accessible(q->second, key.channel)) return QueueError::kLocked;
  if (consumers_.count(key) != 0) return QueueError::kPrecondition;
  for (const ConsumerKey& other : q->second.consumers) {
    if (consumers_.at(other).exclusive) return QueueError::kAccessRefused;
  }
  if (exclusive && !q->second.consumers.empty()) return QueueError::kAccessRefused;
  if (consumers_.size() >= kConsumersMax) return QueueError::kLimit;
  consumers_.emplace(key, Consumer{queue, prefetch, no_ack, exclusive, 0});
  channels_[key.channel];
  q->second.consumers.push_back(key);
  q->second.had_consumer = true;
  Dispatch(q, now_ms, ev);
  return QueueError::kNone;
}

void QueueEngine::RemoveConsumer(const ConsumerKey& key, uint64_t now_ms, Events* ev) {
  auto c = consumers_.find(key);
  if (c == consumers_.end()) return;
  auto q = queues_.find(c->second.queue);
  consumers_.erase(c);
  if (q == queues_.end()) return;
  auto& list = q->second.consumers;
  auto pos = std::find(list.begin(), list.end(), key);
  if (pos != list.end()) {
    size_t idx = static_cast<size_t>(pos - list.begin());
    list.erase(pos);
    if (q->second.rr > idx) q->second.rr--;
    if (q->second.rr >= list.size()) q->second.rr = 0;
  }
  if (q->second.auto_delete && q->second.had_consumer && list.empty()) {
    EraseQueue(q, now_ms, ev);
    return;
  }
  Dispatch(q, now_ms, ev);  // single-active: the next consumer takes over
}

QueueError QueueEngine::CancelConsumer(const ConsumerKey& key, uint64_t now_ms, Events* ev) {
  if (consumers_.count(key) == 0) return QueueError::kNone;  // basic.cancel of an unknown tag is fine
  RemoveConsumer(key, now_ms, ev);
  return QueueError::kNone;
}

void QueueEngine::Qos(const ClientRef& channel, uint64_t prefetch, uint64_t now_ms, Events* ev) {
  channels_[channel].prefetch = prefetch;
  std::set<std::string> queues;
  for (auto c = consumers_.lower_bound(ConsumerKey{channel, ""});
       c != consumers_.end() && c->first.channel == channel; ++c) {
    queues.insert(c->second.queue);
  }
  for (const std::string& name : queues) {
    auto q = queues_.find(name);
    if (q != queues_.end()) Dispatch(q, now_ms, ev);
  }
}

void QueueEngine::ReleaseChannel(const ClientRef& channel, bool close, uint64_t now_ms, Events* ev) {
  if (close) {
    std::vector<ConsumerKey> mine;
    for (auto c = consumers_.lower_bound(ConsumerKey{channel, ""});
         c != consumers_.end() && c->first.channel == channel; ++c) {
      mine.push_back(c->first);
    }
    for (const ConsumerKey& key : mine) RemoveConsumer(key, now_ms, ev);
  }
  auto o = owned_.find(channel);
  if (o != owned_.end()) {
    auto held = o->second;  // Return() edits owned_
    for (const auto& [queue, id] : held) {
      auto q = queues_.find(queue);
      if (q != queues_.end() && q->second.unacked.count(id) != 0) Return(q, id, /*requeue=*/true, "", now_ms, ev);
    }
  }
  if (close) channels_.erase(channel);
}

void QueueEngine::CloseConnection(const ClientRef& conn, uint64_t now_ms, Events* ev) {
  std::set<ClientRef> channels;
  for (const auto& [ch, state] : channels_) {
    if (SameConnection(ch, conn)) channels.insert(ch);
  }
  for (const auto& [ch, held] : owned_) {
    if (SameConnection(ch, conn)) channels.insert(ch);
  }
  for (const ClientRef& ch : channels) ReleaseChannel(ch, /*close=*/true, now_ms, ev);
  std::vector<std::string> exclusive;
  for (const auto& [name, q] : queues_) {
    if (q.exclusive && SameConnection(q.owner, conn)) exclusive.push_back(name);
  }
  for (const std::string& name : exclusive) EraseQueue(queues_.find(name), now_ms, ev);
}

void QueueEngine::DropIncarnation(uint64_t node, uint64_t nonce, uint64_t now_ms, Events* ev) {
  std::set<ClientRef> conns;
  auto old = [&](const ClientRef& c) { return c.node == node && c.nonce != nonce; };
  for (const auto& [ch, state] : channels_) {
    if (old(ch)) conns.insert(ClientRef{ch.node, ch.nonce, ch.conn, 0});
  }
  for (const auto& [ch, held] : owned_) {
    if (old(ch)) conns.insert(ClientRef{ch.node, ch.nonce, ch.conn, 0});
  }
  for (const auto& [name, q] : queues_) {
    if (q.exclusive && old(q.owner)) conns.insert(q.owner);
  }
  for (const ClientRef& c : conns) CloseConnection(c, now_ms, ev);
}

// ---- expiry ---------------------------------------------------------------------------

size_t QueueEngine::RemoveExpired(uint64_t now_ms, size_t max, Events* ev) {
  size_t removed = 0;
  while (removed < max && !expiries_.empty() && std::get<0>(*expiries_.begin()) <= now_ms) {
    auto [when, name, key] = *expiries_.begin();
    auto q = queues_.find(name);
    LOCKQ_CHECK(q != queues_.end());
    auto it = q->second.ready.find(key);
    LOCKQ_CHECK(it != q->second.ready.end());
    Message msg = TakeReady(q->second, name, it);
    DeadLetter(name, std::move(msg), "expired", now_ms, ev);
    removed++;
  }
  return removed;
}

uint64_t QueueEngine::NextDeadline() const { return expiries_.empty() ? 0 : std::get<0>(*expiries_.begin()); }

// ---- restore ----------------------------------------------------------------------------

void QueueEngine::RestoreState(std::map<std::string, Exchange, std::less<>> exchanges,
                               std::map<std::string, std::set<Binding>, std::less<>> bindings,
                               std::map<std::string, Queue, std::less<>> queues,
                               std::map<ConsumerKey, Consumer> consumers, std::map<ClientRef, ChannelState> channels,
                               uint64_t next_generated) {
  exchanges_ = std::move(exchanges);
  bindings_ = std::move(bindings);
  queues_ = std::move(queues);
  consumers_ = std::move(consumers);
  channels_ = std::move(channels);
  next_generated_ = next_generated;
  RebuildIndexes();
}

void QueueEngine::RebuildIndexes() {
  expiries_.clear();
  owned_.clear();
  total_bytes_ = 0;
  binding_count_ = 0;
  for (const auto& [source, set] : bindings_) binding_count_ += set.size();
  for (auto& [name, q] : queues_) {
    q.ready_bytes = 0;
    for (const auto& [key, m] : q.ready) {
      q.ready_bytes += m.bytes();
      if (m.expires_ms != 0) expiries_.emplace(m.expires_ms, name, key);
    }
    total_bytes_ += q.ready_bytes;
    for (const auto& [id, u] : q.unacked) {
      total_bytes_ += u.msg.bytes();
      owned_[u.owner.channel].emplace(name, id);
    }
  }
}

}  // namespace lockq::sm
