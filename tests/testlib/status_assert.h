#pragma once
// LQ_ASSERT_OK(expr): fails the test, naming the expression and the
// Status, when expr's Status or Result is not ok.

#include <gtest/gtest.h>

#define LQ_ASSERT_OK(expr)                                     \
  do {                                                         \
    auto _st = (expr);                                         \
    ASSERT_TRUE(_st.ok()) << #expr << ": " << _st.ToString(); \
  } while (0)
