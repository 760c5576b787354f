/* Model metadata (v1 and OIP v2), health and readiness, and /metrics. */
#include "handlers.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "respond.h"
#include "version.h"

/* What the metadata encoders want to know of served model M beyond its forest. */
static api_model_meta_t served_meta(registry_t *reg, const registry_model_t *m) {
  uint64_t reloads, failures;
  registry_reload_counts(reg, m->name, &reloads, &failures);
  return (api_model_meta_t){.name = m->name,
                            .path = m->path,
                            .loaded_at = m->loaded_at,
                            .load_seconds = m->load_seconds,
                            .reloads = reloads};
}

/* The served model M names, or NULL after answering 404. */
static registry_model_t *find_model(io_thread_t *io, h2o_req_t *req, const route_match_t *m,
                                    metrics_route_t route, double t0) {
  registry_model_t *model = registry_get(io->s->reg, m->name.base, m->name.len);
  if (model == NULL) {
    char msg[256];
    snprintf(msg, sizeof msg, "unknown model \"%.*s\"",
             (int)(m->name.len > 100 ? 100 : m->name.len), m->name.base);
    respond_error(io, req, route, t0, 404, API_JSON, msg);
  }
  return model;
}

static void model_meta(io_thread_t *io, h2o_req_t *req, const route_match_t *m, int v2, double t0) {
  registry_model_t *model = find_model(io, req, m, METRICS_ROUTE_MODELS, t0);
  if (model == NULL) return;
  api_model_meta_t meta = served_meta(io->s->reg, model);
  api_body_t body = {0};
  int rc = v2 ? api_encode_model_v2(&meta, model->forest, model->schema, &body)
              : api_encode_model_v1(&meta, model->forest, model->schema, &body);
  if (rc != 0)
    respond_error(io, req, METRICS_ROUTE_MODELS, t0, 500, API_JSON, "out of memory");
  else
    respond_api_body(io, req, METRICS_ROUTE_MODELS, t0, 200, &body);
  registry_model_unref(model);
}

void handle_model_v1(io_thread_t *io, h2o_req_t *req, const route_match_t *m, double t0) {
  model_meta(io, req, m, 0, t0);
}

void handle_model_v2(io_thread_t *io, h2o_req_t *req, const route_match_t *m, double t0) {
  model_meta(io, req, m, 1, t0);
}

void handle_models_v1(io_thread_t *io, h2o_req_t *req, const route_match_t *m, double t0) {
  (void)m;
  size_t n;
  registry_model_t **models = registry_list(io->s->reg, &n);
  api_model_meta_t *metas = calloc(n ? n : 1, sizeof *metas);
  const grove_forest_t **forests = calloc(n ? n : 1, sizeof *forests);
  for (size_t i = 0; i < n && metas && forests; i++) {
    metas[i] = served_meta(io->s->reg, models[i]);
    forests[i] = models[i]->forest;
  }
  api_body_t body = {0};
  if (metas == NULL || forests == NULL || api_encode_models_v1(metas, forests, n, &body) != 0)
    respond_error(io, req, METRICS_ROUTE_MODELS, t0, 500, API_JSON, "out of memory");
  else
    respond_api_body(io, req, METRICS_ROUTE_MODELS, t0, 200, &body);
  free(metas);
  free(forests);
  registry_list_free(models, n);
}

void handle_server_v2(io_thread_t *io, h2o_req_t *req, const route_match_t *m, double t0) {
  (void)m;
  char json[256];
  snprintf(json, sizeof json,
           "{\"name\":\"grove\",\"version\":\"%s\",\"extensions\":[\"binary_tensor_data\"]}",
           GROVE_VERSION);
  respond_json(io, req, METRICS_ROUTE_MODELS, t0, 200, json);
}

void handle_live(io_thread_t *io, h2o_req_t *req, const route_match_t *m, double t0) {
  (void)m;
  respond_json(io, req, METRICS_ROUTE_HEALTH, t0, 200, "{\"live\":true}");
}

void handle_ready(io_thread_t *io, h2o_req_t *req, const route_match_t *m, double t0) {
  (void)m;
  int ready = atomic_load(&io->s->ready);
  respond_json(io, req, METRICS_ROUTE_HEALTH, t0, ready ? 200 : 503,
               ready ? "{\"ready\":true}" : "{\"ready\":false}");
}

void handle_model_ready(io_thread_t *io, h2o_req_t *req, const route_match_t *m, double t0) {
  registry_model_t *model = registry_get(io->s->reg, m->name.base, m->name.len);
  if (model == NULL) {
    respond_json(io, req, METRICS_ROUTE_HEALTH, t0, 404, "{\"error\":\"unknown model\"}");
    return;
  }
  int ready = atomic_load(&io->s->ready);
  char json[400];
  snprintf(json, sizeof json, "{\"name\":\"%.*s\",\"ready\":%s}",
           (int)(m->name.len > 200 ? 200 : m->name.len), m->name.base, ready ? "true" : "false");
  registry_model_unref(model);
  respond_json(io, req, METRICS_ROUTE_HEALTH, t0, ready ? 200 : 503, json);
}

void handle_metrics(io_thread_t *io, h2o_req_t *req, const route_match_t *m, double t0) {
  (void)m;
  size_t n;
  registry_model_t **models = registry_list(io->s->reg, &n);
  metrics_model_t *info = calloc(n ? n : 1, sizeof *info);
  for (size_t i = 0; i < n && info != NULL; i++) {
    grove_forest_info_t fi;
    grove_forest_get_info(models[i]->forest, &fi);
    uint64_t reloads, failures;
    registry_reload_counts(io->s->reg, models[i]->name, &reloads, &failures);
    info[i] = (metrics_model_t){.name = models[i]->name,
                                .format = fi.format,
                                .objective = fi.objective,
                                .trees = fi.num_trees,
                                .features = fi.num_features,
                                .isa = grove_engine_isa(),
                                .loaded_at = models[i]->loaded_at,
                                .load_seconds = models[i]->load_seconds,
                                .reloads = reloads,
                                .reload_failures = failures};
  }
  /* Count this scrape before rendering so that it sees itself. */
  metrics_request_done(io->s->metrics, METRICS_ROUTE_METRICS, 200, batcher_now() - t0);
  size_t len;
  char *text = info ? metrics_render(io->s->metrics, info, n, &len) : NULL;
  free(info);
  registry_list_free(models, n);
  if (text == NULL) {
    respond_error(io, req, METRICS_ROUTE_METRICS, t0, 500, API_JSON, "out of memory");
    return;
  }
  req->res.status = 200;
  req->res.reason = "OK";
  static const char ctype[] = "text/plain; version=0.0.4; charset=utf-8";
  h2o_add_header(&req->pool, &req->res.headers, H2O_TOKEN_CONTENT_TYPE, NULL, ctype,
                 sizeof ctype - 1);
  req->res.content_length = len;
  h2o_send_inline(req, text, len);
  free(text);
}
