// Exchanges, bindings and routing of the queue engine (queues.h).

#include <deque>

#include "sm/queues.h"

namespace lockq::sm {

namespace {

std::vector<std::string_view> Words(std::string_view s) {
  std::vector<std::string_view> out;
  size_t start = 0;
  while (true) {
    size_t dot = s.find('.', start);
    out.push_back(s.substr(start, dot == std::string_view::npos ? std::string_view::npos : dot - start));
    if (dot == std::string_view::npos) return out;
    start = dot + 1;
  }
}

// AMQP topic matching: `*` is exactly one word, `#` zero or more. Keys
// and patterns are at most 255 bytes, so the backtracking stays small.
bool TopicMatch(const std::vector<std::string_view>& pat, size_t p, const std::vector<std::string_view>& key,
                size_t k) {
  while (p < pat.size()) {
    if (pat[p] == "#") {
      if (p + 1 == pat.size()) return true;
      for (size_t skip = k; skip <= key.size(); skip++) {
        if (TopicMatch(pat, p + 1, key, skip)) return true;
      }
      return false;
    }
    if (k == key.size()) return false;
    if (pat[p] != "*" && pat[p] != key[k]) return false;
    p++;
    k++;
  }
  return k == key.size();
}

// x-match all (default) or any, over the binding's arguments that do not
// start with "x-"; values compare as strings.
bool HeadersMatch(const Headers& binding, const Headers& message) {
  bool any = false;
  for (const auto& [k, v] : binding) {
    if (k == "x-match") any = v == "any" || v == "any-with-x";
  }
  size_t wanted = 0, matched = 0;
  for (const auto& [k, v] : binding) {
    if (k.rfind("x-", 0) == 0) continue;
    wanted++;
    for (const auto& [mk, mv] : message) {
      if (mk == k && mv == v) {
        matched++;
        break;
      }
    }
  }
  return any ? matched > 0 : matched == wanted;
}

bool Matches(ExchangeType type, const Binding& b, const std::string& routing_key, const Headers& headers) {
  switch (type) {
    case ExchangeType::kDirect:
      return b.key == routing_key;
    case ExchangeType::kFanout:
      return true;
    case ExchangeType::kTopic:
      return TopicMatch(Words(b.key), 0, Words(routing_key), 0);
    case ExchangeType::kHeaders:
      return HeadersMatch(b.args, headers);
  }
  return false;
}

}  // namespace

std::optional<ExchangeType> ParseExchangeType(std::string_view s) {
  if (s == "direct") return ExchangeType::kDirect;
  if (s == "fanout") return ExchangeType::kFanout;
  if (s == "topic") return ExchangeType::kTopic;
  if (s == "headers") return ExchangeType::kHeaders;
  return std::nullopt;
}

const char* ExchangeTypeName(ExchangeType t) {
  switch (t) {
    case ExchangeType::kDirect: return "direct";
    case ExchangeType::kFanout: return "fanout";
    case ExchangeType::kTopic: return "topic";
    case ExchangeType::kHeaders: return "headers";
  }
  return "?";
}

QueueEngine::QueueEngine() {
  auto builtin = [this](const char* name, ExchangeType t) {
    exchanges_[name] = Exchange{t, true, false, false, true};
  };
  builtin("", ExchangeType::kDirect);
  builtin("amq.direct", ExchangeType::kDirect);
  builtin("amq.fanout", ExchangeType::kFanout);
  builtin("amq.topic", ExchangeType::kTopic);
  builtin("amq.headers", ExchangeType::kHeaders);
  builtin("amq.match", ExchangeType::kHeaders);
}

const Exchange* QueueEngine::FindExchange(const std::string& name) const {
  auto it = exchanges_.find(name);
  return it == exchanges_.end() ? nullptr : &it->second;
}

QueueError QueueEngine::DeclareExchange(const std::string& name, const Exchange& x, bool passive) {
  auto it = exchanges_.find(name);
  if (it != exchanges_.end()) {
    if (passive) return QueueError::kNone;
    const Exchange& have = it->second;
    if (have.type != x.type || have.durable != x.durable || have.auto_delete != x.auto_delete ||
        have.internal != x.internal) {
      return have.builtin ? QueueError::kAccessRefused : QueueError::kPrecondition;
    }
    return QueueError::kNone;
  }
  if (passive) return QueueError::kNotFound;
  if (name.empty() || name.rfind("amq.", 0) == 0) return QueueError::kAccessRefused;
  if (exchanges_.size() >= kExchangesMax) return QueueError::kLimit;
  Exchange made = x;
  made.builtin = false;
  exchanges_.emplace(name, made);
  return QueueError::kNone;
}

QueueError QueueEngine::DeleteExchange(const std::string& name, bool if_unused) {
  auto it = exchanges_.find(name);
  if (it == exchanges_.end()) return QueueError::kNone;  // idempotent, as RabbitMQ
  if (it->second.builtin) return QueueError::kAccessRefused;
  auto b = bindings_.find(name);
  if (if_unused && b != bindings_.end() && !b->second.empty()) return QueueError::kPrecondition;
  if (b != bindings_.end()) {
    binding_count_ -= b->second.size();
    bindings_.erase(b);
  }
  // Exchange-to-exchange bindings that lead here go too.
  for (auto& [source, set] : bindings_) {
    for (auto bi = set.begin(); bi != set.end();) {
      if (bi->to_exchange && bi->dest == name) {
        bi = set.erase(bi);
        binding_count_--;
      } else {
        ++bi;
      }
    }
  }
  exchanges_.erase(it);
  return QueueError::kNone;
}

QueueError QueueEngine::Bind(const std::string& source, const Binding& b) {
  if (source.empty()) return QueueError::kAccessRefused;  // the default exchange binds implicitly
  if (exchanges_.count(source) == 0) return QueueError::kNotFound;
  if (b.to_exchange ? exchanges_.count(b.dest) == 0 : queues_.count(b.dest) == 0) return QueueError::kNotFound;
  auto& set = bindings_[source];
  if (set.count(b) != 0) return QueueError::kNone;
  if (binding_count_ >= kBindingsMax) return QueueError::kLimit;
  set.insert(b);
  binding_count_++;
  return QueueError::kNone;
}

QueueError QueueEngine::Unbind(const std::string& source, const Binding& b) {
  if (source.empty()) return QueueError::kAccessRefused;
  auto it = bindings_.find(source);
  if (it != bindings_.end() && it->second.erase(b) != 0) {
    binding_count_--;
    if (it->second.empty()) bindings_.erase(it);
    MaybeAutoDeleteExchange(source);
  }
  return QueueError::kNone;
}

void QueueEngine::MaybeAutoDeleteExchange(const std::string& name) {
  auto it = exchanges_.find(name);
  if (it == exchanges_.end() || !it->second.auto_delete || it->second.builtin) return;
  if (bindings_.count(name) != 0) return;
  DeleteExchange(name, false);
}

std::set<std::string> QueueEngine::Route(const std::string& exchange, const std::string& routing_key,
                                         const Headers& headers) const {
  std::set<std::string> out;
  if (exchange.empty()) {
    if (queues_.count(routing_key) != 0) out.insert(routing_key);
    return out;
  }
  std::set<std::string> visited{exchange};
  std::deque<std::string> todo{exchange};
  while (!todo.empty()) {
    std::string x = std::move(todo.front());
    todo.pop_front();
    auto ex = exchanges_.find(x);
    auto bs = bindings_.find(x);
    if (ex == exchanges_.end() || bs == bindings_.end()) continue;
    for (const Binding& b : bs->second) {
      if (!Matches(ex->second.type, b, routing_key, headers)) continue;
      if (!b.to_exchange) {
        out.insert(b.dest);
      } else if (visited.insert(b.dest).second) {
        todo.push_back(b.dest);
      }
    }
  }
  return out;
}

}  // namespace lockq::sm
