/*
 * `grove serve`: load the models, then run the daemon (http/) until SIGTERM.
 *
 * Start-up failures follow one rule: what config_parse() refuses is a usage error (plain
 * text on stderr, exit 2); everything after the flags parse (directories, models, the
 * default model, the port, TLS) is logged like the rest of the run, one logfmt line with
 * level=error on stdout, and exits 1.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "cli.h"
#include "config.h"
#include "log.h"
#include "metrics.h"
#include "registry.h"
#include "server.h"
#include "version.h"

/* Only main's side reads the environment; the config module gets this lookup. */
static const char *env_lookup(const char *name) { return getenv(name); }

/* Logs a start-up failure: MSG, with ERR as its error value. Returns the exit code. */
static int serve_fail(const char *msg, const char *err) {
  char q[1024];
  log_event("error", msg, "error=\"%s\"", log_quote(err, q, sizeof q));
  return CLI_EXIT_MODEL;
}

/* The models under --models are served without MODEL paths, and beside them only when
 * --models (or GROVE_MODELS) was given: a default directory never adds models unasked. */
static int serve_uses_models_dir(const config_t *cfg) {
  return cfg->num_model_paths == 0 || cfg->models_dir_given;
}

/* How many models registry_add_dir() would serve from DIR; the first one's path goes to
 * PATH when PATH is not NULL. -1 (errno set) when DIR cannot be read. */
static long serve_count_dir_models(const char *dir, char *path, size_t size) {
  char **names;
  const long n = registry_dir_models(dir, &names);
  if (n > 0 && path != NULL) snprintf(path, size, "%s/%s", dir, names[0]);
  registry_dir_models_free(names, n > 0 ? n : 0);
  return n;
}

/*
 * The one model --model-name renames: the only MODEL path or the only model under --models
 * (of those served). Writes its path to PATH; returns 0, or the exit code (logged why)
 * when there are none or several.
 */
static int serve_single_model(const config_t *cfg, char *path, size_t size) {
  size_t paths = cfg->num_model_paths;
  long in_dir = 0;
  if (serve_uses_models_dir(cfg) &&
      (in_dir = serve_count_dir_models(cfg->models_dir, paths ? NULL : path, size)) < 0) {
    char err[4200];
    snprintf(err, sizeof err, "%s: cannot read the models directory: %s", cfg->models_dir,
             strerror(errno));
    return serve_fail("no model to serve", err);
  }
  if (paths + (size_t)in_dir == 1) {
    if (paths == 1) snprintf(path, size, "%s", cfg->model_paths[0]);
    return 0;
  }
  char err[4200];
  if (!serve_uses_models_dir(cfg))
    snprintf(err, sizeof err, "--model-name names one model, but %zu MODEL paths were given",
             paths);
  else if (paths == 0)
    snprintf(err, sizeof err,
             "--model-name names one model, but --models %s holds %ld; give the one model's "
             "directory as the MODEL argument",
             cfg->models_dir, in_dir);
  else
    snprintf(err, sizeof err,
             "--model-name names one model, but there are %zu MODEL path(s) and %ld model(s) "
             "under --models %s",
             paths, in_dir, cfg->models_dir);
  return serve_fail("cannot name the model (--model-name, GROVE_MODEL_NAME)", err);
}

/* Registers the models CFG names: its MODEL paths, and every model under --models when
 * that is served (two of the same name are refused); with --model-name, the one model
 * under that name. Returns 0 or the exit code (logged why). */
static int serve_load_models(const config_t *cfg, registry_t *reg) {
  char err[4200], path[4096];
  if (cfg->model_name != NULL) {
    int rc = serve_single_model(cfg, path, sizeof path);
    if (rc == 0 && registry_add(reg, cfg->model_name, path, err, sizeof err) != REGISTRY_OK)
      rc = serve_fail("cannot load a model", err);
    return rc;
  }
  for (size_t i = 0; i < cfg->num_model_paths; i++) {
    char name[256];
    grove_model_name_from_path(cfg->model_paths[i], name, sizeof name);
    if (registry_add(reg, name, cfg->model_paths[i], err, sizeof err) != REGISTRY_OK)
      return serve_fail("cannot load a model", err);
  }
  if (!serve_uses_models_dir(cfg)) return 0;
  if (!cfg->models_dir_given && serve_count_dir_models(cfg->models_dir, NULL, 0) < 0) {
    snprintf(err, sizeof err,
             "no MODEL paths, and neither ./models nor %s/models can be read: give MODEL paths "
             "or --models DIR (GROVE_MODELS), or install grove (meson install)",
             cfg->datadir);
    return serve_fail("no model to serve", err);
  }
  if (registry_add_dir(reg, cfg->models_dir, err, sizeof err) < 0)
    return serve_fail("cannot load a model", err);
  return 0;
}

/*
 * The model behind POST /predict: --default-model, else "income", else the first; written
 * to NAME. Also writes the banner's model list to NAMES and how many of them were mapped from
 * compiled images to *IMAGES. Returns 0, or the exit code
 * (logged why) when there is none to serve or --default-model names none of them.
 */
static int serve_pick_default(const config_t *cfg, registry_t *reg, char *name, size_t size,
                              char *names, size_t nsize, size_t *images) {
  size_t n, used = 0;
  registry_model_t **models = registry_list(reg, &n);
  const char *want = cfg->default_model ? cfg->default_model : "income", *found = NULL;
  names[0] = '\0';
  *images = 0;
  for (size_t i = 0; i < n; i++) {
    *images += (size_t)models[i]->from_image;
    if (strcmp(models[i]->name, want) == 0) found = models[i]->name;
    grove_forest_info_t info;
    grove_forest_get_info(models[i]->forest, &info);
    int w = snprintf(names + used, nsize - used, "%s%s(%u trees, %u features, %s)", i ? "," : "",
                     models[i]->name, info.num_trees, info.num_features,
                     grove_forest_kernel(models[i]->forest));
    if (w > 0 && (size_t)w < nsize - used) used += (size_t)w;
  }
  char err[512];
  int rc = 0;
  if (n == 0) {
    snprintf(err, sizeof err,
             "--models %s holds no subdirectory with model.json, model.ubj, model.txt or "
             "model.bst; give MODEL paths or another --models DIR",
             cfg->models_dir);
    rc = serve_fail("no model to serve", err);
  } else if (found == NULL && cfg->default_model != NULL) {
    snprintf(err, sizeof err, "--default-model \"%s\" is not among the loaded models: %s",
             cfg->default_model, names);
    rc = serve_fail("no default model", err);
  } else {
    snprintf(name, size, "%s", found ? found : models[0]->name);
  }
  registry_list_free(models, n);
  return rc;
}

/* The start-up line: what runs, which models (each with the kernel it walks: the ranks kernel
 * or the ISA's node walks), and the directories they and the UI came from. */
static void serve_log_start(const config_t *cfg, const char *names, const char *default_name,
                            size_t images) {
  char mq[4200] = "none", uq[4200];
  if (serve_uses_models_dir(cfg)) {
    char q[4096];
    snprintf(mq, sizeof mq, "\"%s\"", log_quote(cfg->models_dir, q, sizeof q));
  }
  if (grove_engine_isa_note() != NULL) log_event("warn", grove_engine_isa_note(), NULL);
  log_event("info", "grove starting",
            "version=%s isa=%s io_threads=%u workers=%u max_batch_rows=%u "
            "max_delay_us=%u models=\"%s\" images=%zu default_model=%s models_dir=%s "
            "ui_dir=\"%s\" url=%s://%s:%u",
            GROVE_VERSION, grove_engine_isa(), cfg->io_threads, cfg->workers,
            cfg->max_batch_rows, cfg->max_delay_us, names, images, default_name, mq,
            log_quote(cfg->ui_dir, uq, sizeof uq), cfg->tls_cert ? "https" : "http", cfg->host,
            cfg->port);
}

/*
 * The registry's load options from --cache-dir: a directory that is missing is created
 * (one level), one that cannot be is dropped and one that cannot be written is only read,
 * each with one warning here rather than one per model: a container's read-only root must
 * never fail start-up.
 */
static grove_load_opts_t serve_load_opts(const config_t *cfg) {
  grove_load_opts_t opts = {0};
  const char *dir = cfg->cache_dir;
  if (dir == NULL || dir[0] == '\0') return opts;
  char q[4200], eq[512];
  struct stat st;
  if (stat(dir, &st) != 0 && mkdir(dir, 0755) != 0 && errno != EEXIST) {
    log_event("warn", "cache directory unusable: models load without it",
              "cache_dir=\"%s\" error=\"%s\"", log_quote(dir, q, sizeof q),
              log_quote(strerror(errno), eq, sizeof eq));
    return opts;
  }
  if (stat(dir, &st) != 0 || !S_ISDIR(st.st_mode)) {
    log_event("warn", "cache directory unusable: models load without it",
              "cache_dir=\"%s\" error=\"not a directory\"", log_quote(dir, q, sizeof q));
    return opts;
  }
  opts.cache_dir = dir;
  opts.cache_write = access(dir, W_OK) == 0;
  if (!opts.cache_write)
    log_event("warn", "cache directory not writable: its images are read, none written",
              "cache_dir=\"%s\" error=\"%s\"", log_quote(dir, q, sizeof q),
              log_quote(strerror(errno), eq, sizeof eq));
  return opts;
}

/* Everything after the flags parse; returns the exit code. */
static int serve_run(config_t *cfg) {
  registry_t *reg = registry_new();
  metrics_t *metrics = metrics_new();
  char err[4200], default_name[256], names[2048];
  size_t images = 0;
  int exit_code = 0;
  if (reg == NULL || metrics == NULL)
    exit_code = serve_fail("cannot start", "out of memory");
  else if (config_resolve_dirs(cfg, err, sizeof err) != 0)
    exit_code = serve_fail("cannot start", err);
  if (exit_code == 0) {
    const grove_load_opts_t opts = serve_load_opts(cfg);
    registry_set_load_opts(reg, &opts);
    exit_code = serve_load_models(cfg, reg);
  }
  if (exit_code == 0)
    exit_code = serve_pick_default(cfg, reg, default_name, sizeof default_name, names, sizeof names,
                                   &images);
  if (exit_code == 0) {
    serve_log_start(cfg, names, default_name, images);
    exit_code = server_run(cfg, reg, metrics, default_name);
  }
  registry_free(reg);
  metrics_free(metrics);
  return exit_code;
}

int cli_serve(int argc, char **argv) {
  config_t cfg;
  char err[512];
  int rc = config_parse(argc, argv, env_lookup, &cfg, err, sizeof err);
  if (rc == 1) return 0; /* --help */
  if (rc != 0) {
    fprintf(stderr, "grove serve: %s\n", err);
    return CLI_EXIT_INPUT;
  }
  int exit_code = serve_run(&cfg);
  config_free(&cfg);
  return exit_code;
}
