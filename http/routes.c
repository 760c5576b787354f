/* The route table (routes.h). */
#include "routes.h"

#include <stdio.h>
#include <string.h>

#include "guard.h"
#include "handlers.h"
#include "request.h"
#include "respond.h"

enum { ROUTE_GET = 1 /* and HEAD */, ROUTE_POST = 2 };

typedef struct {
  unsigned methods;
  const char *pattern; /* literal segments, {name} and {version} */
  handler_fn handler;
  metrics_route_t metric;   /* the route's label, also for its 405 */
  const char *wrong_method; /* the 405's message; NULL: a generic one */
} route_t;

static const char POST_PREDICT[] = "use POST for predictions";

static const route_t routes[] = {
    {ROUTE_POST, "/predict", handle_predict_default, METRICS_ROUTE_PREDICT, POST_PREDICT},
    {ROUTE_POST, "/v1/models/{name}/predict", handle_predict_v1, METRICS_ROUTE_PREDICT,
     POST_PREDICT},
    {ROUTE_GET, "/v1/models", handle_models_v1, METRICS_ROUTE_MODELS, NULL},
    {ROUTE_GET, "/v1/models/{name}", handle_model_v1, METRICS_ROUTE_MODELS, NULL},
    {ROUTE_GET, "/v2", handle_server_v2, METRICS_ROUTE_MODELS, NULL},
    {ROUTE_GET, "/v2/health/live", handle_live, METRICS_ROUTE_HEALTH, NULL},
    {ROUTE_GET, "/v2/health/ready", handle_ready, METRICS_ROUTE_HEALTH, NULL},
    {ROUTE_GET, "/v2/models/{name}", handle_model_v2, METRICS_ROUTE_MODELS, NULL},
    {ROUTE_GET, "/v2/models/{name}/ready", handle_model_ready, METRICS_ROUTE_HEALTH, NULL},
    {ROUTE_GET, "/v2/models/{name}/versions/{version}", handle_model_v2, METRICS_ROUTE_MODELS,
     NULL},
    {ROUTE_GET, "/v2/models/{name}/versions/{version}/ready", handle_model_ready,
     METRICS_ROUTE_HEALTH, NULL},
    {ROUTE_POST, "/v2/models/{name}/infer", handle_infer_v2, METRICS_ROUTE_INFER, POST_PREDICT},
    {ROUTE_POST, "/v2/models/{name}/versions/{version}/infer", handle_infer_v2, METRICS_ROUTE_INFER,
     POST_PREDICT},
    {ROUTE_GET, "/metrics", handle_metrics, METRICS_ROUTE_METRICS, NULL},
    {ROUTE_GET, "/healthz", handle_live, METRICS_ROUTE_HEALTH, NULL},
    {ROUTE_GET, "/admin", handle_admin_page, METRICS_ROUTE_STATIC, NULL},
    {ROUTE_POST, "/admin/models/{name}/reload", handle_admin_reload, METRICS_ROUTE_ADMIN,
     "use POST to reload a model"},
    {ROUTE_GET, "/admin/config", handle_admin_config, METRICS_ROUTE_ADMIN, NULL},
};

/* Path segments: "/v1/models/income/predict" -> ["v1", "models", "income", "predict"]. */
#define MAX_SEGMENTS 8
typedef struct {
  h2o_iovec_t seg[MAX_SEGMENTS];
  size_t n;
  int too_long; /* more than MAX_SEGMENTS: no route has that many */
} path_t;

static void split_path(h2o_iovec_t path, path_t *out) {
  out->n = 0;
  out->too_long = 0;
  for (size_t i = 0; i < path.len;) {
    while (i < path.len && path.base[i] == '/') i++;
    if (i >= path.len) break;
    size_t start = i;
    while (i < path.len && path.base[i] != '/') i++;
    if (out->n == MAX_SEGMENTS) {
      out->too_long = 1;
      return;
    }
    out->seg[out->n++] = h2o_iovec_init(path.base + start, i - start);
  }
}

static int seg_is(const path_t *p, size_t i, const char *s, size_t len) {
  return i < p->n && p->seg[i].len == len && memcmp(p->seg[i].base, s, len) == 0;
}

/* Whether PATH fits PATTERN, capturing {name} and {version} into M. */
static int route_matches(const char *pattern, const path_t *path, route_match_t *m) {
  *m = (route_match_t){{NULL, 0}, {NULL, 0}};
  size_t i = 0;
  for (const char *p = pattern; *p != '\0'; i++) {
    p++; /* the '/' */
    size_t len = strcspn(p, "/");
    if (i >= path->n) return 0;
    if (len == 6 && memcmp(p, "{name}", 6) == 0)
      m->name = path->seg[i];
    else if (len == 9 && memcmp(p, "{version}", 9) == 0)
      m->version = path->seg[i];
    else if (!seg_is(path, i, p, len))
      return 0;
    p += len;
  }
  return i == path->n;
}

static int method_allowed(h2o_req_t *req, unsigned methods) {
  if ((methods & ROUTE_GET) && (request_method_is(req, "GET") || request_method_is(req, "HEAD")))
    return 1;
  return (methods & ROUTE_POST) && request_method_is(req, "POST");
}

static void refuse_method(io_thread_t *io, h2o_req_t *req, const route_t *r, double t0) {
  static const char get[] = "GET, HEAD", post[] = "POST";
  const char *allow = r->methods & ROUTE_GET ? get : post;
  h2o_add_header(&req->pool, &req->res.headers, H2O_TOKEN_ALLOW, NULL, allow, strlen(allow));
  respond_error(io, req, r->metric, t0, 405, API_JSON,
                r->wrong_method ? r->wrong_method : "method not allowed for this endpoint");
}

/* Every model has one version, API_OIP_MODEL_VERSION (a path without one means it). */
static int version_served(h2o_iovec_t v) {
  return v.len == 0 || h2o_memis(v.base, v.len, H2O_STRLIT(API_OIP_MODEL_VERSION));
}

static void refuse_version(io_thread_t *io, h2o_req_t *req, const route_t *r,
                           const route_match_t *m, double t0) {
  char msg[256];
  snprintf(msg, sizeof msg, "model \"%.*s\" has no version \"%.*s\" (versions: [\"%s\"])",
           (int)(m->name.len > 100 ? 100 : m->name.len), m->name.base,
           (int)(m->version.len > 40 ? 40 : m->version.len), m->version.base,
           API_OIP_MODEL_VERSION);
  respond_error(io, req, r->metric, t0, 404, API_JSON, msg);
}

/* The API's own prefixes: a path under them that no route takes is an API 404/405, never
 * a static file. */
static int under_api(const path_t *p) {
  return p->too_long || seg_is(p, 0, "v1", 2) || seg_is(p, 0, "v2", 2) ||
         seg_is(p, 0, "predict", 7) || seg_is(p, 0, "metrics", 7) ||
         (seg_is(p, 0, "admin", 5) && p->n > 1);
}

int routes_dispatch(h2o_handler_t *self, h2o_req_t *req) {
  (void)self;
  io_thread_t *io = server_io_of(req);
  double t0 = batcher_now();
  if (guard_refuses(io, req, t0)) return 0;
  path_t path;
  split_path(req->path_normalized, &path);
  for (size_t i = 0; i < sizeof routes / sizeof routes[0] && !path.too_long; i++) {
    route_match_t m;
    if (!route_matches(routes[i].pattern, &path, &m)) continue;
    if (!method_allowed(req, routes[i].methods))
      refuse_method(io, req, &routes[i], t0);
    else if (!version_served(m.version))
      refuse_version(io, req, &routes[i], &m, t0);
    else
      routes[i].handler(io, req, &m, t0);
    return 0;
  }
  if (!under_api(&path)) return ROUTES_DECLINED;
  respond_error(io, req, METRICS_ROUTE_OTHER, t0, 404, API_JSON, "no such endpoint");
  return 0;
}
