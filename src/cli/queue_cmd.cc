// lockq publish, lockq consume, lockq queue ls|info|purge|declare.
//
// consume settles like amqp-consume: each message is acked once printed
// (at-least-once: a crash before the ack gets it redelivered). --no-ack
// leaves every message unacked, so the server returns them all to the
// queue when lockq exits: a peek.

#include <cstdio>
#include <iostream>

#include "cli/output.h"

namespace lockq::cli {

namespace {

constexpr size_t kDetailedQueuesMax = 1000;   // Q.INFO calls per `queue ls`
constexpr size_t kStdinLineMax = 64 << 20;    // one message from stdin

struct QueueCli {
  std::string exchange;
  std::string key;
  std::optional<std::string> message;
  std::vector<std::string> headers;
  std::string fence;
  std::string queue;
  uint64_t count = 0;
  std::string timeout = "5s";
  uint32_t prefetch = 100;
  bool ack = false;
  bool no_ack = false;
  std::string match = "*";
  std::vector<std::string> args;
};

std::string Dump(const nlohmann::json& j) { return j.dump(-1, ' ', false, nlohmann::json::error_handler_t::replace); }

int Publish(const Globals& g, const QueueCli& a) {
  MessageOptions options;
  for (const auto& h : a.headers) {
    auto kv = ParseKeyValue(h);
    if (!kv.ok()) return Fail("--header: " + kv.status().message());
    options.headers.push_back(*kv);
  }
  if (!a.fence.empty()) {
    auto fence = ParseFence(a.fence);
    if (!fence.ok()) return Fail(fence.status());
    options.fence = *fence;
  }
  auto client = MakeClient(g);
  Publisher publisher(*client, PublisherOptions{.exchange = a.exchange});
  std::mutex mu;
  uint64_t sent = 0, confirmed = 0, unrouted = 0, failed = 0;
  std::string first_error;
  auto send = [&](std::string body) {
    sent++;
    publisher.Publish(a.key, std::move(body), options, [&](Result<Confirm> r) {
      std::lock_guard lock(mu);
      if (!r.ok()) {
        failed++;
        if (first_error.empty()) first_error = r.status().message();
      } else {
        confirmed++;
        if (r->queues == 0) unrouted++;
      }
    });
  };
  if (a.message) {
    send(*a.message);
  } else {
    std::string line;
    while (std::getline(std::cin, line)) {
      if (line.size() > kStdinLineMax) return Fail("a line of stdin is longer than 64 MiB");
      send(std::move(line));
    }
  }
  Status flushed = publisher.Flush(std::chrono::seconds(60));
  std::lock_guard lock(mu);
  if (g.json) {
    PrintJson({{"published", sent}, {"confirmed", confirmed}, {"unrouted", unrouted}, {"failed", failed}});
  } else {
    std::printf("%llu published, %llu confirmed", static_cast<unsigned long long>(sent),
                static_cast<unsigned long long>(confirmed));
    if (unrouted > 0) std::printf(" (%llu routed to no queue)", static_cast<unsigned long long>(unrouted));
    std::printf("\n");
  }
  if (!first_error.empty()) return Fail(std::to_string(failed) + " not confirmed: " + first_error);
  if (!flushed.ok()) return Fail(flushed);
  if (unrouted > 0) std::fprintf(stderr, "lockq: warning: %llu message(s) matched no queue and were dropped\n",
                                 static_cast<unsigned long long>(unrouted));
  return kExitOk;
}

int Consume(const Globals& g, const QueueCli& a) {
  auto timeout = ParseDuration(a.timeout);
  if (!timeout.ok()) return Fail("--timeout: " + timeout.status().message());
  if (a.ack && a.no_ack) return Fail("--ack and --no-ack exclude each other");
  uint32_t prefetch = std::max<uint32_t>(1, a.prefetch);
  // Never take more than --count from the queue: the rest would only come
  // back, redelivered, when lockq exits.
  if (a.count > 0 && a.count < prefetch) prefetch = static_cast<uint32_t>(a.count);
  auto client = MakeClient(g);
  Consumer consumer(*client, a.queue, ConsumerOptions{.prefetch = prefetch});
  if (Status s = consumer.Start(); !s.ok()) return Fail(s);
  uint64_t got = 0;
  while (a.count == 0 || got < a.count) {
    auto m = consumer.Next(*timeout);
    if (!m.ok()) return Fail(m.status());
    if (!*m) break;  // --timeout passed with no message
    const Message& msg = **m;
    got++;
    if (g.json) {
      std::cout << Dump({{"queue", msg.queue}, {"id", msg.id}, {"redelivered", msg.redelivered},
                         {"delivery_count", msg.delivery_count}, {"exchange", msg.exchange},
                         {"routing_key", msg.routing_key}, {"body", msg.body}})
                << std::endl;
    } else {
      std::cout << msg.body << std::endl;
    }
    if (!a.no_ack) {
      if (Status s = consumer.Ack(msg); !s.ok()) return Fail("ack: " + s.message());
    }
  }
  if (!g.json) std::fprintf(stderr, "lockq: %llu message(s)%s\n", static_cast<unsigned long long>(got),
                            a.no_ack ? ", left in the queue" : ", acked");
  return kExitOk;
}

int List(const Globals& g, const QueueCli& a) {
  auto client = MakeClient(g);
  auto listed = ListWithInfo(*client, "Q.LIST", "Q.INFO", a.match, kDetailedQueuesMax);
  if (!listed.ok()) return Fail(listed.status());
  const nlohmann::json& queues = *listed;
  if (g.json) {
    PrintJson(queues);
    return kExitOk;
  }
  Table t({"NAME", "READY", "UNACKED", "CONSUMERS", "BYTES"});
  for (const auto& q : queues) {
    t.Add({Cell(q["name"]), Cell(q.value("messages_ready", nlohmann::json())),
           Cell(q.value("messages_unacked", nlohmann::json())),
           std::to_string(q.value("consumers", nlohmann::json::array()).size()),
           Cell(q.value("bytes_ready", nlohmann::json()))});
  }
  t.Print();
  return kExitOk;
}

int Info(const Globals& g, const QueueCli& a) {
  auto client = MakeClient(g);
  auto info = NamedInfo(*client, "Q.INFO", a.queue);
  if (!info.ok()) return Fail(info.status());
  if (g.json) {
    PrintJson(*info);
    return kExitOk;
  }
  Table t({"FIELD", "VALUE"});
  for (const auto& [k, v] : info->items()) {
    if (k == "name") continue;
    std::string value;
    if (v.is_array()) {
      for (const auto& e : v) value += (value.empty() ? "" : ", ") + Cell(e);
      if (value.empty()) value = "-";
    } else {
      value = Cell(v);
    }
    t.Add({k, value});
  }
  std::printf("queue %s\n", a.queue.c_str());
  t.Print();
  return kExitOk;
}

int Purge(const Globals& g, const QueueCli& a) {
  auto client = MakeClient(g);
  auto r = client->Call({"Q.PURGE", a.queue});
  if (!r.ok()) return Fail(r.status());
  if (g.json) {
    PrintJson({{"queue", a.queue}, {"purged", r->integer}});
  } else {
    std::printf("purged %lld ready message(s) from %s\n", static_cast<long long>(r->integer), a.queue.c_str());
  }
  return kExitOk;
}

int Declare(const Globals& g, const QueueCli& a) {
  std::vector<std::string> argv = {"Q.DECLARE", a.queue, "DURABLE"};
  for (const auto& arg : a.args) {
    auto kv = ParseKeyValue(arg);
    if (!kv.ok()) return Fail("--arg: " + kv.status().message());
    argv.insert(argv.end(), {"ARG", kv->first, kv->second});
  }
  auto client = MakeClient(g);
  // Q.DECLARE is idempotent (the same declaration twice is one queue).
  auto r = client->Call(argv, CallOptions{.idempotent = true});
  if (!r.ok()) return Fail(r.status());
  int64_t ready = r->elems.size() >= 2 ? r->elems[1].integer : 0;
  if (g.json) {
    PrintJson({{"queue", a.queue}, {"messages_ready", ready}});
  } else {
    std::printf("declared durable queue %s (%lld ready)\n", a.queue.c_str(), static_cast<long long>(ready));
  }
  return kExitOk;
}

}  // namespace

void AddQueueCommands(CLI::App& app, Globals& g) {
  auto a = std::make_shared<QueueCli>();
  auto* publish = app.add_subcommand("publish", "Publish with confirms: MESSAGE, or each line of stdin");
  publish->add_option("routing_key", a->key, "Routing key (the queue name with the default exchange)")->required();
  publish->add_option("message", a->message, "Message body; when absent, each line of stdin is one message");
  publish->add_option("--exchange,-e", a->exchange, "Exchange (default: the default exchange)");
  publish->add_option("--header", a->headers, "Header KEY=VALUE (repeatable)")->allow_extra_args(false);
  publish->add_option("--fence", a->fence, "LOCK:TOKEN: refused unless TOKEN is the lock's newest grant");
  publish->callback([&g, a] { g.action = [&g, a] { return Publish(g, *a); }; });

  auto* consume = app.add_subcommand("consume", "Print messages of a queue, one per line; ack each once printed");
  consume->add_option("queue", a->queue, "Queue name")->required();
  consume->add_option("--count,-n", a->count, "Exit after this many messages (0: no limit)")->capture_default_str();
  consume->add_option("--timeout", a->timeout, "Exit when no message comes for this long")->capture_default_str();
  consume->add_option("--prefetch", a->prefetch, "Unacked messages the server sends ahead")->capture_default_str();
  consume->add_flag("--ack", a->ack, "Ack each message once printed (the default)");
  consume->add_flag("--no-ack,--requeue", a->no_ack, "Leave messages in the queue (they come back, redelivered, "
                                                     "when lockq exits): a peek");
  consume->callback([&g, a] { g.action = [&g, a] { return Consume(g, *a); }; });

  auto* queue = app.add_subcommand("queue", "List, inspect, purge and declare queues");
  queue->require_subcommand(1);
  auto* ls = queue->add_subcommand("ls", "Queues with ready/unacked counts and consumers");
  ls->add_option("--match", a->match, "Glob pattern on queue names")->capture_default_str();
  ls->callback([&g, a] { g.action = [&g, a] { return List(g, *a); }; });
  auto* info = queue->add_subcommand("info", "One queue's counters, consumers and flags (Q.INFO)");
  info->add_option("queue", a->queue, "Queue name")->required();
  info->callback([&g, a] { g.action = [&g, a] { return Info(g, *a); }; });
  auto* purge = queue->add_subcommand("purge", "Delete a queue's ready messages");
  purge->add_option("queue", a->queue, "Queue name")->required();
  purge->callback([&g, a] { g.action = [&g, a] { return Purge(g, *a); }; });
  auto* declare = queue->add_subcommand("declare", "Declare a durable queue (idempotent)");
  declare->add_option("queue", a->queue, "Queue name")->required();
  declare->add_option("--arg", a->args, "x-argument KEY=VALUE, e.g. x-max-length=1000 (repeatable)")->allow_extra_args(false);
  declare->callback([&g, a] { g.action = [&g, a] { return Declare(g, *a); }; });
}

}  // namespace lockq::cli
