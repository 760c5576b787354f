/* `grove bench MODEL`: engine-only throughput, one JSON line per batch size. */
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli.h"
#include "csv_rows.h"

static const char bench_usage[] =
    "usage: grove bench MODEL [options]\n"
    "\n"
    "Engine-only throughput (no HTTP): scores rows in batches for at least --min-time per\n"
    "batch size and prints one JSON line per batch size (rows/s, ns per row, the kernel).\n"
    "\n"
    "options:\n"
    "  --rows N           rows to score per pass (default 65536; with --input: the file's)\n"
    "  --batch B[,B...]   batch sizes (default 1,16,256,4096,65536)\n"
    "  --threads T        engine threads per batch (default 1)\n"
    "  --seed S           seed of the synthetic rows (default 42)\n"
    "  --min-time MS      milliseconds per batch size at least (default 500)\n"
    "  --input CSV        score CSV's rows (read as `grove predict` reads them), cycled or\n"
    "                     cut to --rows, instead of synthetic rows that probe every split\n"
    "  -h, --help         this help\n"
    "\n" CLI_MODEL_HELP;

typedef struct {
  size_t nrows;
  int rows_given;
  cli_rows_opts_t rows; /* --input: CSV whose rows replace the synthesized ones */
  const char *batches;
  uint64_t seed;
  double min_time;
} bench_opts_t;

static int on_option(int c, const char *arg, void *ctx) {
  bench_opts_t *o = ctx;
  unsigned long v = 0;
  int bad = 0;
  switch (c) {
    case 'b':
      o->batches = arg;
      break;
    case 'r':
      bad = cli_parse_count("--rows", arg, 1ul << 26, &v);
      o->nrows = v;
      o->rows_given = 1;
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
                                          {"seed", required_argument, NULL, 's'},
                                          {"min-time", required_argument, NULL, 'T'},
                                          {NULL, 0, NULL, 0}};
  *o = (bench_opts_t){
      .nrows = 65536, .batches = "1,16,256,4096,65536", .rows.threads = 1, .seed = 42, .min_time = 0.5};
  return cli_parse_options("bench", bench_usage, argc, argv, options, "", &o->rows, on_option,
                           o);
}

/*
 * The rows to score: --input's rows as `grove predict` reads them (same reader, same
 * schema), all of them or cycled / cut to --rows when it is given; else synthesized.
 * Returns 0 with *ROWS (o->nrows of them, malloc'd), or an exit code.
 */
static int bench_rows(bench_opts_t *o, const cli_model_t *m, uint32_t nf, float **rows) {
  csv_rows_t file = {0};
  if (o->rows.input != NULL) {
    const cli_csv_opts_t csv = {.categories = GROVE_CATEGORIES_AUTO, .unknown_categories = -1};
    int rc = cli_read_csv("bench", o->rows.input, m, &csv, &file);
    if (rc != 0) return rc;
    if (file.nrows == 0) {
      fprintf(stderr, "grove bench: %s: no data rows\n",
              strcmp(o->rows.input, "-") == 0 ? "<stdin>" : o->rows.input);
      csv_rows_free(&file);
      return CLI_EXIT_INPUT;
    }
    if (!o->rows_given) o->nrows = file.nrows;
  }
  *rows = malloc(o->nrows * nf * sizeof **rows);
  if (*rows == NULL) {
    csv_rows_free(&file);
    fprintf(stderr, "grove bench: out of memory\n");
    return CLI_EXIT_MODEL;
  }
  if (file.values == NULL) {
    grove_forest_synthesize_rows(m->forest, o->nrows, o->seed, *rows);
    return 0;
  }
  /* The kernels' float rows: each double as the model takes it (the few rows only the
   * double walk decides exactly are scored in float here: bench measures the kernels). */
  for (size_t r = 0; r < o->nrows; r++)
    for (uint32_t j = 0; j < nf; j++)
      (*rows)[r * nf + j] =
          grove_forest_input_value(m->forest, j, file.values[(r % file.nrows) * nf + j], NULL);
  csv_rows_free(&file);
  return 0;
}

/* Scores ROWS in batches of BATCH until o->min_time has passed; prints one JSON line. */
static void bench_batch(const bench_opts_t *o, const grove_forest_t *forest, const float *rows,
                        float *out, size_t batch) {
  grove_forest_info_t info;
  grove_forest_get_info(forest, &info);
  grove_predict_opts_t popts = {.margin = 0, .threads = o->rows.threads};
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
      info.objective, info.num_trees, info.num_features, batch, o->rows.threads, grove_engine_isa(),
      grove_forest_kernel(forest), done_rows, elapsed, (double)done_rows / elapsed,
      elapsed * 1e9 / (double)done_rows, elapsed * 1e6 / (double)calls,
      o->rows.input != NULL ? "csv" : "synthetic");
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
