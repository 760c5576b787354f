/*
 * Engine speed in thread CPU time: `cpu_time MODEL B[,B...] [SECONDS [ROWS.f32]]` scores
 * 65,536 rows in batches of B (margins, one thread): the rows grove_forest_synthesize_rows()
 * makes for MODEL, or those of ROWS.f32 (raw float32, row-major, cycled or cut to 65,536)
 * for SECONDS of this thread's CPU time (default 0.3) per batch size, and prints one JSON
 * line per batch size. CPU time leaves out the time the scheduler gives other processes, so
 * alternated runs of two builds compare on a shared machine where `grove bench`'s wall
 * clock scatters (bench/RESULTS.md, "LightGBM's arithmetic in the kernels"). It uses only
 * the API older engines have too, so the same file builds against either side.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "bench_common.h"
#include "grove_engine.h"

#define ROWS 65536

/* Scores batches of BATCH rows for LIMIT seconds of CPU time; returns ns per row. */
static double time_batches(const grove_forest_t *f, const float *rows, size_t batch, double limit,
                           float *out, size_t *done) {
  grove_forest_info_t info;
  grove_forest_get_info(f, &info);
  grove_predict_opts_t opts = {.margin = 1};
  grove_error_t err;
  for (size_t r = 0; r + batch <= ROWS && r < 4096; r += batch) /* warm the caches */
    grove_forest_predict(f, rows + r * info.num_features, batch, out, &opts, &err);
  const double t0 = bench_cpu_seconds();
  double t = t0;
  *done = 0;
  while (t - t0 < limit) {
    for (size_t r = 0; r + batch <= ROWS && t - t0 < limit; r += batch) {
      grove_forest_predict(f, rows + r * info.num_features, batch, out, &opts, &err);
      *done += batch;
      if (*done % 4096 < batch) t = bench_cpu_seconds();
    }
    t = bench_cpu_seconds();
  }
  return (t - t0) * 1e9 / (double)*done;
}

int main(int argc, char **argv) {
  if (argc < 3) {
    fprintf(stderr, "usage: cpu_time MODEL B[,B...] [SECONDS [ROWS.f32]]\n");
    return 2;
  }
  grove_forest_info_t info;
  grove_forest_t *f = bench_load("cpu_time", argv[1], &info);
  if (f == NULL) return 1;
  const double limit = argc > 3 ? atof(argv[3]) : 0.3;
  float *rows = malloc((size_t)ROWS * info.num_features * sizeof *rows);
  float *out = malloc((size_t)ROWS * info.num_groups * sizeof *out);
  if (rows == NULL || out == NULL) return 1;
  if (argc > 4) {
    FILE *in = fopen(argv[4], "rb");
    const size_t row_floats = info.num_features, want = (size_t)ROWS * row_floats;
    size_t got = in != NULL ? fread(rows, sizeof *rows, want, in) : 0;
    if (in != NULL) fclose(in);
    got -= got % (row_floats ? row_floats : 1);
    if (got == 0) {
      fprintf(stderr, "cpu_time: no rows of %zu floats in %s\n", row_floats, argv[4]);
      return 1;
    }
    for (size_t i = got; i < want; i++) rows[i] = rows[i % got]; /* cycled */
  } else {
    grove_forest_synthesize_rows(f, ROWS, 1, rows);
  }
  char *save = NULL;
  for (char *b = strtok_r(argv[2], ",", &save); b != NULL; b = strtok_r(NULL, ",", &save)) {
    const size_t batch = strtoul(b, NULL, 10);
    if (batch == 0 || batch > ROWS) continue;
    size_t done;
    const double ns = time_batches(f, rows, batch, limit, out, &done);
    printf("{\"batch\":%zu,\"rows\":%zu,\"isa\":\"%s\",\"cpu_ns_per_row\":%.2f}\n", batch, done,
           grove_engine_isa(), ns);
  }
  free(rows);
  free(out);
  grove_forest_free(f);
  return 0;
}
