// amqp_loadgen: the queue benchmark's load generator (issue 5), one binary
// for lockqd and rabbitmq-server so both see the same client. C++ on
// librabbitmq, one thread and one connection per producer and consumer, so
// the client is not what limits the numbers.
//
// Producers publish persistent (delivery_mode 2) messages of --size bytes to
// the default exchange, routed to --queue, with publisher confirms and at
// most --window unconfirmed messages each (acks with multiple=true are
// understood). Consumers use basic.qos --prefetch and manual acks, one
// basic.ack with multiple=true per --ack-every messages. The first 8 bytes
// of a body are its publish time (CLOCK_MONOTONIC, shared by the threads),
// which gives the publish->consume lag.
//
// Bounded: producers stop publishing at --warmup-s + --duration-s or after
// --max-messages in all, wait at most --drain-s for their last confirms,
// and a watchdog ends the process (exit 3) if anything blocks past that.
// Rates and latencies count only messages published inside the measured
// window (after the warmup). Output: one JSON line on stdout.
//
//   amqp_loadgen --port 5672 --queue q --queue-type quorum --producers 4
//       --consumers 4 --size 100 --window 500 --prefetch 1000 --duration-s 10

#include <amqp.h>
#include <amqp_framing.h>
#include <amqp_ssl_socket.h>
#include <amqp_tcp_socket.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <map>
#include <sys/resource.h>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

#include <CLI/CLI.hpp>
#include <nlohmann/json.hpp>

namespace {

struct Options {
  std::string host = "127.0.0.1";
  int port = 5672;
  std::string queue = "bench";
  std::string queue_type;  // "" = no x-queue-type argument
  int producers = 1, consumers = 1;
  size_t size = 100;
  int window = 1;
  int prefetch = 100;
  int ack_every = 1;
  double warmup_s = 1, duration_s = 10, drain_s = 10;
  uint64_t max_messages = 0;  // 0 = bounded by time only
  bool keep_queue = false;
  std::string label;
  std::string tls_ca;  // non-empty: AMQPS, verifying the server with this CA file
};

int64_t NowNs() {
  timespec ts{};
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return ts.tv_sec * 1000000000LL + ts.tv_nsec;
}

// What every thread adds to the report.
struct Totals {
  std::mutex mu;
  uint64_t published = 0, confirmed = 0, nacked = 0, unconfirmed = 0, consumed = 0;
  uint64_t confirm_frames = 0;  // basic.ack/nack frames: < confirmed when merged
  uint64_t published_all = 0, consumed_all = 0, consumed_in_window = 0;
  std::atomic<int> producers_left{0};
  std::vector<uint32_t> confirm_us, lag_us;
  std::vector<std::string> errors;
  void Error(const std::string& e) {
    std::lock_guard<std::mutex> l(mu);
    if (errors.size() < 20) errors.push_back(e);
  }
};

struct Clock {
  int64_t start_ns = 0, measure_ns = 0, stop_ns = 0, drain_ns = 0;
  bool Measured(int64_t t) const { return t >= measure_ns && t < stop_ns; }
};

std::string ReplyError(const char* what, amqp_rpc_reply_t r) {
  std::string s = what;
  if (r.reply_type == AMQP_RESPONSE_LIBRARY_EXCEPTION) return s + ": " + amqp_error_string2(r.library_error);
  if (r.reply_type == AMQP_RESPONSE_SERVER_EXCEPTION) {
    if (r.reply.id == AMQP_CONNECTION_CLOSE_METHOD || r.reply.id == AMQP_CHANNEL_CLOSE_METHOD) {
      auto* c = static_cast<amqp_channel_close_t*>(r.reply.decoded);  // same layout as connection.close
      return s + ": server closed " + std::to_string(c->reply_code) + " " +
             std::string(static_cast<char*>(c->reply_text.bytes), c->reply_text.len);
    }
    return s + ": server exception";
  }
  return s + ": no reply";
}

// A connection with channel 1 open; conn() is null when any step failed
// (the reason is in error()).
class Conn {
 public:
  explicit Conn(const Options& o) {
    conn_ = amqp_new_connection();
    amqp_socket_t* sock = nullptr;
    if (o.tls_ca.empty()) {
      sock = amqp_tcp_socket_new(conn_);
    } else {
      sock = amqp_ssl_socket_new(conn_);
      if (sock != nullptr && amqp_ssl_socket_set_cacert(sock, o.tls_ca.c_str()) != AMQP_STATUS_OK) {
        error_ = "cannot read --tls-ca " + o.tls_ca;
        return;
      }
      // The chain is verified; the name is not: librabbitmq 0.11 matches
      // DNS names only, and the benchmark connects to 127.0.0.1.
      if (sock != nullptr) amqp_ssl_socket_set_verify_hostname(sock, 0);
    }
    timeval tv{5, 0};
    amqp_set_handshake_timeout(conn_, &tv);
    amqp_set_rpc_timeout(conn_, &tv);
    if (sock == nullptr || amqp_socket_open_noblock(sock, o.host.c_str(), o.port, &tv) != AMQP_STATUS_OK) {
      error_ = "cannot connect to " + o.host + ":" + std::to_string(o.port);
      return;
    }
    amqp_rpc_reply_t r = amqp_login(conn_, "/", 0, 131072, 0, AMQP_SASL_METHOD_PLAIN, "guest", "guest");
    if (r.reply_type != AMQP_RESPONSE_NORMAL) {
      Fail(ReplyError("login", r));
      return;
    }
    amqp_channel_open(conn_, 1);
    if (!Ok("channel.open")) return;
    ok_ = true;
  }
  ~Conn() {
    if (ok_) {
      amqp_channel_close(conn_, 1, AMQP_REPLY_SUCCESS);
      amqp_connection_close(conn_, AMQP_REPLY_SUCCESS);
    }
    amqp_destroy_connection(conn_);
  }
  Conn(const Conn&) = delete;
  Conn& operator=(const Conn&) = delete;
  amqp_connection_state_t conn() const { return ok_ ? conn_ : nullptr; }
  const std::string& error() const { return error_; }
  // After an RPC-style call: true when it succeeded.
  bool Ok(const char* what) {
    amqp_rpc_reply_t r = amqp_get_rpc_reply(conn_);
    if (r.reply_type == AMQP_RESPONSE_NORMAL) return true;
    Fail(ReplyError(what, r));
    return false;
  }

 private:
  void Fail(std::string e) {
    ok_ = false;
    error_ = std::move(e);
  }
  amqp_connection_state_t conn_;
  bool ok_ = false;
  std::string error_;
};

uint32_t Micros(int64_t ns) { return static_cast<uint32_t>(std::min<int64_t>(ns / 1000, UINT32_MAX)); }

// Reads one frame, waiting at most wait_ms; false on timeout. A frame that
// is not a method is ignored by the callers.
int ReadFrame(amqp_connection_state_t c, amqp_frame_t* f, int wait_ms) {
  timeval tv{wait_ms / 1000, (wait_ms % 1000) * 1000};
  return amqp_simple_wait_frame_noblock(c, f, &tv);
}

void Producer(const Options& o, const Clock& clk, std::atomic<uint64_t>* budget, Totals* t) {
  Conn conn(o);
  amqp_connection_state_t c = conn.conn();
  if (c == nullptr) return t->Error("producer: " + conn.error());
  amqp_confirm_select(c, 1);
  if (!conn.Ok("confirm.select")) return t->Error("producer: " + conn.error());
  std::string body(std::max<size_t>(o.size, 8), 'x');
  amqp_basic_properties_t props{};
  props._flags = AMQP_BASIC_DELIVERY_MODE_FLAG | AMQP_BASIC_CONTENT_TYPE_FLAG;
  props.delivery_mode = 2;
  props.content_type = amqp_cstring_bytes("application/octet-stream");
  std::map<uint64_t, int64_t> outstanding;  // delivery tag -> publish time
  uint64_t next_tag = 1, published = 0, published_all = 0, confirmed = 0, nacked = 0, frames = 0;
  std::vector<uint32_t> lat;
  auto settle = [&](uint64_t tag, bool multiple, bool ack, int64_t now) {
    auto end = multiple ? outstanding.upper_bound(tag) : outstanding.find(tag);
    auto begin = multiple ? outstanding.begin() : end;
    if (!multiple && end != outstanding.end()) end = std::next(end);
    for (auto it = begin; it != end; ++it) {
      if (!clk.Measured(it->second)) continue;
      if (ack) {
        confirmed++;
        if (lat.size() < 5000000) lat.push_back(Micros(now - it->second));
      } else {
        nacked++;
      }
    }
    outstanding.erase(begin, end);
  };
  std::string err;
  for (;;) {
    int64_t now = NowNs();
    if (now >= clk.drain_ns || (now >= clk.stop_ns && outstanding.empty())) break;
    // Fill the window, then wait for confirms.
    while (now < clk.stop_ns && outstanding.size() < static_cast<size_t>(o.window)) {
      if (o.max_messages != 0) {  // take one message from the shared budget
        uint64_t b = budget->load();
        while (b > 0 && !budget->compare_exchange_weak(b, b - 1)) {
        }
        if (b == 0) break;
      }
      memcpy(body.data(), &now, sizeof now);
      if (amqp_basic_publish(c, 1, amqp_empty_bytes, amqp_cstring_bytes(o.queue.c_str()), 0, 0, &props,
                             amqp_bytes_t{body.size(), body.data()}) != AMQP_STATUS_OK) {
        err = "publish failed";
        break;
      }
      outstanding[next_tag++] = now;
      published_all++;
      if (clk.Measured(now)) published++;
      now = NowNs();
    }
    if (!err.empty()) break;
    if (outstanding.empty()) {  // nothing to wait for (budget spent or stopping)
      if (now >= clk.stop_ns || (o.max_messages != 0 && budget->load() == 0)) break;
      continue;
    }
    amqp_frame_t f;
    int rc = ReadFrame(c, &f, 100);
    while (rc == AMQP_STATUS_OK) {
      int64_t at = NowNs();
      if (f.frame_type == AMQP_FRAME_METHOD) {
        auto id = f.payload.method.id;
        if (id == AMQP_BASIC_ACK_METHOD || id == AMQP_BASIC_NACK_METHOD) frames++;
        if (id == AMQP_BASIC_ACK_METHOD) {
          auto* a = static_cast<amqp_basic_ack_t*>(f.payload.method.decoded);
          settle(a->delivery_tag, a->multiple, true, at);
        } else if (id == AMQP_BASIC_NACK_METHOD) {
          auto* n = static_cast<amqp_basic_nack_t*>(f.payload.method.decoded);
          settle(n->delivery_tag, n->multiple, false, at);
        } else if (id == AMQP_CHANNEL_CLOSE_METHOD || id == AMQP_CONNECTION_CLOSE_METHOD) {
          err = std::string("server closed: ") + amqp_method_name(id);
          break;
        }
      }
      if (!amqp_frames_enqueued(c) && !amqp_data_in_buffer(c)) break;
      rc = ReadFrame(c, &f, 0);
    }
    amqp_maybe_release_buffers(c);
    if (!err.empty()) break;
    if (rc != AMQP_STATUS_OK && rc != AMQP_STATUS_TIMEOUT) {
      err = std::string("read: ") + amqp_error_string2(rc);
      break;
    }
  }
  uint64_t unconfirmed = 0;
  for (auto& [tag, at] : outstanding) unconfirmed += clk.Measured(at) ? 1 : 0;
  if (!err.empty()) t->Error("producer: " + err);
  t->producers_left.fetch_sub(1);
  std::lock_guard<std::mutex> l(t->mu);
  t->published += published;
  t->published_all += published_all;
  t->confirmed += confirmed;
  t->nacked += nacked;
  t->confirm_frames += frames;
  t->unconfirmed += unconfirmed;
  t->confirm_us.insert(t->confirm_us.end(), lat.begin(), lat.end());
}

void Consumer(const Options& o, const Clock& clk, std::atomic<int>* ready, const std::atomic<bool>* go,
              Totals* t) {
  Conn conn(o);
  amqp_connection_state_t c = conn.conn();
  bool ok = c != nullptr;
  if (ok) {
    amqp_basic_qos(c, 1, 0, static_cast<uint16_t>(o.prefetch), 0);
    ok = conn.Ok("basic.qos");
  }
  if (ok) {
    amqp_basic_consume(c, 1, amqp_cstring_bytes(o.queue.c_str()), amqp_empty_bytes, 0, 0, 0, amqp_empty_table);
    ok = conn.Ok("basic.consume");
  }
  ready->fetch_add(1);
  if (!ok) return t->Error("consumer: " + conn.error());
  // clk is set once every consumer is ready; wait for it (bounded).
  for (int i = 0; i < 10000 && !go->load(std::memory_order_acquire); i++) {
    std::this_thread::sleep_for(std::chrono::milliseconds(1));
  }
  if (!go->load(std::memory_order_acquire)) return t->Error("consumer: never started");
  uint64_t consumed = 0, consumed_all = 0, consumed_in_window = 0, unacked = 0, last_tag = 0;
  std::vector<uint32_t> lag;
  std::string err;
  // Consumers go on until the producers' drain ends, so that what was
  // confirmed in the window can still be counted as consumed.
  while (NowNs() < clk.drain_ns) {
    amqp_envelope_t env;
    timeval tv{0, 100000};
    amqp_maybe_release_buffers(c);
    amqp_rpc_reply_t r = amqp_consume_message(c, &env, &tv, 0);
    if (r.reply_type == AMQP_RESPONSE_NORMAL) {
      int64_t now = NowNs(), sent = 0;
      if (env.message.body.len >= sizeof sent) memcpy(&sent, env.message.body.bytes, sizeof sent);
      consumed_all++;
      if (clk.Measured(now)) consumed_in_window++;
      if (clk.Measured(sent)) {
        consumed++;
        if (lag.size() < 5000000) lag.push_back(Micros(now - sent));
      }
      last_tag = env.delivery_tag;
      amqp_destroy_envelope(&env);
      if (++unacked >= static_cast<uint64_t>(o.ack_every)) {
        amqp_basic_ack(c, 1, last_tag, o.ack_every > 1);
        unacked = 0;
      }
      continue;
    }
    if (r.reply_type == AMQP_RESPONSE_LIBRARY_EXCEPTION && r.library_error == AMQP_STATUS_TIMEOUT) {
      if (unacked > 0) {  // idle: settle what is held
        amqp_basic_ack(c, 1, last_tag, true);
        unacked = 0;
      }
      // Idle with every producer finished: the queue is drained.
      if (t->producers_left.load() == 0 && NowNs() >= clk.start_ns) break;
      continue;
    }
    if (r.reply_type == AMQP_RESPONSE_LIBRARY_EXCEPTION && r.library_error == AMQP_STATUS_UNEXPECTED_STATE) {
      amqp_frame_t f;  // a method other than deliver: basic.cancel, close...
      if (ReadFrame(c, &f, 100) == AMQP_STATUS_OK && f.frame_type == AMQP_FRAME_METHOD &&
          f.payload.method.id != AMQP_BASIC_ACK_METHOD) {
        err = std::string("unexpected ") + amqp_method_name(f.payload.method.id);
        break;
      }
      continue;
    }
    err = ReplyError("consume", r);
    break;
  }
  if (unacked > 0 && err.empty()) amqp_basic_ack(c, 1, last_tag, true);
  if (!err.empty()) t->Error("consumer: " + err);
  std::lock_guard<std::mutex> l(t->mu);
  t->consumed += consumed;
  t->consumed_all += consumed_all;
  t->consumed_in_window += consumed_in_window;
  t->lag_us.insert(t->lag_us.end(), lag.begin(), lag.end());
}

// Declares a fresh durable queue (x-queue-type when given) and purges it.
bool Declare(const Options& o, std::string* error) {
  Conn conn(o);
  amqp_connection_state_t c = conn.conn();
  if (c == nullptr) return *error = "declare: " + conn.error(), false;
  amqp_table_entry_t arg{amqp_cstring_bytes("x-queue-type"), {}};
  arg.value.kind = AMQP_FIELD_KIND_UTF8;
  arg.value.value.bytes = amqp_cstring_bytes(o.queue_type.c_str());
  amqp_table_t args{o.queue_type.empty() ? 0 : 1, &arg};
  amqp_queue_declare(c, 1, amqp_cstring_bytes(o.queue.c_str()), 0, /*durable=*/1, 0, 0, args);
  if (!conn.Ok("queue.declare")) return *error = conn.error(), false;
  amqp_queue_purge(c, 1, amqp_cstring_bytes(o.queue.c_str()));
  if (!conn.Ok("queue.purge")) return *error = conn.error(), false;
  return true;
}

void DeleteQueue(const Options& o) {
  Conn conn(o);
  if (amqp_connection_state_t c = conn.conn()) {
    amqp_queue_delete(c, 1, amqp_cstring_bytes(o.queue.c_str()), 0, 0);
    conn.Ok("queue.delete");
  }
}

double Percentile(std::vector<uint32_t>* v, double q) {
  if (v->empty()) return -1;
  size_t i = std::min(v->size() - 1, static_cast<size_t>(q * static_cast<double>(v->size())));
  std::nth_element(v->begin(), v->begin() + static_cast<ptrdiff_t>(i), v->end());
  return (*v)[i] / 1000.0;
}

}  // namespace

int main(int argc, char** argv) {
  Options o;
  CLI::App app{"AMQP 0-9-1 load generator (publisher confirms + manual-ack consumers)"};
  app.add_option("--host", o.host);
  app.add_option("--port", o.port);
  app.add_option("--queue", o.queue);
  app.add_option("--queue-type", o.queue_type, "x-queue-type argument (classic|quorum); empty: none");
  app.add_option("--producers", o.producers)->check(CLI::Range(0, 64));
  app.add_option("--consumers", o.consumers)->check(CLI::Range(0, 64));
  app.add_option("--size", o.size, "message body bytes (>= 8)")->check(CLI::Range(8, 1 << 20));
  app.add_option("--window", o.window, "unconfirmed messages per producer")->check(CLI::Range(1, 100000));
  app.add_option("--prefetch", o.prefetch)->check(CLI::Range(0, 65535));
  app.add_option("--ack-every", o.ack_every, "consumer acks (multiple) every k messages")->check(CLI::Range(1, 10000));
  app.add_option("--warmup-s", o.warmup_s)->check(CLI::Range(0.0, 60.0));
  app.add_option("--duration-s", o.duration_s)->check(CLI::Range(0.1, 600.0));
  app.add_option("--drain-s", o.drain_s, "wait for last confirms/deliveries")->check(CLI::Range(0.1, 60.0));
  app.add_option("--max-messages", o.max_messages, "stop publishing after this many (0: time only)");
  app.add_flag("--keep-queue", o.keep_queue, "do not delete the queue at the end");
  app.add_option("--label", o.label, "copied into the JSON line");
  app.add_option("--tls-ca", o.tls_ca, "AMQP over TLS, verifying the server with this CA file");
  CLI11_PARSE(app, argc, argv);

  // Watchdog: whatever blocks, the process ends in bounded time.
  double limit_s = 15 + o.warmup_s + o.duration_s + o.drain_s + 15;
  std::thread([limit_s] {
    std::this_thread::sleep_for(std::chrono::duration<double>(limit_s));
    fprintf(stdout, "{\"error\":\"watchdog: still running after %.0f s\"}\n", limit_s);
    fflush(stdout);
    std::_Exit(3);
  }).detach();

  nlohmann::json out{{"label", o.label}, {"port", o.port}, {"queue_type", o.queue_type},
                     {"producers", o.producers}, {"consumers", o.consumers}, {"size", o.size},
                     {"window", o.window}, {"prefetch", o.prefetch}, {"ack_every", o.ack_every},
                     {"duration_s", o.duration_s}};
  std::string error;
  if (!Declare(o, &error)) {
    out["error"] = error;
    printf("%s\n", out.dump().c_str());
    return 1;
  }
  Totals t;
  Clock clk;
  std::atomic<int> ready{0};
  std::atomic<bool> go{false};
  std::atomic<uint64_t> budget{o.max_messages};
  std::vector<std::thread> threads;
  t.producers_left = o.producers;
  // Consumers first, each with its consume-ok, so none misses the start.
  for (int i = 0; i < o.consumers; i++) {
    threads.emplace_back(Consumer, std::cref(o), std::cref(clk), &ready, &go, &t);
  }
  for (int i = 0; i < 1000 && ready.load() < o.consumers; i++) std::this_thread::sleep_for(std::chrono::milliseconds(10));
  clk.start_ns = NowNs();
  clk.measure_ns = clk.start_ns + static_cast<int64_t>(o.warmup_s * 1e9);
  clk.stop_ns = clk.measure_ns + static_cast<int64_t>(o.duration_s * 1e9);
  clk.drain_ns = clk.stop_ns + static_cast<int64_t>(o.drain_s * 1e9);
  go.store(true, std::memory_order_release);
  for (int i = 0; i < o.producers; i++) threads.emplace_back(Producer, std::cref(o), std::cref(clk), &budget, &t);
  for (auto& th : threads) th.join();
  if (!o.keep_queue) DeleteQueue(o);

  double secs = o.duration_s;
  out["published"] = t.published;
  out["confirmed"] = t.confirmed;
  out["consumed"] = t.consumed;
  out["nacked"] = t.nacked;
  out["unconfirmed"] = t.unconfirmed;
  out["confirm_frames"] = t.confirm_frames;  // all of the run, warmup included
  out["published_all"] = t.published_all;
  out["consumed_all"] = t.consumed_all;
  out["published_per_s"] = t.published / secs;
  out["confirmed_per_s"] = t.confirmed / secs;
  out["consumed_in_window"] = t.consumed_in_window;
  // Consumed while the producers ran (after warmup): the rate to compare
  // with confirmed_per_s. `consumed` counts the window's messages however
  // late they were consumed.
  out["consumed_per_s"] = t.consumed_in_window / secs;
  out["confirm_p50_ms"] = Percentile(&t.confirm_us, 0.50);
  out["confirm_p99_ms"] = Percentile(&t.confirm_us, 0.99);
  out["confirm_max_ms"] = t.confirm_us.empty() ? -1.0 : *std::max_element(t.confirm_us.begin(), t.confirm_us.end()) / 1000.0;
  out["lag_p50_ms"] = Percentile(&t.lag_us, 0.50);
  out["lag_p99_ms"] = Percentile(&t.lag_us, 0.99);
  rusage ru{};
  getrusage(RUSAGE_SELF, &ru);  // is the client what limits? compare with the server's CPU
  out["loadgen_cpu_s"] = ru.ru_utime.tv_sec + ru.ru_stime.tv_sec + (ru.ru_utime.tv_usec + ru.ru_stime.tv_usec) / 1e6;
  out["errors"] = t.errors;
  printf("%s\n", out.dump().c_str());
  return t.errors.empty() ? 0 : 1;
}
