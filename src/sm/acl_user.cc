#include "sm/acl_user.h"

#include <openssl/crypto.h>
#include <openssl/evp.h>

#include <algorithm>

#include "common/strings.h"
#include "sm/command_table.h"
#include "sm/glob.h"

namespace lockq::sm {

namespace {

// Redis's reasons (src/acl.c ACLSetUserStringError), byte for byte.
constexpr std::string_view kReasonSyntax = "Syntax error";
constexpr std::string_view kReasonUnknownName = "Unknown command or category name in ACL";
constexpr std::string_view kReasonNoSuchPassword =
    "The password you are trying to remove from the user does not exist";
constexpr std::string_view kReasonBadHash =
    "The password hash must be exactly 64 characters and contain only lowercase hexadecimal characters";
// lockq's own, for what Redis has and lockq does not (yet).
constexpr std::string_view kReasonSelectors = "Selectors are not supported by lockq";
constexpr std::string_view kReasonTooMany = "Too many passwords, patterns or command rules for one user";
constexpr std::string_view kReasonTooLong = "Pattern longer than 1024 bytes";

bool IsLowerHex64(std::string_view s) {
  if (s.size() != 64) return false;
  return std::all_of(s.begin(), s.end(), [](char c) { return (c >= '0' && c <= '9') || (c >= 'a' && c <= 'f'); });
}

// A command rule's body ("get", "acl|whoami", "@read") is known: a
// client command of the state machine or of the front end.
bool KnownCommand(std::string_view name) {
  const CommandDef* def = FindCommandDef(name);
  if (def != nullptr) return !(def->spec.flags & kCmdInternal);
  return FindFrontEndCommand(name) != nullptr;
}

std::optional<std::string> AddCommandRule(AclUser* u, char sign, std::string_view body) {
  std::string norm = ToLower(body);
  if (norm.empty()) return std::string(kReasonSyntax);
  if (norm[0] == '@') {
    if (norm != "@all" && !AclCategoryByName(std::string_view(norm).substr(1))) {
      return std::string(kReasonUnknownName);
    }
  } else {
    size_t bar = norm.find('|');
    std::string_view cmd = std::string_view(norm).substr(0, bar);
    if (!KnownCommand(cmd)) return std::string(kReasonUnknownName);
    if (bar != std::string::npos) {
      std::string_view sub = std::string_view(norm).substr(bar + 1);
      if (sub.empty() || sub.find('|') != std::string_view::npos) return std::string(kReasonSyntax);
    }
  }
  std::vector<std::string>& rules = u->command_rules;
  if (norm == "@all") {
    rules.clear();  // +@all / -@all decide every command: earlier rules no longer matter
  } else {
    rules.erase(std::remove_if(rules.begin(), rules.end(),
                               [&](const std::string& r) { return std::string_view(r).substr(1) == norm; }),
                rules.end());
  }
  if (rules.size() >= kAclCommandRulesMax) return std::string(kReasonTooMany);
  rules.push_back(std::string(1, sign) + norm);
  return std::nullopt;
}

// Patterns and names must survive the ACL-file form (space separated).
bool PrintableWord(std::string_view s) {
  return std::all_of(s.begin(), s.end(), [](char c) { return static_cast<unsigned char>(c) > ' ' && c != 127; });
}

std::optional<std::string> AddKeyPattern(AclUser* u, uint8_t access, std::string_view pattern) {
  if (pattern.size() > kAclPatternMax) return std::string(kReasonTooLong);
  if (!PrintableWord(pattern)) return std::string(kReasonSyntax);
  for (KeyPattern& k : u->keys) {
    if (k.pattern == pattern) {
      k.access |= access;
      return std::nullopt;
    }
  }
  if (u->keys.size() >= kAclPatternsMax) return std::string(kReasonTooMany);
  u->keys.push_back(KeyPattern{access, std::string(pattern)});
  return std::nullopt;
}

std::optional<std::string> AddChannelPattern(AclUser* u, std::string_view pattern) {
  if (pattern.size() > kAclPatternMax) return std::string(kReasonTooLong);
  if (!PrintableWord(pattern)) return std::string(kReasonSyntax);
  if (std::find(u->channels.begin(), u->channels.end(), pattern) != u->channels.end()) return std::nullopt;
  if (u->channels.size() >= kAclPatternsMax) return std::string(kReasonTooMany);
  u->channels.emplace_back(pattern);
  return std::nullopt;
}

// "%R~pat", "%W~pat", "%RW~pat" (7.0).
std::optional<std::string> AddPercentKeyPattern(AclUser* u, std::string_view rule) {
  size_t tilde = rule.find('~');
  if (tilde == std::string_view::npos || tilde == 1) return std::string(kReasonSyntax);
  uint8_t access = 0;
  for (char c : rule.substr(1, tilde - 1)) {
    if (c == 'R' || c == 'r') {
      access |= kKeyRead;
    } else if (c == 'W' || c == 'w') {
      access |= kKeyWrite;
    } else {
      return std::string(kReasonSyntax);
    }
  }
  return AddKeyPattern(u, access, rule.substr(tilde + 1));
}

std::optional<std::string> AddPassword(AclUser* u, std::string hash_hex) {
  Credential c{CredentialScheme::kSha256, "", std::move(hash_hex), 0};
  if (!u->credentials.count(c) && u->credentials.size() >= kAclPasswordsMax) return std::string(kReasonTooMany);
  u->credentials.insert(std::move(c));
  u->nopass = false;
  return std::nullopt;
}

std::optional<std::string> RemovePassword(AclUser* u, std::string hash_hex) {
  if (u->credentials.erase(Credential{CredentialScheme::kSha256, "", std::move(hash_hex), 0}) == 0) {
    return std::string(kReasonNoSuchPassword);
  }
  return std::nullopt;
}

// Keyword rules (case-insensitive). nullopt in the outer optional: not a
// keyword.
std::optional<std::optional<std::string>> ApplyKeyword(AclUser* u, std::string_view rule) {
  std::string k = ToLower(rule);
  if (k == "on") {
    u->enabled = true;
  } else if (k == "off") {
    u->enabled = false;
  } else if (k == "nopass") {
    u->nopass = true;
    u->credentials.clear();
  } else if (k == "resetpass") {
    u->nopass = false;
    u->credentials.clear();
  } else if (k == "allkeys") {
    u->keys.clear();
    u->keys.push_back(KeyPattern{kKeyReadWrite, "*"});
  } else if (k == "resetkeys") {
    u->keys.clear();
  } else if (k == "allchannels") {
    u->channels.assign({"*"});
  } else if (k == "resetchannels") {
    u->channels.clear();
  } else if (k == "allcommands") {
    return AddCommandRule(u, '+', "@all");
  } else if (k == "nocommands") {
    return AddCommandRule(u, '-', "@all");
  } else if (k == "reset") {
    AclUser fresh = NewAclUser(u->name);
    fresh.tags = std::move(u->tags);
    fresh.vhosts = std::move(u->vhosts);
    fresh.topics = std::move(u->topics);
    *u = std::move(fresh);
  } else if (k == "clearselectors" || k == "sanitize-payload" || k == "skip-sanitize-payload") {
    // No selectors and no RESTORE in lockq: nothing to change.
  } else {
    return std::nullopt;
  }
  return std::optional<std::string>{};
}

}  // namespace

AclUser NewAclUser(std::string name) {
  AclUser u;
  u.name = std::move(name);
  return u;
}

AclUser DefaultAclUser() {
  AclUser u = NewAclUser("default");
  u.enabled = true;
  u.nopass = true;
  u.keys.push_back(KeyPattern{kKeyReadWrite, "*"});
  u.channels.push_back("*");
  u.command_rules.push_back("+@all");
  return u;
}

std::optional<std::string> ApplyAclRule(AclUser* u, std::string_view rule) {
  if (auto r = ApplyKeyword(u, rule)) return *r;
  if (rule.empty()) return std::string(kReasonSyntax);
  std::string_view rest = rule.substr(1);
  switch (rule[0]) {
    case '>':
      return AddPassword(u, Sha256Hex(rest));
    case '<':
      return RemovePassword(u, Sha256Hex(rest));
    case '#':
      if (!IsLowerHex64(rest)) return std::string(kReasonBadHash);
      return AddPassword(u, std::string(rest));
    case '!':
      if (!IsLowerHex64(rest)) return std::string(kReasonBadHash);
      return RemovePassword(u, std::string(rest));
    case '~':
      return AddKeyPattern(u, kKeyReadWrite, rest);
    case '%':
      return AddPercentKeyPattern(u, rule);
    case '&':
      return AddChannelPattern(u, rest);
    case '+':
    case '-':
      return AddCommandRule(u, rule[0], rest);
    case '(':
      return std::string(kReasonSelectors);
    default:
      return std::string(kReasonSyntax);
  }
}

std::optional<std::string> ApplyAclRules(AclUser* user, const std::vector<std::string_view>& rules) {
  AclUser copy = *user;
  for (std::string_view rule : rules) {
    if (auto reason = ApplyAclRule(&copy, rule)) {
      return "ERR Error in ACL SETUSER modifier '" + std::string(rule) + "': " + *reason;
    }
  }
  *user = std::move(copy);
  return std::nullopt;
}

std::string AclKeysString(const AclUser& u) {
  std::string out;
  for (const KeyPattern& k : u.keys) {
    if (!out.empty()) out += ' ';
    if (k.access == kKeyRead) {
      out += "%R~";
    } else if (k.access == kKeyWrite) {
      out += "%W~";
    } else {
      out += "~";
    }
    out += k.pattern;
  }
  return out;
}

std::string AclChannelsString(const AclUser& u) {
  std::string out;
  for (const std::string& c : u.channels) {
    if (!out.empty()) out += ' ';
    out += "&" + c;
  }
  return out;
}

std::string AclCommandsString(const AclUser& u) {
  const auto& rules = u.command_rules;
  std::string out;
  if (rules.empty() || std::string_view(rules[0]).substr(1) != "@all") out = "-@all";
  for (const std::string& r : rules) {
    if (!out.empty()) out += ' ';
    out += r;
  }
  return out;
}

std::string DescribeAclUser(const AclUser& u) {
  std::string out = "user " + u.name + (u.enabled ? " on" : " off");
  if (u.nopass) out += " nopass";
  for (const Credential& c : u.credentials) {
    if (c.scheme == CredentialScheme::kSha256) out += " #" + c.hash_hex;
  }
  if (std::string k = AclKeysString(u); !k.empty()) out += " " + k;
  out += u.channels.empty() ? " resetchannels" : " " + AclChannelsString(u);
  out += " " + AclCommandsString(u);
  return out;
}

namespace {

// A command rule's body ("get", "acl|whoami"; rules are stored lower case)
// names `command` or `command|sub`. No allocation: this runs for every
// command of a restricted user, twice (front end and apply).
bool NamesCommand(std::string_view body, std::string_view command, std::string_view sub) {
  if (EqualsIgnoreCase(body, command)) return true;
  size_t n = command.size();
  return !sub.empty() && body.size() == n + 1 + sub.size() && body[n] == '|' &&
         EqualsIgnoreCase(body.substr(0, n), command) && EqualsIgnoreCase(body.substr(n + 1), sub);
}

}  // namespace

bool AclAllowsCommand(const AclUser& u, std::string_view command, std::string_view sub, uint32_t categories) {
  bool allowed = false;
  for (const std::string& rule : u.command_rules) {
    std::string_view body = std::string_view(rule).substr(1);
    bool match;
    if (body[0] == '@') {
      if (body == "@all") {
        match = true;
      } else {
        auto cat = AclCategoryByName(body.substr(1));
        match = cat && (categories & *cat);
      }
    } else {
      match = NamesCommand(body, command, sub);
    }
    if (match) allowed = rule[0] == '+';
  }
  return allowed;
}

bool AclAllowsKey(const AclUser& u, std::string_view key, uint8_t access) {
  // Redis checks read and write separately: each may come from a different
  // pattern. kKeyAny: any pattern, whatever its access.
  uint8_t missing = access == kKeyAny ? static_cast<uint8_t>(kKeyReadWrite) : access;
  for (const KeyPattern& k : u.keys) {
    if ((k.access & missing) == 0) continue;
    if (!(k.pattern == "*" || GlobMatch(k.pattern, key))) continue;
    if (access == kKeyAny) return true;
    missing &= static_cast<uint8_t>(~k.access);
    if (missing == 0) return true;
  }
  return false;
}

bool AclCheckPassword(const AclUser& u, std::string_view password) {
  if (u.nopass) return true;
  std::string hex = Sha256Hex(password);
  bool ok = false;
  for (const Credential& c : u.credentials) {
    // Other schemes (rabbit_sha256, pbkdf2) come with AMQP and HTTP.
    if (c.scheme != CredentialScheme::kSha256 || c.hash_hex.size() != hex.size()) continue;
    ok |= CRYPTO_memcmp(c.hash_hex.data(), hex.data(), hex.size()) == 0;
  }
  return ok;
}

std::string HashCleartextRule(std::string_view rule) {
  if (!rule.empty() && rule[0] == '>') return "#" + Sha256Hex(rule.substr(1));
  if (!rule.empty() && rule[0] == '<') return "!" + Sha256Hex(rule.substr(1));
  return std::string(rule);
}

std::string Sha256Hex(std::string_view data) {
  unsigned char md[EVP_MAX_MD_SIZE];
  unsigned int len = 0;
  EVP_Digest(data.data(), data.size(), md, &len, EVP_sha256(), nullptr);
  static constexpr char kHex[] = "0123456789abcdef";
  std::string out;
  out.reserve(len * 2);
  for (unsigned int i = 0; i < len; i++) {
    out += kHex[md[i] >> 4];
    out += kHex[md[i] & 15];
  }
  return out;
}

bool ValidAclUserName(std::string_view name) {
  return !name.empty() && name.size() <= kAclNameMax && PrintableWord(name);
}

std::optional<VhostPermissions> AclVhostPermissions(const AclUser& user, std::string_view vhost) {
  if (auto it = user.vhosts.find(std::string(vhost)); it != user.vhosts.end()) return it->second;
  if (user.vhosts.empty() && user.command_rules.size() == 1 && user.command_rules[0] == "+@all") {
    return VhostPermissions{".*", ".*", ".*"};
  }
  return std::nullopt;
}

}  // namespace lockq::sm
