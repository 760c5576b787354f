/* `grove predict MODEL --input FILE`: CSV rows in, one line of predictions per row out. */
#include <errno.h>
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "cli.h"

/* Formats all predictions into one buffer so that nothing is written on failure. */
static char *format_predictions(const float *out, size_t nrows, uint32_t width, size_t *len) {
  size_t cap = nrows * width * 18 + 1, used = 0;
  char *buf = malloc(cap);
  if (buf == NULL) return NULL;
  for (size_t r = 0; r < nrows; r++) {
    for (uint32_t k = 0; k < width; k++) {
      int n = snprintf(buf + used, cap - used, "%s%.9g", k ? "," : "", (double)out[r * width + k]);
      used += (size_t)n;
    }
    buf[used++] = '\n';
  }
  *len = used;
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

typedef struct {
  const char *input, *output;
  int margin, stats, ignore_extra;
  uint32_t threads;
} predict_opts_t;

static int on_option(int c, const char *arg, void *ctx) {
  predict_opts_t *o = ctx;
  unsigned long v;
  switch (c) {
    case 'i':
      o->input = arg;
      break;
    case 'o':
      o->output = arg;
      break;
    case 'm':
      o->margin = 1;
      break;
    case 's':
      o->stats = 1;
      break;
    case 'x':
      o->ignore_extra = 1;
      break;
    case 't':
      if (cli_parse_count("--threads", arg, 256, &v) != 0) return CLI_EXIT_INPUT;
      o->threads = (uint32_t)v;
      break;
  }
  return 0;
}

/* Parses the options into O; 0, 1 after --help, or an exit code. */
static int parse_options(int argc, char **argv, predict_opts_t *o) {
  static const struct option options[] = {{"input", required_argument, NULL, 'i'},
                                          {"output", required_argument, NULL, 'o'},
                                          {"margin", no_argument, NULL, 'm'},
                                          {"threads", required_argument, NULL, 't'},
                                          {"stats", no_argument, NULL, 's'},
                                          {"ignore-extra", no_argument, NULL, 'x'},
                                          {NULL, 0, NULL, 0}};
  long n = sysconf(_SC_NPROCESSORS_ONLN);
  *o = (predict_opts_t){.output = "-", .threads = n > 0 ? (uint32_t)n : 1};
  return cli_parse_options(argc, argv, options, "i:o:t:", on_option, o);
}

int cli_predict(int argc, char **argv) {
  predict_opts_t o;
  int rc = parse_options(argc, argv, &o);
  if (rc != 0) return rc == 1 ? 0 : rc;
  static const char expected[] = "MODEL and --input FILE|-";
  if (o.input == NULL) {
    fprintf(stderr, "grove predict: expected %s\n", expected);
    return CLI_EXIT_INPUT;
  }
  cli_model_t m;
  if ((rc = cli_model_open("predict", expected, argc, argv, optind, &m)) != 0) return rc;
  float *rows = NULL, *out = NULL;
  char *text = NULL;
  size_t nrows = 0, len = 0;
  double t0 = cli_now(), t1 = 0, t2 = 0;
  uint32_t width = grove_forest_output_width(m.forest, o.margin);
  if ((rc = cli_read_csv("predict", o.input, &m, o.ignore_extra, &rows, &nrows)) != 0) goto done;
  t1 = cli_now();
  rc = CLI_EXIT_MODEL;
  if ((out = malloc((nrows ? nrows : 1) * width * sizeof *out)) == NULL) {
    fprintf(stderr, "grove predict: out of memory for %zu rows\n", nrows);
    goto done;
  }
  grove_error_t err;
  grove_predict_opts_t popts = {.margin = o.margin, .threads = o.threads};
  if (grove_forest_predict(m.forest, rows, nrows, out, &popts, &err) != GROVE_OK) {
    fprintf(stderr, "grove predict: %s\n", err.msg);
    goto done;
  }
  t2 = cli_now();
  if ((text = format_predictions(out, nrows, width, &len)) == NULL) {
    fprintf(stderr, "grove predict: out of memory\n");
    goto done;
  }
  if ((rc = write_output(o.output, text, len)) != 0) goto done;
  if (o.stats) {
    grove_forest_info_t info;
    grove_forest_get_info(m.forest, &info);
    fprintf(stderr,
            "{\"rows\":%zu,\"features\":%u,\"trees\":%u,\"isa\":\"%s\",\"kernel\":\"%s\","
            "\"threads\":%u,"
            "\"parse_s\":%.6f,\"predict_s\":%.6f}\n",
            nrows, info.num_features, info.num_trees, grove_engine_isa(), grove_engine_kernel(),
            o.threads, t1 - t0, t2 - t1);
  }
done:
  free(text);
  free(out);
  free(rows);
  cli_model_close(&m);
  return rc;
}
