#pragma once
// One table for what an error line means (docs/architecture.md, "Outcomes"):
// whether the command was not executed (safe to retry anywhere), may or may
// not have been applied (check before retrying), or was answered (executed
// or refused by the state machine; retrying will not change it), plus the
// liblockq status code and the AMQP 0-9-1 reply code it maps to.
//
// Classification reads only the line's stable prefix: its code word (the
// first word, as Redis clients read it) or, for TRYAGAIN, the fixed words
// before the details. The server, the AMQP front end and liblockq all use
// this table, so they cannot disagree; the wording on the wire is unchanged
// (server/errors.h, sm/errors.h).

#include <cstdint>
#include <string_view>

#include "lockq/status.h"

namespace lockq {

enum class Outcome : uint8_t {
  kNotExecuted,  // never reached the log: retry anywhere
  kUnknown,      // may have been applied: check before retrying
  kAnswered,     // executed, or refused by a rule: the answer is final
};

struct ErrorClass {
  std::string_view prefix;  // matched against the start of the line
  Outcome outcome;
  StatusCode status;
  uint16_t amqp_code;       // AMQP 0-9-1 reply code
  std::string_view amqp_name;
  bool amqp_connection;     // a connection error (else a channel error)
};

// The class of an error line (without the leading '-'). Lines no row
// matches are answered server errors (541 INTERNAL_ERROR on AMQP).
const ErrorClass& ClassifyError(std::string_view line);

// Not executed or unknown: the command was not answered by the state
// machine (a TRYAGAIN of any kind).
inline bool IsTryAgain(std::string_view line) { return ClassifyError(line).outcome != Outcome::kAnswered; }

}  // namespace lockq
