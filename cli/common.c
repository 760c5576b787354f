/* What the subcommands share (cli.h). */
#include <errno.h>
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "cli.h"
#include "csv_rows.h"

const char cli_usage[] =
    "usage: grove <command> [options]\n"
    "\n"
    "commands:\n"
    "  predict MODEL --input FILE|- [--output FILE|-] [--margin] [--threads N]\n"
    "                [--ignore-extra] [--stats]\n"
    "      Score CSV rows (header row; columns by feature name, or by position when the\n"
    "      model has no names). Empty, nan, NaN, NA = missing. One output line per row.\n"
    "  info MODEL\n"
    "      Print the model's summary as one JSON object.\n"
    "  schema MODEL\n"
    "      Print a schema.json for MODEL: its own schema.json, else one from a LightGBM\n"
    "      model's pandas_categorical trailer, else from its feature names and types.\n"
    "  bench MODEL [--rows N] [--batch B[,B...]] [--threads T] [--seed S] [--input CSV]\n"
    "      Engine-only throughput on synthetic rows (or CSV's rows, cycled to --rows\n"
    "      when given), one JSON line per batch size.\n"
    "  serve [MODEL ...] [--models DIR] [--port N] [options]\n"
    "      Serve models over HTTP (JSON, msgpack, Open Inference Protocol v2, /metrics);\n"
    "      `grove serve --help` lists every option and its environment variable.\n"
    "  version\n"
    "\n"
    "MODEL is a model file (XGBoost JSON or UBJSON, a LightGBM model.txt, or a scikit-learn\n"
    "model converted by models/convert_sklearn.py), or a directory holding model.json,\n"
    "model.ubj or model.txt and an optional schema.json (category strings, labels).\n";

int cli_model_open(const char *cmd, const char *what, int argc, char **argv, int first,
                   cli_model_t *m) {
  m->forest = NULL;
  m->schema = NULL;
  if (first + 1 != argc || argv[first][0] == '-') {
    fprintf(stderr, "grove %s: expected %s\n", cmd, what);
    return CLI_EXIT_INPUT;
  }
  grove_error_t err;
  if (grove_model_load(argv[first], &m->forest, &m->schema, &err) != GROVE_OK) {
    fprintf(stderr, "grove: %s\n", err.msg);
    return CLI_EXIT_MODEL;
  }
  return 0;
}

void cli_model_close(cli_model_t *m) {
  grove_schema_free(m->schema);
  grove_forest_free(m->forest);
  m->schema = NULL;
  m->forest = NULL;
}

int cli_print_model(const char *cmd, int argc, char **argv, cli_encode_fn encode) {
  cli_model_t m;
  int rc = cli_model_open(cmd, "MODEL", argc, argv, 1, &m);
  if (rc != 0) return rc;
  api_body_t body;
  if (encode(m.forest, m.schema, &body) == 0) {
    fwrite(body.data, 1, body.len, stdout);
    putchar('\n');
    api_body_free(&body);
  } else {
    fprintf(stderr, "grove %s: out of memory\n", cmd);
    rc = CLI_EXIT_MODEL;
  }
  cli_model_close(&m);
  return rc;
}

int cli_read_csv(const char *cmd, const char *path, const cli_model_t *m, int ignore_extra,
                 float **rows, size_t *nrows) {
  *rows = NULL;
  *nrows = 0;
  int is_stdin = strcmp(path, "-") == 0;
  FILE *in = is_stdin ? stdin : fopen(path, "rb");
  if (in == NULL) {
    fprintf(stderr, "grove %s: %s: %s\n", cmd, path, strerror(errno));
    return CLI_EXIT_INPUT;
  }
  grove_error_t err;
  csv_rows_opts_t opts = {.forest = m->forest, .schema = m->schema, .ignore_extra = ignore_extra};
  grove_err_t ec = csv_rows_read(in, &opts, rows, nrows, &err);
  if (!is_stdin) fclose(in);
  if (ec == GROVE_OK) return 0;
  fprintf(stderr, "grove %s: %s: %s\n", cmd, is_stdin ? "<stdin>" : path, err.msg);
  return ec == GROVE_EINPUT ? CLI_EXIT_INPUT : CLI_EXIT_MODEL;
}

int cli_parse_options(int argc, char **argv, const struct option *options, const char *shortopts,
                      cli_option_fn on_option, void *ctx) {
  struct option all[32];
  size_t n = 0;
  while (options[n].name != NULL && n < sizeof all / sizeof all[0] - 2) all[n] = options[n], n++;
  all[n++] = (struct option){"help", no_argument, NULL, 'h'};
  all[n] = (struct option){NULL, 0, NULL, 0};
  int c, rc = 0;
  while (rc == 0 && (c = getopt_long(argc, argv, shortopts, all, NULL)) != -1) {
    if (c == 'h') {
      fputs(cli_usage, stdout);
      return 1;
    }
    if (c == '?' || c == ':') {
      fputs(cli_usage, stderr);
      return CLI_EXIT_INPUT;
    }
    rc = on_option(c, optarg, ctx);
  }
  return rc;
}

int cli_parse_count(const char *opt, const char *s, unsigned long max, unsigned long *out) {
  char *end;
  errno = 0;
  unsigned long v = strtoul(s, &end, 10);
  if (end == s || *end != '\0' || errno != 0 || v == 0 || v > max || *s == '-') {
    fprintf(stderr, "grove: %s expects a whole number from 1 to %lu, got \"%s\"\n", opt, max, s);
    return -1;
  }
  *out = v;
  return 0;
}

double cli_now(void) {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return (double)ts.tv_sec + (double)ts.tv_nsec * 1e-9;
}
