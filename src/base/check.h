#pragma once

#include <cstdio>
#include <cstdlib>

// HUB_CHECK(cond): an invariant of our own code. Never use it on anything the network, a file or a
// user supplied: that is an error Status instead.
#define HUB_CHECK(cond)                                                                 \
  do {                                                                                  \
    if (!(cond)) {                                                                      \
      std::fprintf(stderr, "%s:%d: HUB_CHECK failed: %s\n", __FILE__, __LINE__, #cond); \
      std::abort();                                                                     \
    }                                                                                   \
  } while (0)
