#include "server/forwarder.h"

#include <spdlog/spdlog.h>

#include <unistd.h>

#include <algorithm>

#include "server/errors.h"

namespace lockq::server {

// One connection to the leader: a session on a net::StreamConnection, which
// owns the socket. Freed by the connection's close hook, so a link Reset()
// detached stays valid for the callbacks still owed to it.
struct Forwarder::Link : net::StreamSession {
  Forwarder* owner = nullptr;  // null once detached by Reset()
  std::shared_ptr<net::StreamConnection> conn;
  std::shared_ptr<net::PeerDial> dial;  // until the handshake is done
  bool connected = false;
  resp::ReplyParser parser;

  size_t OnInput(std::string_view buffered) override;
  // The leader closed the link or it failed: what was sent has no answer.
  void OnClosed() override {
    if (owner != nullptr && owner->link_ == this) owner->Reset(kErrLeaderUnreachable);
  }
};

namespace {

constexpr size_t kForwardChunkBytes = 1 << 20;

}  // namespace

Forwarder::Forwarder(uv_loop_t* loop, net::PeerEndpoint* peers, AddressOf peer_address, RequeueCb requeue,
                     const Clock& clock)
    : loop_(loop), peers_(peers), peer_address_(std::move(peer_address)), requeue_(std::move(requeue)), clock_(clock) {}

Forwarder::~Forwarder() { Reset(kErrShutdownOutcomeUnknown, false); }

size_t Forwarder::outstanding() const {
  size_t n = queued_.size();
  for (const auto& b : sent_) n += b.cbs.size();
  return n;
}

size_t Forwarder::ExpireDeadlines() {
  uint64_t now = clock_.MonotonicMs();
  // Never sent: those past their deadline leave the queue before any
  // callback runs (a callback may Send() again).
  auto due = std::stable_partition(queued_.begin(), queued_.end(),
                                   [now](const Queued& q) { return q.deadline_ms > now; });
  std::vector<Queued> expired(std::make_move_iterator(due), std::make_move_iterator(queued_.end()));
  queued_.erase(due, queued_.end());
  // Sent and unanswered at a deadline: abort the link, so that nothing on
  // it can still reach the leader (unsent commands are requeued).
  size_t answered = expired.size();
  bool abort = std::any_of(sent_.begin(), sent_.end(), [now](const Sent& s) { return s.deadline_ms <= now; });
  if (abort) {
    answered += outstanding() - queued_.size();
    spdlog::warn("forward: no answer from the leader at {} within the deadline; aborting the link", addr_);
    Reset(kErrLeaderUnreachable);
  }
  for (Queued& q : expired) q.cb(sm::Reply::Error(kErrLeaderUnreachableNotSent));
  return answered;
}

void Forwarder::Send(uint64_t leader, sm::Argv argv, ReplyCb cb, uint64_t deadline_ms) {
  if (leader != leader_) {
    Reset(kErrLeaderChanged);
    leader_ = leader;
  }
  queued_.push_back(Queued{std::move(argv), std::move(cb), deadline_ms});
}

void Forwarder::Reset(const std::string& reason, bool requeue_unsent) {
  if (link_ != nullptr) {
    // Abortive close (RST): the kernel drops what it still holds for the
    // leader instead of retransmitting it until a cut link heals.
    link_->owner = nullptr;
    if (link_->dial != nullptr) link_->dial->Cancel();
    link_->conn->Abort();
    link_ = nullptr;
  }
  auto sent = std::move(sent_);
  sent_.clear();
  auto queued = std::move(queued_);
  queued_.clear();
  for (auto& batch : sent) {
    for (auto& cb : batch.cbs) cb(sm::Reply::Error(reason));
  }
  for (Queued& q : queued) {
    if (requeue_unsent && requeue_) requeue_(std::move(q.argv), std::move(q.cb), q.deadline_ms);
    else q.cb(sm::Reply::Error(reason));
  }
}

void Forwarder::Connect() {
  addr_ = peer_address_ ? peer_address_(leader_) : std::string();
  if (addr_.empty()) {
    Reset("ERR no raft address known for leader " + std::to_string(leader_));
    return;
  }
  auto* link = new Link;
  link->owner = this;
  // No output slots (replies are matched to sent_ in order) and no
  // per-turn flush: Flush() writes at once. Every way the link ends is
  // abortive (docs/architecture.md, "Forwarded commands").
  net::StreamConnection::Options options;
  options.abort_on_error = true;
  link->conn = std::make_shared<net::StreamConnection>(loop_, nullptr, options);
  link->conn->set_close_hook([link] { delete link; });
  link_ = link;
  // Reset() cancels the dial before the link can be freed.
  link->dial = peers_->Dial(addr_, net::PeerChannel::kForward, [link](Status st, net::PeerLink peer) {
    link->dial = nullptr;
    Forwarder* self = link->owner;
    if (self == nullptr) {
      if (peer.fd >= 0) ::close(peer.fd);
      return;
    }
    if (st.ok()) st = link->conn->Open(peer.fd);
    if (!st.ok()) {
      spdlog::warn("forward: cannot reach leader {} at {}: {}", self->leader_, self->addr_, st.ToString());
      self->Reset(kErrLeaderUnreachable);
      return;
    }
    link->connected = true;
    link->conn->Start(link);
    self->Flush();
  });
}

void Forwarder::Flush() {
  if (queued_.empty()) return;
  if (link_ == nullptr) {
    Connect();
    return;  // ConnectCb flushes
  }
  if (!link_->connected) return;
  // One LOCKQ.FORWARD per chunk of at most kForwardChunkBytes (a single
  // larger command goes alone): its argument must stay under the leader's
  // --max-bulk-bytes. Core already refused commands above max_batch_bytes.
  std::string out;
  std::vector<sm::Argv> chunk;
  Sent batch{{}, UINT64_MAX};
  size_t chunk_bytes = 0;
  auto end_chunk = [&] {
    resp::WriteCommand({"LOCKQ.FORWARD", sm::EncodeArgvList(chunk)}, &out);
    forwarded_ += chunk.size();
    sent_.push_back(std::move(batch));
    chunk.clear();
    batch = Sent{{}, UINT64_MAX};
    chunk_bytes = 0;
  };
  for (Queued& q : queued_) {
    size_t bytes = sm::EncodedArgvBytes(q.argv);
    if (!chunk.empty() && chunk_bytes + bytes > kForwardChunkBytes) end_chunk();
    chunk_bytes += bytes;
    chunk.push_back(std::move(q.argv));
    batch.cbs.push_back(std::move(q.cb));
    batch.deadline_ms = std::min(batch.deadline_ms, q.deadline_ms);
  }
  end_chunk();
  queued_.clear();
  // A failed write closes the link, and its OnClosed resets.
  link_->conn->WriteNow(std::move(out));
}

size_t Forwarder::Link::OnInput(std::string_view buffered) {
  size_t pos = 0;
  while (owner != nullptr && owner->link_ == this && pos < buffered.size()) {
    sm::Reply reply;
    resp::ParseResult r = parser.Parse(buffered.substr(pos), &reply);
    if (r.kind == resp::ParseResult::Kind::kNeedMore) break;
    if (r.kind == resp::ParseResult::Kind::kError) {
      owner->Reset("ERR bad reply from leader: " + r.error);
      break;
    }
    pos += r.consumed;
    owner->OnReply(reply);
  }
  return pos;
}

void Forwarder::OnReply(const sm::Reply& reply) {
  if (sent_.empty()) {
    Reset("ERR unexpected reply from leader");
    return;
  }
  std::vector<ReplyCb> cbs = std::move(sent_.front().cbs);
  sent_.pop_front();
  if (reply.kind == sm::Reply::Kind::kError) {
    for (auto& cb : cbs) cb(reply);
    return;
  }
  auto replies = reply.kind == sm::Reply::Kind::kBulk ? sm::DecodeReplies(reply.str)
                                                     : Result<std::vector<sm::Reply>>(Status::Corruption("not bulk"));
  if (!replies.ok() || replies->size() != cbs.size()) {
    for (auto& cb : cbs) cb(sm::Reply::Error("ERR malformed forward reply from leader"));
    return;
  }
  for (size_t i = 0; i < cbs.size(); i++) cbs[i](std::move((*replies)[i]));
}

}  // namespace lockq::server
