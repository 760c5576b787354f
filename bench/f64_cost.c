/*
 * What deciding double inputs as LightGBM does costs, end to end in the engine:
 * `f64_cost MODEL CSV B[,B...] [SECONDS] [ROUNDS]` reads CSV's numeric rows (a header, then
 * numbers; empty = missing), cycles them to 65,536 rows, and for each batch size B scores
 * them in alternating rounds (a) as float32 rows cast with (float), what grove did before it
 * kept doubles, through grove_forest_predict(), and (b) as the doubles themselves through
 * grove_forest_predict_f64(), each for SECONDS of this thread's CPU time (default 0.3).
 * Prints one JSON line per batch: the median ns/row of each and the median of the rounds'
 * (b)/(a) ratios (bench/RESULTS.md, "Double inputs end to end").
 */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "bench_common.h"
#include "grove_engine.h"

#define ROWS       65536
#define MAX_ROUNDS 64

/* Reads CSV's rows of NF numbers, cycled to ROWS rows, into *D; -1 when it has none. */
static int read_rows(const char *path, uint32_t nf, double **d) {
  FILE *fp = fopen(path, "r");
  static char line[1 << 16];
  size_t n = 0, cap = 1024;
  double *src = malloc(cap * nf * sizeof *src);
  if (fp == NULL || src == NULL || fgets(line, sizeof line, fp) == NULL) goto fail;
  while (fgets(line, sizeof line, fp) != NULL) {
    if (n == cap && (src = realloc(src, (cap *= 2) * nf * sizeof *src)) == NULL) goto fail;
    char *p = line;
    for (uint32_t j = 0; j < nf; j++) {
      char *end;
      double v = strtod(p, &end);
      src[n * nf + j] = end == p ? NAN : v;
      p = strchr(end, ',');
      p = p != NULL ? p + 1 : end;
    }
    n++;
  }
  fclose(fp);
  if (n == 0 || (*d = malloc((size_t)ROWS * nf * sizeof **d)) == NULL) return free(src), -1;
  for (size_t r = 0; r < ROWS; r++) memcpy(*d + r * nf, src + (r % n) * nf, nf * sizeof **d);
  free(src);
  return 0;
fail:
  if (fp != NULL) fclose(fp);
  free(src);
  return -1;
}

/* Scores batches of BATCH rows (floats when ROWS32, else doubles) for LIMIT s of CPU time;
 * returns ns per row. */
static double time_batches(const grove_forest_t *f, const float *rows32, const double *rows64,
                           uint32_t nf, size_t batch, double limit, float *out) {
  grove_predict_opts_t opts = {.margin = 1, .threads = 1};
  grove_error_t err;
  size_t done = 0;
  const double t0 = bench_cpu_seconds();
  double t = t0;
  while (t - t0 < limit) {
    for (size_t r = 0; r + batch <= ROWS && t - t0 < limit; r += batch) {
      if (rows32 != NULL)
        grove_forest_predict(f, rows32 + r * nf, batch, out, &opts, &err);
      else
        grove_forest_predict_f64(f, rows64 + r * nf, batch, out, &opts, &err);
      done += batch;
      if (done % 4096 < batch) t = bench_cpu_seconds();
    }
    t = bench_cpu_seconds();
  }
  return (t - t0) * 1e9 / (double)done;
}

static int by_value(const void *a, const void *b) {
  const double x = *(const double *)a, y = *(const double *)b;
  return x < y ? -1 : x > y;
}

static double median(double *v, int n) {
  qsort(v, (size_t)n, sizeof *v, by_value);
  return v[n / 2];
}

int main(int argc, char **argv) {
  if (argc < 4) {
    fprintf(stderr, "usage: f64_cost MODEL CSV B[,B...] [SECONDS] [ROUNDS]\n");
    return 2;
  }
  grove_forest_info_t info;
  grove_forest_t *f = bench_load("f64_cost", argv[1], &info);
  if (f == NULL) return 1;
  const uint32_t nf = info.num_features;
  const double limit = argc > 4 ? atof(argv[4]) : 0.3;
  int rounds = argc > 5 ? atoi(argv[5]) : 11;
  rounds = rounds < 1 ? 1 : rounds > MAX_ROUNDS ? MAX_ROUNDS : rounds;
  double *rows64 = NULL;
  float *rows32 = malloc((size_t)ROWS * nf * sizeof *rows32);
  float *out = malloc((size_t)ROWS * info.num_groups * sizeof *out);
  if (rows32 == NULL || out == NULL || read_rows(argv[2], nf, &rows64) != 0) {
    fprintf(stderr, "f64_cost: %s: no rows, or out of memory\n", argv[2]);
    return 1;
  }
  for (size_t i = 0; i < (size_t)ROWS * nf; i++) rows32[i] = (float)rows64[i];
  char *save = NULL;
  for (char *b = strtok_r(argv[3], ",", &save); b != NULL; b = strtok_r(NULL, ",", &save)) {
    const size_t batch = strtoul(b, NULL, 10);
    if (batch == 0 || batch > ROWS) continue;
    double ns32[MAX_ROUNDS], ns64[MAX_ROUNDS], ratio[MAX_ROUNDS];
    for (int k = 0; k < rounds; k++) { /* the order alternates from round to round */
      const int first64 = k & 1;
      double a = time_batches(f, first64 ? NULL : rows32, rows64, nf, batch, limit, out);
      double c = time_batches(f, first64 ? rows32 : NULL, rows64, nf, batch, limit, out);
      ns32[k] = first64 ? c : a;
      ns64[k] = first64 ? a : c;
      ratio[k] = ns64[k] / ns32[k];
    }
    printf("{\"batch\":%zu,\"rounds\":%d,\"isa\":\"%s\",\"float_ns_per_row\":%.1f,"
           "\"f64_ns_per_row\":%.1f,\"f64_over_float\":%.3f}\n",
           batch, rounds, grove_engine_isa(), median(ns32, rounds), median(ns64, rounds),
           median(ratio, rounds));
  }
  free(rows32);
  free(rows64);
  free(out);
  grove_forest_free(f);
  return 0;
}
