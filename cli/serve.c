/* `grove serve`: load the models, then run the daemon (http/) until SIGTERM. */
#include <dirent.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli.h"
#include "config.h"
#include "log.h"
#include "metrics.h"
#include "registry.h"
#include "server.h"
#include "version.h"

/* Only main's side reads the environment; the config module gets this lookup. */
static const char *env_lookup(const char *name) { return getenv(name); }

/*
 * The one model --model-name renames: the only MODEL path, else the only subdirectory of
 * --models holding a model. Writes its path to PATH; returns -1 (said why) when there are
 * none or several.
 */
static int single_model_path(const config_t *cfg, char *path, size_t size) {
  if (cfg->num_model_paths > 0) {
    if (cfg->num_model_paths == 1) return snprintf(path, size, "%s", cfg->model_paths[0]), 0;
    fprintf(stderr,
            "grove serve: --model-name (GROVE_MODEL_NAME) names one model, but %zu MODEL "
            "paths were given\n",
            cfg->num_model_paths);
    return -1;
  }
  DIR *d = opendir(cfg->models_dir);
  if (d == NULL) {
    fprintf(stderr, "grove serve: %s: cannot read the models directory\n", cfg->models_dir);
    return -1;
  }
  size_t found = 0;
  struct dirent *de;
  while ((de = readdir(d)) != NULL) {
    char p[4096];
    if (de->d_name[0] == '.' ||
        (size_t)snprintf(p, sizeof p, "%s/%s", cfg->models_dir, de->d_name) >= sizeof p ||
        !grove_model_dir_has_model(p))
      continue;
    if (found++ == 0) snprintf(path, size, "%s", p);
  }
  closedir(d);
  if (found == 1) return 0;
  fprintf(stderr,
          "grove serve: --model-name (GROVE_MODEL_NAME) names one model, but --models %s "
          "holds %zu; give the one model's directory as the MODEL argument\n",
          cfg->models_dir, found);
  return -1;
}

/* A served name is a path segment of /v1/models/NAME and /v2/models/NAME/infer. */
static int valid_model_name(const char *name) {
  size_t n = strlen(name);
  if (n == 0 || n > 200 || strcmp(name, ".") == 0 || strcmp(name, "..") == 0) return 0;
  return strspn(name, "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789._-") == n;
}

/* Registers the models CFG names: its MODEL paths, else every model under --models; with
 * --model-name, the one model under that name. Returns 0 or the exit code (said why). */
static int load_models(const config_t *cfg, registry_t *reg) {
  char err[512], path[4096];
  if (cfg->model_name != NULL) {
    if (!valid_model_name(cfg->model_name)) {
      fprintf(stderr,
              "grove serve: --model-name \"%s\": a model name is 1 to 200 letters, "
              "digits, '.', '_' or '-'\n",
              cfg->model_name);
      return CLI_EXIT_INPUT;
    }
    if (single_model_path(cfg, path, sizeof path) != 0) return CLI_EXIT_INPUT;
    if (registry_add(reg, cfg->model_name, path, err, sizeof err) == REGISTRY_OK) return 0;
    fprintf(stderr, "grove serve: %s\n", err);
    return CLI_EXIT_MODEL;
  }
  if (cfg->num_model_paths == 0) {
    if (registry_add_dir(reg, cfg->models_dir, err, sizeof err) >= 0) return 0;
    fprintf(stderr, "grove serve: %s\n", err);
    return CLI_EXIT_MODEL;
  }
  for (size_t i = 0; i < cfg->num_model_paths; i++) {
    char name[256];
    grove_model_name_from_path(cfg->model_paths[i], name, sizeof name);
    if (registry_add(reg, name, cfg->model_paths[i], err, sizeof err) != REGISTRY_OK) {
      fprintf(stderr, "grove serve: %s\n", err);
      return CLI_EXIT_MODEL;
    }
  }
  return 0;
}

/*
 * The model behind POST /predict: --default-model, else "income", else the first; written
 * to NAME. Also writes the banner's model list to NAMES. Returns -1 (said why) when there
 * is none to serve or --default-model names none of them.
 */
static int pick_default(const config_t *cfg, registry_t *reg, char *name, size_t size, char *names,
                        size_t nsize) {
  size_t n, used = 0;
  registry_model_t **models = registry_list(reg, &n);
  const char *want = cfg->default_model ? cfg->default_model : "income", *found = NULL;
  names[0] = '\0';
  for (size_t i = 0; i < n; i++) {
    if (strcmp(models[i]->name, want) == 0) found = models[i]->name;
    grove_forest_info_t info;
    grove_forest_get_info(models[i]->forest, &info);
    int w = snprintf(names + used, nsize - used, "%s%s(%u trees, %u features)", i ? "," : "",
                     models[i]->name, info.num_trees, info.num_features);
    if (w > 0 && (size_t)w < nsize - used) used += (size_t)w;
  }
  if (n == 0)
    fprintf(
        stderr,
        "grove serve: no models to serve (give MODEL paths, or --models DIR with subdirectories "
        "holding model.json, model.ubj or model.txt)\n");
  else if (found == NULL && cfg->default_model != NULL)
    fprintf(stderr, "grove serve: --default-model \"%s\" is not among the loaded models\n",
            cfg->default_model);
  else
    snprintf(name, size, "%s", found ? found : models[0]->name);
  int ok = n > 0 && (found != NULL || cfg->default_model == NULL);
  registry_list_free(models, n);
  return ok ? 0 : -1;
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
  registry_t *reg = registry_new();
  metrics_t *metrics = metrics_new();
  char default_name[256], names[2048];
  int exit_code = reg != NULL && metrics != NULL ? load_models(&cfg, reg) : CLI_EXIT_MODEL;
  if (exit_code == 0 &&
      pick_default(&cfg, reg, default_name, sizeof default_name, names, sizeof names) != 0)
    exit_code = CLI_EXIT_MODEL;
  if (exit_code == 0) {
    if (grove_engine_isa_note() != NULL) log_event("warn", grove_engine_isa_note(), NULL);
    log_event("info", "grove starting",
              "version=%s isa=%s kernel=%s io_threads=%u workers=%u max_batch_rows=%u "
              "max_delay_us=%u models=\"%s\" "
              "default_model=%s url=%s://%s:%u",
              GROVE_VERSION, grove_engine_isa(), grove_engine_kernel(), cfg.io_threads, cfg.workers,
              cfg.max_batch_rows, cfg.max_delay_us, names, default_name,
              cfg.tls_cert ? "https" : "http", cfg.host, cfg.port);
    exit_code = server_run(&cfg, reg, metrics, default_name);
  }
  registry_free(reg);
  metrics_free(metrics);
  config_free(&cfg);
  return exit_code;
}
