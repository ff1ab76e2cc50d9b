#include "testlib/sim_cluster.h"

// libraft 0.15's headers have no extern "C" guards.
extern "C" {
#include <raft.h>
#include <raft/fixture.h>
}

#include <algorithm>
#include <cstdint>
#include <map>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <sstream>

#include "common/check.h"
#include "consensus/apply_framed.h"
#include "consensus/io_guard.h"
#include "testlib/sim_internal.h"

namespace lockq::testing {

using sim_internal::kTraceMax;
using sim_internal::LogEntryAt;
using sim_internal::Who;

namespace {

constexpr unsigned kDefaultDiskLatencyMs = 10;     // the fixture's defaults
constexpr unsigned kDefaultNetworkLatencyMs = 15;
constexpr unsigned kDefaultElectionTimeoutMs = 1000;

}  // namespace

namespace sim_internal {

const struct raft_entry* LogEntryAt(const struct raft_log& log, uint64_t index) {
  if (log.size == 0) return nullptr;
  size_t n = log.back >= log.front ? log.back - log.front : log.size - log.front + log.back;
  if (index <= log.offset || index > log.offset + n) return nullptr;
  size_t slot = (log.front + static_cast<size_t>(index - log.offset - 1)) % log.size;
  return &log.entries[slot];
}

}  // namespace sim_internal

// ---- StubIo: the harness's patches to raft_fixture's in-memory io ---------------
//
// Two libraft 0.15 defects turn the fixture's own fault tools into heap
// corruption, so SimCluster patches the fixture io's method table (the io
// guard, when installed, forwards to this table and goes through it too):
//
// 1. ioMethodTruncate (src/fixture.c) assumes the stub's "persisted" array
//    starts at index 1 and keeps index - 1 slots. After an InstallSnapshot the
//    stub's snapshot_put (trailing 0) empties the array and later appends fill
//    slot 0 with index snapshot + 1, so the next truncate on that follower (a
//    new leader overwriting a conflicting tail) memcpy's past the array and
//    records a count it does not have: later frees hit garbage ("double free
//    or corruption", crashes inside raft_fixture_close). The stub never reads
//    that array back (the fixture cannot restart a server; io->load runs only
//    in raft_start), so every truncate becomes truncate(1): always in bounds,
//    the unread copy is dropped.
//
// 2. raft_fixture_io_fault fails the Nth io call synchronously, whatever it
//    is, and several of libraft 0.15's synchronous error paths while it
//    handles an incoming AppendEntries free the message's entry batch twice or
//    leave it referenced: replicationAppend puts the entries into the
//    in-memory log, then io->append fails and recvMessage frees their batch
//    (dangling log entries); recvAppendEntries frees the batch before sending
//    its reply, and when io->send fails recvMessage frees it again (double
//    free). So SimCluster injects io faults itself, with the same
//    countdown/repeat semantics, on set_term, set_vote, truncate, send and a
//    LEADER's append (raft_apply then fails cleanly), but never while the
//    server handles an AppendEntries or InstallSnapshot message, and never on
//    a non-leader's append: those calls neither fail nor count. A fault that
//    hits a path libraft cannot continue from still leaves the server
//    RAFT_UNAVAILABLE for good.
struct StubIo {
  struct Slot {
    SimCluster* cluster = nullptr;
    unsigned server = 0;
    raft_io_recv_cb recv = nullptr;  // the real receive callback (raft's or the guard's)
    bool in_payload_recv = false;    // handling AppendEntries / InstallSnapshot
  };
  struct Methods {
    int (*start)(struct raft_io*, unsigned, raft_io_tick_cb, raft_io_recv_cb) = nullptr;
    int (*set_term)(struct raft_io*, raft_term) = nullptr;
    int (*set_vote)(struct raft_io*, raft_id) = nullptr;
    int (*truncate)(struct raft_io*, raft_index) = nullptr;
    int (*send)(struct raft_io*, struct raft_io_send*, const struct raft_message*,
                raft_io_send_cb) = nullptr;
    int (*append)(struct raft_io*, struct raft_io_append*, const struct raft_entry[], unsigned,
                  raft_io_append_cb) = nullptr;
  };
  // The fixture's method table is libraft's static functions, one per process.
  static Methods& stub() {
    static Methods m;
    return m;
  }
  static std::map<const struct raft_io*, Slot>& slots() {
    static std::map<const struct raft_io*, Slot> m;
    return m;
  }

  static void Patch(struct raft_io* io, SimCluster* cluster, unsigned server) {
    Methods& m = stub();
    if (m.truncate == nullptr) {
      m = {io->start, io->set_term, io->set_vote, io->truncate, io->send, io->append};
    }
    LOCKQ_CHECK(io->truncate == m.truncate && io->append == m.append);
    io->start = &Start;
    io->set_term = &SetTerm;
    io->set_vote = &SetVote;
    io->truncate = &Truncate;
    io->send = &Send;
    io->append = &Append;
    Slot& slot = slots()[io];
    slot.cluster = cluster;
    slot.server = server;
  }
  static void Unpatch(struct raft_io* io) {
    const Methods& m = stub();
    io->start = m.start;
    io->set_term = m.set_term;
    io->set_vote = m.set_vote;
    io->truncate = m.truncate;
    io->send = m.send;
    io->append = m.append;
    slots().erase(io);
  }
  static bool Fault(struct raft_io* io, const char* method) {
    const Slot& s = slots().at(io);
    return !s.in_payload_recv && s.cluster->TickIoFault(s.server, method);
  }

  static int Start(struct raft_io* io, unsigned msecs, raft_io_tick_cb tick, raft_io_recv_cb recv) {
    slots().at(io).recv = recv;
    return stub().start(io, msecs, tick, &Recv);
  }
  static void Recv(struct raft_io* io, struct raft_message* msg) {
    Slot& s = slots().at(io);
    bool payload = msg->type == RAFT_IO_APPEND_ENTRIES || msg->type == RAFT_IO_INSTALL_SNAPSHOT;
    s.in_payload_recv = payload;
    s.recv(io, msg);
    s.in_payload_recv = false;
  }

  static int SetTerm(struct raft_io* io, raft_term term) {
    return Fault(io, "set_term") ? RAFT_IOERR : stub().set_term(io, term);
  }
  static int SetVote(struct raft_io* io, raft_id id) {
    return Fault(io, "set_vote") ? RAFT_IOERR : stub().set_vote(io, id);
  }
  static int Truncate(struct raft_io* io, raft_index /*index*/) {
    return Fault(io, "truncate") ? RAFT_IOERR : stub().truncate(io, 1);
  }
  static int Send(struct raft_io* io, struct raft_io_send* req, const struct raft_message* msg,
                  raft_io_send_cb cb) {
    return Fault(io, "send") ? RAFT_IOERR : stub().send(io, req, msg, cb);
  }
  static int Append(struct raft_io* io, struct raft_io_append* req,
                    const struct raft_entry entries[], unsigned n, raft_io_append_cb cb) {
    const Slot& s = slots().at(io);
    bool leader = raft_state(s.cluster->raft(s.server)) == RAFT_LEADER;
    if (leader && Fault(io, "append")) return RAFT_IOERR;
    return stub().append(io, req, entries, n, cb);
  }
};

bool SimCluster::TickIoFault(unsigned i, const char* method) {
  IoFaultState& f = io_faults_[i];
  if (f.countdown < 0) return false;
  if (f.countdown > 0) {
    f.countdown--;
    return false;
  }
  if (f.repeat > 0) {
    f.repeat--;
    Trace("io fault fails " + Who(i) + "'s " + method);
    return true;
  }
  f.countdown = -1;  // done
  return false;
}

uint64_t Fnv1a64(std::string_view bytes, uint64_t seed) {
  uint64_t h = seed;
  for (char c : bytes) {
    h ^= static_cast<unsigned char>(c);
    h *= 1099511628211ull;
  }
  return h;
}

// ---- construction --------------------------------------------------------------

struct SimCluster::Box {
  struct raft_fixture f;  // first member: HookCb casts the fixture back to Box
  SimCluster* owner;
};

struct SimCluster::ApplyReq {
  struct raft_apply req;
  SimCluster* cluster;
  SimProposal* proposal;
  dispatch::Proposer::DoneCb done;  // the dispatcher's
};

SimCluster::SimCluster(SimOptions options)
    : options_(options),
      rng_(options.seed),
      nonce_(Fnv1a64("nonce", options.seed)),
      box_(new Box{}),
      alive_(options.servers, true),
      lost_(options.servers, false),
      cut_(options.servers, std::vector<bool>(options.servers, false)),
      fixture_cut_(options.servers, std::vector<bool>(options.servers, false)),
      skew_ms_(options.servers, 0),
      io_faults_(options.servers) {
  LOCKQ_CHECK(options.servers >= 1 && options.servers <= RAFT_FIXTURE_MAX_SERVERS);
  box_->owner = this;
  struct raft_fixture* f = &box_->f;
  LOCKQ_CHECK(raft_fixture_initialize(f) == 0);
  for (unsigned i = 0; i < options.servers; i++) {
    fsms_.push_back(std::make_unique<SimFsm>(this, i, nonce_, options));
    adapters_.push_back(std::make_unique<consensus::FsmAdapter>(fsms_[i].get(), options.policy));
    // raft_init refuses snapshot_async on the fixture's io (version 1), so
    // the fsm is grown without it (raft_fsm(nullptr)); with policy.async
    // the guard below (version 2, forwarding the stub's async_work) turns
    // it on.
    LOCKQ_CHECK(raft_fixture_grow(f, adapters_[i]->raft_fsm(nullptr)) == 0);
    adapters_[i]->Attach(raft_fixture_get(f, i));
    // The io guard below forwards to this io, so it goes through the patch too.
    StubIo::Patch(raft_fixture_get(f, i)->io, this, i);
    raft_set_pre_vote(raft_fixture_get(f, i), options.pre_vote);
    // The same libraft 0.15 AppendEntries fixes lockqd runs with
    // (src/consensus/io_guard.h). LOCKQ_SIM_NO_IO_GUARD=1 runs bare
    // libraft, to show what the checkers catch without them.
    if (options.io_guard && std::getenv("LOCKQ_SIM_NO_IO_GUARD") == nullptr) {
      struct raft* r = raft_fixture_get(f, i);
      guards_.push_back(std::make_unique<consensus::IoGuard>(r->io, /*exit_on_append_error=*/false));
      guards_.back()->InstallOn(r);
      if (options.policy.async) {
        adapters_[i]->raft_fsm(guards_.back()->io());
        consensus::FsmAdapter* a = adapters_[i].get();
        guards_.back()->SetInstallHook({[a](const struct raft_buffer& data) { a->DecodeAhead(data); },
                                        [a] { a->InstallDone(); }});
      }
    }
  }
  struct raft_configuration conf;
  LOCKQ_CHECK(raft_fixture_configuration(f, options.servers, &conf) == 0);
  LOCKQ_CHECK(raft_fixture_bootstrap(f, &conf) == 0);
  raft_configuration_close(&conf);
  LOCKQ_CHECK(raft_fixture_start(f) == 0);
  raft_fixture_hook(f, &SimCluster::HookCb);
}

SimCluster::~SimCluster() {
  closing_ = true;  // callbacks fired while closing are not outcomes
  raft_fixture_hook(&box_->f, nullptr);
  for (unsigned i = 0; i < guards_.size(); i++) guards_[i]->UninstallFrom(raft(i));
  for (unsigned i = 0; i < size(); i++) StubIo::Unpatch(raft(i)->io);
  raft_fixture_close(&box_->f);
}

uint64_t SimCluster::now_ms() const { return raft_fixture_time(&box_->f); }
struct raft* SimCluster::raft(unsigned i) const { return raft_fixture_get(&box_->f, i); }
uint64_t SimCluster::last_applied(unsigned i) const { return raft_last_applied(raft(i)); }
uint64_t SimCluster::commit_index(unsigned i) const { return raft(i)->commit_index; }
uint64_t SimCluster::snapshot_index(unsigned i) const { return raft(i)->log.snapshot.last_index; }
uint64_t SimCluster::term(unsigned i) const { return raft(i)->current_term; }

// ---- driving -------------------------------------------------------------------

void SimCluster::HookCb(struct raft_fixture* f, struct raft_fixture_event*) noexcept {
  reinterpret_cast<Box*>(f)->owner->AfterStep();
}

void SimCluster::Step() { raft_fixture_step(&box_->f); }

void SimCluster::StepN(unsigned n) {
  for (unsigned k = 0; k < n && !failed(); k++) Step();
}

bool SimCluster::StepUntil(const std::function<bool()>& pred, uint64_t max_ms) {
  uint64_t start = now_ms();
  while (!pred()) {
    if (failed() || now_ms() - start >= max_ms) return false;
    Step();
  }
  return true;
}

void SimCluster::AfterStep() {
  if (options_.leader_duties && !closing_) {
    for (unsigned i = 0; i < size(); i++) {
      if (alive_[i] && !lost_[i]) fsms_[i]->Drive();
    }
  }
  // Cheap per-step invariants; the heavy checks run on every apply.
  for (unsigned i = 0; i < size(); i++) {
    struct raft* r = raft(i);
    if (alive_[i] && raft_state(r) == RAFT_UNAVAILABLE) {
      lost_[i] = true;
      Kill(i);
      Trace("server " + std::to_string(i) + " went unavailable: lost for good");
    }
    if (r->last_applied > r->commit_index) {
      Fail(Who(i) + ": last_applied " + std::to_string(r->last_applied) + " > commit_index " +
           std::to_string(r->commit_index));
    }
    if (fsms_[i]->sm().applied_index() > r->last_applied) {
      Fail(Who(i) + ": state machine applied index " +
           std::to_string(fsms_[i]->sm().applied_index()) + " beyond raft last_applied " +
           std::to_string(r->last_applied));
    }
  }
}

int SimCluster::AnyLeader() const {
  int best = -1;
  uint64_t best_term = 0;
  for (unsigned i = 0; i < size(); i++) {
    struct raft* r = raft(i);
    if (alive_[i] && raft_state(r) == RAFT_LEADER && r->current_term >= best_term) {
      best = static_cast<int>(i);
      best_term = r->current_term;
    }
  }
  return best;
}

int SimCluster::StableLeader() const {
  unsigned i = raft_fixture_leader_index(&box_->f);
  return i < size() ? static_cast<int>(i) : -1;
}

// ---- faults --------------------------------------------------------------------

bool SimCluster::unavailable(unsigned i) const { return raft_state(raft(i)) == RAFT_UNAVAILABLE; }

unsigned SimCluster::lost_count() const {
  unsigned n = 0;
  for (bool l : lost_) n += l ? 1 : 0;
  return n;
}

// Keeps the fixture's connectivity equal to cut_, except that pairs touching
// a dead server stay "connected": raft_fixture_kill/revive (de)saturate those
// links and libraft asserts that a saturated link is connected.
void SimCluster::SyncNetwork() {
  struct raft_fixture* f = &box_->f;
  for (unsigned i = 0; i < size(); i++) {
    for (unsigned j = i + 1; j < size(); j++) {
      bool want = cut_[i][j] && alive_[i] && alive_[j];
      if (fixture_cut_[i][j] == want) continue;
      if (want) {
        raft_fixture_disconnect(f, i, j);
        raft_fixture_disconnect(f, j, i);
      } else {
        raft_fixture_reconnect(f, i, j);
        raft_fixture_reconnect(f, j, i);
      }
      fixture_cut_[i][j] = fixture_cut_[j][i] = want;
    }
  }
}

void SimCluster::Kill(unsigned i) {
  if (!alive_[i]) return;
  alive_[i] = false;
  SyncNetwork();
  raft_fixture_kill(&box_->f, i);
  Trace("kill " + std::to_string(i));
}

void SimCluster::Revive(unsigned i) {
  if (alive_[i] || lost_[i]) return;
  struct raft_fixture* f = &box_->f;
  raft_fixture_revive(f, i);
  alive_[i] = true;
  // Links to servers that are still dead stay down.
  for (unsigned j = 0; j < size(); j++) {
    if (j == i || alive_[j]) continue;
    if (!raft_fixture_saturated(f, i, j)) raft_fixture_saturate(f, i, j);
    if (!raft_fixture_saturated(f, j, i)) raft_fixture_saturate(f, j, i);
  }
  SyncNetwork();
  Trace("revive " + std::to_string(i));
}

void SimCluster::Disconnect(unsigned i, unsigned j) {
  if (i == j || cut_[i][j]) return;
  cut_[i][j] = cut_[j][i] = true;
  SyncNetwork();
  Trace("disconnect " + std::to_string(i) + "-" + std::to_string(j));
}

void SimCluster::Reconnect(unsigned i, unsigned j) {
  if (i == j || !cut_[i][j]) return;
  cut_[i][j] = cut_[j][i] = false;
  SyncNetwork();
  Trace("reconnect " + std::to_string(i) + "-" + std::to_string(j));
}

void SimCluster::SetDiskLatency(unsigned i, unsigned ms) {
  raft_fixture_set_disk_latency(&box_->f, i, ms);
  Trace("disk latency " + std::to_string(i) + " " + std::to_string(ms) + "ms");
}

void SimCluster::SetNetworkLatency(unsigned i, unsigned ms) {
  raft_fixture_set_network_latency(&box_->f, i, ms);
  Trace("network latency " + std::to_string(i) + " " + std::to_string(ms) + "ms");
}

void SimCluster::SetElectionTimeout(unsigned i, unsigned ms) {
  raft_fixture_set_randomized_election_timeout(&box_->f, i, ms);
}

void SimCluster::IoFault(unsigned i, int delay, int repeat) {
  io_faults_[i] = {delay, repeat};
  Trace("io fault " + std::to_string(i) + " after " + std::to_string(delay) + " x" +
        std::to_string(repeat));
}

void SimCluster::ClearIoFault(unsigned i) { io_faults_[i] = {}; }

uint64_t SimCluster::LeaderClock(unsigned i) const {
  int64_t t = static_cast<int64_t>(now_ms()) + skew_ms_[i];
  return t < 0 ? 0 : static_cast<uint64_t>(t);
}

bool SimCluster::Depose() {
  int leader = StableLeader();
  if (leader < 0 || raft_state(raft(leader)) != RAFT_LEADER) return false;
  // raft_fixture_depose asserts that every other server is a follower.
  for (unsigned i = 0; i < size(); i++) {
    if (static_cast<int>(i) != leader && raft_state(raft(i)) != RAFT_FOLLOWER) return false;
  }
  Trace("depose " + std::to_string(leader));
  raft_fixture_depose(&box_->f);
  return true;
}

bool SimCluster::Elect(unsigned i) {
  if (StableLeader() >= 0 || !alive_[i]) return false;
  for (unsigned j = 0; j < size(); j++) {
    if (raft_state(raft(j)) != RAFT_FOLLOWER) return false;
  }
  unsigned reachable = 1;
  for (unsigned j = 0; j < size(); j++) {
    if (j != i && alive_[j] && !cut_[i][j]) reachable++;
  }
  if (reachable * 2 <= size()) return false;
  Trace("elect " + std::to_string(i));
  raft_fixture_elect(&box_->f, i);
  return true;
}

void SimCluster::HealAll() {
  for (unsigned i = 0; i < size(); i++) Revive(i);
  for (unsigned i = 0; i < size(); i++) {
    for (unsigned j = i + 1; j < size(); j++) Reconnect(i, j);
  }
  for (unsigned i = 0; i < size(); i++) {
    ClearIoFault(i);
    raft_fixture_set_disk_latency(&box_->f, i, kDefaultDiskLatencyMs);
    raft_fixture_set_network_latency(&box_->f, i, kDefaultNetworkLatencyMs);
    SetElectionTimeout(i, kDefaultElectionTimeoutMs + i * 100);
  }
  Trace("heal all");
}

// ---- clients -------------------------------------------------------------------

const SimProposal* SimCluster::Propose(unsigned i, std::vector<sm::Argv> commands) {
  auto p = std::make_unique<SimProposal>();
  p->id = ++next_proposal_id_;
  p->server = i;
  p->commands = commands;
  p->answers.assign(commands.size(), 0);
  SimProposal* raw = p.get();
  dispatch::Dispatcher& d = fsms_[i]->dispatcher();
  proposing_ = raw;
  for (size_t k = 0; k < commands.size(); k++) {
    d.Submit(std::move(commands[k]), [this, raw, k](sm::Reply) { OnReply(raw, k); }, /*may_forward=*/false);
  }
  d.EndOfTurn();
  proposing_ = nullptr;
  if (raw->bytes.empty()) {  // refused: every command was answered TRYAGAIN already
    if (raft_state(raft(i)) != RAFT_LEADER) Trace("propose on " + std::to_string(i) + " refused: not the leader");
    return nullptr;
  }
  auto batch = sm::DecodeBatch(raw->bytes);
  LOCKQ_CHECK(batch.ok());
  p->origin = batch->origin;
  Trace("propose #" + std::to_string(p->id) + " on " + std::to_string(i) + " at " +
        std::to_string(p->index) + " t=" + std::to_string(batch->leader_time_ms) + " " +
        (p->commands.empty() ? "" : p->commands[0][0]) +
        (p->commands.size() > 1 ? " +" + std::to_string(p->commands.size() - 1) : ""));
  proposals_.push_back(std::move(p));
  return proposals_.back().get();
}

void SimCluster::Deliver(uint64_t leader, sm::Argv argv, dispatch::Forwarding::ReplyCb cb) {
  LOCKQ_CHECK(leader >= 1 && leader <= size());
  auto target = static_cast<unsigned>(leader - 1);
  fsms_[target]->dispatcher().Submit(std::move(argv), std::move(cb), /*may_forward=*/false);
}

Result<uint64_t> SimCluster::RaftPropose(unsigned i, std::string_view entry, dispatch::Proposer::DoneCb done) {
  if (proposing_ == nullptr) {
    // The dispatcher's own entry (LeaderDuties, forwarded commands): tracked
    // for the acknowledged-writes check, its replies are not ours to count.
    auto own = std::make_unique<SimProposal>();
    own->id = ++next_proposal_id_;
    own->server = i;
    own->internal = true;
    auto batch = sm::DecodeBatch(entry);
    LOCKQ_CHECK(batch.ok());
    own->commands = batch->commands;
    own->origin = batch->origin;
    SimProposal* raw = own.get();
    proposals_.push_back(std::move(own));
    proposing_ = raw;
    auto index = RaftPropose(i, entry, std::move(done));
    proposing_ = nullptr;
    Trace("duties propose #" + std::to_string(raw->id) + " on " + std::to_string(i) + " " +
          (raw->commands.empty() ? "" : raw->commands[0][0]) + (index.ok() ? "" : " refused"));
    return index;
  }
  LOCKQ_CHECK(proposing_->server == i);
  auto req = std::make_unique<ApplyReq>();
  std::memset(&req->req, 0, sizeof req->req);
  req->req.data = req.get();
  req->cluster = this;
  req->proposal = proposing_;
  req->done = std::move(done);
  int rv = consensus::ApplyFramed(raft(i), &req->req, entry,
                                  [](struct raft_apply* r, int status, void*) noexcept {
                                    auto* ar = static_cast<ApplyReq*>(r->data);
                                    if (ar->cluster->closing_) return;
                                    ar->proposal->done = true;
                                    ar->proposal->status = status;
                                    ar->proposal->index = r->index;
                                    // The dispatcher answers a failed proposal's
                                    // commands (leadership lost) here.
                                    if (ar->done) ar->done(status == 0 ? Status::Ok() : Status::Unavailable(raft_strerror(status)));
                                    ar->cluster->OnProposalDone(ar->proposal);
                                  });
  if (rv != 0) {
    Trace("raft_apply on " + std::to_string(i) + " failed: " + raft_strerror(rv));
    return Status::Unavailable(raft_strerror(rv));
  }
  proposing_->bytes = std::string(entry);
  proposing_->index = req->req.index;
  reqs_.push_back(std::move(req));
  return proposing_->index;
}

void SimCluster::OnReply(SimProposal* p, size_t k) {
  if (++p->answers[k] > 1) {
    Fail("proposal #" + std::to_string(p->id) + ": command " + std::to_string(k) + " answered twice");
  }
}

void SimCluster::OnProposalDone(SimProposal* p) {
  // Every command gets exactly one reply from the dispatcher: the entry's
  // (acknowledged: Apply ran before libraft's callback) or TRYAGAIN.
  for (size_t k = 0; k < p->answers.size() && !p->internal; k++) {
    if (p->answers[k] != 1) {
      Fail("proposal #" + std::to_string(p->id) + " " + (p->status == 0 ? "acknowledged" : "failed") +
           " at index " + std::to_string(p->index) + " but its command " + std::to_string(k) + " (" +
           p->commands[k][0] + ") got " + std::to_string(p->answers[k]) + " replies");
      return;
    }
  }
  if (p->status != 0) return;  // unknown outcome: it may still be committed
  auto it = log_.find(p->index);
  if (it == log_.end() || !it->second.command || it->second.bytes != p->bytes) {
    Fail("proposal #" + std::to_string(p->id) + " acknowledged at index " +
         std::to_string(p->index) + " but the committed log holds something else there");
  }
}

std::string SimCluster::Describe() const {
  static const char* kRoles[] = {"unavailable", "follower", "candidate", "leader"};
  std::ostringstream out;
  for (unsigned i = 0; i < size(); i++) {
    struct raft* r = raft(i);
    int role = raft_state(r);
    out << "  server " << i << (alive_[i] ? " alive " : " dead ")
        << (role >= 0 && role <= 3 ? kRoles[role] : "?") << " term " << r->current_term
        << " commit " << r->commit_index << " applied " << r->last_applied << " stored " << r->last_stored << " last "
        << raft_last_index(r) << " snapshot " << r->log.snapshot.last_index << " skew "
        << skew_ms_[i] << (lost_[i] ? " lost" : "") << " saturated-to";
    for (unsigned j = 0; j < size(); j++) {
      if (j != i && raft_fixture_saturated(&box_->f, i, j)) out << " " << j;
    }
    out << " recv-ae " << raft_fixture_n_recv(&box_->f, i, RAFT_IO_APPEND_ENTRIES)
        << " sent-ae-result " << raft_fixture_n_send(&box_->f, i, RAFT_IO_APPEND_ENTRIES_RESULT)
        << "\n";
    if (role == RAFT_LEADER && r->leader_state.progress != nullptr) {
      for (unsigned k = 0; k < r->configuration.n; k++) {
        const struct raft_progress& p = r->leader_state.progress[k];
        out << "    progress of id " << r->configuration.servers[k].id << ": state " << p.state
            << " next " << p.next_index << " match " << p.match_index << " snapshot "
            << p.snapshot_index << " last_send " << p.last_send << " snapshot_last_send "
            << p.snapshot_last_send << "\n";
      }
    }
  }
  return out.str();
}

}  // namespace lockq::testing
