#pragma once
// Events: what an applied entry tells connections beyond its own replies.
//
// A command returns one reply, at once. Some answers come later and are
// decided by other entries: a blocked LOCK.ACQUIRE is granted by someone
// else's release, a holder loses its lock when its lease expires in a
// LOCKQ.EXPIRE entry. Apply() collects such answers as events; every
// replica produces the same events, and each node delivers only those
// addressed to its own connections (ClientRef.node and .nonce), so a
// follower serves its blocked clients without a message from the leader
// (docs/design/native-locks.md, "Deferred replies").

#include <compare>
#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include "sm/reply.h"

namespace lockq::sm {

// One request of one client connection: which node and which process
// incarnation (nonce) owns the connection, its id there, and the request's
// reply slot on it. All zero: no client (a script, a test, an internal
// command).
struct ClientRef {
  uint64_t node = 0;
  uint64_t nonce = 0;
  uint64_t conn = 0;
  uint64_t slot = 0;
  bool empty() const { return node == 0 && nonce == 0 && conn == 0 && slot == 0; }
  auto operator<=>(const ClientRef&) const = default;
};

struct Event {
  enum class Kind : uint8_t {
    kReply,   // the deferred reply of `client`'s request (slot)
    kPush,    // an out-of-band message for `client`'s connection
    kChange,  // the holders of lock `topic` changed (observers, elections)
  };
  Kind kind = Kind::kReply;
  ClientRef client;
  std::string topic;
  Reply reply;
  bool operator==(const Event&) const = default;
};

using Events = std::vector<Event>;

// The kChange topic of LOCKQ.INCARNATION node nonce (client = {node, nonce}):
// node runs as nonce now, or, with nonce 0, the leader declared it down.
inline constexpr std::string_view kIncarnationTopic = "lockq:incarnation";
// The kChange topic of ACL DELUSER (and of a bootstrap that drops a user):
// reply is Bulk(user name); each node closes its connections of that user.
inline constexpr std::string_view kAclUserDeletedTopic = "lockq:acl:deluser";
// The kChange topic of LOCKQ.VHOST DELETE: reply is Bulk(vhost); each node
// closes its AMQP connections to that vhost.
inline constexpr std::string_view kVhostDeletedTopic = "lockq:vhost:deleted";

}  // namespace lockq::sm
