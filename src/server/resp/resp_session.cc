#include "server/resp/resp_session.h"

#include <spdlog/spdlog.h>

#include "server/errors.h"
#include "server/resp/resp_server.h"

namespace lockq::server {

namespace {

resp::ParserLimits ToParserLimits(const Limits& l) {
  resp::ParserLimits p;
  p.max_bulk_bytes = l.max_bulk_bytes;
  p.max_args = l.max_args;
  p.max_inline_bytes = l.max_inline_bytes;
  return p;
}

}  // namespace

RespSession::RespSession(RespServer* server, uint64_t id, std::shared_ptr<net::StreamConnection> stream)
    : server_(server), id_(id), stream_(std::move(stream)), parser_(ToParserLimits(server->limits())) {}

RespSession::~RespSession() = default;

void RespSession::Start() {
  peer_ = stream_->PeerName();
  stream_->Start(this);
}

void RespSession::Fill(uint64_t slot, const sm::Reply& reply) {
  if (stream_->closed()) return;
  std::string bytes;
  resp::WriteReply(reply, protocol_, &bytes);
  stream_->Fill(slot, std::move(bytes));
}

bool RespSession::FillDeferred(uint64_t slot, const sm::Reply& reply) {
  if (deferred_.erase(slot) == 0) return false;
  Fill(slot, reply);
  return true;
}

void RespSession::OnOutputLimit() {
  spdlog::warn("client {} ({}) exceeded {} bytes of unsent replies; disconnecting", id_, peer_,
               server_->limits().max_output_bytes);
  server_->stats().output_limit_disconnects++;
}

void RespSession::OnClosed() { server_->Forget(id_); }  // may free this

size_t RespSession::OnInput(std::string_view buffered) {
  auto keep = shared_from_this();
  size_t pos = 0;
  while (!stream_->closing() && pos < buffered.size()) {
    if (stream_->PauseReading()) break;
    sm::Argv argv;
    resp::ParseResult r = parser_.Parse(buffered.substr(pos), &argv);
    if (r.kind == resp::ParseResult::Kind::kNeedMore) {
      // Each argument and the argument count are bounded by the parser;
      // this bounds their product: one command still being received.
      if (buffered.size() - pos > server_->limits().max_query_bytes) {
        server_->stats().protocol_errors++;
        Fill(ReserveSlot(), sm::Reply::Error(kErrQueryLimit));
        CloseAfterReplies();
      }
      break;
    }
    if (r.kind == resp::ParseResult::Kind::kError) {
      server_->stats().protocol_errors++;
      Fill(ReserveSlot(), sm::Reply::Error("ERR " + r.error));
      CloseAfterReplies();
      break;
    }
    pos += r.consumed;
    commands_processed_++;
    server_->stats().commands_processed++;
    uint64_t slot = ReserveSlot();
    server_->Dispatch(keep, std::move(argv), slot);
  }
  return pos;
}

}  // namespace lockq::server
