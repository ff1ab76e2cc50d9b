// QueueAudit: the simulation's queue checkers (sim_queue_audit.h).

#include "testlib/sim_queue_audit.h"

#include <algorithm>

#include "sm/parse.h"
#include "sm/queues.h"

namespace lockq::testing {

namespace {

std::string Idx(uint64_t index) { return "index " + std::to_string(index) + ": "; }

// LOCKQ.AS node nonce conn slot cmd args... -> (client, cmd args...).
sm::Argv Unwrap(const sm::Argv& argv, sm::ClientRef* client) {
  if (argv.size() < 6 || sm::ToUpper(argv[0]) != "LOCKQ.AS") return argv;
  sm::ParseUint64(argv[1], &client->node);
  sm::ParseUint64(argv[2], &client->nonce);
  sm::ParseUint64(argv[3], &client->conn);
  sm::ParseUint64(argv[4], &client->slot);
  return sm::Argv(argv.begin() + 5, argv.end());
}

bool IsMessage(const sm::Reply& m) {
  return m.kind == sm::Reply::Kind::kArray && m.elems.size() >= 8 &&
         m.elems[1].kind == sm::Reply::Kind::kInt;
}

}  // namespace

QueueAudit::QueueAudit(std::set<std::string> plain_queues) : plain_(std::move(plain_queues)) {}

std::string QueueAudit::OnDelivered(uint64_t index, const sm::ClientRef& channel,
                                    const sm::Reply& msg) {
  if (!IsMessage(msg)) return Idx(index) + "a delivery that is not a message: " + sm::ToDebugString(msg);
  const std::string& queue = msg.elems[0].str;
  uint64_t id = static_cast<uint64_t>(msg.elems[1].integer);
  const std::string& body = msg.elems[7].str;
  n_deliveries_++;
  if (published_.count(body) == 0) {
    return Idx(index) + "delivered " + queue + "/" + std::to_string(id) + " with body '" + body +
           "', which no committed Q.PUBLISH carried";
  }
  auto [it, inserted] = body_of_.try_emplace({queue, id}, body);
  if (!inserted && it->second != body) {
    return Idx(index) + "delivered " + queue + "/" + std::to_string(id) + " with body '" + body +
           "', earlier with '" + it->second + "'";
  }
  delivered_.insert(body);
  recent_.push_back(Delivery{channel, queue, id});
  if (recent_.size() > 24) recent_.pop_front();
  return {};
}

void QueueAudit::OnSettled(uint64_t index, const sm::ClientRef& channel, const sm::Argv& argv,
                           const sm::Reply& r, bool nack) {
  // Q.ACK queue id... / Q.NACK queue id... [REQUEUE]
  std::vector<uint64_t> ids;
  bool requeue = false;
  for (size_t j = 2; j < argv.size(); j++) {
    uint64_t id = 0;
    if (sm::ParseUint64(argv[j], &id)) ids.push_back(id);
    else if (sm::ToUpper(argv[j]) == "REQUEUE") requeue = true;
  }
  if (r.kind != sm::Reply::Kind::kInt || r.integer <= 0) return;
  // Only an answer that settled every id named says which ones went.
  if (static_cast<size_t>(r.integer) != ids.size()) return;
  for (uint64_t id : ids) {
    n_settled_++;
    std::erase_if(recent_, [&](const Delivery& d) {
      return d.queue == argv[1] && d.id == id && d.channel == channel;
    });
    if (nack && requeue) continue;
    auto b = body_of_.find({argv[1], id});
    if (b == body_of_.end()) continue;
    auto c = confirmed_.find(b->second);
    if (c != confirmed_.end() && c->second.gone_at == 0) c->second.gone_at = index;
  }
}

std::string QueueAudit::OnCommitted(uint64_t index, const sm::Batch& batch,
                                    const std::vector<sm::Reply>& replies,
                                    const sm::Events& events, const std::vector<size_t>& marks) {
  bool split = marks.size() == batch.commands.size();
  size_t ev = 0;
  auto take_events = [&](size_t upto) -> std::string {
    for (; ev < upto && ev < events.size(); ev++) {
      const sm::Event& e = events[ev];
      if (e.kind != sm::Event::Kind::kPush || e.reply.kind != sm::Reply::Kind::kArray ||
          e.reply.elems.size() != 3 || e.reply.elems[0].str != "deliver") {
        continue;
      }
      std::string err = OnDelivered(index, e.client, e.reply.elems[2]);
      if (!err.empty()) return err;
    }
    return {};
  };
  for (size_t k = 0; k < batch.commands.size() && k < replies.size(); k++) {
    sm::ClientRef client;
    sm::Argv argv = Unwrap(batch.commands[k], &client);
    const sm::Reply& r = replies[k];
    std::string name = argv.empty() ? "" : sm::ToUpper(argv[0]);
    if (name == "Q.PUBLISH" && argv.size() >= 4) {
      const std::string& body = argv[3];
      published_.try_emplace(body, index);
      bool ok = r.kind == sm::Reply::Kind::kArray && r.elems.size() == 2 &&
                r.elems[0].integer == 1 && r.elems[1].integer == 0;
      if (r.kind == sm::Reply::Kind::kArray && r.elems.size() == 2 && r.elems[1].integer != 0) {
        n_rejected_++;
      }
      if (ok && argv[1].empty() && plain_.count(argv[2]) != 0) {
        confirmed_.try_emplace(body, Confirmed{argv[2], index, 0});
      }
    } else if (name == "Q.FETCH" && r.kind == sm::Reply::Kind::kArray) {
      for (const sm::Reply& m : r.elems) {
        std::string err = OnDelivered(index, client, m);
        if (!err.empty()) return err;
      }
    } else if ((name == "Q.ACK" || name == "Q.NACK") && argv.size() >= 3) {
      OnSettled(index, client, argv, r, name == "Q.NACK");
    }
    if (split) {
      std::string err = take_events(marks[k]);
      if (!err.empty()) return err;
    }
  }
  return take_events(events.size());
}

std::string QueueAudit::CheckReplica(const sm::StateMachine& sm) const {
  uint64_t idx = sm.applied_index();
  const sm::QueueEngine& qe = sm.queue_engine();
  // Check 1 on the state: every message held was published at or before idx.
  // (plain queue, body) of every message a plain queue holds, sorted.
  std::vector<std::pair<std::string_view, std::string_view>> held;
  for (const auto& [name, q] : qe.queues()) {
    auto visit = [&](uint64_t id, const sm::Message& m) -> std::string {
      auto p = published_.find(m.body);
      if (p == published_.end() || p->second > idx) {
        return "holds " + name + "/" + std::to_string(id) + " with body '" + m.body +
               "', which no Q.PUBLISH committed by then carried";
      }
      if (plain_.count(name) != 0) held.emplace_back(name, m.body);
      return {};
    };
    for (const auto& [key, m] : q.ready) {
      std::string err = visit(key.second, m);
      if (!err.empty()) return Idx(idx) + err;
    }
    for (const auto& [id, u] : q.unacked) {
      std::string err = visit(id, u.msg);
      if (!err.empty()) return Idx(idx) + err;
    }
  }
  // Check 2: confirmed and not settled by then -> there exactly once;
  // settled by then -> gone for good.
  std::sort(held.begin(), held.end());
  for (const auto& [body, c] : confirmed_) {
    if (c.at > idx) continue;
    auto range = std::equal_range(held.begin(), held.end(),
                                  std::pair<std::string_view, std::string_view>(c.queue, body));
    int copies = static_cast<int>(range.second - range.first);
    bool settled = c.gone_at != 0 && c.gone_at <= idx;
    if (!settled && copies != 1) {
      return Idx(idx) + "the confirmed message '" + body + "' (published at index " +
             std::to_string(c.at) + ") is " +
             (copies == 0 ? "neither ready nor unacked in " + c.queue + " and was never settled"
                          : "held " + std::to_string(copies) + " times in " + c.queue) +
             " (confirmed message lost)";
    }
    if (settled && copies != 0) {
      return Idx(idx) + "the message '" + body + "', settled at index " +
             std::to_string(c.gone_at) + ", is still (or again) in " + c.queue;
    }
  }
  return {};
}

std::string QueueAudit::CheckCounts(const std::string& who, const sm::StateMachine& sm) {
  // A hash per apply (cheap); the readable counts only when they differ.
  uint64_t h = 14695981039346656037ull;
  auto mix = [&](uint64_t v) { h = (h ^ v) * 1099511628211ull; };
  for (const auto& [name, q] : sm.queue_engine().queues()) {
    for (char ch : name) mix(static_cast<unsigned char>(ch));
    mix(q.ready.size());
    mix(q.unacked.size());
    mix(q.consumers.size());
    mix(q.next_id);
  }
  auto [it, inserted] = counts_.try_emplace(sm.applied_index(), h, who);
  if (inserted || it->second.first == h) return {};
  std::string counts;
  for (const auto& [name, q] : sm.queue_engine().queues()) {
    counts += name + " ready=" + std::to_string(q.ready.size()) +
              " unacked=" + std::to_string(q.unacked.size()) +
              " consumers=" + std::to_string(q.consumers.size()) +
              " next_id=" + std::to_string(q.next_id) + "; ";
  }
  return Idx(sm.applied_index()) + who + " has queues [" + counts + "], which differ from " +
         it->second.second + "'s counts (ready, unacked, consumers, next id)";
}

std::string QueueAudit::CheckDrained() const {
  for (const auto& [body, c] : confirmed_) {
    if (delivered_.count(body) == 0) {
      return "queue audit: the confirmed message '" + body + "' (index " + std::to_string(c.at) +
             ", " + c.queue + ") was never delivered, even after the drain";
    }
  }
  return {};
}

}  // namespace lockq::testing
