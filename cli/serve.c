/* `grove serve`: load the models, then run the daemon (http/) until SIGTERM. */
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

/* Registers the models CFG names: its MODEL paths, else every model under --models. */
static int load_models(const config_t *cfg, registry_t *reg) {
  char err[512];
  if (cfg->num_model_paths == 0) {
    if (registry_add_dir(reg, cfg->models_dir, err, sizeof err) >= 0) return 0;
    fprintf(stderr, "grove serve: %s\n", err);
    return -1;
  }
  for (size_t i = 0; i < cfg->num_model_paths; i++) {
    char name[256];
    grove_model_name_from_path(cfg->model_paths[i], name, sizeof name);
    if (registry_add(reg, name, cfg->model_paths[i], err, sizeof err) != REGISTRY_OK) {
      fprintf(stderr, "grove serve: %s\n", err);
      return -1;
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
  int exit_code = CLI_EXIT_MODEL;
  char default_name[256], names[2048];
  if (reg != NULL && metrics != NULL && load_models(&cfg, reg) == 0 &&
      pick_default(&cfg, reg, default_name, sizeof default_name, names, sizeof names) == 0) {
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
