// Signed grants (include/lockq/grant.h, docs/locks.md "Signed grants").

#include "lockq/grant.h"

#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <openssl/hmac.h>
#include <openssl/rand.h>

#include <array>
#include <vector>

#include "common/hex.h"

namespace lockq {

namespace {

constexpr std::string_view kMacDomain = "lockq-grant-v1";
constexpr size_t kMacBytes = 32;
constexpr std::string_view kB64Url = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";

void PutU64(uint64_t v, std::string* out) {
  for (int shift = 56; shift >= 0; shift -= 8) out->push_back(static_cast<char>((v >> shift) & 0xff));
}

void PutU32(uint32_t v, std::string* out) {
  for (int shift = 24; shift >= 0; shift -= 8) out->push_back(static_cast<char>((v >> shift) & 0xff));
}

std::string Base64Url(std::string_view in) {
  std::string out;
  out.reserve((in.size() + 2) / 3 * 4);
  size_t i = 0;
  for (; i + 3 <= in.size(); i += 3) {
    uint32_t v = (uint32_t{static_cast<uint8_t>(in[i])} << 16) | (uint32_t{static_cast<uint8_t>(in[i + 1])} << 8) |
                 static_cast<uint8_t>(in[i + 2]);
    for (int s = 18; s >= 0; s -= 6) out.push_back(kB64Url[(v >> s) & 63]);
  }
  size_t rest = in.size() - i;
  if (rest == 1) {
    uint32_t v = uint32_t{static_cast<uint8_t>(in[i])} << 16;
    out.push_back(kB64Url[(v >> 18) & 63]);
    out.push_back(kB64Url[(v >> 12) & 63]);
  } else if (rest == 2) {
    uint32_t v = (uint32_t{static_cast<uint8_t>(in[i])} << 16) | (uint32_t{static_cast<uint8_t>(in[i + 1])} << 8);
    for (int s = 18; s >= 6; s -= 6) out.push_back(kB64Url[(v >> s) & 63]);
  }
  return out;
}

int B64Value(char c) {
  size_t p = kB64Url.find(c);
  return p == std::string_view::npos ? -1 : static_cast<int>(p);
}

// Strict: no padding, no length of 1 mod 4, unused low bits zero, so every
// byte string has exactly one encoding (a changed grant never re-parses to
// the same fields).
bool Base64UrlDecode(std::string_view in, std::string* out) {
  if (in.size() % 4 == 1) return false;
  out->clear();
  uint32_t acc = 0;
  int bits = 0;
  for (char c : in) {
    int v = B64Value(c);
    if (v < 0) return false;
    acc = (acc << 6) | static_cast<uint32_t>(v);
    bits += 6;
    if (bits >= 8) {
      bits -= 8;
      out->push_back(static_cast<char>((acc >> bits) & 0xff));
    }
  }
  return (acc & ((1u << bits) - 1)) == 0;
}

// Decimal without sign or leading zeros ("0" itself is fine).
bool ParseCanonicalU64(std::string_view s, uint64_t* v) {
  if (s.empty() || s.size() > 20 || (s.size() > 1 && s[0] == '0')) return false;
  uint64_t r = 0;
  for (char c : s) {
    if (c < '0' || c > '9') return false;
    uint64_t d = static_cast<uint64_t>(c - '0');
    if (r > (UINT64_MAX - d) / 10) return false;
    r = r * 10 + d;
  }
  *v = r;
  return true;
}

std::string Mac(const Grant& g, std::string_view secret) {
  std::string input = GrantMacInput(g);
  std::array<unsigned char, EVP_MAX_MD_SIZE> md{};
  unsigned int len = 0;
  HMAC(EVP_sha256(), secret.data(), static_cast<int>(secret.size()),
       reinterpret_cast<const unsigned char*>(input.data()), input.size(), md.data(), &len);
  return std::string(reinterpret_cast<const char*>(md.data()), len);
}

Status Malformed(std::string_view why) { return Status::InvalidArgument("malformed grant: " + std::string(why)); }

}  // namespace

std::string GrantMacInput(const Grant& g) {
  std::string out(kMacDomain);
  PutU64(g.key_id, &out);
  PutU32(static_cast<uint32_t>(g.lock.size()), &out);
  out += g.lock;
  PutU64(g.token, &out);
  PutU32(static_cast<uint32_t>(g.holder.size()), &out);
  out += g.holder;
  PutU64(g.lease_end_ms, &out);
  return out;
}

std::string SignGrant(const Grant& g, std::string_view secret) {
  std::string out(kGrantPrefix);
  for (const std::string& field :
       {std::to_string(g.key_id), Base64Url(g.lock), std::to_string(g.token), Base64Url(g.holder),
        std::to_string(g.lease_end_ms), HexEncode(Mac(g, secret))}) {
    out += '.';
    out += field;
  }
  return out;
}

Result<Grant> ParseGrant(std::string_view grant, std::string* mac_hex) {
  if (grant.size() > kGrantMaxBytes) return Malformed("longer than " + std::to_string(kGrantMaxBytes) + " bytes");
  std::vector<std::string_view> f;
  size_t start = 0;
  for (;;) {
    size_t dot = grant.find('.', start);
    f.push_back(grant.substr(start, dot == std::string_view::npos ? std::string_view::npos : dot - start));
    if (dot == std::string_view::npos) break;
    start = dot + 1;
  }
  if (f.size() != 7) return Malformed("expected 7 dot-separated fields, got " + std::to_string(f.size()));
  if (f[0] != kGrantPrefix) return Malformed("unknown version '" + std::string(f[0]) + "' (expected lqg1)");
  Grant g;
  if (!ParseCanonicalU64(f[1], &g.key_id)) return Malformed("bad key id");
  if (!Base64UrlDecode(f[2], &g.lock)) return Malformed("bad lock name encoding");
  if (!ParseCanonicalU64(f[3], &g.token)) return Malformed("bad token");
  if (!Base64UrlDecode(f[4], &g.holder)) return Malformed("bad holder encoding");
  if (!ParseCanonicalU64(f[5], &g.lease_end_ms)) return Malformed("bad lease end");
  std::string mac;
  if (f[6].size() != kMacBytes * 2 || !HexDecode(f[6], &mac)) return Malformed("bad MAC (want 64 hex digits)");
  if (mac_hex != nullptr) *mac_hex = std::string(f[6]);
  return g;
}

Result<Grant> VerifyGrant(std::string_view grant, const GrantKeys& keys, uint64_t now_ms) {
  std::string mac_hex;
  Result<Grant> g = ParseGrant(grant, &mac_hex);
  if (!g.ok()) return g;
  auto key = keys.find(g->key_id);
  if (key == keys.end()) {
    return Status::NotFound("unknown signing key " + std::to_string(g->key_id) +
                            " (removed from the cluster, or the keys file predates it)");
  }
  std::string mac;
  HexDecode(mac_hex, &mac);  // ParseGrant checked it
  std::string want = Mac(*g, key->second);
  if (mac.size() != want.size() || CRYPTO_memcmp(mac.data(), want.data(), want.size()) != 0) {
    return Status::PermissionDenied("bad grant signature (a field was changed, or it was not signed by key " +
                                    std::to_string(g->key_id) + ")");
  }
  if (g->lease_end_ms <= now_ms) {
    return Status::FailedPrecondition("grant expired: lease ended at " + std::to_string(g->lease_end_ms) +
                                      " ms, now " + std::to_string(now_ms));
  }
  return g;
}

Result<std::string> NewGrantKeySecret() {
  std::string secret(kGrantKeyBytes, '\0');
  if (RAND_bytes(reinterpret_cast<unsigned char*>(secret.data()), static_cast<int>(secret.size())) != 1) {
    return Status::IoError("RAND_bytes failed: no random bytes for a signing key");
  }
  return secret;
}

std::string FormatGrantKeys(const GrantKeys& keys) {
  std::string out(kGrantKeysHeader);
  out += '\n';
  for (const auto& [id, secret] : keys) out += std::to_string(id) + " " + HexEncode(secret) + "\n";
  return out;
}

Result<GrantKeys> ParseGrantKeys(std::string_view text) {
  GrantKeys keys;
  bool header = false;
  size_t line_no = 0;
  while (!text.empty()) {
    size_t nl = text.find('\n');
    std::string_view line = text.substr(0, nl);
    text = nl == std::string_view::npos ? std::string_view() : text.substr(nl + 1);
    line_no++;
    while (!line.empty() && (line.back() == '\r' || line.back() == ' ')) line.remove_suffix(1);
    if (line.empty() || line[0] == '#') continue;
    auto bad = [&](std::string_view why) {
      return Status::InvalidArgument("keys file line " + std::to_string(line_no) + ": " + std::string(why));
    };
    if (!header) {
      if (line != kGrantKeysHeader) return bad("expected '" + std::string(kGrantKeysHeader) + "'");
      header = true;
      continue;
    }
    size_t sp = line.find(' ');
    uint64_t id;
    std::string secret;
    if (sp == std::string_view::npos || !ParseCanonicalU64(line.substr(0, sp), &id) || id == 0) {
      return bad("expected '<key id> <hex secret>'");
    }
    if (!HexDecode(line.substr(sp + 1), &secret) || secret.size() != kGrantKeyBytes) {
      return bad("secret must be " + std::to_string(kGrantKeyBytes * 2) + " hex digits");
    }
    if (!keys.emplace(id, std::move(secret)).second) return bad("duplicate key id");
  }
  if (!header) return Status::InvalidArgument("keys file: missing '" + std::string(kGrantKeysHeader) + "' header");
  return keys;
}

}  // namespace lockq
