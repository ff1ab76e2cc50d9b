#pragma once
// Hex encoding for secrets and digests on text interfaces (grant keys,
// grant MACs).

#include <string>
#include <string_view>

namespace lockq {

std::string HexEncode(std::string_view bytes);  // lower case
// Lower or upper case, even length; false (and *out unspecified) otherwise.
bool HexDecode(std::string_view hex, std::string* out);

}  // namespace lockq
