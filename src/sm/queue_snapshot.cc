#include "sm/queue_snapshot.h"

#include <algorithm>

#include "sm/client_ref_codec.h"

namespace lockq::sm {

namespace {

constexpr uint64_t kCountMax = 100'000'000;  // any count: bounded before reserving

Status Bad(const char* what) { return Status::Corruption(std::string("snapshot: queues: ") + what); }

void PutKey(const ConsumerKey& k, ByteWriter* w) {
  PutClientRef(k.channel, w);
  w->PutString(k.tag);
}
void GetKey(ByteReader* r, ConsumerKey* k) {
  GetClientRef(r, &k->channel);
  r->GetString(&k->tag, kNameMax);
}

void PutHeaders(const Headers& h, ByteWriter* w) {
  w->PutVarint(h.size());
  for (const auto& [k, v] : h) {
    w->PutString(k);
    w->PutString(v);
  }
}
bool GetHeaders(ByteReader* r, Headers* h) {
  uint64_t n;
  if (!r->GetVarint(&n) || n > r->remaining() / 2) return false;
  for (uint64_t i = 0; i < n; i++) {
    std::string k, v;
    r->GetString(&k);
    r->GetString(&v);
    h->emplace_back(std::move(k), std::move(v));
  }
  return r->ok();
}

void PutMessage(const Message& m, ByteWriter* w) {
  w->PutString(m.exchange);
  w->PutString(m.routing_key);
  w->PutString(m.props);
  w->PutString(m.body);
  w->PutU8(m.priority);
  w->PutU64(m.expires_ms);
  w->PutU64(m.delivery_count);
  w->PutU8(m.redelivered ? 1 : 0);
  w->PutVarint(m.deaths.size());
  for (const Death& d : m.deaths) {
    w->PutString(d.queue);
    w->PutString(d.reason);
    w->PutString(d.exchange);
    w->PutString(d.routing_key);
    w->PutU64(d.time_ms);
  }
}
bool GetMessage(ByteReader* r, Message* m) {
  uint8_t redelivered = 0;
  uint64_t n = 0;
  r->GetString(&m->exchange, kNameMax);
  r->GetString(&m->routing_key, kNameMax);
  r->GetString(&m->props);
  r->GetString(&m->body);
  r->GetU8(&m->priority);
  r->GetU64(&m->expires_ms);
  r->GetU64(&m->delivery_count);
  r->GetU8(&redelivered);
  if (!r->GetVarint(&n) || n > 64 || redelivered > 1) return false;
  m->redelivered = redelivered == 1;
  for (uint64_t i = 0; i < n; i++) {
    Death d;
    r->GetString(&d.queue, kNameMax);
    r->GetString(&d.reason, kNameMax);
    r->GetString(&d.exchange, kNameMax);
    r->GetString(&d.routing_key, kNameMax);
    r->GetU64(&d.time_ms);
    m->deaths.push_back(std::move(d));
  }
  return r->ok() && m->expires_ms <= static_cast<uint64_t>(INT64_MAX);
}

template <typename T>
void PutOpt(const std::optional<T>& v, ByteWriter* w) {
  w->PutU8(v ? 1 : 0);
  if (!v) return;
  if constexpr (std::is_same_v<T, std::string>) {
    w->PutString(*v);
  } else {
    w->PutU64(*v);
  }
}
template <typename T>
bool GetOpt(ByteReader* r, std::optional<T>* v) {
  uint8_t present = 0;
  if (!r->GetU8(&present) || present > 1) return false;
  if (present == 0) return true;
  T value{};
  bool ok;
  if constexpr (std::is_same_v<T, std::string>) {
    ok = r->GetString(&value, kNameMax);
  } else {
    ok = r->GetU64(&value);
  }
  *v = std::move(value);
  return ok;
}

void PutArgs(const QueueArgs& a, ByteWriter* w) {
  PutOpt(a.dlx, w);
  PutOpt(a.dlrk, w);
  PutOpt(a.message_ttl_ms, w);
  PutOpt(a.max_length, w);
  PutOpt(a.max_length_bytes, w);
  w->PutU8(static_cast<uint8_t>(a.overflow));
  PutOpt(a.delivery_limit, w);
  w->PutU8(a.single_active ? 1 : 0);
  w->PutU8(a.max_priority);
}
bool GetArgs(ByteReader* r, QueueArgs* a) {
  uint8_t overflow = 0, single = 0;
  bool ok = GetOpt(r, &a->dlx) && GetOpt(r, &a->dlrk) && GetOpt(r, &a->message_ttl_ms) && GetOpt(r, &a->max_length) &&
            GetOpt(r, &a->max_length_bytes) && r->GetU8(&overflow) && GetOpt(r, &a->delivery_limit) &&
            r->GetU8(&single) && r->GetU8(&a->max_priority);
  if (!ok || overflow > 1 || single > 1) return false;
  a->overflow = static_cast<Overflow>(overflow);
  a->single_active = single == 1;
  return true;
}

bool GetCount(ByteReader* r, uint64_t* n) { return r->GetVarint(n) && *n <= kCountMax && *n <= r->remaining(); }

}  // namespace

void EncodeQueues(const QueueEngine& e, ByteWriter* w) {
  w->PutVarint(e.exchanges().size());
  for (const auto& [name, x] : e.exchanges()) {
    w->PutString(name);
    w->PutU8(static_cast<uint8_t>(x.type));
    w->PutU8((x.durable ? 1 : 0) | (x.auto_delete ? 2 : 0) | (x.internal ? 4 : 0) | (x.builtin ? 8 : 0));
  }
  w->PutVarint(e.bindings().size());
  for (const auto& [source, set] : e.bindings()) {
    w->PutString(source);
    w->PutVarint(set.size());
    for (const Binding& b : set) {
      w->PutU8(b.to_exchange ? 1 : 0);
      w->PutString(b.dest);
      w->PutString(b.key);
      PutHeaders(b.args, w);
    }
  }
  w->PutVarint(e.queues().size());
  for (const auto& [name, q] : e.queues()) {
    w->PutString(name);
    w->PutU8((q.durable ? 1 : 0) | (q.exclusive ? 2 : 0) | (q.auto_delete ? 4 : 0) | (q.had_consumer ? 8 : 0));
    PutClientRef(q.owner, w);
    PutArgs(q.args, w);
    w->PutU64(q.next_id);
    w->PutU64(q.rr);
    w->PutVarint(q.consumers.size());
    for (const ConsumerKey& k : q.consumers) PutKey(k, w);
    w->PutVarint(q.ready.size());
    for (const auto& [key, m] : q.ready) {
      w->PutU64(key.second);
      PutMessage(m, w);
    }
    w->PutVarint(q.unacked.size());
    for (const auto& [id, u] : q.unacked) {
      w->PutU64(id);
      PutKey(u.owner, w);
      PutMessage(u.msg, w);
    }
  }
  w->PutVarint(e.consumers().size());
  for (const auto& [key, c] : e.consumers()) {
    PutKey(key, w);
    w->PutString(c.queue);
    w->PutU64(c.prefetch);
    w->PutU8(c.no_ack ? 1 : 0);
    w->PutU8(c.exclusive ? 1 : 0);
    w->PutU64(c.unacked);
  }
  w->PutVarint(e.channels().size());
  for (const auto& [ch, s] : e.channels()) {
    PutClientRef(ch, w);
    w->PutU64(s.prefetch);
    w->PutU64(s.unacked);
  }
  w->PutU64(e.next_generated());
}

Status DecodeQueues(ByteReader* r, QueueEngine* out) {
  std::map<std::string, Exchange, std::less<>> exchanges;
  std::map<std::string, std::set<Binding>, std::less<>> bindings;
  std::map<std::string, Queue, std::less<>> queues;
  std::map<ConsumerKey, Consumer> consumers;
  std::map<ClientRef, ChannelState> channels;
  uint64_t n = 0, next_generated = 0;
  if (!GetCount(r, &n)) return Bad("bad exchange count");
  for (uint64_t i = 0; i < n; i++) {
    std::string name;
    uint8_t type = 0, flags = 0;
    if (!r->GetString(&name, kNameMax) || !r->GetU8(&type) || !r->GetU8(&flags)) return Bad("truncated exchange");
    if (type > kMaxExchangeType || flags > 15) return Bad("bad exchange");
    Exchange x{static_cast<ExchangeType>(type), (flags & 1) != 0, (flags & 2) != 0, (flags & 4) != 0, (flags & 8) != 0};
    if (!exchanges.emplace(std::move(name), x).second) return Bad("duplicate exchange");
  }
  if (!GetCount(r, &n)) return Bad("bad binding count");
  for (uint64_t i = 0; i < n; i++) {
    std::string source;
    uint64_t m = 0;
    if (!r->GetString(&source, kNameMax) || !GetCount(r, &m)) return Bad("truncated bindings");
    auto& set = bindings[source];
    for (uint64_t k = 0; k < m; k++) {
      Binding b;
      uint8_t to_x = 0;
      if (!r->GetU8(&to_x) || to_x > 1 || !r->GetString(&b.dest, kNameMax) || !r->GetString(&b.key, kNameMax) ||
          !GetHeaders(r, &b.args)) {
        return Bad("truncated binding");
      }
      b.to_exchange = to_x == 1;
      set.insert(std::move(b));
    }
  }
  if (!GetCount(r, &n)) return Bad("bad queue count");
  for (uint64_t i = 0; i < n; i++) {
    std::string name;
    Queue q;
    uint8_t flags = 0;
    uint64_t m = 0;
    r->GetString(&name, kNameMax);
    r->GetU8(&flags);
    GetClientRef(r, &q.owner);
    if (!r->ok() || flags > 15 || !GetArgs(r, &q.args) || !r->GetU64(&q.next_id) || !r->GetU64(&q.rr) ||
        !GetCount(r, &m)) {
      return Bad("truncated queue");
    }
    q.durable = flags & 1;
    q.exclusive = flags & 2;
    q.auto_delete = flags & 4;
    q.had_consumer = flags & 8;
    for (uint64_t k = 0; k < m; k++) {
      ConsumerKey key;
      GetKey(r, &key);
      q.consumers.push_back(std::move(key));
    }
    if (!GetCount(r, &m)) return Bad("truncated queue");
    for (uint64_t k = 0; k < m; k++) {
      uint64_t id = 0;
      Message msg;
      if (!r->GetU64(&id) || !GetMessage(r, &msg) || id >= q.next_id) return Bad("bad ready message");
      auto key = std::make_pair(static_cast<uint8_t>(255 - msg.priority), id);
      if (!q.ready.emplace(key, std::move(msg)).second) return Bad("duplicate message");
    }
    if (!GetCount(r, &m)) return Bad("truncated queue");
    for (uint64_t k = 0; k < m; k++) {
      uint64_t id = 0;
      Unacked u;
      r->GetU64(&id);
      GetKey(r, &u.owner);
      if (!GetMessage(r, &u.msg) || id >= q.next_id) return Bad("bad unacked message");
      if (!q.unacked.emplace(id, std::move(u)).second) return Bad("duplicate message");
    }
    if (!queues.emplace(std::move(name), std::move(q)).second) return Bad("duplicate queue");
  }
  if (!GetCount(r, &n)) return Bad("bad consumer count");
  for (uint64_t i = 0; i < n; i++) {
    ConsumerKey key;
    Consumer c;
    uint8_t no_ack = 0, exclusive = 0;
    GetKey(r, &key);
    r->GetString(&c.queue, kNameMax);
    r->GetU64(&c.prefetch);
    r->GetU8(&no_ack);
    r->GetU8(&exclusive);
    if (!r->GetU64(&c.unacked) || no_ack > 1 || exclusive > 1) return Bad("truncated consumer");
    c.no_ack = no_ack;
    c.exclusive = exclusive;
    auto q = queues.find(c.queue);
    if (q == queues.end() || std::count(q->second.consumers.begin(), q->second.consumers.end(), key) != 1) {
      return Bad("consumer of an unknown queue");
    }
    if (!consumers.emplace(std::move(key), std::move(c)).second) return Bad("duplicate consumer");
  }
  for (const auto& [name, q] : queues) {
    for (const ConsumerKey& k : q.consumers) {
      if (consumers.count(k) == 0) return Bad("queue lists an unknown consumer");
    }
  }
  if (!GetCount(r, &n)) return Bad("bad channel count");
  for (uint64_t i = 0; i < n; i++) {
    ClientRef ch;
    ChannelState s;
    GetClientRef(r, &ch);
    r->GetU64(&s.prefetch);
    if (!r->GetU64(&s.unacked)) return Bad("truncated channel");
    channels.emplace(ch, s);
  }
  if (!r->GetU64(&next_generated)) return Bad("truncated");
  out->RestoreState(std::move(exchanges), std::move(bindings), std::move(queues), std::move(consumers),
                    std::move(channels), next_generated);
  return Status::Ok();
}

}  // namespace lockq::sm
