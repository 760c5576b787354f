/* Helpers shared by the fuzz targets. */
#ifndef GROVE_FUZZ_COMMON_H
#define GROVE_FUZZ_COMMON_H

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "grove_engine.h"

/* A broken promise of the code under test: abort, so the fuzzer records the input. */
static inline void fuzz_contract_violated(const char *area, const char *what, const char *msg) {
  fprintf(stderr, "%s contract violated: %s (message: \"%s\")\n", area, what, msg);
  abort();
}

/* Loads a model embedded in the target; it is known good, so failing is a harness bug. */
static inline grove_forest_t *fuzz_load_or_die(const char *json) {
  grove_forest_t *forest = NULL;
  grove_error_t err;
  if (grove_forest_load_buffer(json, strlen(json), "embedded", &forest, &err) != GROVE_OK) {
    fprintf(stderr, "the embedded model does not load: %s\n", err.msg);
    abort();
  }
  return forest;
}

#endif /* GROVE_FUZZ_COMMON_H */
