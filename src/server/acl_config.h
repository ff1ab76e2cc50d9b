#pragma once
// --aclfile and --requirepass -> the lines of LOCKQ.ACLBOOT
// (sm/acl_family.cc): "name reset rule..." per file user, then
// "default resetpass #sha256" for --requirepass. Cleartext passwords
// (">pw", "<pw") become their SHA-256 ("#hex", "!hex") here, so they never
// reach the log or a snapshot. Every line is checked with the state
// machine's own rule parser, so a bad file stops lockqd at start (exit 2)
// rather than failing at apply.

#include <string>
#include <vector>

#include "common/status.h"

namespace lockq::server {

Result<std::vector<std::string>> AclBootLines(const std::string& aclfile, const std::string& requirepass);

}  // namespace lockq::server
