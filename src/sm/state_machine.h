#pragma once
// The replicated, deterministic state machine (STYLE.md habit 1).
//
// Apply() never reads a clock, a random source or the disk. Time comes from
// the batch: the state machine's clock is max(previous, batch.leader_time_ms),
// so it never runs backwards across a leader change. Keys expire lazily (a
// read at time T treats a key whose deadline <= T as absent) and actively
// through the internal LOCKQ.EXPIRE command the leader proposes. Containers
// are ordered, so two replicas that applied the same log produce
// byte-identical snapshots.
//
// Thread: whoever owns the object (the server's event loop, or a test).

#include <cstdint>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "common/status.h"
#include "sm/command.h"
#include "sm/events.h"
#include "sm/lock_view.h"
#include "sm/reply.h"

namespace lockq::sm {

// Version 2 added the script cache, version 3 the lock table, version 4
// lock waiters, sessions and modes, version 5 the queue engine, version 6
// grant signing keys and the waiters' SIGNED flag (version 6), the ACL user
// store (version 7, last section); Restore() still reads versions 1 to 6
// (before 7 they restore with the default user only).
inline constexpr uint8_t kSnapshotVersion = 8;

// Command flags, as data (compare Redis's src/commands/*.json).
enum CommandFlag : uint32_t {
  kCmdWrite = 1 << 0,     // changes state
  kCmdReadOnly = 1 << 1,  // only reads (still goes through the log: linearizable)
  kCmdAdmin = 1 << 2,     // operator command (FLUSHALL)
  kCmdInternal = 1 << 3,  // proposed by lockqd itself; refused from clients
  kCmdFast = 1 << 4,
  kCmdNoScript = 1 << 5,  // refused inside Lua scripts (EVAL, SCRIPT, ...)
  // Front ends wrap it in LOCKQ.AS so the state machine knows which client
  // connection sent it (blocking acquires, lock-lost pushes).
  kCmdClientRef = 1 << 6,
  // Internal, but a follower may forward it to the leader (LOCKQ.AS,
  // LOCKQ.CANCEL, LOCKQ.INCARNATION): peers propose it for their clients.
  kCmdPeer = 1 << 7,
  // Acts for a channel (queue commands): front ends wrap it in LOCKQ.AS
  // with slot = the AMQP channel number, or 0 for a RESP connection.
  kCmdChannelRef = 1 << 8,
  // Every user may run it: it only releases the caller's own connection
  // state (Q.CLOSE, Q.DISCONNECT), which a front end also proposes as
  // cleanup after the connection is gone.
  kCmdAclExempt = 1 << 9,
};

struct CommandSpec {
  std::string_view name;  // upper case, e.g. "SET"
  int arity;              // Redis convention: N exact, -N at least N (name included)
  uint32_t flags;
  int first_key, last_key, key_step;  // for COMMAND replies and ACL key checks; 0 0 0 when none
  // ACL (acl_categories.h): the family categories (@string, @lock, ...;
  // @read/@write/@fast/@slow/@admin/@dangerous follow from `flags`) and the
  // access every key at first_key..last_key needs (AclKeyAccess).
  uint32_t acl_categories = 0;
  uint8_t key_access = 0;
};

// Addresses a node announced through the log (LOCKQ.ANNOUNCE), so any node
// can find the leader's client port to forward to.
struct NodeInfo {
  std::string resp_addr;  // "host:port"
  bool operator==(const NodeInfo&) const = default;
};

class QueueEngine;
class AclStore;

class StateMachine {
  struct State;  // the replicated state and its scratch (state_machine.cc)

 public:
  StateMachine();
  ~StateMachine();
  StateMachine(const StateMachine&);  // deep copy: used for async snapshots
  StateMachine& operator=(const StateMachine&) = delete;

  // Applies every command of `batch`, the entry at log `index`, and returns
  // one reply per command in order. A bad command yields an error reply; it
  // never aborts the batch or changes state partially.
  std::vector<Reply> Apply(const Batch& batch, uint64_t index);
  // The events of the last Apply() (deferred replies, pushes, lock
  // changes: events.h), moved out. Every replica produces the same.
  Events TakeEvents();
  // For audits: per command of the last Apply(), how many of its events
  // (TakeEvents order) the batch had produced once that command ran, so
  // command c produced events [marks[c-1], marks[c]). Not replicated state.
  const std::vector<size_t>& LastEventMarks() const;
  // Runs a read-only command (kCmdReadOnly, not a script) against the
  // applied state, outside the log: for node-local observers that were
  // told by an event that something changed. Not linearizable by itself.
  // Queue engine commands read `vhost`'s engine.
  Reply Query(const Argv& argv, std::string_view vhost = "/") const;

  // Command table lookup (case-insensitive); nullptr when unknown.
  static const CommandSpec* FindCommand(std::string_view name);
  static const std::vector<CommandSpec>& Commands();
  // What a front end runs before proposing: unknown command, wrong arity,
  // syntax errors, internal commands from a client. nullopt means "propose
  // it"; otherwise the error reply to send, exactly as Redis words it.
  static std::optional<Reply> Precheck(const Argv& argv, bool from_client = true);
  // Precheck for commands a follower forwarded: a client's commands plus
  // the kCmdPeer internal ones.
  static std::optional<Reply> PrecheckForwarded(const Argv& argv);
  // True for `LOCK.SIGNKEY ROTATE|ADD` without KEY: the front end must
  // append `KEY <64 hex digits>` of fresh random bytes before proposing
  // (apply refuses it without, and never draws randomness itself).
  static bool NeedsSigningKeySecret(const Argv& argv);

  // Versioned full-state serialization (docs/formats.md "Snapshot").
  std::string Snapshot() const;
  Status Restore(std::string_view bytes);
  // Restore in two steps, so that a large snapshot is decoded off the
  // loop (a follower installing 10^6 messages): Decode runs on any thread
  // and touches no machine; Install swaps the decoded state into this one
  // (O(1), this machine's thread) and hands back the state it replaced, for
  // the caller to destroy wherever it likes (freeing 10^6 messages costs
  // about what decoding them does). Restore(bytes) is both on one thread.
  class Detached {
   public:
    ~Detached();

   private:
    friend class StateMachine;
    explicit Detached(std::unique_ptr<State> state);
    std::unique_ptr<State> state_;
  };
  static Result<std::unique_ptr<Detached>> Decode(std::string_view bytes);
  std::unique_ptr<Detached> Install(std::unique_ptr<Detached> decoded);

  uint64_t now_ms() const;          // max leader time applied so far
  uint64_t applied_index() const;   // index of the last applied batch
  size_t key_count() const;
  size_t expiring_key_count() const;
  // Earliest key, lock lease, session or lock-wait deadline in leader
  // time, or 0 when there is none. The leader proposes LOCKQ.EXPIRE once
  // its clock passes it.
  uint64_t next_expiry_ms() const;
  size_t lock_holder_count() const;  // lock holders, expired ones not yet removed included
  size_t lock_waiter_count() const;
  size_t session_count() const;
  uint64_t queue_bytes() const;  // message bytes held by all queues (ready and unacked)
  uint64_t last_lock_token() const;  // the last fencing token granted, 0 when none
  const std::map<uint64_t, NodeInfo>& nodes() const;

  // ---- read-only views for audits (the simulation's checkers) ----------------
  // Every lock record with all its holders and waiters, expired ones not
  // yet removed included (sm/lock_view.h). O(locks + holders + waiters); a
  // copy, so callers may keep it while this machine applies more.
  std::vector<LockView> LockViews() const;
  // Every session, expired ones not yet removed included, in id order.
  std::vector<SessionView> SessionViews() const;
  // The string value `key` reads as at now_ms() (GET without the log), or
  // nullopt when it is absent, expired or not a string.
  std::optional<std::string> PeekString(std::string_view key) const;
  // A vhost's queue engine (exchanges, queues, messages, consumers),
  // read-only; "/" when `vhost` does not exist.
  const QueueEngine& queue_engine(std::string_view vhost = "/") const;
  bool has_vhost(std::string_view vhost) const;
  // What the AMQP front end checks before proposing (fail fast; Apply
  // checks again as of the entry): nullopt, or the error line
  // ("NOTALLOWED ..." for the vhost, "ACCESSREFUSED ..." for the command)
  // for `user` running argv in `vhost` (amqp_access.h). An empty argv
  // checks the vhost only.
  std::optional<std::string> AmqpDenied(std::string_view user, std::string_view vhost, const Argv& argv) const;
  // The user store as of applied_index() (acl_store.h): front ends check
  // AUTH and fail fast on permissions against it.
  const AclStore& acl() const;

 private:
  std::unique_ptr<State> state_;
};

}  // namespace lockq::sm
