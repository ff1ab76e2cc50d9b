#pragma once
// SHA-1 (FIPS 180-4, section 6.1), used only to name Lua scripts as Redis
// does (EVALSHA, SCRIPT LOAD). Not for security: SHA-1 is broken for
// collision resistance, but script names only need Redis compatibility.
// Written here so lockq_sm needs no crypto library.

#include <array>
#include <cstdint>
#include <string>
#include <string_view>

namespace lockq::sm {

using Sha1Digest = std::array<uint8_t, 20>;

Sha1Digest Sha1(std::string_view data);
// 40 lower-case hex digits, the form Redis prints.
std::string Sha1Hex(std::string_view data);

}  // namespace lockq::sm
