/*
 * `grove serve` configuration as one declarative table: every knob's flag, environment
 * variable, type, field, default, bounds and help live in options[] below, and the
 * parser, the validation and --help are all driven by it.
 */
#include "config.h"

#include <dirent.h>
#include <errno.h>
#include <getopt.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <unistd.h>

#include "version.h" /* GROVE_DATADIR */

typedef enum {
  OPT_STRING, /* char * (malloc'd copy) */
  OPT_UINT,   /* uint32_t, decimal */
  OPT_SIZE,   /* uint64_t bytes, decimal with an optional k, M or G suffix (powers of 1024) */
  OPT_BOOL,   /* int 0/1: the flag alone means 1; values 0/1/true/false/yes/no/on/off */
} opt_type_t;

typedef struct {
  const char *flag;    /* long option without "--" */
  const char *env;     /* environment variable */
  const char *alt_env; /* read when ENV is unset (PORT, as Heroku sets it), or NULL */
  opt_type_t type;
  size_t offset;       /* of the field in config_t */
  const char *def;     /* default, parsed like any value; NULL: none (strings) or cores */
  uint64_t min, max;   /* bounds for OPT_UINT and OPT_SIZE */
  const char *metavar; /* value placeholder in --help */
  const char *help;
} option_t;

/* offsetof() that fails to compile when the field does not have the type the parser
 * will store through it. */
#define FIELD(f, T) _Generic(((config_t *)0)->f, T : offsetof(config_t, f))
#define STR(f)      OPT_STRING, FIELD(f, char *)
#define U32(f)      OPT_UINT, FIELD(f, uint32_t)
#define SIZE(f)     OPT_SIZE, FIELD(f, uint64_t)
#define BOOL(f)     OPT_BOOL, FIELD(f, int)

#define DEFAULT_CORES NULL /* for threads and workers: sysconf(_SC_NPROCESSORS_ONLN) */
#define MAX_THREADS   256

static const option_t options[] = {
    {"models", "GROVE_MODELS", NULL, STR(models_dir), "models", 0, 0, "DIR",
     "Serve every subdirectory of DIR holding model.json, model.ubj, model.txt or model.bst as "
     "a model named after it; beside MODEL paths only when set. Unset, without ./models: "
     "--datadir's models/."},
    {"default-model", "GROVE_DEFAULT_MODEL", NULL, STR(default_model), NULL, 0, 0, "NAME",
     "Model answering POST /predict; unset: \"income\" if loaded, else the first model."},
    {"model-name", "GROVE_MODEL_NAME", NULL, STR(model_name), NULL, 0, 0, "NAME",
     "Serve the one model (the one MODEL path, or the only model under --models) as NAME "
     "instead of its directory's name, as KServe calls it (/v2/models/NAME/infer); refused "
     "when there is more than one model."},
    {"host", "GROVE_HOST", NULL, STR(host), "0.0.0.0", 0, 0, "ADDR", "Address to listen on."},
    {"port", "GROVE_PORT", "PORT", U32(port), "8080", 1, 65535, "N", "TCP port to listen on."},
    {"threads", "GROVE_THREADS", NULL, U32(io_threads), DEFAULT_CORES, 1, MAX_THREADS, "N",
     "I/O threads (event loops)."},
    {"workers", "GROVE_WORKERS", NULL, U32(workers), DEFAULT_CORES, 1, MAX_THREADS, "N",
     "Engine worker threads that score batches."},
    {"max-batch-rows", "GROVE_MAX_BATCH_ROWS", NULL, U32(max_batch_rows), "4096", 1, 1048576, "N",
     "Rows merged into one engine batch at most."},
    {"max-delay-us", "GROVE_MAX_DELAY_US", NULL, U32(max_delay_us), "0", 0, 1000000, "US",
     "Microseconds a batch may wait for more rows; 0 flushes as soon as a worker is idle."},
    {"max-body", "GROVE_MAX_BODY", NULL, SIZE(max_body), "64M", 1024, 4ull << 30, "BYTES",
     "Largest request body (suffix k, M or G); larger: 413."},
    {"max-queue-rows", "GROVE_MAX_QUEUE_ROWS", NULL, U32(max_queue_rows), "1048576", 1, 1u << 30,
     "N", "Rows queued for the workers at most; beyond: 503."},
    {"max-request-rows", "GROVE_MAX_REQUEST_ROWS", NULL, U32(max_request_rows), "1048576", 1,
     1u << 30, "N", "Rows in one request at most; more: 413."},
    {"deadline-ms", "GROVE_DEADLINE_MS", NULL, U32(deadline_ms), "10000", 1, 3600000, "MS",
     "Time a request may wait for its batch; then 504."},
    {"ui", "GROVE_UI", NULL, STR(ui_dir), "ui", 0, 0, "DIR",
     "Directory of the web UI's static files. Unset, without ./ui: --datadir's ui/."},
    {"datadir", "GROVE_DATADIR", NULL, STR(datadir), GROVE_DATADIR, 0, 0, "DIR",
     "Where the installed ui/ and models/ are (the defaults of --ui and --models fall back "
     "there)."},
    {"access-log", "GROVE_ACCESS_LOG", NULL, BOOL(access_log), "0", 0, 1, NULL,
     "Log one line per request to stdout."},
    {"tls-cert", "GROVE_TLS_CERT", NULL, STR(tls_cert), NULL, 0, 0, "FILE",
     "PEM certificate chain; serves HTTPS (needs --tls-key)."},
    {"tls-key", "GROVE_TLS_KEY", NULL, STR(tls_key), NULL, 0, 0, "FILE",
     "PEM private key (needs --tls-cert)."},
    {"admin-token", "GROVE_ADMIN_TOKEN", NULL, STR(admin_token), NULL, 0, 0, "TOKEN",
     "Require \"Authorization: Bearer TOKEN\" on /admin/..."},
    {"shutdown-grace", "GROVE_SHUTDOWN_GRACE", NULL, U32(shutdown_grace_s), "25", 0, 3600, "S",
     "Seconds to finish in-flight requests after SIGTERM."},
    {"cache-dir", "GROVE_CACHE_DIR", NULL, STR(cache_dir), NULL, 0, 0, "DIR",
     "Directory of compiled model images, named by their source's hash: read at load, and "
     "written there for a model built from its source. Missing or read-only: a warning, "
     "never a failure."},
};
#define NUM_OPTIONS (sizeof options / sizeof options[0])

/* getopt_long's return value for options[i] (above every short option character). */
#define OPT_VAL_BASE 0x100
#define OPT_HELP     'h'

/* ---- values ---- */

static void set_err(char *err, size_t errlen, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
static void set_err(char *err, size_t errlen, const char *fmt, ...) {
  if (err == NULL || errlen == 0) return;
  va_list ap;
  va_start(ap, fmt);
  vsnprintf(err, errlen, fmt, ap);
  va_end(ap);
}

static uint32_t online_cores(void) {
  long n = sysconf(_SC_NPROCESSORS_ONLN);
  if (n < 1) return 1;
  return n > MAX_THREADS ? MAX_THREADS : (uint32_t)n;
}

/* A bound as --help and the error messages show it: sizes with the largest exact suffix. */
static void format_bound(char *out, size_t outlen, opt_type_t type, uint64_t v) {
  static const char suffixes[] = "kMG";
  int k = -1;
  if (type == OPT_SIZE)
    while (k < 2 && v >= 1024 && v % 1024 == 0) {
      v /= 1024;
      k++;
    }
  if (k >= 0)
    snprintf(out, outlen, "%llu%c", (unsigned long long)v, suffixes[k]);
  else
    snprintf(out, outlen, "%llu", (unsigned long long)v);
}

/* Decimal digits only: strtoull alone would take "-1", " 5" and "0x10". */
static int parse_u64(const char *s, uint64_t *out, const char **rest) {
  if (*s < '0' || *s > '9') return -1;
  char *end;
  errno = 0;
  unsigned long long v = strtoull(s, &end, 10);
  if (errno == ERANGE) return -1;
  *out = v;
  *rest = end;
  return 0;
}

static int parse_size(const char *s, uint64_t *out) {
  const char *rest;
  uint64_t v;
  if (parse_u64(s, &v, &rest) != 0) return -1;
  int shift = 0;
  switch (*rest) {
    case '\0':
      break;
    case 'k':
    case 'K':
      shift = 10;
      break;
    case 'm':
    case 'M':
      shift = 20;
      break;
    case 'g':
    case 'G':
      shift = 30;
      break;
    default:
      return -1;
  }
  if (shift && rest[1] != '\0') return -1;
  if (v > (UINT64_MAX >> shift)) return -1;
  *out = v << shift;
  return 0;
}

static int parse_bool(const char *s, int *out) {
  static const char *const yes[] = {"1", "true", "yes", "on"}, *const no[] = {"0", "false", "no",
                                                                              "off"};
  for (size_t i = 0; i < 4; i++) {
    if (strcasecmp(s, yes[i]) == 0) return *out = 1, 0;
    if (strcasecmp(s, no[i]) == 0) return *out = 0, 0;
  }
  return -1;
}

/* Stores TEXT into O's field. SOURCE names where it came from ("--port", "GROVE_PORT")
 * for the error message, which also gives the accepted values. */
/* A whole-number option (OPT_UINT, or OPT_SIZE with its k/M/G suffix) within its bounds. */
static int apply_number(char *field, const option_t *o, const char *text, const char *source,
                        char *err, size_t errlen) {
  char lo[32], hi[32];
  format_bound(lo, sizeof lo, o->type, o->min);
  format_bound(hi, sizeof hi, o->type, o->max);
  uint64_t v;
  const char *rest = NULL;
  int bad = o->type == OPT_SIZE ? parse_size(text, &v)
                                : (parse_u64(text, &v, &rest) != 0 || *rest != '\0');
  if (bad) {
    set_err(err, errlen, "%s: \"%s\" is not %s; accepted: %s to %s", source, text,
            o->type == OPT_SIZE ? "a size (a whole number with an optional k, M or G suffix)"
                                : "a whole number",
            lo, hi);
    return -1;
  }
  if (v < o->min || v > o->max) {
    set_err(err, errlen, "%s: %s is out of range; accepted: %s to %s", source, text, lo, hi);
    return -1;
  }
  if (o->type == OPT_SIZE) {
    memcpy(field, &v, sizeof(uint64_t));
  } else {
    uint32_t v32 = (uint32_t)v;
    memcpy(field, &v32, sizeof v32);
  }
  return 0;
}

static int apply(config_t *cfg, const option_t *o, const char *text, const char *source, char *err,
                 size_t errlen) {
  char *field = (char *)cfg + o->offset;
  switch (o->type) {
    case OPT_STRING: {
      if (*text == '\0') {
        set_err(err, errlen, "%s: empty value", source);
        return -1;
      }
      char *copy = strdup(text);
      if (copy == NULL) {
        set_err(err, errlen, "out of memory");
        return -1;
      }
      char **slot = (char **)(void *)field;
      free(*slot);
      *slot = copy;
      return 0;
    }
    case OPT_UINT:
    case OPT_SIZE:
      return apply_number(field, o, text, source, err, errlen);
    case OPT_BOOL: {
      int b;
      if (parse_bool(text, &b) != 0) {
        set_err(err, errlen,
                "%s: \"%s\" is not a boolean; accepted: 0, 1, true, false, yes, no, on, off",
                source, text);
        return -1;
      }
      memcpy(field, &b, sizeof b);
      return 0;
    }
  }
  return -1;
}

/* ---- parsing ---- */

/* An empty variable counts as unset: `GROVE_TLS_CERT= grove serve` turns TLS off. */
static const char *env_value(config_getenv_fn getenv_fn, const char *name) {
  if (getenv_fn == NULL || name == NULL) return NULL;
  const char *v = getenv_fn(name);
  return v != NULL && *v != '\0' ? v : NULL;
}

/*
 * Pass 1: the flags' texts into FLAG_TEXT (the last of a repeated flag wins). Applying them
 * after the environment lets a flag override a variable that would not parse. Returns 0,
 * 1 after --help, or -1 with ERR filled.
 */
static int collect_flags(int argc, char **argv, const char *flag_text[NUM_OPTIONS], char *err,
                         size_t errlen) {
  /* The getopt table, built from options[]: bools take an optional "=VALUE". */
  struct option longopts[NUM_OPTIONS + 2];
  for (size_t i = 0; i < NUM_OPTIONS; i++)
    longopts[i] = (struct option){
        options[i].flag, options[i].type == OPT_BOOL ? optional_argument : required_argument, NULL,
        OPT_VAL_BASE + (int)i};
  longopts[NUM_OPTIONS] = (struct option){"help", no_argument, NULL, OPT_HELP};
  longopts[NUM_OPTIONS + 1] = (struct option){NULL, 0, NULL, 0};
  optind = 0; /* GNU getopt: a full reset, so that a second call in one process works */
  opterr = 0;
  int c;
  while ((c = getopt_long(argc, argv, ":h", longopts, NULL)) != -1) {
    if (c == OPT_HELP) {
      config_print_help(stdout);
      return 1;
    }
    if (c >= OPT_VAL_BASE && c < OPT_VAL_BASE + (int)NUM_OPTIONS) {
      flag_text[c - OPT_VAL_BASE] = optarg != NULL ? optarg : "1";
      continue;
    }
    const char *arg = argv[optind - 1];
    if (c == ':')
      set_err(err, errlen, "%s needs a value (see --help)", arg);
    else if (strncmp(arg, "--", 2) == 0 && strchr(arg, '=') != NULL && optopt != 0)
      set_err(err, errlen, "%s: this option takes no value (see --help)", arg);
    else if (strncmp(arg, "--", 2) != 0 && optopt > 0 && optopt < OPT_VAL_BASE)
      set_err(err, errlen, "unknown option -%c (see --help)", optopt);
    else
      set_err(err, errlen, "unknown or ambiguous option %s (see --help)", arg);
    return -1;
  }
  return 0;
}

/* Records that O was set by its flag or variable, for the options whose default means more
 * than its value: --models (served beside MODEL paths only when given) and --ui. */
static void mark_given(config_t *cfg, const option_t *o) {
  if (o->offset == offsetof(config_t, models_dir)) cfg->models_dir_given = 1;
  if (o->offset == offsetof(config_t, ui_dir)) cfg->ui_dir_given = 1;
}

/* Pass 2: each option takes its value from the flag, else the environment, else the
 * default: one value per option, so precedence is plain to read here. */
static int apply_values(const char *const flag_text[NUM_OPTIONS], config_getenv_fn getenv_fn,
                        config_t *cfg, char *err, size_t errlen) {
  char source[64];
  for (size_t i = 0; i < NUM_OPTIONS; i++) {
    const option_t *o = &options[i];
    const char *text = NULL;
    if (flag_text[i] != NULL) {
      text = flag_text[i];
      snprintf(source, sizeof source, "--%s", o->flag);
    } else if ((text = env_value(getenv_fn, o->env)) != NULL) {
      snprintf(source, sizeof source, "%s", o->env);
    } else if ((text = env_value(getenv_fn, o->alt_env)) != NULL) {
      snprintf(source, sizeof source, "%s", o->alt_env);
    } else if (o->def != NULL) {
      text = o->def;
      snprintf(source, sizeof source, "default of --%s", o->flag);
    } else if (o->type == OPT_UINT) { /* DEFAULT_CORES */
      /* One thread per core in all: half the cores run I/O loops, the rest score. More
       * threads than cores only makes loops and workers take turns. */
      uint32_t cores = online_cores(), io = cores / 2 ? cores / 2 : 1;
      uint32_t n = o->offset == offsetof(config_t, io_threads) ? io : (cores > io ? cores - io : 1);
      memcpy((char *)cfg + o->offset, &n, sizeof n);
    }
    if (text != NULL && apply(cfg, o, text, source, err, errlen) != 0) return -1;
    if (text != NULL && text != o->def) mark_given(cfg, o); /* a flag's or a variable's */
  }
  return 0;
}

/* The positional MODEL paths (GNU getopt moved them after the options, from ARGV[FIRST]). */
static int collect_paths(int argc, char **argv, int first, config_t *cfg, char *err,
                         size_t errlen) {
  if (first >= argc) return 0;
  cfg->model_paths = calloc((size_t)(argc - first), sizeof *cfg->model_paths);
  if (cfg->model_paths == NULL) {
    set_err(err, errlen, "out of memory");
    return -1;
  }
  for (int i = first; i < argc; i++) {
    if (argv[i][0] == '\0') {
      set_err(err, errlen, "model path %zu is empty", cfg->num_model_paths + 1);
      return -1;
    }
    if ((cfg->model_paths[cfg->num_model_paths] = strdup(argv[i])) == NULL) {
      set_err(err, errlen, "out of memory");
      return -1;
    }
    cfg->num_model_paths++;
  }
  return 0;
}

/* A served name is a path segment of /v1/models/NAME and /v2/models/NAME/infer. */
static int valid_model_name(const char *name) {
  size_t n = strlen(name);
  if (n == 0 || n > 200 || strcmp(name, ".") == 0 || strcmp(name, "..") == 0) return 0;
  return strspn(name, "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789._-") == n;
}

/* What no single option's bounds can say: the TLS pair, the model name's characters. */
static int check_values(const config_t *cfg, char *err, size_t errlen) {
  if ((cfg->tls_cert == NULL) != (cfg->tls_key == NULL)) {
    set_err(err, errlen,
            "--tls-cert (GROVE_TLS_CERT) and --tls-key (GROVE_TLS_KEY) must be given together; "
            "only %s was given",
            cfg->tls_cert != NULL ? "the certificate" : "the key");
    return -1;
  }
  if (cfg->model_name != NULL && !valid_model_name(cfg->model_name)) {
    set_err(err, errlen,
            "--model-name (GROVE_MODEL_NAME) \"%s\": a model name is 1 to 200 letters, digits, "
            "'.', '_' or '-'",
            cfg->model_name);
    return -1;
  }
  return 0;
}

static int parse_all(int argc, char **argv, config_getenv_fn getenv_fn, config_t *cfg, char *err,
                     size_t errlen) {
  set_err(err, errlen, "%s", "");
  const char *flag_text[NUM_OPTIONS] = {0};
  int rc = collect_flags(argc, argv, flag_text, err, errlen);
  if (rc != 0) return rc;
  if (apply_values(flag_text, getenv_fn, cfg, err, errlen) != 0 ||
      check_values(cfg, err, errlen) != 0)
    return -1;
  return collect_paths(argc, argv, optind, cfg, err, errlen);
}

/* A failed or --help parse frees what it stored, so callers that only call config_free()
 * after success leak nothing (calling it anyway is harmless). */
int config_parse(int argc, char **argv, config_getenv_fn getenv_fn, config_t *cfg, char *err,
                 size_t errlen) {
  memset(cfg, 0, sizeof *cfg);
  int rc = parse_all(argc, argv, getenv_fn, cfg, err, errlen);
  if (rc != 0) config_free(cfg);
  return rc;
}

/* ---- directories ---- */

/* Whether DIR can be listed; errno says why not. */
static int readable_dir(const char *dir) {
  DIR *d = opendir(dir);
  if (d == NULL) return 0;
  closedir(d);
  return 1;
}

/* *DIR, left at its default NAME, becomes DATADIR/NAME when ./NAME cannot be listed and that
 * can. Returns 0, or -1 out of memory. */
static int fall_back(char **dir, int given, const char *datadir, const char *name) {
  if (given || datadir == NULL || readable_dir(*dir)) return 0;
  size_t n = strlen(datadir) + 1 + strlen(name) + 1;
  char *alt = malloc(n);
  if (alt == NULL) return -1;
  snprintf(alt, n, "%s/%s", datadir, name);
  if (!readable_dir(alt)) {
    free(alt);
    return 0;
  }
  free(*dir);
  *dir = alt;
  return 0;
}

int config_resolve_dirs(config_t *cfg, char *err, size_t errlen) {
  if (cfg->models_dir_given && !readable_dir(cfg->models_dir)) {
    set_err(err, errlen, "--models (GROVE_MODELS) %s: not a readable directory: %s",
            cfg->models_dir, strerror(errno));
    return -1;
  }
  if (fall_back(&cfg->models_dir, cfg->models_dir_given, cfg->datadir, "models") != 0 ||
      fall_back(&cfg->ui_dir, cfg->ui_dir_given, cfg->datadir, "ui") != 0) {
    set_err(err, errlen, "out of memory");
    return -1;
  }
  return 0;
}

/* ---- help ---- */

/* Prints TEXT indented by 6 and wrapped before column 80 at spaces. */
static void print_wrapped(FILE *fp, const char *text) {
  const int indent = 6, width = 80;
  int col = 0;
  for (const char *p = text; *p;) {
    while (*p == ' ') p++;
    size_t n = strcspn(p, " ");
    if (n == 0) break;
    if (col > indent && col + 1 + (int)n > width) {
      fputc('\n', fp);
      col = 0;
    }
    if (col == 0) {
      fprintf(fp, "%*s", indent, "");
      col = indent;
    } else {
      fputc(' ', fp);
      col++;
    }
    fwrite(p, 1, n, fp);
    col += (int)n;
    p += n;
  }
  fputc('\n', fp);
}

/* The help row's default column holds 19 characters; a longer default (a path) is given
 * in the text instead. */
#define HELP_DEFAULT_WIDTH 19

/* O's row: flag, variable and default, within 80 columns. */
static void print_option_row(FILE *fp, const option_t *o) {
  char flag[64], env[64];
  if (o->metavar != NULL)
    snprintf(flag, sizeof flag, "--%s %s", o->flag, o->metavar);
  else
    snprintf(flag, sizeof flag, "--%s", o->flag);
  if (o->alt_env != NULL)
    snprintf(env, sizeof env, "%s, %s", o->env, o->alt_env);
  else
    snprintf(env, sizeof env, "%s", o->env);
  const char *def = o->def != NULL && strlen(o->def) > HELP_DEFAULT_WIDTH ? "below"
                    : o->def != NULL                                      ? o->def
                    : o->type != OPT_UINT                                 ? "none"
                    : o->offset == offsetof(config_t, io_threads)         ? "cores/2"
                                                                          : "cores-threads";
  fprintf(fp, "  %-24s %-24s default: %s\n", flag, env, def);
}

/* O's text: its help, then its range, values or long default. */
static void print_option_text(FILE *fp, const option_t *o) {
  char text[1024], lo[32], hi[32];
  if (o->type == OPT_UINT || o->type == OPT_SIZE) {
    format_bound(lo, sizeof lo, o->type, o->min);
    format_bound(hi, sizeof hi, o->type, o->max);
    snprintf(text, sizeof text, "%s Range: %s to %s.", o->help, lo, hi);
  } else if (o->type == OPT_BOOL) {
    snprintf(text, sizeof text, "%s Values: 0/1/true/false (the flag alone: 1, or --%s=0).",
             o->help, o->flag);
  } else if (o->def != NULL && strlen(o->def) > HELP_DEFAULT_WIDTH) {
    snprintf(text, sizeof text, "%s Default: %s", o->help, o->def);
  } else {
    snprintf(text, sizeof text, "%s", o->help);
  }
  print_wrapped(fp, text);
}

void config_print_help(FILE *fp) {
  fprintf(fp,
          "usage: grove serve [options] [MODEL...]\n"
          "\n"
          "Serves each MODEL (a model file, or a directory holding model.json, model.ubj,\n"
          "model.txt or model.bst and an optional schema.json); without MODEL, every model\n"
          "under --models DIR (with MODEL, those too when --models or GROVE_MODELS is set).\n"
          "Each option can also be set by its environment variable; a flag wins over the\n"
          "variable, the variable over the default. An empty variable counts as unset.\n"
          "\n"
          "Exit status: 0 after SIGTERM, 1 when serving fails (logged like the rest of the\n"
          "run: models that do not load, a port in use, TLS files), 2 for bad options.\n"
          "\n"
          "options:\n");
  for (size_t i = 0; i < NUM_OPTIONS; i++) {
    print_option_row(fp, &options[i]);
    print_option_text(fp, &options[i]);
  }
  fprintf(fp, "  --help\n");
  print_wrapped(fp, "Print this help.");
}

void config_free(config_t *cfg) {
  if (cfg == NULL) return;
  for (size_t i = 0; i < cfg->num_model_paths; i++) free(cfg->model_paths[i]);
  free(cfg->model_paths);
  cfg->model_paths = NULL;
  cfg->num_model_paths = 0;
  for (size_t i = 0; i < NUM_OPTIONS; i++) {
    if (options[i].type != OPT_STRING) continue;
    char **slot = (char **)(void *)((char *)cfg + options[i].offset);
    free(*slot);
    *slot = NULL;
  }
}
