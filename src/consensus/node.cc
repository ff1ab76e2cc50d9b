#include "consensus/node.h"

#include "consensus/raft_c.h"
#include <spdlog/spdlog.h>
#include <sys/stat.h>

#include <cerrno>
#include <cstdlib>
#include <cstring>
#include <filesystem>

#include "common/check.h"
#include "consensus/apply_framed.h"
#include "consensus/entry_frame.h"
#include "consensus/fsm_adapter.h"
#include "consensus/leader_view.h"
#include "consensus/io_guard.h"
#include "consensus/raft_heap.h"
#include "consensus/peer_transport.h"

namespace lockq::consensus {

namespace {

constexpr unsigned kRoleWatchIntervalMs = 5;
// How soon libraft dials a peer again after a failed dial (its default: 1 s).
constexpr unsigned kConnectRetryDelayMs = 250;

Role ToRole(int state) {
  switch (state) {
    case RAFT_FOLLOWER: return Role::kFollower;
    case RAFT_CANDIDATE: return Role::kCandidate;
    case RAFT_LEADER: return Role::kLeader;
    default: return Role::kUnavailable;
  }
}

const char* ServerRoleName(int role) {
  switch (role) {
    case RAFT_VOTER: return "voter";
    case RAFT_STANDBY: return "standby";
    case RAFT_SPARE: return "spare";
    default: return "unknown";
  }
}

struct ApplyReq {
  struct raft_apply req {};
  Node::DoneCb done;
};

struct ChangeReq {
  struct raft_change req {};
  struct raft* raft = nullptr;
  uint64_t id = 0;
  Node::DoneCb done;
};

struct TransferReq {
  struct raft_transfer req {};
  struct raft* raft = nullptr;
  Node::DoneCb done;
};

}  // namespace

const char* RoleName(Role role) {
  switch (role) {
    case Role::kFollower: return "follower";
    case Role::kCandidate: return "candidate";
    case Role::kLeader: return "leader";
    default: return "unavailable";
  }
}

Status RaftError(int rv, const char* what) {
  std::string msg = std::string(what) + ": " + raft_strerror(rv);
  switch (rv) {
    case RAFT_NOTLEADER:
    case RAFT_LEADERSHIPLOST:
    case RAFT_SHUTDOWN:
    case RAFT_CANTCHANGE:
    case RAFT_BUSY:
    case RAFT_NOCONNECTION:
      return Status::Unavailable(msg);
    case RAFT_BADID:
    case RAFT_DUPLICATEID:
    case RAFT_DUPLICATEADDRESS:
    case RAFT_BADROLE:
    case RAFT_INVALID:
    case RAFT_TOOBIG:
      return Status::InvalidArgument(msg);
    case RAFT_NOTFOUND: return Status::NotFound(msg);
    case RAFT_CORRUPT:
    case RAFT_MALFORMED: return Status::Corruption(msg);
    case RAFT_NOMEM:
    case RAFT_NOSPACE:
    case RAFT_TOOMANY: return Status::ResourceExhausted(msg);
    default: return Status::IoError(msg);
  }
}

struct Node::Impl {
  Impl(Node* owner, uv_loop_t* l, Fsm* fsm, SnapshotPolicy policy)
      : node(owner), loop(l), adapter(fsm, policy) {}

  Node* node;
  uv_loop_t* loop;
  struct raft_io io {};
  struct raft raft {};
  FsmAdapter adapter;
  std::unique_ptr<IoGuard> guard;  // libraft 0.15 AppendEntries fixes (io_guard.h)
  std::unique_ptr<PeerTransport> transport;  // raft links on the peer endpoint
  uv_timer_t watch_timer {};
  bool raft_initialized = false;
  bool started = false;
  std::function<void()> on_stopped;
  Role last_role = Role::kUnavailable;
  uint64_t last_leader = 0;
  uint64_t last_term = 0;

  static void WatchCb(uv_timer_t* t) noexcept {
    auto* self = static_cast<Impl*>(t->data);
    Role role = ToRole(raft_state(&self->raft));
    raft_id leader_id = 0;
    const char* leader_addr = nullptr;
    raft_leader(&self->raft, &leader_id, &leader_addr);
    uint64_t term = self->raft.current_term;
    if (role == self->last_role && leader_id == self->last_leader && term == self->last_term) return;
    if (role == Role::kUnavailable && self->on_stopped == nullptr) {
      spdlog::critical("raft: node {} became unavailable: {}; exiting so it restarts from disk",
                       self->node->options_.id, raft_errmsg(&self->raft));
      spdlog::shutdown();
      std::_Exit(75);
    }
    if (role != self->last_role || leader_id != self->last_leader) {
      spdlog::info("raft: node {} is {} in term {}, leader {}", self->node->options_.id,
                   RoleName(role), term, leader_id);
    }
    self->last_role = role;
    self->last_leader = leader_id;
    self->last_term = term;
    if (self->node->on_role_change_) self->node->on_role_change_(role, leader_id, term);
  }

  // Between the IoGuard proxy and libraft: every incoming message passes
  // WaiveSilentLeader (leader_view.h) first. raft_init set io->data to the
  // raft, whose data is this Impl (both before raft_start calls start).
  raft_io_recv_cb libraft_recv = nullptr;
  int (*guard_start)(struct raft_io*, unsigned, raft_io_tick_cb, raft_io_recv_cb) = nullptr;

  static int StartCb(struct raft_io* io, unsigned msecs, raft_io_tick_cb tick, raft_io_recv_cb recv) noexcept {
    auto* self = static_cast<Impl*>(static_cast<struct raft*>(io->data)->data);
    self->libraft_recv = recv;
    return self->guard_start(io, msecs, tick, &Impl::RecvCb);
  }
  static void RecvCb(struct raft_io* io, struct raft_message* msg) noexcept {
    auto* r = static_cast<struct raft*>(io->data);
    WaiveSilentLeader(r, msg);
    static_cast<Impl*>(r->data)->libraft_recv(io, msg);
  }

  // libraft 0.15 answers a follower's finished disk append to its current
  // leader even when it has none (id 0, address NULL: a vote in a newer
  // term made it a follower with no leader yet while the append was on
  // disk), and the uv backend's strlen(NULL) kills the process. Messages
  // may be lost in Raft; this one has nobody to go to.
  int (*guard_send)(struct raft_io*, struct raft_io_send*, const struct raft_message*, raft_io_send_cb) = nullptr;

  static int SendCb(struct raft_io* io, struct raft_io_send* req, const struct raft_message* msg,
                    raft_io_send_cb cb) noexcept {
    if (msg->server_id == 0 || msg->server_address == nullptr) return RAFT_NOCONNECTION;
    auto* self = static_cast<Impl*>(static_cast<struct raft*>(io->data)->data);
    return self->guard_send(io, req, msg, cb);
  }

  static void RaftClosedCb(struct raft* r) noexcept {
    auto* self = static_cast<Impl*>(r->data);
    raft_uv_close(&self->io);
    if (self->on_stopped) {
      auto cb = std::move(self->on_stopped);
      cb();
    }
  }
};

Node::Node(uv_loop_t* loop, NodeOptions options, Fsm* fsm)
    : impl_(std::make_unique<Impl>(this, loop, fsm, options.snapshot)), options_(std::move(options)) {}

Node::~Node() = default;

Status Node::Start() {
  std::error_code ec;
  std::filesystem::create_directories(options_.data_dir, ec);
  if (ec) return Status::IoError("create " + options_.data_dir + ": " + ec.message());

  Impl& m = *impl_;
  if (options_.peers == nullptr) return Status::InvalidArgument("Node needs a peer endpoint");
  InstallRaftHeap();  // large snapshot buffers freed off the loop (raft_heap.h)
  m.transport = std::make_unique<PeerTransport>(m.loop, options_.peers);
  int rv = raft_uv_init(&m.io, m.loop, options_.data_dir.c_str(), m.transport->transport());
  if (rv != 0) return Status::IoError(std::string("raft disk I/O in ") + options_.data_dir + ": " + m.io.errmsg);
  // A failed dial (PeerOptions::connect_timeout_ms) is retried this soon
  // (libraft's default is 1 s), so a healed link is back within ~1 s.
  raft_uv_set_connect_retry_delay(&m.io, kConnectRetryDelayMs);
  m.guard = std::make_unique<IoGuard>(&m.io);
  // An InstallSnapshot is decoded on a worker while its file is written
  // (fsm_adapter.h): the follower's loop keeps serving.
  m.guard->SetInstallHook({[&m](const struct raft_buffer& data) { m.adapter.DecodeAhead(data); },
                           [&m] { m.adapter.InstallDone(); }});
  m.guard_start = m.guard->io()->start;
  m.guard->io()->start = &Impl::StartCb;
  m.guard_send = m.guard->io()->send;
  m.guard->io()->send = &Impl::SendCb;
  rv = raft_init(&m.raft, m.guard->io(), m.adapter.raft_fsm(m.guard->io()), options_.id, options_.address.c_str());
  if (rv != 0) return Status::IoError(std::string("raft init: ") + raft_errmsg(&m.raft));
  m.raft_initialized = true;
  m.raft.data = impl_.get();
  m.adapter.Attach(&m.raft);
  raft_set_heartbeat_timeout(&m.raft, options_.heartbeat_timeout_ms);
  raft_set_election_timeout(&m.raft, options_.election_timeout_ms);
  raft_set_pre_vote(&m.raft, true);
  raft_set_install_snapshot_timeout(&m.raft, options_.install_snapshot_timeout_ms);

  if (!options_.join) {
    struct raft_configuration conf;
    raft_configuration_init(&conf);
    std::vector<Peer> peers = options_.initial_cluster;
    if (peers.empty()) peers.push_back({options_.id, options_.address});
    bool self_listed = false;
    for (const Peer& p : peers) {
      self_listed |= p.id == options_.id;
      rv = raft_configuration_add(&conf, p.id, p.address.c_str(), RAFT_VOTER);
      if (rv != 0) {
        raft_configuration_close(&conf);
        return RaftError(rv, "initial cluster");
      }
    }
    if (!self_listed) {
      raft_configuration_close(&conf);
      return Status::InvalidArgument("--initial-cluster does not list this node's --node-id");
    }
    rv = raft_bootstrap(&m.raft, &conf);
    raft_configuration_close(&conf);
    // CANTBOOTSTRAP: the data dir already holds state; start from it.
    if (rv != 0 && rv != RAFT_CANTBOOTSTRAP) return RaftError(rv, "bootstrap");
  }

  rv = raft_start(&m.raft);
  if (rv != 0) {
    // libraft 0.15 sometimes leaves its own message empty; the I/O
    // backend's (e.g. a raft port already in use) is the useful one.
    return Status::IoError("raft start on " + options_.address + " with data in " + options_.data_dir + ": " +
                           raft_strerror(rv) + ": " + raft_errmsg(&m.raft) + " " + m.io.errmsg);
  }
  m.started = true;

  uv_timer_init(m.loop, &m.watch_timer);
  m.watch_timer.data = impl_.get();
  uv_timer_start(&m.watch_timer, &Impl::WatchCb, kRoleWatchIntervalMs, kRoleWatchIntervalMs);
  return Status::Ok();
}

void Node::Stop(std::function<void()> done) {
  Impl& m = *impl_;
  if (!m.raft_initialized) {
    if (done) done();
    return;
  }
  if (m.started) uv_close(reinterpret_cast<uv_handle_t*>(&m.watch_timer), nullptr);
  m.on_stopped = done ? std::move(done) : [] {};
  raft_close(&m.raft, &Impl::RaftClosedCb);
}

Result<uint64_t> Node::Propose(std::string_view entry, DoneCb done) {
  Impl& m = *impl_;
  if (raft_state(&m.raft) != RAFT_LEADER) return Status::Unavailable("not the leader");
  if (entry.size() > UINT32_MAX) return Status::InvalidArgument("entry too large");
  auto* req = new ApplyReq;
  req->req.data = req;
  req->done = std::move(done);
  int rv = ApplyFramed(&m.raft, &req->req, entry, [](struct raft_apply* r, int status, void*) noexcept {
    auto* ar = static_cast<ApplyReq*>(r->data);
    if (ar->done) ar->done(status == 0 ? Status::Ok() : RaftError(status, "apply"));
    delete ar;
  });
  if (rv != 0) {
    delete req;
    return rv == RAFT_NOMEM ? Status::ResourceExhausted("out of memory") : RaftError(rv, "propose");
  }
  return static_cast<uint64_t>(req->req.index);
}

Status Node::Transfer(uint64_t id, DoneCb done) {
  Impl& m = *impl_;
  // libraft's own pick may be a dead voter (leader_view.h); ours is the
  // most up-to-date one that answers.
  if (id == 0 && raft_state(&m.raft) == RAFT_LEADER) {
    id = TransfereeOf(&m.raft);
    if (id == 0) return Status::NotFound("transfer: no other voter to hand leadership to");
  }
  auto* req = new TransferReq;
  req->req.data = req;
  req->raft = &m.raft;
  req->done = std::move(done);
  int rv = raft_transfer(&m.raft, &req->req, id, [](struct raft_transfer* t) noexcept {
    auto* tr = static_cast<TransferReq*>(t->data);
    // Moved: a follower that knows a leader. Not UNAVAILABLE: raft_close
    // also ends a pending transfer.
    raft_id leader = 0;
    const char* addr = nullptr;
    raft_leader(tr->raft, &leader, &addr);
    bool moved = raft_state(tr->raft) == RAFT_FOLLOWER && leader != 0;
    if (tr->done) tr->done(moved ? Status::Ok() : Status::Unavailable("leadership transfer did not complete"));
    delete tr;
  });
  if (rv != 0) {
    delete req;
    return RaftError(rv, "transfer");
  }
  return Status::Ok();
}

Status Node::AddVoter(uint64_t id, const std::string& address, DoneCb done) {
  Impl& m = *impl_;
  auto* req = new ChangeReq;
  req->req.data = req;
  req->raft = &m.raft;
  req->id = id;
  req->done = std::move(done);
  int rv = raft_add(&m.raft, &req->req, id, address.c_str(), [](struct raft_change* c, int status) noexcept {
    auto* cr = static_cast<ChangeReq*>(c->data);
    if (status != 0) {
      if (cr->done) cr->done(RaftError(status, "add server"));
      delete cr;
      return;
    }
    // Second step: promote to voter; libraft first catches the server up.
    int rv2 = raft_assign(cr->raft, &cr->req, cr->id, RAFT_VOTER, [](struct raft_change* c2, int st) noexcept {
      auto* cr2 = static_cast<ChangeReq*>(c2->data);
      if (cr2->done) cr2->done(st == 0 ? Status::Ok() : RaftError(st, "promote to voter"));
      delete cr2;
    });
    if (rv2 != 0) {
      if (cr->done) cr->done(RaftError(rv2, "promote to voter"));
      delete cr;
    }
  });
  if (rv != 0) {
    delete req;
    return RaftError(rv, "add server");
  }
  return Status::Ok();
}

Status Node::Remove(uint64_t id, DoneCb done) {
  Impl& m = *impl_;
  auto* req = new ChangeReq;
  req->req.data = req;
  req->done = std::move(done);
  int rv = raft_remove(&m.raft, &req->req, id, [](struct raft_change* c, int status) noexcept {
    auto* cr = static_cast<ChangeReq*>(c->data);
    if (cr->done) cr->done(status == 0 ? Status::Ok() : RaftError(status, "remove server"));
    delete cr;
  });
  if (rv != 0) {
    delete req;
    return RaftError(rv, "remove server");
  }
  return Status::Ok();
}

bool Node::is_leader() const { return raft_state(&impl_->raft) == RAFT_LEADER; }

std::vector<std::pair<uint64_t, bool>> Node::VoterContacts() const { return VoterContactsOf(&impl_->raft); }

uint64_t Node::term() const { return impl_->raft.current_term; }

uint64_t Node::leader_id() const {
  raft_id id = 0;
  const char* addr = nullptr;
  raft_leader(&impl_->raft, &id, &addr);
  return id;
}

NodeStatus Node::GetStatus() const {
  const Impl& m = *impl_;
  auto* r = const_cast<struct raft*>(&m.raft);
  NodeStatus s;
  s.id = options_.id;
  s.address = options_.address;
  if (!m.started) return s;
  s.role = ToRole(raft_state(r));
  s.term = r->current_term;
  s.commit_index = r->commit_index;
  s.applied_index = raft_last_applied(r);
  s.last_index = raft_last_index(r);
  s.snapshot_index = r->log.snapshot.last_index;
  raft_id leader = 0;
  const char* leader_addr = nullptr;
  raft_leader(r, &leader, &leader_addr);
  s.leader_id = leader;
  s.leader_address = leader_addr ? leader_addr : "";
  s.snapshots_taken = m.adapter.snapshots_taken();
  s.snapshots_restored = m.adapter.snapshots_restored();
  s.snapshots_decoded_ahead = m.adapter.restores_decoded_ahead();
  for (unsigned i = 0; i < r->configuration.n; i++) {
    const struct raft_server& srv = r->configuration.servers[i];
    s.members.push_back({srv.id, srv.address, ServerRoleName(srv.role)});
  }
  return s;
}

}  // namespace lockq::consensus
