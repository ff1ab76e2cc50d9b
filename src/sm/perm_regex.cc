#include "sm/perm_regex.h"

#define PCRE2_CODE_UNIT_WIDTH 8
#include <pcre2.h>

#include <map>
#include <memory>
#include <mutex>

#include "sm/acl_user.h"

namespace lockq::sm {

namespace {

// Enough for any sane pattern against a 255-byte AMQP short string; a
// pathological one (nested quantifiers) stops here instead of stalling
// apply.
constexpr uint32_t kMatchLimit = 100000;
constexpr uint32_t kDepthLimit = 1000;
constexpr size_t kCacheMax = 4096;

struct CodeFree {
  void operator()(pcre2_code* c) const { pcre2_code_free(c); }
};
using Code = std::unique_ptr<pcre2_code, CodeFree>;

Code Compile(std::string_view pattern) {
  int error = 0;
  PCRE2_SIZE offset = 0;
  return Code(pcre2_compile(reinterpret_cast<PCRE2_SPTR>(pattern.data()), pattern.size(), 0,
                            &error, &offset, nullptr));
}

class Cache {
 public:
  // nullptr: the pattern does not compile.
  std::shared_ptr<pcre2_code> Get(std::string_view pattern) {
    std::lock_guard lock(mu_);
    auto it = codes_.find(pattern);
    if (it != codes_.end()) return it->second;
    if (codes_.size() >= kCacheMax) codes_.clear();
    std::shared_ptr<pcre2_code> code(Compile(pattern).release(), CodeFree());
    codes_.emplace(std::string(pattern), code);
    return code;
  }

 private:
  std::mutex mu_;
  std::map<std::string, std::shared_ptr<pcre2_code>, std::less<>> codes_;
};

Cache& TheCache() {
  static Cache* cache = new Cache;
  return *cache;
}

}  // namespace

bool ValidPermissionRegex(std::string_view pattern) {
  return pattern.size() <= kAclPatternMax && Compile(pattern) != nullptr;
}

bool PermissionMatches(std::string_view pattern, std::string_view subject) {
  if (pattern.empty()) return false;   // RabbitMQ: '' matches nothing
  if (pattern == ".*") return true;    // the common grant: no regex on the hot path
  std::shared_ptr<pcre2_code> code = TheCache().Get(pattern);
  if (code == nullptr) return false;  // validated when set; fail closed anyway
  pcre2_match_context* ctx = pcre2_match_context_create(nullptr);
  pcre2_set_match_limit(ctx, kMatchLimit);
  pcre2_set_depth_limit(ctx, kDepthLimit);
  pcre2_match_data* md = pcre2_match_data_create_from_pattern(code.get(), nullptr);
  int rc = pcre2_match(code.get(), reinterpret_cast<PCRE2_SPTR>(subject.data()), subject.size(), 0, 0, md, ctx);
  pcre2_match_data_free(md);
  pcre2_match_context_free(ctx);
  return rc >= 0;  // no match, a limit hit or invalid UTF-8 all deny
}

std::string ExpandPermissionPattern(std::string_view pattern, std::string_view user, std::string_view vhost) {
  if (pattern.find('{') == std::string_view::npos) return std::string(pattern);
  std::string out;
  for (size_t i = 0; i < pattern.size();) {
    if (pattern.substr(i).starts_with("{username}")) {
      out += user;
      i += 10;
    } else if (pattern.substr(i).starts_with("{vhost}")) {
      out += vhost;
      i += 7;
    } else {
      out += pattern[i++];
    }
  }
  return out;
}

}  // namespace lockq::sm
