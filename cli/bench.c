/* `grove bench MODEL`: engine-only throughput, one JSON line per batch size. */
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli.h"

typedef struct {
  size_t nrows;
  int rows_given;
  const char *input; /* CSV whose rows replace the synthesized ones */
  const char *batches;
  uint32_t threads;
  uint64_t seed;
  double min_time;
} bench_opts_t;

static int on_option(int c, const char *arg, void *ctx) {
  bench_opts_t *o = ctx;
  unsigned long v = 0;
  int bad = 0;
  switch (c) {
    case 'i':
      o->input = arg;
      break;
    case 'b':
      o->batches = arg;
      break;
    case 'r':
      bad = cli_parse_count("--rows", arg, 1ul << 26, &v);
      o->nrows = v;
      o->rows_given = 1;
      break;
    case 't':
      bad = cli_parse_count("--threads", arg, 256, &v);
      o->threads = (uint32_t)v;
      break;
    case 's':
      bad = cli_parse_count("--seed", arg, ~0ul, &v);
      o->seed = v;
      break;
    case 'T':
      bad = cli_parse_count("--min-time (ms)", arg, 600000, &v);
      o->min_time = (double)v / 1000.0;
      break;
  }
  return bad ? CLI_EXIT_INPUT : 0;
}

/* Parses the options into O; 0, 1 after --help, or an exit code. */
static int parse_options(int argc, char **argv, bench_opts_t *o) {
  static const struct option options[] = {{"rows", required_argument, NULL, 'r'},
                                          {"batch", required_argument, NULL, 'b'},
                                          {"threads", required_argument, NULL, 't'},
                                          {"seed", required_argument, NULL, 's'},
                                          {"min-time", required_argument, NULL, 'T'},
                                          {"input", required_argument, NULL, 'i'},
                                          {NULL, 0, NULL, 0}};
  *o = (bench_opts_t){
      .nrows = 65536, .batches = "1,16,256,4096,65536", .threads = 1, .seed = 42, .min_time = 0.5};
  return cli_parse_options(argc, argv, options, "", on_option, o);
}

/*
 * The rows to score: --input's rows as `grove predict` reads them (same reader, same
 * schema), all of them or cycled / cut to --rows when it is given; else synthesized.
 * Returns 0 with *ROWS (o->nrows of them, malloc'd), or an exit code.
 */
static int bench_rows(bench_opts_t *o, const cli_model_t *m, uint32_t nf, float **rows) {
  float *file_rows = NULL;
  size_t file_nrows = 0;
  if (o->input != NULL) {
    int rc = cli_read_csv("bench", o->input, m, 0, &file_rows, &file_nrows);
    if (rc != 0) return rc;
    if (file_nrows == 0) {
      fprintf(stderr, "grove bench: %s: no data rows\n",
              strcmp(o->input, "-") == 0 ? "<stdin>" : o->input);
      free(file_rows);
      return CLI_EXIT_INPUT;
    }
    if (!o->rows_given) o->nrows = file_nrows;
  }
  *rows = malloc(o->nrows * nf * sizeof **rows);
  if (*rows == NULL) {
    free(file_rows);
    fprintf(stderr, "grove bench: out of memory\n");
    return CLI_EXIT_MODEL;
  }
  if (file_rows == NULL) {
    grove_forest_synthesize_rows(m->forest, o->nrows, o->seed, *rows);
    return 0;
  }
  for (size_t r = 0; r < o->nrows; r++)
    memcpy(*rows + r * nf, file_rows + (r % file_nrows) * nf, nf * sizeof **rows);
  free(file_rows);
  return 0;
}

/* Scores ROWS in batches of BATCH until o->min_time has passed; prints one JSON line. */
static void bench_batch(const bench_opts_t *o, const grove_forest_t *forest, const float *rows,
                        float *out, size_t batch) {
  grove_forest_info_t info;
  grove_forest_get_info(forest, &info);
  grove_predict_opts_t popts = {.margin = 0, .threads = o->threads};
  if (batch > o->nrows) batch = o->nrows;
  size_t done_rows = 0, calls = 0;
  double start = cli_now(), elapsed;
  do {
    for (size_t r = 0; r + batch <= o->nrows; r += batch) {
      grove_forest_predict(forest, rows + r * info.num_features, batch, out + r * info.num_outputs,
                           &popts, NULL);
      done_rows += batch;
      calls++;
    }
    elapsed = cli_now() - start;
  } while (elapsed < o->min_time);
  printf(
      "{\"model\":\"%s\",\"trees\":%u,\"features\":%u,\"batch\":%zu,\"threads\":%u,\"isa\":\"%s\","
      "\"kernel\":\"%s\",\"rows\":%zu,\"seconds\":%.6f,\"rows_per_s\":%.1f,\"ns_per_row\":%.2f,"
      "\"us_per_call\":%.3f,\"source\":\"%s\"}\n",
      info.objective, info.num_trees, info.num_features, batch, o->threads, grove_engine_isa(),
      grove_engine_kernel(), done_rows, elapsed, (double)done_rows / elapsed,
      elapsed * 1e9 / (double)done_rows, elapsed * 1e6 / (double)calls,
      o->input != NULL ? "csv" : "synthetic");
  fflush(stdout);
}

int cli_bench(int argc, char **argv) {
  bench_opts_t o;
  int rc = parse_options(argc, argv, &o);
  if (rc != 0) return rc == 1 ? 0 : rc;
  cli_model_t m;
  if ((rc = cli_model_open("bench", "MODEL", argc, argv, optind, &m)) != 0) return rc;
  grove_forest_info_t info;
  grove_forest_get_info(m.forest, &info);
  float *rows = NULL, *out = NULL;
  if ((rc = bench_rows(&o, &m, info.num_features, &rows)) != 0) goto done;
  if ((out = malloc(o.nrows * info.num_outputs * sizeof *out)) == NULL) {
    fprintf(stderr, "grove bench: out of memory\n");
    rc = CLI_EXIT_MODEL;
    goto done;
  }
  for (const char *p = o.batches; *p;) {
    char *end;
    unsigned long batch = strtoul(p, &end, 10);
    if (end == p || batch == 0 || (*end != ',' && *end != '\0')) {
      fprintf(stderr, "grove bench: --batch expects sizes like 1,16,256\n");
      rc = CLI_EXIT_INPUT;
      break;
    }
    p = *end ? end + 1 : end;
    bench_batch(&o, m.forest, rows, out, batch);
  }
done:
  free(rows);
  free(out);
  cli_model_close(&m);
  return rc;
}
