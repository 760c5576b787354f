/*
 * A tiny TAP test harness: each CHECK prints "ok N - what" or "not ok N - what" with
 * both sides of a failed comparison; test_done() prints the plan and the exit code.
 */
#ifndef GROVE_TEST_H
#define GROVE_TEST_H

#include <inttypes.h>
#include <stdio.h>
#include <string.h>

static int test_count, test_failed;

static inline void test_result(int ok, const char *file, int line, const char *what) {
  test_count++;
  if (!ok) test_failed++;
  printf("%s %d - %s", ok ? "ok" : "not ok", test_count, what);
  if (!ok) printf(" (%s:%d)", file, line);
  printf("\n");
  fflush(stdout);
}

#define CHECK(cond, what) test_result(!!(cond), __FILE__, __LINE__, (what))

#define CHECK_EQ_INT(a, b, what)                                                                \
  do {                                                                                          \
    long long a_ = (long long)(a), b_ = (long long)(b);                                         \
    if (a_ != b_) printf("# %s: %lld != %lld\n", #a " == " #b, a_, b_);                         \
    test_result(a_ == b_, __FILE__, __LINE__, (what));                                          \
  } while (0)

/* Passes when HAYSTACK contains NEEDLE; prints the haystack otherwise. */
#define CHECK_CONTAINS(haystack, needle, what)                                                  \
  do {                                                                                          \
    const char *h_ = (haystack), *n_ = (needle);                                                \
    int ok_ = h_ != NULL && strstr(h_, n_) != NULL;                                             \
    if (!ok_) printf("# expected \"%s\" in \"%s\"\n", n_, h_ ? h_ : "(null)");                   \
    test_result(ok_, __FILE__, __LINE__, (what));                                               \
  } while (0)

static inline int test_done(void) {
  printf("1..%d\n", test_count);
  if (test_failed) printf("# %d of %d failed\n", test_failed, test_count);
  return test_failed ? 1 : 0;
}

#endif /* GROVE_TEST_H */
