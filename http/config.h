/*
 * `grove serve` configuration: one table of options (flag, environment variable, default,
 * bounds, help). Values come from the defaults, then the environment, then the flags.
 */
#ifndef GROVE_CONFIG_H
#define GROVE_CONFIG_H

#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

typedef struct {
  char **model_paths; /* positional MODEL arguments (files or directories) */
  size_t num_model_paths;
  char *models_dir;    /* --models DIR / GROVE_MODELS: each subdirectory holding a model file is a
                          model; default "models", see config_resolve_dirs() */
  char *default_model; /* --default-model NAME / GROVE_DEFAULT_MODEL: model for POST /predict;
                          default "income" if loaded, else the first */
  char *model_name;    /* --model-name NAME / GROVE_MODEL_NAME: the name of the one served model
                          (KServe's InferenceService name); default NULL: named after its path */
  char *host;          /* --host / GROVE_HOST, default "0.0.0.0" */
  uint32_t port;       /* --port / GROVE_PORT, else PORT (Heroku), else 8080 */
  uint32_t io_threads; /* --threads / GROVE_THREADS: I/O loop threads; default: half the cores (at
                          least 1) */
  uint32_t workers;    /* --workers / GROVE_WORKERS: engine worker threads; default: the other cores
                          (at least 1) */
  uint32_t max_batch_rows;   /* --max-batch-rows / GROVE_MAX_BATCH_ROWS, default 4096 */
  uint32_t max_delay_us;     /* --max-delay-us / GROVE_MAX_DELAY_US, default 0 (flush as soon as a
                                worker is idle) */
  uint64_t max_body;         /* --max-body / GROVE_MAX_BODY bytes, default 64 MiB */
  uint32_t max_queue_rows;   /* --max-queue-rows / GROVE_MAX_QUEUE_ROWS, default 1048576 */
  uint32_t max_request_rows; /* --max-request-rows / GROVE_MAX_REQUEST_ROWS, default 1048576 */
  uint32_t deadline_ms;      /* --deadline-ms / GROVE_DEADLINE_MS, default 10000 */
  char *ui_dir;              /* --ui DIR / GROVE_UI, default "ui", see config_resolve_dirs() */
  int access_log;            /* --access-log / GROVE_ACCESS_LOG (0/1), default 0 */
  char *tls_cert;            /* --tls-cert / GROVE_TLS_CERT, default NULL */
  char *tls_key;             /* --tls-key / GROVE_TLS_KEY, default NULL */
  char *admin_token; /* --admin-token / GROVE_ADMIN_TOKEN: required as "Authorization: Bearer T" on
                        /admin when set */
  uint32_t shutdown_grace_s; /* --shutdown-grace / GROVE_SHUTDOWN_GRACE seconds, default 25 */
  char *cache_dir; /* --cache-dir DIR / GROVE_CACHE_DIR: compiled model images keyed by their
                      source's hash (engine's grove_load_opts_t); default NULL: none */
  char *datadir; /* --datadir DIR / GROVE_DATADIR: the installed ui/ and models/, where --ui
                    and --models left at their defaults fall back to; default GROVE_DATADIR,
                    which meson sets to PREFIX/DATADIR/grove */
  /* 1 when the flag or the variable set --models (then served beside MODEL paths too, and
   * refused when not a readable directory) or --ui (then never replaced by --datadir's). */
  int models_dir_given, ui_dir_given;
} config_t;

/* Looks up an environment variable (main passes getenv; tests pass their own). */
typedef const char *(*config_getenv_fn)(const char *name);

/*
 * Fills CFG from defaults, then GETENV, then ARGV (argv[0] is "serve"). Returns 0, 1 when
 * --help was given (help already printed to stdout), or -1 with a message in ERR naming
 * the option or variable and the accepted range. After 0 the caller frees CFG with
 * config_free(); after 1 or -1 CFG holds nothing to free (config_free() is still safe, and
 * safe to call twice). ARGV's pointer array is permuted (GNU getopt); the strings are copied.
 */
int config_parse(int argc, char **argv, config_getenv_fn getenv_fn, config_t *cfg, char *err,
                 size_t errlen);

/*
 * Settles the directories against the filesystem, after config_parse() returned 0: an
 * explicit --models must be a readable directory (-1 with ERR naming it otherwise); --models
 * and --ui left at their defaults become DATADIR/models and DATADIR/ui when ./models or ./ui
 * cannot be read and the installed one can.
 */
int config_resolve_dirs(config_t *cfg, char *err, size_t errlen);

/* Prints the option table: flag, environment variable, default, meaning. */
void config_print_help(FILE *fp);

void config_free(config_t *cfg);

#endif /* GROVE_CONFIG_H */
