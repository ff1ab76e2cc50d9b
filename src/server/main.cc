// lockqd: parses flags, starts the Raft node and the listeners on one libuv
// loop, and shuts down cleanly on SIGINT/SIGTERM (a leader hands leadership
// over first: server/handoff.h).

#include <signal.h>
#include <spdlog/sinks/stdout_color_sinks.h>
#include <spdlog/spdlog.h>
#include <uv.h>

#include "server/amqp/amqp_server.h"
#include "server/config.h"
#include "server/core.h"
#include "server/handoff.h"
#include "server/resp/resp_server.h"

namespace {

struct Daemon {
  uv_loop_t* loop = nullptr;
  lockq::server::Core* core = nullptr;
  lockq::server::RespServer* resp = nullptr;
  lockq::server::AmqpServer* amqp = nullptr;
  uv_signal_t sigint {};
  uv_signal_t sigterm {};
  uv_timer_t close_timer {};
  bool stopping = false;
};

void CloseFrontEnds(uv_timer_t* t) noexcept {
  auto* d = static_cast<Daemon*>(t->data);
  uv_close(reinterpret_cast<uv_handle_t*>(t), nullptr);
  if (d->resp) d->resp->Close();
  if (d->amqp) d->amqp->Close();
}

// After the hand-off (or at once on a follower): the dispatcher answers
// every request still unanswered (TRYAGAIN "server shutting down", or
// "outcome unknown" for one already forwarded) and raft closes; the client
// connections close one loop turn later, after those answers were flushed
// at the end of this one, so a client reads why instead of a bare EOF.
void StopAfterHandOff(Daemon* d) {
  d->core->Stop([] { spdlog::info("raft closed"); });
  uv_timer_init(d->loop, &d->close_timer);
  d->close_timer.data = d;
  uv_timer_start(&d->close_timer, &CloseFrontEnds, 0, 0);
}

void OnSignal(uv_signal_t* h, int signum) noexcept {
  auto* d = static_cast<Daemon*>(h->data);
  if (d->stopping) return;
  d->stopping = true;
  spdlog::info("signal {}: shutting down", signum);
  uv_close(reinterpret_cast<uv_handle_t*>(&d->sigint), nullptr);
  uv_close(reinterpret_cast<uv_handle_t*>(&d->sigterm), nullptr);
  // A leader hands over first, so the cluster need not wait an election
  // timeout (server/handoff.h); bounded by about one election timeout.
  unsigned bound_ms = d->core->config().election_timeout_ms + 2 * d->core->config().heartbeat_timeout_ms;
  lockq::server::HandOffLeadership(d->loop, d->core->node(), bound_ms, [d] { StopAfterHandOff(d); });
}

}  // namespace

int main(int argc, char** argv) {
  int exit_code = 0;
  auto config = lockq::server::ParseConfig(argc, argv, &exit_code);
  if (!config.ok()) return exit_code;
  spdlog::set_default_logger(spdlog::stderr_color_mt("lockqd"));  // logs to stderr, as daemons do
  spdlog::set_level(spdlog::level::from_str(config->log_level));
  spdlog::set_pattern("%Y-%m-%dT%H:%M:%S.%e %^%l%$ [node " + std::to_string(config->node_id) + "] %v");
  signal(SIGPIPE, SIG_IGN);
  if (config->limits.no_leader_timeout_ms <= config->election_timeout_ms) {
    // docs/architecture.md, "Forwarded commands": the bound on late applies
    // assumes a pause longer than it also triggers an election.
    spdlog::warn("--no-leader-timeout-ms ({}) should exceed --election-timeout-ms ({})",
                 config->limits.no_leader_timeout_ms, config->election_timeout_ms);
  }

  // TLS for clients (--tls-*), loaded before raft starts so that a bad file
  // fails fast; one context serves both TLS ports and re-reads its files
  // for new connections when they change.
  auto tls = config->tls.Load([](const std::string& e) { spdlog::error("{}", e); });
  if (!tls.ok()) {
    spdlog::error("{}", tls.status().message());
    return 1;
  }

  uv_loop_t* loop = uv_default_loop();
  lockq::server::Core core(loop, config.value());
  lockq::Status s = core.Start();
  if (!s.ok()) {
    spdlog::error("cannot start raft: {}", s.ToString());
    return 1;
  }
  // Always, even with neither --resp-port nor --tls-port: the RESP server
  // also serves the forward links followers open on the raft port
  // (net/peer_link.h), and without it they would answer TRYAGAIN forever.
  // It listens only on the client ports that are configured.
  auto resp = std::make_unique<lockq::server::RespServer>(loop, &core, config.value(), tls.value());
  s = resp->Listen();
  if (!s.ok()) {
    spdlog::error("{}", s.ToString());
    return 1;
  }
  std::unique_ptr<lockq::server::AmqpServer> amqp;
  if (config->amqp_port != 0 || config->tls.amqps_port > 0) {
    amqp = std::make_unique<lockq::server::AmqpServer>(loop, &core, config.value(), lockq::SystemClock(),
                                                       tls.value());
    s = amqp->Listen();
    if (!s.ok()) {
      spdlog::error("{}", s.ToString());
      return 1;
    }
  }
  spdlog::info("lockqd node {} started: data in {}, raft at {}", config->node_id, config->data_dir,
               config->raft_addr);

  Daemon d;
  d.loop = loop;
  d.core = &core;
  d.resp = resp.get();
  d.amqp = amqp.get();
  for (auto [h, sig] : {std::pair{&d.sigint, SIGINT}, std::pair{&d.sigterm, SIGTERM}}) {
    uv_signal_init(loop, h);
    h->data = &d;
    uv_signal_start(h, &OnSignal, sig);
  }
  uv_run(loop, UV_RUN_DEFAULT);
  return 0;
}
