/*
 * explain_bench MODEL ROWS.f32 NROWS BATCH,... MIN_MS [OUT.f64]: times
 * grove_forest_contribs() on one thread over consecutive slices of the rows (a float32
 * file, row-major), cycling, for at least MIN_MS per batch size, and prints one JSON line
 * per batch size. With OUT.f64 it first writes the contributions of every row there (for
 * bench/explain_compare.py to check against XGBoost's before any timing counts).
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "bench_common.h"
#include "grove_engine.h"

static float *read_rows(const char *path, size_t n) {
  FILE *f = fopen(path, "rb");
  float *rows = f != NULL ? malloc(n * sizeof *rows) : NULL;
  if (rows != NULL && fread(rows, sizeof *rows, n, f) != n) {
    free(rows);
    rows = NULL;
  }
  if (f != NULL) fclose(f);
  return rows;
}

static int dump(const char *path, const grove_forest_t *forest, const float *rows, size_t nrows) {
  const size_t n = nrows * grove_forest_contribs_width(forest);
  double *out = malloc(n * sizeof *out);
  grove_error_t err;
  FILE *f = fopen(path, "wb");
  int ok = out != NULL && f != NULL &&
           grove_forest_contribs(forest, rows, nrows, out, &err) == GROVE_OK &&
           fwrite(out, sizeof *out, n, f) == n;
  if (f != NULL) ok &= fclose(f) == 0;
  free(out);
  return ok ? 0 : -1;
}

static void time_batch(const grove_forest_t *forest, uint32_t nf, const float *rows, size_t nrows,
                       size_t batch, double min_s, double *out) {
  grove_error_t err;
  size_t calls = 0, at = 0;
  double t0 = bench_cpu_seconds(), el = 0;
  while (el < min_s) {
    if (at + batch > nrows) at = 0;
    grove_forest_contribs(forest, rows + at * nf, batch, out, &err);
    at += batch;
    calls++;
    el = bench_cpu_seconds() - t0;
  }
  printf("{\"batch\":%zu,\"rows_per_s\":%.1f,\"us_per_call\":%.3f}\n", batch,
         (double)(calls * batch) / el, el * 1e6 / (double)calls);
}

int main(int argc, char **argv) {
  if (argc < 6) {
    fprintf(stderr, "usage: explain_bench MODEL ROWS.f32 NROWS BATCH,... MIN_MS [OUT.f64]\n");
    return 2;
  }
  grove_forest_info_t info;
  grove_forest_t *forest = bench_load("explain_bench", argv[1], &info);
  if (forest == NULL) return 1;
  const size_t nrows = strtoul(argv[3], NULL, 10);
  const uint32_t nf = info.num_features;
  float *rows = read_rows(argv[2], nrows * nf);
  if (rows == NULL || (argc > 6 && dump(argv[6], forest, rows, nrows) != 0)) {
    fprintf(stderr, "explain_bench: cannot read %s or write contributions\n", argv[2]);
    return 1;
  }
  const double min_s = strtod(argv[5], NULL) / 1000;
  for (char *b = strtok(argv[4], ","); b != NULL; b = strtok(NULL, ",")) {
    const size_t batch = strtoul(b, NULL, 10);
    double *out = malloc(batch * grove_forest_contribs_width(forest) * sizeof *out);
    if (out == NULL || batch == 0 || batch > nrows) return 1;
    time_batch(forest, nf, rows, nrows, batch, min_s, out);
    free(out);
  }
  free(rows);
  grove_forest_free(forest);
  return 0;
}
