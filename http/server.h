/* The daemon's entry: serve a registry of models over HTTP until SIGTERM (server.c). */
#ifndef GROVE_SERVER_H
#define GROVE_SERVER_H

#include "config.h"
#include "metrics.h"
#include "registry.h"

/*
 * Serves REGISTRY's models with CFG until SIGTERM or SIGINT, then drains: readiness turns
 * false, listeners close, requests in flight finish (within cfg->shutdown_grace_s).
 * SIGHUP reloads every model. Returns the process exit code (0 after a clean shutdown).
 * DEFAULT_MODEL names the model behind POST /predict.
 */
int server_run(const config_t *cfg, registry_t *registry, metrics_t *metrics,
               const char *default_model);

#endif /* GROVE_SERVER_H */
