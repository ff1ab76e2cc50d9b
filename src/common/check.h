#pragma once
// CHECK: for broken invariants only (STYLE.md habit 2). A failed CHECK is a
// bug in lockq, never a reaction to bad input: it prints and aborts.

#include <cstdio>
#include <cstdlib>

#define LOCKQ_CHECK(cond)                                                     \
  do {                                                                        \
    if (!(cond)) {                                                            \
      std::fprintf(stderr, "%s:%d: CHECK failed: %s\n", __FILE__, __LINE__, \
                   #cond);                                                    \
      std::abort();                                                           \
    }                                                                         \
  } while (0)
