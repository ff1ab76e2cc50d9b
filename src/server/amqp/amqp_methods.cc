// AMQP exchange, queue, basic and confirm methods (amqp_connection.h): each
// handler builds one queue-engine command (src/sm/queue_family.cc) and
// formats its reply. Nothing about queues is decided here.

#include <amqp.h>
#include <amqp_framing.h>

#include <algorithm>
#include <charconv>

#include "amqp/delivery_headers.h"
#include "amqp/frame.h"
#include "server/amqp/amqp_connection.h"
#include "server/amqp/amqp_server.h"
#include "server/core.h"
#include "sm/state_machine.h"

namespace lockq::server {

using amqp::Bytes;
using amqp::ToString;

namespace {

constexpr size_t kIdsPerSettle = 1000;  // ids in one Q.ACK / Q.NACK

void AddArgs(const amqp_table_t& table, sm::Argv* argv) {
  for (auto& [k, v] : amqp::TableToPairs(table)) {
    argv->push_back("ARG");
    argv->push_back(std::move(k));
    argv->push_back(std::move(v));
  }
}

void AddFlag(bool on, const char* flag, sm::Argv* argv) {
  if (on) argv->push_back(flag);
}

}  // namespace

// get-ok's message-count: this replica's view of the queue's ready
// messages (section 1.8.3.11 allows an approximation; a follower may lag).
uint32_t AmqpConnection::ReadyCount(const std::string& queue) {
  sm::Reply info = server_->core().state().Query({"Q.INFO", queue}, vhost_);
  for (size_t i = 0; i + 1 < info.elems.size(); i += 2) {
    if (info.elems[i].str == "messages_ready") return static_cast<uint32_t>(info.elems[i + 1].integer);
  }
  return 0;
}

void AmqpConnection::HandleExchangeMethod(uint16_t ch, amqp_method_number_t id, void* m) {
  if (id == AMQP_EXCHANGE_DECLARE_METHOD) {
    auto* d = static_cast<amqp_exchange_declare_t*>(m);
    std::string type = ToString(d->type);
    if (type.empty() && d->passive) type = "direct";  // a passive declare does not name the type
    sm::Argv argv{"X.DECLARE", ToString(d->exchange), type};
    AddFlag(d->durable, "DURABLE", &argv);
    AddFlag(d->auto_delete, "AUTODELETE", &argv);
    AddFlag(d->internal, "INTERNAL", &argv);
    AddFlag(d->passive, "PASSIVE", &argv);
    bool nowait = d->nowait;
    Run(ch, std::move(argv), id, [ch, nowait](const sm::Reply&) {
      amqp_exchange_declare_ok_t ok{};
      return nowait ? std::string() : Method(ch, AMQP_EXCHANGE_DECLARE_OK_METHOD, &ok);
    });
  } else if (id == AMQP_EXCHANGE_DELETE_METHOD) {
    auto* d = static_cast<amqp_exchange_delete_t*>(m);
    sm::Argv argv{"X.DELETE", ToString(d->exchange)};
    AddFlag(d->if_unused, "IFUNUSED", &argv);
    bool nowait = d->nowait;
    Run(ch, std::move(argv), id, [ch, nowait](const sm::Reply&) {
      amqp_exchange_delete_ok_t ok{};
      return nowait ? std::string() : Method(ch, AMQP_EXCHANGE_DELETE_OK_METHOD, &ok);
    });
  } else if (id == AMQP_EXCHANGE_BIND_METHOD || id == AMQP_EXCHANGE_UNBIND_METHOD) {
    bool bind = id == AMQP_EXCHANGE_BIND_METHOD;
    // exchange.bind and exchange.unbind have the same fields but nowait.
    auto* b = static_cast<amqp_exchange_bind_t*>(m);
    auto* u = static_cast<amqp_exchange_unbind_t*>(m);
    sm::Argv argv{bind ? "X.BIND" : "X.UNBIND", ToString(bind ? b->destination : u->destination),
                  ToString(bind ? b->source : u->source), ToString(bind ? b->routing_key : u->routing_key)};
    AddArgs(bind ? b->arguments : u->arguments, &argv);
    bool nowait = bind ? b->nowait : u->nowait;
    Run(ch, std::move(argv), id, [ch, nowait, bind](const sm::Reply&) {
      amqp_exchange_bind_ok_t ok{};
      return nowait ? std::string()
                    : Method(ch, bind ? AMQP_EXCHANGE_BIND_OK_METHOD : AMQP_EXCHANGE_UNBIND_OK_METHOD, &ok);
    });
  } else {
    Send(ConnectionError(503, std::string("COMMAND_INVALID - unexpected ") + amqp_method_name(id)));
  }
}

void AmqpConnection::HandleQueueMethod(uint16_t ch, amqp_method_number_t id, void* m) {
  if (id == AMQP_QUEUE_DECLARE_METHOD) {
    auto* d = static_cast<amqp_queue_declare_t*>(m);
    sm::Argv argv{"Q.DECLARE", ToString(d->queue)};
    AddFlag(d->durable, "DURABLE", &argv);
    AddFlag(d->exclusive, "EXCLUSIVE", &argv);
    AddFlag(d->auto_delete, "AUTODELETE", &argv);
    AddFlag(d->passive, "PASSIVE", &argv);
    AddArgs(d->arguments, &argv);
    bool nowait = d->nowait;
    Run(ch, std::move(argv), id, [ch, nowait](const sm::Reply& r) {
      if (nowait || r.elems.size() < 3) return std::string();
      std::string name = r.elems[0].str;
      amqp_queue_declare_ok_t ok{Bytes(name), static_cast<uint32_t>(r.elems[1].integer),
                                 static_cast<uint32_t>(r.elems[2].integer)};
      return Method(ch, AMQP_QUEUE_DECLARE_OK_METHOD, &ok);
    });
  } else if (id == AMQP_QUEUE_BIND_METHOD || id == AMQP_QUEUE_UNBIND_METHOD) {
    bool bind = id == AMQP_QUEUE_BIND_METHOD;
    auto* b = static_cast<amqp_queue_bind_t*>(m);
    auto* u = static_cast<amqp_queue_unbind_t*>(m);
    sm::Argv argv{bind ? "Q.BIND" : "Q.UNBIND", ToString(bind ? b->queue : u->queue),
                  ToString(bind ? b->exchange : u->exchange), ToString(bind ? b->routing_key : u->routing_key)};
    AddArgs(bind ? b->arguments : u->arguments, &argv);
    bool nowait = bind && b->nowait;
    Run(ch, std::move(argv), id, [ch, nowait, bind](const sm::Reply&) {
      amqp_queue_bind_ok_t ok{};
      return nowait ? std::string() : Method(ch, bind ? AMQP_QUEUE_BIND_OK_METHOD : AMQP_QUEUE_UNBIND_OK_METHOD, &ok);
    });
  } else if (id == AMQP_QUEUE_PURGE_METHOD || id == AMQP_QUEUE_DELETE_METHOD) {
    bool purge = id == AMQP_QUEUE_PURGE_METHOD;
    sm::Argv argv;
    bool nowait;
    if (purge) {
      auto* p = static_cast<amqp_queue_purge_t*>(m);
      argv = {"Q.PURGE", ToString(p->queue)};
      nowait = p->nowait;
    } else {
      auto* d = static_cast<amqp_queue_delete_t*>(m);
      argv = {"Q.DELETE", ToString(d->queue)};
      AddFlag(d->if_unused, "IFUNUSED", &argv);
      AddFlag(d->if_empty, "IFEMPTY", &argv);
      nowait = d->nowait;
    }
    Run(ch, std::move(argv), id, [ch, nowait, purge](const sm::Reply& r) {
      amqp_queue_purge_ok_t ok{static_cast<uint32_t>(r.integer)};  // same shape as delete-ok
      return nowait ? std::string() : Method(ch, purge ? AMQP_QUEUE_PURGE_OK_METHOD : AMQP_QUEUE_DELETE_OK_METHOD, &ok);
    });
  } else {
    Send(ConnectionError(503, std::string("COMMAND_INVALID - unexpected ") + amqp_method_name(id)));
  }
}

void AmqpConnection::HandleBasicMethod(uint16_t ch, amqp_method_number_t id, void* m) {
  Channel& c = *Open(ch);
  switch (id) {
    case AMQP_BASIC_QOS_METHOD: {
      auto* q = static_cast<amqp_basic_qos_t*>(m);
      if (q->global) {
        Run(ch, {"Q.QOS", std::to_string(q->prefetch_count)}, id, [ch](const sm::Reply&) {
          amqp_basic_qos_ok_t ok{};
          return Method(ch, AMQP_BASIC_QOS_OK_METHOD, &ok);
        });
      } else {
        c.prefetch = q->prefetch_count;  // for consumers started after this
        amqp_basic_qos_ok_t ok{};
        SendMethod(ch, AMQP_BASIC_QOS_OK_METHOD, &ok);
      }
      return;
    }
    case AMQP_BASIC_CONSUME_METHOD: Consume(ch, *static_cast<amqp_basic_consume_t*>(m)); return;
    case AMQP_BASIC_CANCEL_METHOD: {
      auto* k = static_cast<amqp_basic_cancel_t*>(m);
      std::string tag = ToString(k->consumer_tag);
      bool nowait = k->nowait;
      Run(ch, {"Q.CANCEL", tag}, id, [this, ch, tag, nowait](const sm::Reply&) {
        if (Channel* cc = Open(ch)) cc->no_ack_consumers.erase(tag);
        amqp_basic_cancel_ok_t ok{Bytes(tag)};
        return nowait ? std::string() : Method(ch, AMQP_BASIC_CANCEL_OK_METHOD, &ok);
      });
      return;
    }
    case AMQP_BASIC_PUBLISH_METHOD: PublishStart(ch, *static_cast<amqp_basic_publish_t*>(m)); return;
    case AMQP_BASIC_GET_METHOD: Get(ch, *static_cast<amqp_basic_get_t*>(m)); return;
    case AMQP_BASIC_ACK_METHOD: {
      auto* a = static_cast<amqp_basic_ack_t*>(m);
      Settle(ch, a->delivery_tag, a->multiple, true, false, id);
      return;
    }
    case AMQP_BASIC_NACK_METHOD: {
      auto* n = static_cast<amqp_basic_nack_t*>(m);
      Settle(ch, n->delivery_tag, n->multiple, false, n->requeue, id);
      return;
    }
    case AMQP_BASIC_REJECT_METHOD: {
      auto* r = static_cast<amqp_basic_reject_t*>(m);
      Settle(ch, r->delivery_tag, false, false, r->requeue, id);
      return;
    }
    case AMQP_BASIC_RECOVER_METHOD:
    case AMQP_BASIC_RECOVER_ASYNC_METHOD: {
      // Unacked messages come back redelivered, with new delivery tags.
      c.unacked.clear();
      bool sync = id == AMQP_BASIC_RECOVER_METHOD;
      Run(ch, {"Q.RECOVER"}, id, [ch, sync](const sm::Reply&) {
        amqp_basic_recover_ok_t ok{};
        return sync ? Method(ch, AMQP_BASIC_RECOVER_OK_METHOD, &ok) : std::string();
      });
      return;
    }
    default:
      Send(ConnectionError(503, std::string("COMMAND_INVALID - unexpected ") + amqp_method_name(id)));
  }
}

void AmqpConnection::Consume(uint16_t ch, const amqp_basic_consume_t& m) {
  Channel& c = *Open(ch);
  std::string tag = ToString(m.consumer_tag);
  if (tag.empty()) tag = "amq.ctag-" + std::to_string(id_) + "-" + std::to_string(next_ctag_++);
  sm::Argv argv{"Q.CONSUME", ToString(m.queue), tag};
  if (c.prefetch != 0) {
    argv.push_back("PREFETCH");
    argv.push_back(std::to_string(c.prefetch));
  }
  AddFlag(m.no_ack, "NOACK", &argv);
  AddFlag(m.exclusive, "EXCLUSIVE", &argv);
  if (m.no_ack) c.no_ack_consumers.insert(tag);  // before any delivery can arrive
  bool nowait = m.nowait;
  Run(ch, std::move(argv), AMQP_BASIC_CONSUME_METHOD, [ch, tag, nowait](const sm::Reply&) {
    amqp_basic_consume_ok_t ok{Bytes(tag)};
    return nowait ? std::string() : Method(ch, AMQP_BASIC_CONSUME_OK_METHOD, &ok);
  });
}

void AmqpConnection::Get(uint16_t ch, const amqp_basic_get_t& m) {
  sm::Argv argv{"Q.FETCH", ToString(m.queue), "COUNT", "1"};
  bool no_ack = m.no_ack;
  AddFlag(no_ack, "NOACK", &argv);
  // The tag is taken now, in method order, so that tags stay increasing on
  // the wire however the reply and other deliveries interleave (an empty
  // get leaves a gap, which clients do not mind).
  uint64_t tag = Open(ch)->next_delivery_tag++;
  Run(ch, std::move(argv), AMQP_BASIC_GET_METHOD, [this, ch, no_ack, tag](const sm::Reply& r) {
    Channel* c = Open(ch);
    if (r.elems.empty() || c == nullptr) {
      amqp_basic_get_empty_t empty{};
      return Method(ch, AMQP_BASIC_GET_EMPTY_METHOD, &empty);
    }
    return Delivery(ch, *c, tag, r.elems[0], {}, no_ack, /*get=*/true);
  });
}

std::string AmqpConnection::Delivery(uint16_t ch, Channel& c, uint64_t tag, const sm::Reply& msg,
                                     const std::string& consumer_tag, bool no_ack, bool get) {
  // msg = [queue, id, redelivered, delivery_count, exchange, routing_key, props, body, deaths]
  if (msg.elems.size() < 9) return {};
  const auto& e = msg.elems;
  if (!no_ack) c.unacked[tag] = {e[0].str, static_cast<uint64_t>(e[1].integer)};
  std::string out;
  if (get) {
    amqp_basic_get_ok_t ok{tag, e[2].integer != 0, Bytes(e[4].str), Bytes(e[5].str), ReadyCount(e[0].str)};
    amqp::AppendMethod(ch, AMQP_BASIC_GET_OK_METHOD, &ok, &out);
  } else {
    amqp_basic_deliver_t d{Bytes(consumer_tag), tag, e[2].integer != 0, Bytes(e[4].str), Bytes(e[5].str)};
    amqp::AppendMethod(ch, AMQP_BASIC_DELIVER_METHOD, &d, &out);
  }
  uint64_t delivery_count = e[3].integer > 0 ? static_cast<uint64_t>(e[3].integer) : 0;
  std::vector<amqp::DeathRecord> deaths;
  for (const sm::Reply& d : e[8].elems) {  // [queue, reason, exchange, routing_key, time_ms]
    if (d.elems.size() < 5) continue;
    deaths.push_back({d.elems[0].str, d.elems[1].str, d.elems[2].str, d.elems[3].str,
                      static_cast<uint64_t>(d.elems[4].integer)});
  }
  amqp::AppendContent(ch, amqp::WithDeliveryHeaders(e[6].str, delivery_count, deaths), e[7].str, frame_max_, &out);
  return out;
}

void AmqpConnection::OnPush(uint16_t ch, const sm::Reply& push) {
  Channel* c = Open(ch);
  if (c == nullptr || push.elems.size() < 2 || conn_closing_) return;  // Q.CLOSE releases what was sent
  const std::string& kind = push.elems[0].str;
  const std::string& tag = push.elems[1].str;
  if (kind == "deliver" && push.elems.size() >= 3) {
    uint64_t delivery_tag = c->next_delivery_tag++;
    Send(Delivery(ch, *c, delivery_tag, push.elems[2], tag, c->no_ack_consumers.count(tag) != 0, /*get=*/false));
  } else if (kind == "cancel") {
    // The queue went away: consumer_cancel_notify.
    c->no_ack_consumers.erase(tag);
    amqp_basic_cancel_t cancel{Bytes(tag), 1};
    SendMethod(ch, AMQP_BASIC_CANCEL_METHOD, &cancel);
  }
}

void AmqpConnection::Settle(uint16_t ch, uint64_t tag, bool multiple, bool ack, bool requeue,
                            amqp_method_number_t cause) {
  Channel& c = *Open(ch);
  std::map<std::string, std::vector<uint64_t>> by_queue;
  auto end = multiple ? (tag == 0 ? c.unacked.end() : c.unacked.upper_bound(tag)) : c.unacked.find(tag);
  if (!multiple && end != c.unacked.end()) end = std::next(end);
  auto begin = multiple ? c.unacked.begin() : c.unacked.find(tag);
  if (begin == c.unacked.end() && !(multiple && tag == 0)) {
    Send(ChannelError(ch, 406, "PRECONDITION_FAILED - unknown delivery tag " + std::to_string(tag), cause));
    return;
  }
  for (auto it = begin; it != end; ++it) by_queue[it->second.first].push_back(it->second.second);
  c.unacked.erase(begin, end);
  for (auto& [queue, ids] : by_queue) {
    for (size_t i = 0; i < ids.size(); i += kIdsPerSettle) {
      sm::Argv argv{ack ? "Q.ACK" : "Q.NACK", queue};
      for (size_t j = i; j < ids.size() && j < i + kIdsPerSettle; j++) argv.push_back(std::to_string(ids[j]));
      AddFlag(!ack && requeue, "REQUEUE", &argv);
      Run(ch, std::move(argv), cause, [](const sm::Reply&) { return std::string(); });
    }
  }
}

void AmqpConnection::PublishStart(uint16_t ch, const amqp_basic_publish_t& m) {
  if (!publishes_) {
    publishes_ = true;
    if (server_->blocked()) SetBlocked(true);
  }
  auto p = std::make_unique<Publish>();
  p->exchange = ToString(m.exchange);
  p->routing_key = ToString(m.routing_key);
  p->mandatory = m.mandatory;
  Open(ch)->publish = std::move(p);
}

void AmqpConnection::PublishDone(uint16_t ch) {
  Channel& c = *Open(ch);
  Publish p = std::move(*c.publish);
  content_bytes_ -= std::min(content_bytes_, p.body.size());
  c.publish.reset();
  sm::Argv argv{"Q.PUBLISH", p.exchange, p.routing_key, std::move(p.body)};
  void* decoded = nullptr;
  if (amqp_decode_properties(AMQP_BASIC_CLASS, &pool_, Bytes(p.raw_props), &decoded) != AMQP_STATUS_OK) {
    Send(ConnectionError(502, "SYNTAX_ERROR - malformed basic properties"));
    return;
  }
  auto* props = static_cast<amqp_basic_properties_t*>(decoded);
  if (props->_flags != 0) {
    argv.push_back("PROPS");
    argv.push_back(p.raw_props);
  }
  if (props->_flags & AMQP_BASIC_PRIORITY_FLAG) {
    argv.push_back("PRIORITY");
    argv.push_back(std::to_string(props->priority));
  }
  if (props->_flags & AMQP_BASIC_EXPIRATION_FLAG) {
    std::string exp = ToString(props->expiration);
    uint64_t ms = 0;
    auto [ptr, ec] = std::from_chars(exp.data(), exp.data() + exp.size(), ms);
    if (exp.empty() || ec != std::errc() || ptr != exp.data() + exp.size()) {
      Send(ChannelError(ch, 406, "PRECONDITION_FAILED - invalid expiration '" + exp + "'", AMQP_BASIC_PUBLISH_METHOD));
      return;
    }
    argv.push_back("EXPIRATION");
    argv.push_back(std::to_string(ms));
  }
  if (props->_flags & AMQP_BASIC_HEADERS_FLAG) {
    for (auto& [k, v] : amqp::TableToPairs(props->headers)) {
      argv.push_back("HEADER");
      argv.push_back(std::move(k));
      argv.push_back(std::move(v));
    }
  }
  uint64_t seq = c.confirm ? ++c.publish_seq : 0;
  // basic.return carries the message back (section 1.8.3.9).
  std::string returned_props, returned_body;
  if (p.mandatory) {
    returned_props = p.raw_props;
    returned_body = argv[3];
  }
  Run(ch, std::move(argv), AMQP_BASIC_PUBLISH_METHOD,
      [this, ch, seq, mandatory = p.mandatory, exchange = p.exchange, key = p.routing_key,
       returned_props = std::move(returned_props), returned_body = std::move(returned_body)](const sm::Reply& r) {
        std::string out;
        int64_t routed = r.elems.size() >= 2 ? r.elems[0].integer : 0;
        bool rejected = r.elems.size() >= 2 && r.elems[1].integer != 0;
        bool returned = mandatory && routed == 0;
        if (seq != 0 && !rejected && !returned) {
          Answer confirm;  // FlushOutput merges it with its neighbours
          confirm.confirm_channel = ch;
          confirm.confirm_tag = seq;
          return confirm;
        }
        if (returned) {
          amqp_basic_return_t ret{312, amqp_cstring_bytes("NO_ROUTE"), Bytes(exchange), Bytes(key)};
          amqp::AppendMethod(ch, AMQP_BASIC_RETURN_METHOD, &ret, &out);
          amqp::AppendContent(ch, returned_props, returned_body, frame_max_, &out);
        }
        if (seq != 0) {
          if (rejected) {
            amqp_basic_nack_t nack{seq, 0, 0};
            amqp::AppendMethod(ch, AMQP_BASIC_NACK_METHOD, &nack, &out);
          } else {
            amqp_basic_ack_t ack{seq, 0};
            amqp::AppendMethod(ch, AMQP_BASIC_ACK_METHOD, &ack, &out);
          }
        }
        return Answer(std::move(out));
      });
}

}  // namespace lockq::server
