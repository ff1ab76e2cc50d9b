#include "server/acl_config.h"

#include <fstream>

#include "common/strings.h"
#include "sm/acl_check.h"
#include "sm/acl_store.h"
#include "sm/acl_user.h"

namespace lockq::server {

namespace {

constexpr size_t kAclFileLinesMax = sm::kAclUsersMax;

Status CheckLine(const std::string& line, const std::string& where) {
  std::vector<std::string_view> words = sm::SplitAclLine(line);
  sm::AclUser scratch = sm::NewAclUser(std::string(words[0]));
  std::vector<std::string_view> rules(words.begin() + 1, words.end());
  if (auto err = sm::ApplyAclRules(&scratch, rules)) return Status::InvalidArgument(where + ": " + *err);
  return Status::Ok();
}

Status ReadAclFile(const std::string& path, std::vector<std::string>* out) {
  std::ifstream in(path);
  if (!in) return Status::InvalidArgument("--aclfile " + path + ": cannot open");
  std::string line;
  for (int lineno = 1; std::getline(in, line); lineno++) {
    std::string where = "--aclfile " + path + ":" + std::to_string(lineno);
    if (!line.empty() && line.back() == '\r') line.pop_back();
    std::vector<std::string_view> words = sm::SplitAclLine(line);
    if (words.empty() || words[0][0] == '#') continue;
    if (words[0] != "user" || words.size() < 2) return Status::InvalidArgument(where + ": expected 'user <name> <rules...>'");
    if (!sm::ValidAclUserName(words[1])) return Status::InvalidArgument(where + ": bad user name");
    // A file line describes its user completely (as in Redis's ACL LOAD).
    std::string boot = std::string(words[1]) + " reset";
    for (size_t i = 2; i < words.size(); i++) boot += " " + sm::HashCleartextRule(words[i]);
    if (Status s = CheckLine(boot, where); !s.ok()) return s;
    if (out->size() >= kAclFileLinesMax) return Status::InvalidArgument(where + ": too many users");
    out->push_back(std::move(boot));
  }
  return Status::Ok();
}

}  // namespace

Result<std::vector<std::string>> AclBootLines(const std::string& aclfile, const std::string& requirepass) {
  std::vector<std::string> lines;
  if (!aclfile.empty()) {
    if (Status s = ReadAclFile(aclfile, &lines); !s.ok()) return s;
  }
  if (!requirepass.empty()) lines.push_back("default resetpass #" + sm::Sha256Hex(requirepass));
  return lines;
}

}  // namespace lockq::server
