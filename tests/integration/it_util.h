#pragma once
// Small helpers shared by the integration tests (tests/integration/*_test.cc).

#include <gtest/gtest.h>

#include <cstdio>
#include <map>
#include <string>
#include <vector>

#include "client/resp_connection.h"
#include "sm/reply.h"
#include "testlib/process_cluster.h"
#include "testlib/status_assert.h"

namespace lockq::testing {

// Connects or fails the test.
#define LQ_CONNECT(var, cluster, i)                                               \
  auto var##_r = (cluster).Client(i);                                             \
  ASSERT_TRUE(var##_r.ok()) << "connect node " << (i) << ": " << var##_r.status().ToString(); \
  client::RespConnection var = std::move(var##_r.value())

inline std::string Dbg(const sm::Reply& r) {
  std::string s = sm::ToDebugString(r);
  if (s.size() > 300) s = s.substr(0, 300) + "...";
  return s;
}

inline bool IsOk(const Result<sm::Reply>& r) {
  return r.ok() && r->kind == sm::Reply::Kind::kStatus && r->str == "OK";
}

inline std::string Describe(const Result<sm::Reply>& r) { return r.ok() ? Dbg(r.value()) : r.status().ToString(); }

// Reads every key through `conn` with MGET in chunks and compares with
// `expected`; returns the number of mismatches (the first few are printed
// as test failures).
inline size_t CheckAllKeys(client::RespConnection& conn, const std::map<std::string, std::string>& expected,
                           const std::string& where, size_t chunk = 200) {
  std::vector<std::string> keys;
  for (const auto& [k, v] : expected) keys.push_back(k);
  size_t bad = 0;
  for (size_t i = 0; i < keys.size(); i += chunk) {
    sm::Argv argv = {"MGET"};
    for (size_t j = i; j < keys.size() && j < i + chunk; j++) argv.push_back(keys[j]);
    auto r = conn.Call(argv);
    if (!r.ok() || r->kind != sm::Reply::Kind::kArray || r->elems.size() != argv.size() - 1) {
      ADD_FAILURE() << where << ": MGET failed: " << Describe(r);
      return keys.size();
    }
    for (size_t j = 0; j < r->elems.size(); j++) {
      const std::string& key = keys[i + j];
      const sm::Reply& e = r->elems[j];
      if (e.kind != sm::Reply::Kind::kBulk || e.str != expected.at(key)) {
        if (bad < 5) ADD_FAILURE() << where << ": key " << key << " expected '" << expected.at(key) << "', got " << Dbg(e);
        bad++;
      }
    }
  }
  return bad;
}

}  // namespace lockq::testing
