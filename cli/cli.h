/*
 * Internal to cli/: what the `grove` subcommands share: exit codes, the MODEL-argument
 * prologue, CSV input, option parsing. One file per subcommand (predict.c, info.c, ...).
 */
#ifndef GROVE_CLI_H
#define GROVE_CLI_H

#include <stddef.h>
#include <stdint.h>

#include "api.h"
#include "grove_engine.h"

/* Exit codes: 0 ok, 1 model or system failure, 2 bad usage or bad input. */
enum { CLI_EXIT_MODEL = 1, CLI_EXIT_INPUT = 2 };

/* The global usage text (`grove --help`); each subcommand has its own (`grove CMD --help`). */
extern const char cli_usage[];

/* What every usage text says MODEL is. */
#define CLI_MODEL_HELP                                                                       \
  "MODEL is a model file (XGBoost JSON or UBJSON, a LightGBM model.txt, or a scikit-learn\n" \
  "model converted by models/convert_sklearn.py), or a directory holding model.json,\n"      \
  "model.ubj, model.txt or model.bst and an optional schema.json (category strings,\n"      \
  "labels, missing-value tokens). A current compiled image beside the model file\n"         \
  "(model.grove, `grove compile`) is mapped instead of parsing it; a model.grove alone, or\n" \
  "a *.grove path, is the model.\n"

/* A MODEL argument, loaded. */
typedef struct {
  grove_forest_t *forest;
  grove_schema_t *schema; /* NULL when it has none */
} cli_model_t;

/*
 * The prologue of every command that takes one MODEL: ARGV[FIRST] (what the options left)
 * must be the only argument, and loads. Returns 0, or an exit code after printing
 * "grove CMD: expected WHAT" or the load error to stderr.
 */
int cli_model_open(const char *cmd, const char *what, int argc, char **argv, int first,
                   cli_model_t *m);
void cli_model_close(cli_model_t *m);

/* For the commands that print a JSON document about MODEL alone (info, schema): --help
 * (a usage made of ABOUT, what the command prints), the prologue, then ENCODE's body on
 * stdout. Returns the exit code. */
typedef int (*cli_encode_fn)(const grove_forest_t *forest, const grove_schema_t *schema,
                             api_body_t *body);
int cli_print_model(const char *cmd, const char *about, int argc, char **argv,
                    cli_encode_fn encode);

/* How a command reads CSV (csv_rows_opts_t without the model). */
typedef struct {
  int ignore_extra;
  grove_categories_t categories;
  int unknown_categories; /* -1: the schema's "unknown_categories"; 0 refuse; 1 missing */
  int per_row_errors;
} cli_csv_opts_t;

/*
 * Reads CSV rows for M from PATH ("-": stdin) as `grove predict` does (header row, columns
 * by name or position). Returns 0 with *ROWS (csv_rows_free), or an exit code after
 * printing "grove CMD: FILE: why" to stderr.
 */
struct csv_rows;
int cli_read_csv(const char *cmd, const char *path, const cli_model_t *m,
                 const cli_csv_opts_t *opts, struct csv_rows *rows);

/* The options predict and bench share: --input FILE|- and --threads N. */
typedef struct {
  const char *input; /* NULL: not given */
  uint32_t threads;
} cli_rows_opts_t;

/* Parses --categories' value; -1 (said why on stderr) when it is none of auto|labels|codes. */
int cli_parse_categories(const char *s, grove_categories_t *out);

/*
 * Runs getopt_long over ARGV with OPTIONS (a {NULL} entry ends them; --help/-h is added
 * here, and with ROWS not NULL --input/-i and --threads/-t, read into ROWS), handing every
 * other option to ON_OPTION(C, OPTARG, CTX), which returns 0 or an exit code. Returns 0; 1
 * after --help (USAGE on stdout); or an exit code after a bad option (the reason on stderr,
 * pointing at --help).
 */
struct option;
typedef int (*cli_option_fn)(int c, const char *arg, void *ctx);
int cli_parse_options(const char *cmd, const char *usage, int argc, char **argv,
                      const struct option *options, const char *shortopts,
                      cli_rows_opts_t *rows, cli_option_fn on_option, void *ctx);

/* Parses option OPT's value S as a whole number from 1 to MAX into *OUT; -1 (with the
 * message on stderr) otherwise. */
int cli_parse_count(const char *opt, const char *s, unsigned long max, unsigned long *out);

/* Monotonic seconds. */
double cli_now(void);

/* The subcommands: ARGV[0] is the subcommand's name. Each returns the exit code. */
int cli_predict(int argc, char **argv);
int cli_info(int argc, char **argv);
int cli_schema(int argc, char **argv);
int cli_compile(int argc, char **argv);
int cli_bench(int argc, char **argv);
int cli_serve(int argc, char **argv);
int cli_health(int argc, char **argv);

#endif /* GROVE_CLI_H */
