/* What the engine benchmarks in bench/ share: thread CPU time and loading the model. */
#ifndef GROVE_BENCH_COMMON_H
#define GROVE_BENCH_COMMON_H

#include <stdio.h>
#include <time.h>

#include "grove_engine.h"

/* Thread CPU time: the machine is shared, and other work's time slices are not ours. */
static inline double bench_cpu_seconds(void) {
  struct timespec t;
  clock_gettime(CLOCK_THREAD_CPUTIME_ID, &t);
  return (double)t.tv_sec + (double)t.tv_nsec * 1e-9;
}

/* Loads PATH with its INFO; NULL after "TOOL: why" on stderr. */
static inline grove_forest_t *bench_load(const char *tool, const char *path,
                                         grove_forest_info_t *info) {
  grove_forest_t *f;
  grove_error_t err;
  if (grove_forest_load_file(path, &f, &err) != GROVE_OK) {
    fprintf(stderr, "%s: %s\n", tool, err.msg);
    return NULL;
  }
  grove_forest_get_info(f, info);
  return f;
}

#endif /* GROVE_BENCH_COMMON_H */
