// The outcome table (common/error_class.h) against the exact lines lockqd
// sends (server/errors.h, sm/errors.h, the lock-wait backstop): the wording
// is a wire contract, so the literals are repeated here on purpose.

#include "common/error_class.h"

#include <gtest/gtest.h>

namespace lockq {
namespace {

TEST(ErrorClass, NotExecutedTryAgainLines) {
  for (const char* line : {"TRYAGAIN no leader elected; retry shortly", "TRYAGAIN this node is not the leader",
                           "TRYAGAIN cannot reach the leader; not executed, retry shortly",
                           "TRYAGAIN server shutting down"}) {
    EXPECT_EQ(ClassifyError(line).outcome, Outcome::kNotExecuted) << line;
    EXPECT_EQ(ClassifyError(line).status, StatusCode::kUnavailable) << line;
    EXPECT_TRUE(IsTryAgain(line)) << line;
  }
}

TEST(ErrorClass, OutcomeUnknownTryAgainLines) {
  for (const char* line : {"TRYAGAIN leader changed; outcome unknown, check before retrying",
                           "TRYAGAIN cannot reach the leader; outcome unknown",
                           "TRYAGAIN leadership lost before commit; outcome unknown",
                           "TRYAGAIN server shutting down; outcome unknown",
                           "TRYAGAIN no answer to the lock wait (no leader?); outcome unknown, the request is being "
                           "cancelled",
                           "TRYAGAIN a line this table has never seen"}) {
    EXPECT_EQ(ClassifyError(line).outcome, Outcome::kUnknown) << line;
    EXPECT_EQ(ClassifyError(line).status, StatusCode::kOutcomeUnknown) << line;
    EXPECT_EQ(ClassifyError(line).amqp_code, 320) << line;
    EXPECT_TRUE(ClassifyError(line).amqp_connection) << line;
  }
}

TEST(ErrorClass, AnsweredErrorsMapToAmqpCodes) {
  struct Row {
    const char* line;
    uint16_t code;
    bool connection;
    StatusCode status;
  };
  for (const Row& r : {Row{"NOTFOUND no queue 'q'", 404, false, StatusCode::kNotFound},
                       Row{"LOCKED queue 'q' is exclusive to another connection", 405, false,
                           StatusCode::kFailedPrecondition},
                       Row{"PRECONDITION inequivalent arg 'durable'", 406, false, StatusCode::kFailedPrecondition},
                       Row{"ACCESSREFUSED queue 'q' is exclusive", 403, false, StatusCode::kPermissionDenied},
                       Row{"NOTALLOWED vhost", 530, true, StatusCode::kFailedPrecondition},
                       Row{"ERR queue engine limit reached", 506, false, StatusCode::kResourceExhausted},
                       Row{"NOTOWNER lock is not held with this token", 406, false, StatusCode::kFailedPrecondition},
                       Row{"ERR syntax error", 541, false, StatusCode::kServerError}}) {
    const ErrorClass& c = ClassifyError(r.line);
    EXPECT_EQ(c.outcome, Outcome::kAnswered) << r.line;
    EXPECT_EQ(c.amqp_code, r.code) << r.line;
    EXPECT_EQ(c.amqp_connection, r.connection) << r.line;
    EXPECT_EQ(c.status, r.status) << r.line;
    EXPECT_FALSE(IsTryAgain(r.line)) << r.line;
  }
}

TEST(ErrorClass, CodeWordsMatchWholeWordsOnly) {
  EXPECT_EQ(ClassifyError("LOCKEDOUT something").amqp_code, 541);
  EXPECT_EQ(ClassifyError("TRYAGAINX").outcome, Outcome::kAnswered);
  EXPECT_EQ(ClassifyError("TRYAGAIN").outcome, Outcome::kUnknown);
  EXPECT_EQ(ClassifyError("").outcome, Outcome::kAnswered);
}

}  // namespace
}  // namespace lockq
