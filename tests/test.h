/*
 * A tiny TAP test harness: each CHECK prints "ok N - what" or "not ok N - what" with
 * both sides of a failed comparison; test_done() prints the plan and the exit code.
 */
#ifndef GROVE_TEST_H
#define GROVE_TEST_H

#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
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

/* A check this machine cannot run (WHY: say what is missing): a TAP skip, or under CI=true,
 * where every test must run, a failure. */
#define CHECK_CANNOT_RUN(what, why) test_cannot_run(__FILE__, __LINE__, (what), (why))
static inline void test_cannot_run(const char *file, int line, const char *what, const char *why) {
  const char *ci = getenv("CI");
  if (ci != NULL && strcmp(ci, "true") == 0) {
    printf("# %s (CI=true: it must run)\n", why);
    test_result(0, file, line, what);
    return;
  }
  printf("ok %d - %s # SKIP %s\n", ++test_count, what, why);
  fflush(stdout);
}

/* A check that needs ISA ("avx512"), which this CPU lacks: as CHECK_CANNOT_RUN, unless the
 * suite also runs it in a tree whose kernels of that ISA are emulated (scripts/test.sh builds
 * one where the CPU lacks AVX-512 and sets GROVE_TEST_EMULATED_ISA): then a skip that says
 * where it runs. */
#define CHECK_CANNOT_RUN_ISA(what, isa, why) \
  test_cannot_run_isa(__FILE__, __LINE__, (what), (isa), (why))
static inline void test_cannot_run_isa(const char *file, int line, const char *what,
                                       const char *isa, const char *why) {
  const char *emulated = getenv("GROVE_TEST_EMULATED_ISA");
  if (emulated == NULL || strcmp(emulated, isa) != 0) {
    test_cannot_run(file, line, what, why);
    return;
  }
  printf("ok %d - %s # SKIP %s: the tree with emulated %s kernels runs it\n", ++test_count, what,
         why, isa);
  fflush(stdout);
}

#define CHECK_EQ_INT(a, b, what)                                        \
  do {                                                                  \
    long long a_ = (long long)(a), b_ = (long long)(b);                 \
    if (a_ != b_) printf("# %s: %lld != %lld\n", #a " == " #b, a_, b_); \
    test_result(a_ == b_, __FILE__, __LINE__, (what));                  \
  } while (0)

/* Passes when HAYSTACK contains NEEDLE; prints the haystack otherwise. */
#define CHECK_CONTAINS(haystack, needle, what)                                 \
  do {                                                                         \
    const char *h_ = (haystack), *n_ = (needle);                               \
    int ok_ = h_ != NULL && strstr(h_, n_) != NULL;                            \
    if (!ok_) printf("# expected \"%s\" in \"%s\"\n", n_, h_ ? h_ : "(null)"); \
    test_result(ok_, __FILE__, __LINE__, (what));                              \
  } while (0)

/* Reads a whole file, NUL-terminated; a committed fixture that cannot be read ends the
 * run with "Bail out!" (TAP's way to say the test itself cannot go on). */
static inline char *test_read_file(const char *path, size_t *len) {
  FILE *fp = fopen(path, "rb");
  char *data = NULL;
  long size = -1;
  if (fp != NULL && fseek(fp, 0, SEEK_END) == 0 && (size = ftell(fp)) >= 0 &&
      fseek(fp, 0, SEEK_SET) == 0 && (data = malloc((size_t)size + 1)) != NULL &&
      fread(data, 1, (size_t)size, fp) == (size_t)size) {
    fclose(fp);
    data[size] = '\0';
    *len = (size_t)size;
    return data;
  }
  printf("Bail out! cannot read %s\n", path);
  exit(1);
}

static inline int test_done(void) {
  printf("1..%d\n", test_count);
  if (test_failed) printf("# %d of %d failed\n", test_failed, test_count);
  return test_failed ? 1 : 0;
}

#endif /* GROVE_TEST_H */
