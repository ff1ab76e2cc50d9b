#pragma once
// Signed lock grants (docs/locks.md "Signed grants"): check offline that
// lockq granted a lock, without calling the cluster.
//
// `LOCK.ACQUIRE ... SIGNED` (and LockOptions::signed_grant) returns, with
// the fencing token, a grant string
//
//   lqg1.<key_id>.<lock>.<token>.<holder>.<lease_end_ms>.<mac>
//
// where <lock> and <holder> (the OWNER tag, possibly empty) are base64url
// without padding, the numbers are decimal without leading zeros and <mac>
// is 64 lower-case hex digits: HMAC-SHA256, under the cluster's signing key
// <key_id>, of GrantMacInput() (a length-prefixed encoding, so no two
// different grants share an input). lease_end_ms is the end of the lease at
// the grant, in the cluster's clock (the leader's wall clock, ms since the
// Unix epoch).
//
// A storage service gets the keys with `LOCK.SIGNKEY EXPORT` (the keys file
// format below), then for each write checks VerifyGrant(grant, keys, now),
// that grant.lock is the lock guarding the data, and that grant.token is
// not older than the newest token it has seen (fencing).
//
// Everything here is pure: no server, no clock, no I/O. Thread-safe.

#include <cstddef>
#include <cstdint>
#include <map>
#include <string>
#include <string_view>

#include "lockq/status.h"

namespace lockq {

inline constexpr std::string_view kGrantPrefix = "lqg1";
inline constexpr size_t kGrantKeyBytes = 32;    // HMAC-SHA256 key length
inline constexpr size_t kGrantMaxBytes = 65536; // longer strings are malformed
inline constexpr std::string_view kGrantKeysHeader = "lockq-grant-keys v1";

// What a grant says.
struct Grant {
  uint64_t key_id = 0;
  std::string lock;
  uint64_t token = 0;
  std::string holder;  // the OWNER tag of the acquire; "" without one
  uint64_t lease_end_ms = 0;
  bool operator==(const Grant&) const = default;
};

// key id -> secret (kGrantKeyBytes raw bytes).
using GrantKeys = std::map<uint64_t, std::string>;

// The bytes the MAC covers:
//   "lockq-grant-v1" | u64 key_id | u32 len | lock | u64 token |
//   u32 len | holder | u64 lease_end_ms          (integers big-endian)
std::string GrantMacInput(const Grant& g);
// The grant string for `g` signed with `secret` (g.key_id names it).
std::string SignGrant(const Grant& g, std::string_view secret);
// Splits a grant string without checking its MAC; InvalidArgument
// ("malformed grant: ...") when it is not one. *mac_hex gets the MAC field.
Result<Grant> ParseGrant(std::string_view grant, std::string* mac_hex = nullptr);

// Checks a grant offline. Ok: the grant, as signed. Otherwise, in this
// order of checks:
//   InvalidArgument     "malformed grant: ..."
//   NotFound            "unknown signing key N ..." (removed, or keys too old)
//   PermissionDenied    "bad grant signature ..." (any field changed, or
//                       another key's or another grant's MAC)
//   FailedPrecondition  "grant expired ..." (lease_end_ms <= now_ms)
// now_ms is the verifier's wall clock in ms since the Unix epoch; it is
// compared with the cluster's clock, so allow for skew (docs/locks.md).
Result<Grant> VerifyGrant(std::string_view grant, const GrantKeys& keys, uint64_t now_ms);

// kGrantKeyBytes fresh random bytes (OpenSSL's RAND_bytes): what lockqd
// proposes for LOCK.SIGNKEY ROTATE/ADD without KEY. IoError when the
// system's random source fails.
Result<std::string> NewGrantKeySecret();

// The keys file (what LOCK.SIGNKEY EXPORT returns):
//   lockq-grant-keys v1
//   <key id> <64 hex digits>        one line per key, ids ascending
// Blank lines and lines starting with '#' are ignored.
std::string FormatGrantKeys(const GrantKeys& keys);
Result<GrantKeys> ParseGrantKeys(std::string_view text);

}  // namespace lockq
