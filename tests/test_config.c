/* `grove serve` configuration: defaults, environment, flags, bounds and their messages. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

/* By path: a build tree configured before the rename to version.h still holds a
 * generated config.h that "config.h" alone could find first. */
#include "config.h"
#include "test.h"

/* A fake environment: NAME=VALUE pairs, NULL-terminated. */
static const char *const *fake_env;

static const char *fake_getenv(const char *name) {
  for (const char *const *e = fake_env; e != NULL && *e != NULL; e += 2)
    if (strcmp(e[0], name) == 0) return e[1];
  return NULL;
}

/* Parses ARGS (NULL-terminated, "serve" prepended) with ENV; the argv array is a
 * writable copy since GNU getopt permutes it. */
static int parse(const char *const *env, const char *const *args, config_t *cfg, char *err,
                 size_t errlen) {
  char *argv[64];
  int argc = 0;
  argv[argc++] = (char *)"serve";
  for (; args != NULL && *args != NULL && argc < 63; args++) argv[argc++] = (char *)*args;
  argv[argc] = NULL;
  fake_env = env;
  return config_parse(argc, argv, fake_getenv, cfg, err, errlen);
}

static void test_defaults(void) {
  config_t cfg;
  char err[256];
  CHECK_EQ_INT(parse(NULL, NULL, &cfg, err, sizeof err), 0, "no flags, no environment");
  long cores = sysconf(_SC_NPROCESSORS_ONLN);
  if (cores > 256) cores = 256;
  CHECK(cfg.models_dir && strcmp(cfg.models_dir, "models") == 0, "models default");
  CHECK(cfg.default_model == NULL, "no default model");
  CHECK(cfg.model_name == NULL, "no model name: models are named after their paths");
  CHECK(cfg.host && strcmp(cfg.host, "0.0.0.0") == 0, "host default");
  CHECK_EQ_INT(cfg.port, 8080, "port default");
  long io = cores / 2 ? cores / 2 : 1;
  CHECK_EQ_INT(cfg.io_threads, io, "threads default: half the cores (at least 1)");
  CHECK_EQ_INT(cfg.workers, cores > io ? cores - io : 1,
               "workers default: the other cores (at least 1)");
  CHECK_EQ_INT(cfg.max_batch_rows, 4096, "max batch rows default");
  CHECK_EQ_INT(cfg.max_delay_us, 0, "max delay default");
  CHECK_EQ_INT(cfg.max_body, 64ll << 20, "max body default 64M");
  CHECK_EQ_INT(cfg.max_queue_rows, 1048576, "max queue rows default");
  CHECK_EQ_INT(cfg.max_request_rows, 1048576, "max request rows default");
  CHECK_EQ_INT(cfg.deadline_ms, 10000, "deadline default");
  CHECK(cfg.ui_dir && strcmp(cfg.ui_dir, "ui") == 0, "ui default");
  CHECK_EQ_INT(cfg.access_log, 0, "access log off");
  CHECK(cfg.tls_cert == NULL && cfg.tls_key == NULL, "no TLS");
  CHECK(cfg.admin_token == NULL, "no admin token");
  CHECK_EQ_INT(cfg.shutdown_grace_s, 25, "grace default");
  CHECK_EQ_INT(cfg.num_model_paths, 0, "no models");
  config_free(&cfg);
  config_free(&cfg); /* twice: pointers were reset */
  CHECK(cfg.host == NULL, "config_free resets the pointers");
}

static void test_env_and_flags(void) {
  config_t cfg;
  char err[256];
  const char *const env[] = {"GROVE_HOST",
                             "127.0.0.1",
                             "GROVE_THREADS",
                             "3",
                             "GROVE_WORKERS",
                             "5",
                             "GROVE_MAX_BODY",
                             "2k",
                             "GROVE_ACCESS_LOG",
                             "true",
                             "GROVE_DEADLINE_MS",
                             "250",
                             "GROVE_ADMIN_TOKEN",
                             "s3cret",
                             "GROVE_MODELS",
                             "/srv/models",
                             "GROVE_UI",
                             "",
                             "GROVE_MODEL_NAME",
                             "income-isvc",
                             NULL};
  CHECK_EQ_INT(parse(env, NULL, &cfg, err, sizeof err), 0, "environment only");
  CHECK(strcmp(cfg.host, "127.0.0.1") == 0, "env host");
  CHECK_EQ_INT(cfg.io_threads, 3, "env threads");
  CHECK_EQ_INT(cfg.workers, 5, "env workers");
  CHECK_EQ_INT(cfg.max_body, 2048, "env size with k");
  CHECK_EQ_INT(cfg.access_log, 1, "env bool true");
  CHECK_EQ_INT(cfg.deadline_ms, 250, "env deadline");
  CHECK(strcmp(cfg.admin_token, "s3cret") == 0, "env admin token");
  CHECK(strcmp(cfg.models_dir, "/srv/models") == 0, "env models dir");
  CHECK(strcmp(cfg.ui_dir, "ui") == 0, "empty variable counts as unset");
  CHECK(cfg.model_name && strcmp(cfg.model_name, "income-isvc") == 0, "env model name");
  config_free(&cfg);

  const char *const args[] = {
      "--host=::1",      "--threads",   "7",           "--max-body",      "64M",  "--access-log=0",
      "--deadline-ms=9", "--workers=2", "--workers=4", "--default-model", "iris", NULL};
  CHECK_EQ_INT(parse(env, args, &cfg, err, sizeof err), 0, "flags over environment");
  CHECK(strcmp(cfg.host, "::1") == 0, "--host=VALUE wins over env");
  CHECK_EQ_INT(cfg.io_threads, 7, "--threads VALUE wins over env");
  CHECK_EQ_INT(cfg.max_body, 64 << 20, "--max-body 64M");
  CHECK_EQ_INT(cfg.access_log, 0, "--access-log=0 wins over env true");
  CHECK_EQ_INT(cfg.deadline_ms, 9, "--deadline-ms=9");
  CHECK_EQ_INT(cfg.workers, 4, "the last repeated flag wins");
  CHECK(strcmp(cfg.default_model, "iris") == 0, "--default-model");
  CHECK(strcmp(cfg.admin_token, "s3cret") == 0, "env kept where no flag");
  CHECK(strcmp(cfg.model_name, "income-isvc") == 0, "env model name kept where no flag");
  config_free(&cfg);

  /* KServe's runtime passes --model-name={{.Name}}: the flag wins over the variable. */
  const char *const name_flag[] = {"--model-name=my-isvc", "/mnt/models", NULL};
  CHECK_EQ_INT(parse(env, name_flag, &cfg, err, sizeof err), 0, "--model-name=VALUE");
  CHECK(cfg.model_name && strcmp(cfg.model_name, "my-isvc") == 0,
        "--model-name wins over GROVE_MODEL_NAME");
  CHECK(cfg.num_model_paths == 1 && strcmp(cfg.model_paths[0], "/mnt/models") == 0,
        "the model path beside it");
  config_free(&cfg);
  CHECK(cfg.model_name == NULL, "config_free frees the model name");
  const char *const empty_name[] = {"--model-name=", NULL};
  CHECK_EQ_INT(parse(NULL, empty_name, &cfg, err, sizeof err), -1, "empty --model-name");
  CHECK_CONTAINS(err, "--model-name: empty value", "empty model name refused, naming the flag");
  config_free(&cfg);

  const char *const bad_env[] = {"GROVE_PORT", "nope", NULL};
  const char *const port_flag[] = {"--port", "9000", NULL};
  CHECK_EQ_INT(parse(bad_env, port_flag, &cfg, err, sizeof err), 0,
               "a flag overrides a variable that would not parse");
  CHECK_EQ_INT(cfg.port, 9000, "port from the flag");
  config_free(&cfg);

  const char *const flag_only[] = {"--access-log", NULL};
  CHECK_EQ_INT(parse(NULL, flag_only, &cfg, err, sizeof err), 0, "bool flag alone");
  CHECK_EQ_INT(cfg.access_log, 1, "--access-log alone means 1");
  config_free(&cfg);

  static const char *const bools[][2] = {{"0", "0"},    {"1", "1"},  {"false", "0"},
                                         {"TRUE", "1"}, {"no", "0"}, {"on", "1"}};
  for (size_t i = 0; i < sizeof bools / sizeof bools[0]; i++) {
    const char *const e[] = {"GROVE_ACCESS_LOG", bools[i][0], NULL};
    int rc = parse(e, NULL, &cfg, err, sizeof err);
    char what[64];
    snprintf(what, sizeof what, "GROVE_ACCESS_LOG=%s", bools[i][0]);
    CHECK(rc == 0 && cfg.access_log == atoi(bools[i][1]), what);
    config_free(&cfg);
  }
}

static void test_port_precedence(void) {
  config_t cfg;
  char err[256];
  const char *const heroku[] = {"PORT", "5000", NULL};
  CHECK_EQ_INT(parse(heroku, NULL, &cfg, err, sizeof err), 0, "PORT alone");
  CHECK_EQ_INT(cfg.port, 5000, "PORT used when GROVE_PORT is unset");
  config_free(&cfg);
  const char *const both[] = {"PORT", "5000", "GROVE_PORT", "6000", NULL};
  CHECK_EQ_INT(parse(both, NULL, &cfg, err, sizeof err), 0, "PORT and GROVE_PORT");
  CHECK_EQ_INT(cfg.port, 6000, "GROVE_PORT wins over PORT");
  config_free(&cfg);
  const char *const flag[] = {"--port=7000", NULL};
  CHECK_EQ_INT(parse(both, flag, &cfg, err, sizeof err), 0, "--port with both variables");
  CHECK_EQ_INT(cfg.port, 7000, "--port wins over both");
  config_free(&cfg);
  const char *const bad_port[] = {"PORT", "99999", NULL};
  CHECK_EQ_INT(parse(bad_port, NULL, &cfg, err, sizeof err), -1, "PORT out of range");
  CHECK_CONTAINS(err, "PORT", "message names PORT");
  config_free(&cfg);
}

static void test_sizes(void) {
  static const struct {
    const char *text;
    long long bytes; /* -1: refused */
  } cases[] = {{"1024", 1024},
               {"1k", 1024},
               {"1K", 1024},
               {"64M", 64ll << 20},
               {"64m", 64ll << 20},
               {"4G", 4ll << 30},
               {"1g", 1ll << 30},
               {"5G", -1},
               {"1023", -1},
               {"12x", -1},
               {"1kb", -1},
               {"-1k", -1},
               {"", -1},
               {"k", -1},
               {" 1M", -1},
               {"99999999999999999999G", -1}};
  for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
    config_t cfg;
    char err[256], flag[64], what[96];
    snprintf(flag, sizeof flag, "--max-body=%s", cases[i].text);
    const char *const args[] = {flag, NULL};
    int rc = parse(NULL, args, &cfg, err, sizeof err);
    snprintf(what, sizeof what, "--max-body=%s -> %lld", cases[i].text, cases[i].bytes);
    if (cases[i].bytes < 0) {
      CHECK(rc == -1 && strstr(err, "--max-body") && strstr(err, "1k to 4G"), what);
      if (rc != -1) printf("# rc %d\n", rc);
    } else {
      CHECK(rc == 0 && (long long)cfg.max_body == cases[i].bytes, what);
      if (rc != 0) printf("# %s\n", err);
    }
    config_free(&cfg);
  }
}

/* Every numeric option: below and above its range, and not a number, both as a flag
 * and as a variable; the message must name the one that was used and the range. */
static void test_bounds(void) {
  static const struct {
    const char *flag, *env, *low, *high, *range;
  } cases[] = {
      {"port", "GROVE_PORT", "0", "65536", "1 to 65535"},
      {"threads", "GROVE_THREADS", "0", "257", "1 to 256"},
      {"workers", "GROVE_WORKERS", "0", "257", "1 to 256"},
      {"max-batch-rows", "GROVE_MAX_BATCH_ROWS", "0", "1048577", "1 to 1048576"},
      {"max-delay-us", "GROVE_MAX_DELAY_US", NULL, "1000001", "0 to 1000000"},
      {"max-body", "GROVE_MAX_BODY", "1023", "4294967297", "1k to 4G"},
      {"max-queue-rows", "GROVE_MAX_QUEUE_ROWS", "0", "1073741825", "1 to 1073741824"},
      {"max-request-rows", "GROVE_MAX_REQUEST_ROWS", "0", "1073741825", "1 to 1073741824"},
      {"deadline-ms", "GROVE_DEADLINE_MS", "0", "3600001", "1 to 3600000"},
      {"shutdown-grace", "GROVE_SHUTDOWN_GRACE", NULL, "3601", "0 to 3600"},
  };
  for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
    const char *values[] = {cases[i].low, cases[i].high, "12abc", "-1"};
    for (size_t v = 0; v < 4; v++) {
      if (values[v] == NULL) continue;
      for (int as_env = 0; as_env < 2; as_env++) {
        config_t cfg;
        char err[256], flag[96], what[160], name[64];
        snprintf(flag, sizeof flag, "--%s=%s", cases[i].flag, values[v]);
        snprintf(name, sizeof name, as_env ? "%s" : "--%s", as_env ? cases[i].env : cases[i].flag);
        const char *const args[] = {flag, NULL};
        const char *const env[] = {cases[i].env, values[v], NULL};
        int rc = parse(as_env ? env : NULL, as_env ? NULL : args, &cfg, err, sizeof err);
        snprintf(what, sizeof what, "%s=%s refused, message names %s and %s", name, values[v], name,
                 cases[i].range);
        int ok = rc == -1 && strncmp(err, name, strlen(name)) == 0 && err[strlen(name)] == ':' &&
                 strstr(err, cases[i].range) != NULL;
        if (!ok) printf("# rc %d, message: %s\n", rc, err);
        CHECK(ok, what);
        config_free(&cfg);
      }
    }
  }
  config_t cfg;
  char err[256];
  const char *const edges[] = {"--port=1",
                               "--threads=256",
                               "--max-delay-us=0",
                               "--max-body=4G",
                               "--deadline-ms=3600000",
                               "--shutdown-grace=0",
                               "--max-batch-rows=1048576",
                               NULL};
  CHECK_EQ_INT(parse(NULL, edges, &cfg, err, sizeof err), 0, "the bounds themselves are accepted");
  CHECK(cfg.port == 1 && cfg.io_threads == 256 && cfg.max_body == 4ull << 30 &&
            cfg.deadline_ms == 3600000,
        "edge values stored");
  config_free(&cfg);
  const char *const bad_bool[] = {"GROVE_ACCESS_LOG", "maybe", NULL};
  CHECK_EQ_INT(parse(bad_bool, NULL, &cfg, err, sizeof err), -1, "bad bool variable");
  CHECK_CONTAINS(err, "GROVE_ACCESS_LOG: \"maybe\" is not a boolean",
                 "bool message names the variable");
  config_free(&cfg);
  const char *const bad_bool_flag[] = {"--access-log=2", NULL};
  CHECK_EQ_INT(parse(NULL, bad_bool_flag, &cfg, err, sizeof err), -1, "bad bool flag");
  CHECK_CONTAINS(err, "--access-log: \"2\"", "bool message names the flag");
  config_free(&cfg);
  const char *const empty_host[] = {"--host=", NULL};
  CHECK_EQ_INT(parse(NULL, empty_host, &cfg, err, sizeof err), -1, "empty --host");
  CHECK_CONTAINS(err, "--host", "empty value message names the flag");
  config_free(&cfg);
  const char *const unknown[] = {"--bogus", NULL};
  CHECK_EQ_INT(parse(NULL, unknown, &cfg, err, sizeof err), -1, "unknown flag");
  CHECK_CONTAINS(err, "--bogus", "unknown flag named");
  config_free(&cfg);
  const char *const missing[] = {"--port", NULL};
  CHECK_EQ_INT(parse(NULL, missing, &cfg, err, sizeof err), -1, "flag without its value");
  CHECK_CONTAINS(err, "--port needs a value", "missing value named");
  config_free(&cfg);
  const char *const short_unknown[] = {"-x", NULL};
  CHECK_EQ_INT(parse(NULL, short_unknown, &cfg, err, sizeof err), -1, "unknown short option");
  CHECK_CONTAINS(err, "-x", "unknown short option named");
  config_free(&cfg);
  const char *const help_value[] = {"--help=yes", NULL};
  CHECK_EQ_INT(parse(NULL, help_value, &cfg, err, sizeof err), -1, "--help=yes");
  CHECK_CONTAINS(err, "takes no value", "--help takes no value");
  config_free(&cfg);
}

static void test_help(void) {
  config_t cfg;
  char err[256];
  const char *const args[] = {"--port=1", "--help", NULL};
  fflush(stdout);
  /* The help goes to stdout; keep the TAP stream clean by sending it to /dev/null. */
  FILE *saved = stdout;
  FILE *devnull = fopen("/dev/null", "w");
  if (devnull != NULL) stdout = devnull;
  int rc = parse(NULL, args, &cfg, err, sizeof err);
  stdout = saved;
  if (devnull != NULL) fclose(devnull);
  CHECK_EQ_INT(rc, 1, "--help returns 1");
  config_free(&cfg);
  const char *const bad_env[] = {"GROVE_PORT", "0", NULL};
  const char *const short_help[] = {"-h", NULL};
  devnull = fopen("/dev/null", "w");
  if (devnull != NULL) stdout = devnull;
  rc = parse(bad_env, short_help, &cfg, err, sizeof err);
  stdout = saved;
  if (devnull != NULL) fclose(devnull);
  CHECK_EQ_INT(rc, 1, "-h returns 1 even with a bad variable");
  config_free(&cfg);

  char *text = NULL;
  size_t len = 0;
  FILE *mem = open_memstream(&text, &len);
  config_print_help(mem);
  fclose(mem);
  CHECK_CONTAINS(text, "usage: grove serve [options] [MODEL...]", "usage line");
  static const char *const expected[] = {"--port N",
                                         "GROVE_PORT, PORT",
                                         "default: 8080",
                                         "Range: 1 to 65535",
                                         "--max-body BYTES",
                                         "default: 64M",
                                         "Range: 1k to 4G",
                                         "--threads N",
                                         "default: cores/2",
                                         "--tls-cert FILE",
                                         "GROVE_TLS_CERT",
                                         "--access-log",
                                         "GROVE_SHUTDOWN_GRACE",
                                         "--model-name NAME",
                                         "GROVE_MODEL_NAME",
                                         "model.txt or model.bst and an optional schema.json",
                                         "--datadir DIR",
                                         "GROVE_DATADIR",
                                         "default: below",
                                         "Exit status: 0",
                                         "--help"};
  for (size_t i = 0; i < sizeof expected / sizeof expected[0]; i++)
    CHECK_CONTAINS(text, expected[i], expected[i]);
  int long_lines = 0;
  for (const char *p = text; *p;) {
    size_t n = strcspn(p, "\n");
    if (n > 80) long_lines++;
    p += n + (p[n] != '\0');
  }
  CHECK_EQ_INT(long_lines, 0, "help fits in 80 columns");
  free(text);
}

static void test_tls_pair(void) {
  config_t cfg;
  char err[256];
  const char *const cert_only[] = {"--tls-cert", "c.pem", NULL};
  CHECK_EQ_INT(parse(NULL, cert_only, &cfg, err, sizeof err), -1, "cert without key");
  CHECK_CONTAINS(err, "--tls-cert", "message names --tls-cert");
  CHECK_CONTAINS(err, "--tls-key", "and --tls-key");
  config_free(&cfg);
  const char *const key_env[] = {"GROVE_TLS_KEY", "k.pem", NULL};
  CHECK_EQ_INT(parse(key_env, NULL, &cfg, err, sizeof err), -1, "key without cert");
  CHECK_CONTAINS(err, "GROVE_TLS_CERT", "message names the variables too");
  config_free(&cfg);
  CHECK_EQ_INT(parse(key_env, cert_only, &cfg, err, sizeof err), 0,
               "cert by flag, key by variable");
  CHECK(strcmp(cfg.tls_cert, "c.pem") == 0 && strcmp(cfg.tls_key, "k.pem") == 0, "both stored");
  config_free(&cfg);
  const char *const both_empty[] = {"GROVE_TLS_KEY", "", "GROVE_TLS_CERT", "", NULL};
  CHECK_EQ_INT(parse(both_empty, NULL, &cfg, err, sizeof err), 0, "empty TLS variables: no TLS");
  config_free(&cfg);
}

static void test_positional(void) {
  config_t cfg;
  char err[256];
  const char *const args[] = {"models/income", "--port", "81",         "iris.json",
                              "--access-log",  "--",     "--odd-name", NULL};
  CHECK_EQ_INT(parse(NULL, args, &cfg, err, sizeof err), 0, "models among flags");
  CHECK_EQ_INT(cfg.num_model_paths, 3, "three model paths");
  CHECK(cfg.num_model_paths == 3 && strcmp(cfg.model_paths[0], "models/income") == 0 &&
            strcmp(cfg.model_paths[1], "iris.json") == 0 &&
            strcmp(cfg.model_paths[2], "--odd-name") == 0,
        "in order, after -- taken literally");
  CHECK_EQ_INT(cfg.port, 81, "flag after a model");
  CHECK_EQ_INT(cfg.access_log, 1, "bool flag does not eat the next argument");
  config_free(&cfg);
  CHECK(cfg.model_paths == NULL && cfg.num_model_paths == 0, "model paths freed");
}

static void test_twice(void) {
  config_t a, b;
  char err[256];
  const char *const args_a[] = {"--port", "1234", "m1", NULL};
  const char *const args_b[] = {"m2", "--workers=3", NULL};
  CHECK_EQ_INT(parse(NULL, args_a, &a, err, sizeof err), 0, "first parse");
  CHECK_EQ_INT(parse(NULL, args_b, &b, err, sizeof err), 0, "second parse in the same process");
  CHECK(a.port == 1234 && a.num_model_paths == 1 && strcmp(a.model_paths[0], "m1") == 0,
        "first result");
  CHECK(b.port == 8080 && b.workers == 3 && b.num_model_paths == 1 &&
            strcmp(b.model_paths[0], "m2") == 0,
        "second result starts from the defaults");
  config_free(&a);
  config_free(&b);
  const char *const bad[] = {"--port", "0", NULL};
  CHECK_EQ_INT(parse(NULL, bad, &a, err, sizeof err), -1, "a failed parse");
  CHECK(a.host == NULL && a.models_dir == NULL,
        "a failed parse leaves nothing to free (LeakSanitizer checks)");
  CHECK_EQ_INT(parse(NULL, args_a, &a, err, sizeof err), 0, "then a good one");
  CHECK_EQ_INT(a.port, 1234, "after a failure");
  config_free(&a);
}

static void test_model_name(void) {
  config_t cfg;
  char err[256];
  const char *const ok[] = {"--model-name", "my-isvc_1.2", NULL};
  CHECK_EQ_INT(parse(NULL, ok, &cfg, err, sizeof err), 0, "a model name of letters, digits, . _ -");
  config_free(&cfg);
  const char *const bad[] = {"--model-name", "a/b", NULL};
  CHECK_EQ_INT(parse(NULL, bad, &cfg, err, sizeof err), -1, "a '/' in --model-name is refused");
  CHECK_CONTAINS(err, "a model name is 1 to 200 letters", "the message says what a name is");
  const char *const dots[] = {"GROVE_MODEL_NAME", "..", NULL};
  CHECK_EQ_INT(parse(dots, NULL, &cfg, err, sizeof err), -1, "GROVE_MODEL_NAME=.. is refused");
  CHECK_CONTAINS(err, "GROVE_MODEL_NAME", "the message names the variable");
  const char *const unexpanded[] = {"--model-name={{.Name}}", "/mnt/models", NULL};
  CHECK_EQ_INT(parse(NULL, unexpanded, &cfg, err, sizeof err), -1,
               "an unexpanded {{.Name}} template is refused");
}

/* Writes an empty directory at PATH (made by the caller's mkdtemp). */
static void make_dir(const char *base, const char *name) {
  char p[512];
  snprintf(p, sizeof p, "%s/%s", base, name);
  CHECK(mkdir(p, 0755) == 0, p);
}

static void test_resolve_dirs(void) {
  char tmpl[] = "/tmp/grove-config-XXXXXX", cwd[512], data[600], err[256];
  config_t cfg;
  const char *base = mkdtemp(tmpl);
  if (base == NULL || getcwd(cwd, sizeof cwd) == NULL || chdir(base) != 0) {
    CHECK(0, "a temporary working directory");
    return;
  }
  make_dir(base, "share");
  make_dir(base, "share/models");
  make_dir(base, "share/ui");
  snprintf(data, sizeof data, "%s/share", base);
  const char *const env[] = {"GROVE_DATADIR", data, NULL};
  CHECK_EQ_INT(parse(env, NULL, &cfg, err, sizeof err), 0, "GROVE_DATADIR");
  CHECK(!cfg.models_dir_given && !cfg.ui_dir_given, "defaults are not given");
  CHECK_EQ_INT(config_resolve_dirs(&cfg, err, sizeof err), 0, "resolve without ./models, ./ui");
  CHECK(strcmp(cfg.models_dir, "share/models") != 0 && strstr(cfg.models_dir, "/share/models") &&
            strstr(cfg.ui_dir, "/share/ui"),
        "no ./models nor ./ui: the datadir's");
  config_free(&cfg);
  make_dir(base, "models");
  CHECK_EQ_INT(parse(env, NULL, &cfg, err, sizeof err), 0, "again, with ./models");
  CHECK_EQ_INT(config_resolve_dirs(&cfg, err, sizeof err), 0, "resolve");
  CHECK(strcmp(cfg.models_dir, "models") == 0 && strstr(cfg.ui_dir, "/share/ui"),
        "./models wins over the datadir's; ui still falls back");
  config_free(&cfg);
  const char *const given[] = {"--ui", "elsewhere", "--models", "share", NULL};
  CHECK_EQ_INT(parse(env, given, &cfg, err, sizeof err), 0, "--ui and --models given");
  CHECK(cfg.models_dir_given && cfg.ui_dir_given, "flags are given");
  CHECK_EQ_INT(config_resolve_dirs(&cfg, err, sizeof err), 0, "an explicit readable --models");
  CHECK(strcmp(cfg.ui_dir, "elsewhere") == 0, "a given --ui is never replaced, even if missing");
  config_free(&cfg);
  const char *const missing_env[] = {"GROVE_MODELS", "nope", NULL};
  CHECK_EQ_INT(parse(missing_env, NULL, &cfg, err, sizeof err), 0, "GROVE_MODELS=nope parses");
  CHECK(cfg.models_dir_given, "a variable is given too");
  CHECK_EQ_INT(config_resolve_dirs(&cfg, err, sizeof err), -1, "an explicit missing --models");
  CHECK_CONTAINS(err, "nope: not a readable directory", "the message names it");
  config_free(&cfg);
  char cmd[700];
  snprintf(cmd, sizeof cmd, "rm -rf '%s'", base);
  CHECK(chdir(cwd) == 0 && system(cmd) == 0, "clean up");
}

int main(void) {
  test_defaults();
  test_env_and_flags();
  test_port_precedence();
  test_sizes();
  test_bounds();
  test_help();
  test_tls_pair();
  test_positional();
  test_twice();
  test_model_name();
  test_resolve_dirs();
  return test_done();
}
