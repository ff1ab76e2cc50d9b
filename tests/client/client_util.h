#pragma once
// Helpers for the liblockq tests (tests/client): a real cluster and a
// lockq::Client pointed at it.

#include <gtest/gtest.h>

#include <memory>
#include <string>
#include <vector>

#include "lockq/client.h"
#include "testlib/process_cluster.h"

namespace lockq::testing {

#define LQ_ASSERT_OK(expr)                                     \
  do {                                                         \
    auto _st = (expr);                                         \
    ASSERT_TRUE(_st.ok()) << #expr << ": " << _st.ToString(); \
  } while (0)

inline std::vector<std::string> Endpoints(const ProcessCluster& c) {
  std::vector<std::string> out;
  for (int i = 0; i < c.size(); i++) out.push_back(c.RespAddr(i));
  return out;
}

// Short backoff and budgets so failure paths finish quickly in tests.
inline ClientOptions FastOptions() {
  ClientOptions o;
  o.connect_timeout = std::chrono::milliseconds(1000);
  o.call_timeout = std::chrono::milliseconds(5000);
  o.retry_for = std::chrono::milliseconds(15000);
  o.backoff_initial = std::chrono::milliseconds(10);
  o.backoff_max = std::chrono::milliseconds(200);
  return o;
}

inline std::string Str(const Result<Reply>& r) { return r.ok() ? r->str : r.status().ToString(); }

}  // namespace lockq::testing
