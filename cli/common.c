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
    "  predict MODEL --input FILE|-   score CSV rows, one output line per row\n"
    "  info MODEL                     the model's summary as one JSON object\n"
    "  schema MODEL                   a schema.json for MODEL\n"
    "  compile MODEL [-o OUT]         write MODEL's compiled image (model.grove)\n"
    "  bench MODEL                    engine-only throughput, one JSON line per batch size\n"
    "  serve [MODEL ...]              serve models over HTTP\n"
    "  health                         probe a running grove's readiness (exit 0 when ready)\n"
    "  version                        print the version (also --version, -V)\n"
    "\n"
    "`grove COMMAND --help` describes a command and its options.\n"
    "\n" CLI_MODEL_HELP;

int cli_model_open(const char *cmd, const char *what, int argc, char **argv, int first,
                   cli_model_t *m) {
  m->forest = NULL;
  m->schema = NULL;
  if (first + 1 != argc || argv[first][0] == '-') {
    fprintf(stderr, "grove %s: expected %s\n", cmd, what);
    return CLI_EXIT_INPUT;
  }
  grove_error_t err;
  static grove_load_report_t report;
  if (grove_model_load_ex(argv[first], NULL, &m->forest, &m->schema, &report, &err) != GROVE_OK) {
    fprintf(stderr, "grove: %s\n", err.msg);
    return CLI_EXIT_MODEL;
  }
  if (report.warning[0] != '\0') fprintf(stderr, "grove: warning: %s\n", report.warning);
  return 0;
}

void cli_model_close(cli_model_t *m) {
  grove_schema_free(m->schema);
  grove_forest_free(m->forest);
  m->schema = NULL;
  m->forest = NULL;
}

int cli_print_model(const char *cmd, const char *about, int argc, char **argv,
                    cli_encode_fn encode) {
  static const struct option none[] = {{NULL, 0, NULL, 0}};
  char usage[2048];
  snprintf(usage, sizeof usage, "usage: grove %s MODEL\n\n%s\n%s", cmd, about, CLI_MODEL_HELP);
  int rc = cli_parse_options(cmd, usage, argc, argv, none, "", NULL, NULL, NULL);
  if (rc != 0) return rc == 1 ? 0 : rc;
  cli_model_t m;
  if ((rc = cli_model_open(cmd, "MODEL", argc, argv, optind, &m)) != 0) return rc;
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

int cli_read_csv(const char *cmd, const char *path, const cli_model_t *m,
                 const cli_csv_opts_t *opts, csv_rows_t *rows) {
  *rows = (csv_rows_t){0};
  int is_stdin = strcmp(path, "-") == 0;
  FILE *in = is_stdin ? stdin : fopen(path, "rb");
  if (in == NULL) {
    fprintf(stderr, "grove %s: %s: %s\n", cmd, path, strerror(errno));
    return CLI_EXIT_INPUT;
  }
  grove_error_t err;
  csv_rows_opts_t ropts = {
      .forest = m->forest,
      .schema = m->schema,
      .ignore_extra = opts->ignore_extra,
      .categories = opts->categories,
      .unknown_missing = opts->unknown_categories >= 0 ? opts->unknown_categories
                         : m->schema != NULL        ? m->schema->unknown_missing
                                                    : 0,
      .per_row_errors = opts->per_row_errors,
  };
  grove_err_t ec = csv_rows_read(in, &ropts, rows, &err);
  if (!is_stdin) fclose(in);
  if (ec == GROVE_OK) return 0;
  fprintf(stderr, "grove %s: %s: %s\n", cmd, is_stdin ? "<stdin>" : path, err.msg);
  return ec == GROVE_EINPUT ? CLI_EXIT_INPUT : CLI_EXIT_MODEL;
}

/* Takes option C when it is one of cli_rows_opts_t's ('i', 't'): returns 1 with *RC the
 * exit code (0, or 2 after saying why), else 0. */
static int rows_option(int c, const char *arg, cli_rows_opts_t *o, int *rc) {
  unsigned long v;
  *rc = 0;
  if (c == 'i')
    o->input = arg;
  else if (c == 't' && cli_parse_count("--threads", arg, 256, &v) == 0)
    o->threads = (uint32_t)v;
  else if (c == 't')
    *rc = CLI_EXIT_INPUT;
  return c == 'i' || c == 't';
}

int cli_parse_categories(const char *s, grove_categories_t *out) {
  static const char *const names[] = {"auto", "labels", "codes"};
  static const grove_categories_t modes[] = {GROVE_CATEGORIES_AUTO, GROVE_CATEGORIES_LABELS,
                                             GROVE_CATEGORIES_CODES};
  for (size_t i = 0; i < 3; i++)
    if (strcmp(s, names[i]) == 0) return *out = modes[i], 0;
  fprintf(stderr, "grove: --categories expects auto, labels or codes, got \"%s\"\n", s);
  return -1;
}

int cli_parse_options(const char *cmd, const char *usage, int argc, char **argv,
                      const struct option *options, const char *shortopts,
                      cli_rows_opts_t *rows, cli_option_fn on_option, void *ctx) {
  struct option all[32];
  char shorts[64];
  size_t n = 0;
  while (options[n].name != NULL && n < sizeof all / sizeof all[0] - 4) all[n] = options[n], n++;
  all[n++] = (struct option){"help", no_argument, NULL, 'h'};
  if (rows != NULL) {
    all[n++] = (struct option){"input", required_argument, NULL, 'i'};
    all[n++] = (struct option){"threads", required_argument, NULL, 't'};
  }
  all[n] = (struct option){NULL, 0, NULL, 0};
  /* ':' first: a missing value is told apart from an unknown option; 'h' is --help. */
  snprintf(shorts, sizeof shorts, ":h%s%s", rows != NULL ? "i:t:" : "", shortopts);
  opterr = 0; /* the messages below name the command */
  optind = 1;
  int c, rc = 0;
  while (rc == 0 && (c = getopt_long(argc, argv, shorts, all, NULL)) != -1) {
    if (c == 'h') {
      fputs(usage, stdout);
      return 1;
    }
    if (c == '?' || c == ':') {
      /* A long option is named as written; a short one by its letter (it may be in a
       * cluster such as -mx). */
      const char *written = argv[optind - 1];
      char letter[3] = {'-', (char)optopt, '\0'};
      const char *opt = strncmp(written, "--", 2) == 0 || optopt == 0 ? written : letter;
      fprintf(stderr, "grove %s: %s \"%s\" (grove %s --help lists the options)\n", cmd,
              c == ':' ? "missing value for option" : "unknown option", opt, cmd);
      return CLI_EXIT_INPUT;
    }
    if (rows == NULL || !rows_option(c, optarg, rows, &rc)) rc = on_option(c, optarg, ctx);
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
