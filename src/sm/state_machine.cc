#include "sm/state_machine.h"

#include <algorithm>
#include <type_traits>
#include <utility>

#include "sm/amqp_access.h"
#include "sm/command_table.h"
#include "sm/parse.h"
#include "sm/sm_state.h"
#include "sm/snapshot.h"

namespace lockq::sm {

struct StateMachine::State {
  SmState s;
  // Per command of the last Apply: events.size() after it (audits only; not
  // part of the replicated state).
  std::vector<size_t> event_marks;
};

StateMachine::StateMachine() : state_(std::make_unique<State>()) {}
StateMachine::~StateMachine() = default;
// std::map and std::set copy their elements: a full deep copy, safe to read
// on another thread while this one keeps applying.
StateMachine::StateMachine(const StateMachine& other)
    : state_(std::make_unique<State>(*other.state_)) {}

std::vector<Reply> StateMachine::Apply(const Batch& batch, uint64_t index) {
  SmState& s = state_->s;
  // The clock only moves forward: a new leader whose clock is behind the
  // old one's must not un-expire keys or extend leases (habit 1).
  s.prev_batch_ms = s.now_ms;
  s.leases_rebased = false;
  s.now_ms = std::max(s.now_ms, batch.leader_time_ms);
  s.applied_index = index;
  s.events.clear();
  state_->event_marks.clear();
  std::vector<Reply> replies;
  replies.reserve(batch.commands.size());
  for (const Argv& argv : batch.commands) {
    replies.push_back(Dispatch(s, argv, index));
    state_->event_marks.push_back(s.events.size());
  }
  return replies;
}

Events StateMachine::TakeEvents() { return std::move(state_->s.events); }

const std::vector<size_t>& StateMachine::LastEventMarks() const { return state_->event_marks; }

Reply StateMachine::Query(const Argv& argv, std::string_view vhost) const {
  if (std::optional<Reply> err = CheckCommand(argv, /*allow_internal=*/false)) return *err;
  const CommandDef* def = FindCommandDef(argv[0]);
  if (!(def->spec.flags & kCmdReadOnly) || (def->spec.flags & kCmdNoScript)) {
    return Reply::Error("ERR internal: Query needs a read-only command");
  }
  // Read-only handlers do not change the state; the const_cast only fits
  // the shared handler signature.
  SmState& s = const_cast<SmState&>(state_->s);
  if (s.vhosts.count(vhost) == 0) return Reply::Error("NOTALLOWED vhost " + std::string(vhost) + " not found");
  s.acting_vhost = vhost == "/" ? std::string() : std::string(vhost);
  CommandContext ctx{argv, s.now_ms, s.applied_index, s, {}};
  Reply r = def->handler(ctx);
  s.acting_vhost.clear();
  return r;
}

std::optional<std::string> StateMachine::AmqpDenied(std::string_view user, std::string_view vhost,
                                                    const Argv& argv) const {
  if (auto denied = AmqpVhostDenied(state_->s, user, vhost)) return denied;
  if (argv.empty()) return std::nullopt;
  return AmqpCommandDenied(state_->s, user, vhost, argv);
}

const CommandSpec* StateMachine::FindCommand(std::string_view name) {
  const CommandDef* def = FindCommandDef(name);
  return def == nullptr ? nullptr : &def->spec;
}

const std::vector<CommandSpec>& StateMachine::Commands() {
  static const std::vector<CommandSpec>* specs = [] {
    auto* v = new std::vector<CommandSpec>;
    for (const CommandDef& def : CommandDefs()) v->push_back(def.spec);
    return v;
  }();
  return *specs;
}

std::optional<Reply> StateMachine::Precheck(const Argv& argv, bool from_client) {
  return CheckCommand(argv, /*allow_internal=*/!from_client);
}

std::optional<Reply> StateMachine::PrecheckForwarded(const Argv& argv) {
  const CommandDef* def = argv.empty() ? nullptr : FindCommandDef(argv[0]);
  bool peer = def != nullptr && (def->spec.flags & kCmdPeer);
  return CheckCommand(argv, /*allow_internal=*/peer);
}

bool StateMachine::NeedsSigningKeySecret(const Argv& argv) {
  return argv.size() == 2 && EqualsIgnoreCase(argv[0], "LOCK.SIGNKEY") &&
         (EqualsIgnoreCase(argv[1], "ROTATE") || EqualsIgnoreCase(argv[1], "ADD"));
}

std::string StateMachine::Snapshot() const { return EncodeSnapshot(state_->s); }

Status StateMachine::Restore(std::string_view bytes) { return DecodeSnapshot(bytes, &state_->s); }

// Install swaps SmStates member by member: every member must move without
// copying (a class whose moves fell back to copies would make the swap a
// deep copy on the loop, and would not be noexcept).
static_assert(std::is_nothrow_move_constructible_v<SmState> && std::is_nothrow_move_assignable_v<SmState>);

StateMachine::Detached::Detached(std::unique_ptr<State> state) : state_(std::move(state)) {}
StateMachine::Detached::~Detached() = default;

Result<std::unique_ptr<StateMachine::Detached>> StateMachine::Decode(std::string_view bytes) {
  auto state = std::make_unique<State>();
  if (Status s = DecodeSnapshot(bytes, &state->s); !s.ok()) return s;
  return std::unique_ptr<Detached>(new Detached(std::move(state)));
}

std::unique_ptr<StateMachine::Detached> StateMachine::Install(std::unique_ptr<Detached> decoded) {
  // Swap the contents, not the pointers, as Restore's move-assignment
  // does: the SmState and its members stay where they are.
  std::swap(state_->s, decoded->state_->s);
  state_->event_marks.clear();
  return decoded;
}

uint64_t StateMachine::now_ms() const { return state_->s.now_ms; }
uint64_t StateMachine::applied_index() const { return state_->s.applied_index; }
size_t StateMachine::key_count() const { return state_->s.keyspace.size(); }
size_t StateMachine::expiring_key_count() const { return state_->s.keyspace.expiring_count(); }
uint64_t StateMachine::next_expiry_ms() const {
  uint64_t next = 0;
  std::vector<uint64_t> deadlines{state_->s.keyspace.NextDeadline(), state_->s.locks.NextDeadline()};
  for (const auto& [vhost, engine] : state_->s.vhosts) deadlines.push_back(engine.NextDeadline());  // message TTLs
  for (uint64_t d : deadlines) {
    if (d != 0 && (next == 0 || d < next)) next = d;
  }
  return next;
}
size_t StateMachine::lock_holder_count() const { return state_->s.locks.holder_count(); }
size_t StateMachine::lock_waiter_count() const { return state_->s.locks.waiter_count(); }
size_t StateMachine::session_count() const { return state_->s.locks.sessions().size(); }
uint64_t StateMachine::queue_bytes() const {
  uint64_t n = 0;
  for (const auto& [vhost, engine] : state_->s.vhosts) n += engine.total_bytes();
  return n;
}
uint64_t StateMachine::last_lock_token() const { return state_->s.locks.last_token(); }
const std::map<uint64_t, NodeInfo>& StateMachine::nodes() const { return state_->s.nodes; }

const QueueEngine& StateMachine::queue_engine(std::string_view vhost) const { return state_->s.Engine(vhost); }
bool StateMachine::has_vhost(std::string_view vhost) const { return state_->s.vhosts.count(vhost) != 0; }
const AclStore& StateMachine::acl() const { return state_->s.acl; }

std::vector<LockView> StateMachine::LockViews() const {
  std::vector<LockView> out;
  out.reserve(state_->s.locks.size());
  for (const auto& [name, rec] : state_->s.locks.map()) {
    LockView& v = out.emplace_back();
    v.name = name;
    v.shared = rec.mode == LockMode::kShared;
    v.mode = static_cast<uint8_t>(rec.mode);
    v.permits = rec.permits;
    v.last_grant = rec.last_grant;
    v.holders.reserve(rec.holders.size());
    const LockTable& t = state_->s.locks;
    for (const auto& [token, h] : rec.holders) {
      v.holders.push_back({token, h.owner, h.since_ms, h.lease_ms, h.deadline_ms, h.session,
                           t.Expiry(h), t.Live(h, state_->s.now_ms), h.client});
    }
    v.waiters.reserve(rec.waiters.size());
    for (const LockWaiter& w : rec.waiters) {
      v.waiters.push_back({w.req.client, static_cast<uint8_t>(w.req.mode), w.req.permits,
                           w.req.session, w.req.lease_ms, w.since_ms, w.wait_deadline_ms});
    }
  }
  return out;
}

std::vector<SessionView> StateMachine::SessionViews() const {
  std::vector<SessionView> out;
  out.reserve(state_->s.locks.sessions().size());
  for (const auto& [id, s] : state_->s.locks.sessions()) out.push_back({id, s.ttl_ms, s.deadline_ms});
  return out;
}

std::optional<std::string> StateMachine::PeekString(std::string_view key) const {
  const Value* v = state_->s.keyspace.Find(key, state_->s.now_ms);
  if (v == nullptr || v->type != ValueType::kString) return std::nullopt;
  return v->str;
}

}  // namespace lockq::sm
