/* `grove predict MODEL --input FILE`: CSV rows in, one line of predictions per row out. */
#include <errno.h>
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "cli.h"
#include "csv_rows.h"

static const char predict_usage[] =
    "usage: grove predict MODEL --input FILE|- [options]\n"
    "\n"
    "Scores the rows of a CSV file (a header row, then one row per line; columns by feature\n"
    "name, or by position when the model has no names) and writes one line per row: its\n"
    "predictions, comma-separated (the class probabilities, or the value for regression).\n"
    "Empty, nan, NaN, NA and the schema's \"missing\" tokens are missing values. Numbers are\n"
    "read as doubles and decided as the training library decides them.\n"
    "\n"
    "options:\n"
    "  -i, --input FILE|-      the CSV to score (- reads stdin)\n"
    "  -o, --output FILE|-     where the predictions go (default: stdout)\n"
    "  --margin                raw scores (what the library calls the margin or raw score)\n"
    "                          instead of transformed predictions\n"
    "  --categories MODE       how categorical columns are read: auto (default: text that is\n"
    "                          one of the schema's labels is that label, a number that is not\n"
    "                          is a code; a number that is both is an error naming this\n"
    "                          option), labels (always a label), codes (always a number)\n"
    "  --unknown-categories refuse|missing\n"
    "                          an unknown category label is an error (refuse) or a missing\n"
    "                          value; default: the schema's \"unknown_categories\", else refuse\n"
    "  --errors stop|per-row   stop (default): the first bad row stops the run (exit 2, nothing\n"
    "                          written); per-row: every row is written, a bad row as empty\n"
    "                          predictions, and every line gets a last column with the row's\n"
    "                          error (empty for good rows); exit 0\n"
    "  --ignore-extra          skip columns that are not features (else they are an error)\n"
    "  --contribs              per-row feature contributions instead (TreeSHAP, as XGBoost's\n"
    "                          pred_contribs and LightGBM's predict_contrib): per output\n"
    "                          group, one value per feature and then the bias, summing to\n"
    "                          the margin; needs node covers in the model, no linear trees\n"
    "  --leaves                the leaf each row reaches in each tree instead, numbered as\n"
    "                          XGBoost's pred_leaf and LightGBM's predict_leaf_index\n"
    "  -t, --threads N         engine threads (default: the online cores)\n"
    "  --stats                 one JSON line of timings on stderr\n"
    "  -h, --help              this help\n"
    "\n"
    "Exit codes: 0 done, 1 model or system failure, 2 bad usage or bad input.\n"
    "\n" CLI_MODEL_HELP;

typedef struct {
  cli_rows_opts_t rows;
  const char *output;
  int margin, stats;
  int explain; /* 0, or OPT_CONTRIBS / OPT_LEAVES */
  cli_csv_opts_t csv;
} predict_opts_t;

/* Option values without a short letter. */
enum {
  OPT_MARGIN = 0x100,
  OPT_STATS,
  OPT_IGNORE_EXTRA,
  OPT_CATEGORIES,
  OPT_UNKNOWN,
  OPT_ERRORS,
  OPT_CONTRIBS,
  OPT_LEAVES
};

/* VALUE among the two words of an option that has two settings: 0 or 1; -1 said why. */
static int parse_choice(const char *opt, const char *value, const char *no, const char *yes,
                        const char *yes_alias) {
  if (strcmp(value, no) == 0) return 0;
  if (strcmp(value, yes) == 0 || strcmp(value, yes_alias) == 0) return 1;
  fprintf(stderr, "grove predict: %s expects %s or %s, got \"%s\"\n", opt, no, yes, value);
  return -1;
}

static int on_option(int c, const char *arg, void *ctx) {
  predict_opts_t *o = ctx;
  int choice = 0;
  switch (c) {
    case 'o':
      o->output = arg;
      break;
    case OPT_MARGIN:
      o->margin = 1;
      break;
    case OPT_STATS:
      o->stats = 1;
      break;
    case OPT_CONTRIBS:
    case OPT_LEAVES:
      if (o->explain != 0 && o->explain != c) {
        fprintf(stderr, "grove predict: --contribs and --leaves exclude each other\n");
        return CLI_EXIT_INPUT;
      }
      o->explain = c;
      break;
    case OPT_IGNORE_EXTRA:
      o->csv.ignore_extra = 1;
      break;
    case OPT_CATEGORIES:
      return cli_parse_categories(arg, &o->csv.categories) == 0 ? 0 : CLI_EXIT_INPUT;
    case OPT_UNKNOWN:
      choice = parse_choice("--unknown-categories", arg, "refuse", "missing", "missing");
      o->csv.unknown_categories = choice;
      break;
    case OPT_ERRORS:
      choice = parse_choice("--errors", arg, "stop", "per-row", "per_row");
      o->csv.per_row_errors = choice;
      break;
  }
  return choice < 0 ? CLI_EXIT_INPUT : 0;
}

/* Parses the options into O; 0, 1 after --help, or an exit code. */
static int parse_options(int argc, char **argv, predict_opts_t *o) {
  static const struct option options[] = {
      {"output", required_argument, NULL, 'o'},
      {"margin", no_argument, NULL, OPT_MARGIN},
      {"stats", no_argument, NULL, OPT_STATS},
      {"ignore-extra", no_argument, NULL, OPT_IGNORE_EXTRA},
      {"categories", required_argument, NULL, OPT_CATEGORIES},
      {"unknown-categories", required_argument, NULL, OPT_UNKNOWN},
      {"errors", required_argument, NULL, OPT_ERRORS},
      {"contribs", no_argument, NULL, OPT_CONTRIBS},
      {"leaves", no_argument, NULL, OPT_LEAVES},
      {NULL, 0, NULL, 0}};
  long n = sysconf(_SC_NPROCESSORS_ONLN);
  *o = (predict_opts_t){.output = "-",
                        .rows.threads = n > 0 ? (uint32_t)n : 1,
                        .csv = {.categories = GROVE_CATEGORIES_AUTO, .unknown_categories = -1}};
  return cli_parse_options("predict", predict_usage, argc, argv, options, "o:", &o->rows,
                           on_option, o);
}

/* Appends MSG to BUF as one CSV field (quoted, quotes doubled); returns the bytes written. */
static size_t put_csv_field(char *buf, const char *msg) {
  size_t used = 0;
  buf[used++] = '"';
  for (const char *p = msg; *p; p++) {
    if (*p == '"') buf[used++] = '"';
    buf[used++] = *p == '\n' || *p == '\r' ? ' ' : *p;
  }
  buf[used++] = '"';
  return used;
}

/* Formats all predictions into one buffer so that nothing is written on failure. With
 * per-row errors (ERRORS not NULL) each line ends with the row's error column. */
static char *format_predictions(const double *out, size_t nrows, uint32_t width, int digits,
                                const csv_rows_t *rows, size_t *len) {
  size_t cap = nrows * ((size_t)width * 26 + 2) + 1;
  for (size_t r = 0; rows->errors != NULL && r < nrows; r++)
    if (rows->errors[r] != NULL) cap += 2 * strlen(rows->errors[r]) + 2;
  char *buf = malloc(cap), *p = buf;
  if (buf == NULL) return NULL;
  for (size_t r = 0; r < nrows; r++) {
    const char *bad = rows->errors != NULL ? rows->errors[r] : NULL;
    for (uint32_t k = 0; k < width; k++) {
      if (k) *p++ = ',';
      if (bad == NULL)
        p += snprintf(p, (size_t)(buf + cap - p), "%.*g", digits, out[r * width + k]);
    }
    if (rows->errors != NULL) {
      *p++ = ',';
      if (bad != NULL) p += put_csv_field(p, bad);
    }
    *p++ = '\n';
  }
  *len = (size_t)(p - buf);
  return buf;
}

/* Writes LEN bytes of TEXT to PATH ("-": stdout); 0, or an exit code after saying why. */
static int write_output(const char *path, const char *text, size_t len) {
  FILE *fo = strcmp(path, "-") == 0 ? stdout : fopen(path, "wb");
  if (fo == NULL) {
    fprintf(stderr, "grove predict: %s: %s\n", path, strerror(errno));
    return CLI_EXIT_MODEL;
  }
  int failed = fwrite(text, 1, len, fo) != len;
  failed |= fo == stdout ? fflush(fo) != 0 : fclose(fo) != 0;
  if (failed) {
    fprintf(stderr, "grove predict: writing %s failed: %s\n", path, strerror(errno));
    return CLI_EXIT_MODEL;
  }
  return 0;
}

/* With per-row errors: how many rows were not scored, and the first reason, on stderr. */
static void report_bad_rows(const csv_rows_t *rows) {
  if (rows->num_errors == 0) return;
  const char *first = NULL;
  for (size_t r = 0; first == NULL && r < rows->nrows; r++) first = rows->errors[r];
  fprintf(stderr, "grove predict: %zu of %zu rows not scored (first: %s)\n", rows->num_errors,
          rows->nrows, first);
}

/*
 * Scores ROWS as O asks into *VALS (NROWS x *WIDTH doubles, caller-freed) and the significant
 * digits each value is printed with into *DIGITS (all of a leaf index's); 0, or an exit code after
 * saying why.
 */
static int score_rows(const predict_opts_t *o, const grove_forest_t *forest, const csv_rows_t *rows,
                      double **vals, uint32_t *width, int *digits) {
  grove_error_t err;
  const size_t n = rows->nrows ? rows->nrows : 1;
  const uint32_t nt = grove_forest_output_width(forest, o->margin);
  grove_forest_info_t info;
  grove_forest_get_info(forest, &info);
  *width = o->explain == OPT_CONTRIBS ? grove_forest_contribs_width(forest)
           : o->explain == OPT_LEAVES ? info.num_trees
                                      : nt;
  *digits = o->explain == OPT_CONTRIBS ? 17 : o->explain == OPT_LEAVES ? 10 : 9;
  double *v = *vals = malloc(n * (*width ? *width : 1) * sizeof *v);
  void *tmp = malloc(n * (*width ? *width : 1) * sizeof(float));
  grove_err_t rc = GROVE_ENOMEM;
  snprintf(err.msg, sizeof err.msg, "out of memory for %zu rows", rows->nrows);
  /* The doubles as read: LightGBM models decide them as LightGBM does (bad rows are all
   * missing here and are not written). */
  grove_predict_opts_t popts = {.margin = o->margin, .threads = o->rows.threads};
  if (v != NULL && tmp != NULL && o->explain == OPT_CONTRIBS)
    rc = grove_forest_contribs_f64(forest, rows->values, rows->nrows, v, &err);
  else if (v != NULL && tmp != NULL && o->explain == OPT_LEAVES)
    rc = grove_forest_leaves_f64(forest, rows->values, rows->nrows, tmp, &err);
  else if (v != NULL && tmp != NULL)
    rc = grove_forest_predict_f64(forest, rows->values, rows->nrows, tmp, &popts, &err);
  for (size_t i = 0; rc == GROVE_OK && o->explain != OPT_CONTRIBS && i < rows->nrows * *width; i++)
    v[i] = o->explain == OPT_LEAVES ? (double)((uint32_t *)tmp)[i] : (double)((float *)tmp)[i];
  free(tmp);
  if (rc == GROVE_OK) return 0;
  fprintf(stderr, "grove predict: %s\n", err.msg);
  return CLI_EXIT_MODEL;
}

int cli_predict(int argc, char **argv) {
  predict_opts_t o;
  int rc = parse_options(argc, argv, &o);
  if (rc != 0) return rc == 1 ? 0 : rc;
  static const char expected[] = "MODEL and --input FILE|- (grove predict --help)";
  if (o.rows.input == NULL) {
    fprintf(stderr, "grove predict: expected %s\n", expected);
    return CLI_EXIT_INPUT;
  }
  cli_model_t m;
  if ((rc = cli_model_open("predict", expected, argc, argv, optind, &m)) != 0) return rc;
  csv_rows_t rows = {0};
  double *out = NULL;
  char *text = NULL;
  int digits = 9;
  size_t len = 0;
  double t0 = cli_now(), t1 = 0, t2 = 0;
  uint32_t width = 0;
  grove_error_t err;
  if (o.explain == OPT_CONTRIBS && grove_forest_explainable(m.forest, &err) != GROVE_OK) {
    fprintf(stderr, "grove predict: --contribs: %s\n", err.msg);
    rc = CLI_EXIT_MODEL;
    goto done;
  }
  if ((rc = cli_read_csv("predict", o.rows.input, &m, &o.csv, &rows)) != 0) goto done;
  t1 = cli_now();
  if ((rc = score_rows(&o, m.forest, &rows, &out, &width, &digits)) != 0) goto done;
  rc = CLI_EXIT_MODEL;
  t2 = cli_now();
  if ((text = format_predictions(out, rows.nrows, width, digits, &rows, &len)) == NULL) {
    fprintf(stderr, "grove predict: out of memory\n");
    goto done;
  }
  if ((rc = write_output(o.output, text, len)) != 0) goto done;
  report_bad_rows(&rows);
  if (o.stats) {
    grove_forest_info_t info;
    grove_forest_get_info(m.forest, &info);
    fprintf(stderr,
            "{\"rows\":%zu,\"bad_rows\":%zu,\"features\":%u,\"trees\":%u,\"isa\":\"%s\","
            "\"kernel\":\"%s\",\"threads\":%u,\"parse_s\":%.6f,\"predict_s\":%.6f}\n",
            rows.nrows, rows.num_errors, info.num_features, info.num_trees, grove_engine_isa(),
            grove_forest_kernel(m.forest), o.rows.threads, t1 - t0, t2 - t1);
  }
done:
  free(text);
  free(out);
  csv_rows_free(&rows);
  cli_model_close(&m);
  return rc;
}
