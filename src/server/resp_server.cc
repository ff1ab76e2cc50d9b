#include "server/resp_server.h"

#include <spdlog/spdlog.h>

#include <algorithm>

#include "server/connection.h"
#include "server/core.h"
#include "server/errors.h"
#include "server/forwarder.h"
#include "server/local_commands.h"
#include "sm/state_machine.h"

namespace lockq::server {

RespServer::RespServer(uv_loop_t* loop, Core* core, const Config& config)
    : loop_(loop), core_(core), config_(config) {}

RespServer::~RespServer() = default;

Status RespServer::Listen() {
  started_ms_ = WallClockMs();
  core_->AddEventsListener([this](const sm::Events& events) { OnEvents(events); });
  core_->AddRevokedListener([this] {  // declared down while cut off (docs/queues.md)
    auto conns = conns_;
    for (auto& [id, c] : conns) c->CloseNow();
  });
  std::string addr;
  Status s = ListenTcp(loop_, &listener_, this, config_.bind, config_.resp_port, &RespServer::AcceptCb, &addr);
  if (!s.ok()) return s;
  listening_ = true;
  uv_check_init(loop_, &flush_);
  flush_.data = this;
  uv_check_start(&flush_, &RespServer::CheckCb);
  uv_timer_init(loop_, &backstop_timer_);
  backstop_timer_.data = this;
  uv_timer_start(&backstop_timer_, &RespServer::BackstopCb, 100, 100);
  spdlog::info("resp: listening on {}", addr);
  return Status::Ok();
}

void RespServer::Close() {
  if (!listening_) return;
  listening_ = false;
  uv_close(reinterpret_cast<uv_handle_t*>(&listener_), nullptr);
  uv_check_stop(&flush_);
  uv_close(reinterpret_cast<uv_handle_t*>(&flush_), nullptr);
  uv_close(reinterpret_cast<uv_handle_t*>(&backstop_timer_), nullptr);
  auto conns = conns_;
  for (auto& [id, c] : conns) c->CloseNow();
}

void RespServer::AcceptCb(uv_stream_t* listener, int status) noexcept {
  auto* self = static_cast<RespServer*>(listener->data);
  if (status != 0) return;
  auto conn = std::make_shared<Connection>(self, self->next_id_++);
  uv_tcp_init(self->loop_, conn->tcp());
  conn->tcp()->data = conn.get();
  if (uv_accept(listener, reinterpret_cast<uv_stream_t*>(conn->tcp())) != 0) {
    conn->self_ref_ = conn;  // the handle lives in conn: keep it until closed
    uv_close(reinterpret_cast<uv_handle_t*>(conn->tcp()), [](uv_handle_t* h) {
      auto ref = std::move(static_cast<Connection*>(h->data)->self_ref_);
    });
    return;
  }
  uv_tcp_nodelay(conn->tcp(), 1);
  self->conns_[conn->id()] = conn;
  conn->Start();
  if (self->conns_.size() > self->config_.limits.max_clients) {
    self->stats_.connections_rejected++;
    conn->Fill(conn->ReserveSlot(), sm::Reply::Error(kErrMaxClients));
    conn->CloseAfterReplies();
    return;
  }
  self->stats_.connections_accepted++;
}

void RespServer::Forget(uint64_t id) {
  auto it = conns_.find(id);
  if (it == conns_.end()) return;
  Connection& c = *it->second;
  // Requests still waiting for a lock leave their queues.
  for (uint64_t slot : c.deferred()) ProposeCancel(RefOf(id, slot));
  if (c.used_queues()) core_->SubmitCleanup(core_->WrapAs(id, 0, {"Q.DISCONNECT"}));
  auto watching = c.watching();
  for (const std::string& election : watching) Unobserve(c, election);
  conns_.erase(it);
}

void RespServer::MarkDirty(Connection* conn) { dirty_.push_back(conn->weak_from_this()); }

void RespServer::CheckCb(uv_check_t* h) noexcept {
  auto* self = static_cast<RespServer*>(h->data);
  if (self->dirty_.empty()) return;
  auto dirty = std::move(self->dirty_);
  self->dirty_.clear();
  for (auto& w : dirty) {
    if (auto c = w.lock()) c->FlushOutput();
  }
}

void RespServer::Dispatch(const std::shared_ptr<Connection>& conn, sm::Argv argv, uint64_t slot) {
  if (argv.empty()) {
    conn->Fill(slot, sm::Reply::Error("ERR empty command"));
    return;
  }
  if (RunLocalCommand(*this, conn, argv, slot)) return;
  if (auto err = sm::StateMachine::Precheck(argv, /*from_client=*/true)) {
    conn->Fill(slot, *err);
    return;
  }
  const sm::CommandSpec* spec = sm::StateMachine::FindCommand(argv[0]);
  if (spec->flags & sm::kCmdClientRef) {
    SubmitWithClient(conn, std::move(argv), slot);
    return;
  }
  if (spec->flags & sm::kCmdChannelRef) {
    SubmitForChannel(conn, std::move(argv), slot);
    return;
  }
  std::weak_ptr<Connection> weak = conn;
  core_->Submit(std::move(argv), [weak, slot](sm::Reply reply) {
    if (auto c = weak.lock()) c->Fill(slot, reply);
  });
}

}  // namespace lockq::server
