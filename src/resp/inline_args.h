#pragma once
// Splitting of an inline command line into arguments, with the quoting rules
// of Redis's sdssplitargs() (sds.c), which redis-cli also uses:
//   - arguments are separated by whitespace (space, \t, \r, \n, \v, \f);
//   - "double quotes" understand \n \r \t \b \a \\ \" and \xHH escapes; any
//     other escaped byte stands for itself;
//   - 'single quotes' are literal except \' for a quote;
//   - a closing quote must be followed by whitespace or the end of the line;
//   - a quote inside an unquoted word opens quoting (foo"bar" is foobar);
//   - a NUL byte ends the line (sdssplitargs works on a C string).

#include <string_view>

#include "common/argv.h"

namespace lockq::resp {

// Appends the arguments of `line` to `out`. Returns false on unbalanced
// quotes (then `out` holds what was split before the bad argument).
bool SplitInlineArgs(std::string_view line, Argv* out);

// Parses a decimal integer as Redis's string2ll() does: an optional '-',
// no '+', no leading zeros, no spaces, no overflow. Used for the `*N` and
// `$N` header lines of requests.
bool ParseStrictInt64(std::string_view s, int64_t* value);

}  // namespace lockq::resp
