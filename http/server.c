/*
 * The HTTP server: h2o (libuv build) with one loop and one listening socket
 * (SO_REUSEPORT) per I/O thread. Prediction requests are decoded on the loop, handed to
 * the batcher, and answered on the same loop when a worker has scored them (uv_async).
 * A request whose client leaves is disposed of by h2o at any time: a pool disposer
 * clears our pointer to it, so nothing touches it afterwards.
 */
#include "server.h"

#include <errno.h>
#include <h2o.h>
#include <h2o/http2.h>
#include <arpa/inet.h>
#include <netdb.h>
#include <netinet/in.h>
#include <openssl/err.h>
#include <openssl/ssl.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>
#include <uv.h>

#include "api.h"
#include "batcher.h"
#include "config.h"
#include "log.h"
#include "version.h"

#define MAX_MODELS 256
#define TICK_MS 50

typedef struct server server_t;
typedef struct io_thread io_thread_t;
typedef struct pending pending_t;

/* A prediction in flight: owned by the loop thread, lent to the batcher while queued. */
struct pending {
  batch_job_t job;          /* first: the batcher's done callback casts back */
  io_thread_t *io;
  h2o_req_t *req;           /* NULL once answered or disposed of by h2o */
  pending_t **slot;         /* pool slot whose disposer clears req */
  grove_model_t *model;     /* the version the request started on */
  api_request_t areq;
  api_format_t out_fmt;
  int v2;                   /* answer in the Open Inference Protocol */
  metrics_route_t route;
  double t0;
  pending_t *next_done;     /* io->done list (guarded by done_lock) */
  pending_t *prev, *next;   /* io->pending list (loop thread only) */
  int in_flight;            /* counted in grove_inflight_requests until answered or freed */
};

struct io_thread {
  server_t *s;
  uint32_t index;
  pthread_t tid;
  uv_loop_t loop;
  h2o_context_t ctx;
  h2o_accept_ctx_t accept_ctx;
  uv_tcp_t listener;
  int listen_fd;
  int listener_open;
  uv_async_t wake;          /* completed jobs and stop requests */
  uv_timer_t tick;          /* deadlines and shutdown progress */
  pthread_mutex_t done_lock;
  pending_t *done_head;
  pending_t pending;        /* sentinel of the in-flight list */
  atomic_int stop_requested;
  int stopping;
  double stop_started;
};

struct server {
  const grove_config_t *cfg;
  registry_t *reg;
  grove_metrics_t *metrics;
  batcher_t *batcher;
  const char *default_model;
  h2o_globalconf_t config;
  SSL_CTX *ssl_ctx;
  io_thread_t *threads;
  uint32_t nthreads;
  atomic_int ready;
  api_limits_t limits;
};

typedef struct {
  h2o_handler_t super;
  server_t *s;
} api_handler_t;

static io_thread_t *io_of(h2o_req_t *req) {
  return (io_thread_t *)((char *)req->conn->ctx - offsetof(io_thread_t, ctx));
}

static const char *reason_of(int status) {
  switch (status) {
    case 200: return "OK";
    case 400: return "Bad Request";
    case 401: return "Unauthorized";
    case 403: return "Forbidden";
    case 404: return "Not Found";
    case 405: return "Method Not Allowed";
    case 413: return "Payload Too Large";
    case 415: return "Unsupported Media Type";
    case 422: return "Unprocessable Entity";
    case 500: return "Internal Server Error";
    case 503: return "Service Unavailable";
    case 504: return "Gateway Timeout";
    default: return "Unknown";
  }
}

/* ---- responses ---- */

/*
 * Writes "grove;dur=<milliseconds, 3 decimals>" into BUF (at least 48 bytes) and returns its
 * length: by hand, since printf's float path is a measurable share of a one-row request.
 */
static size_t format_server_timing(char *buf, double seconds) {
  uint64_t us = seconds > 0 ? (uint64_t)(seconds * 1e6 + 0.5) : 0;
  char rev[24];
  size_t n = 0;
  for (int i = 0; i < 3; i++, us /= 10) rev[n++] = (char)('0' + us % 10);
  rev[n++] = '.';
  do {
    rev[n++] = (char)('0' + us % 10);
    us /= 10;
  } while (us != 0 && n < sizeof rev);
  static const char prefix[] = "grove;dur=";
  memcpy(buf, prefix, sizeof prefix - 1);
  size_t len = sizeof prefix - 1;
  while (n > 0) buf[len++] = rev[--n];
  return len;
}

/* Sends a complete response (the body is copied into the request's pool). */
static void send_body(io_thread_t *io, h2o_req_t *req, metrics_route_t route, double t0, int status,
                      const char *content_type, const char *body, size_t len) {
  req->res.status = status;
  req->res.reason = reason_of(status);
  if (io->stopping) req->http1_is_persistent = 0; /* draining: close after this answer */
  /* The server's own time for this request (decode, queue, engine, encode), for clients
   * and the UI: Server-Timing is the standard header browsers expose. One clock read
   * serves the header, the access log and the latency histogram. */
  const double seconds = batcher_now() - t0;
  char *timing = h2o_mem_alloc_pool(&req->pool, 48);
  const size_t tn = format_server_timing(timing, seconds);
  h2o_add_header_by_str(&req->pool, &req->res.headers, H2O_STRLIT("server-timing"), 0, NULL, timing, tn);
  h2o_add_header(&req->pool, &req->res.headers, H2O_TOKEN_CONTENT_TYPE, NULL, content_type, strlen(content_type));
  req->res.content_length = len;
  if (io->s->cfg->access_log)
    grove_log("info", "access", "method=%.*s path=\"%.*s\" status=%d bytes=%zu ms=%.3f", (int)req->method.len,
              req->method.base, (int)(req->path.len > 200 ? 200 : req->path.len), req->path.base, status, len,
              seconds * 1e3);
  metrics_request_done(io->s->metrics, route, status, seconds);
  h2o_send_inline(req, body, len);
}

static void send_api_body(io_thread_t *io, h2o_req_t *req, metrics_route_t route, double t0, int status,
                          api_body_t *body) {
  if (body->inference_header_len > 0) {
    char v[32];
    int n = snprintf(v, sizeof v, "%zu", body->inference_header_len);
    h2o_add_header_by_str(&req->pool, &req->res.headers, H2O_STRLIT("inference-header-content-length"), 0, NULL,
                          h2o_strdup(&req->pool, v, (size_t)n).base, (size_t)n);
  }
  send_body(io, req, route, t0, status, body->content_type, body->data, body->len);
  api_body_free(body);
}

static void send_error(io_thread_t *io, h2o_req_t *req, metrics_route_t route, double t0, int status,
                       api_format_t fmt, const char *message) {
  api_body_t body = {0};
  if (api_encode_error(message, fmt, &body) != 0) {
    static const char fallback[] = "{\"error\":\"out of memory\"}";
    send_body(io, req, route, t0, 500, "application/json", fallback, sizeof fallback - 1);
    return;
  }
  send_api_body(io, req, route, t0, status, &body);
}

static void send_json(io_thread_t *io, h2o_req_t *req, metrics_route_t route, double t0, int status,
                      const char *json) {
  send_body(io, req, route, t0, status, "application/json", json, strlen(json));
}

/* ---- request helpers ---- */

static int header_value(h2o_req_t *req, const h2o_token_t *token, const char **value, size_t *len) {
  ssize_t i = h2o_find_header(&req->headers, token, -1);
  if (i < 0) return 0;
  *value = req->headers.entries[i].value.base;
  *len = req->headers.entries[i].value.len;
  return 1;
}

static api_format_t request_format(h2o_req_t *req, const h2o_token_t *token) {
  const char *v;
  size_t n;
  return header_value(req, token, &v, &n) ? api_format_from_header(v, n) : API_JSON;
}

/*
 * Content types a prediction body may declare. curl -d sends form-urlencoded and some
 * clients send text/plain with a JSON body: both are read as JSON. Anything else (XML,
 * multipart, ...) is refused with 415 rather than misread.
 */
static int body_type_supported(h2o_req_t *req) {
  const char *v;
  size_t n;
  if (!header_value(req, H2O_TOKEN_CONTENT_TYPE, &v, &n)) return 1;
  size_t end = 0;
  while (end < n && v[end] != ';') end++;
  while (end > 0 && (v[end - 1] == ' ' || v[end - 1] == '\t')) end--;
  static const char *const accepted[] = {"application/json", "application/msgpack", "application/x-msgpack",
                                         "application/vnd.msgpack", "application/x-www-form-urlencoded",
                                         "text/plain", "application/octet-stream"};
  for (size_t i = 0; i < sizeof accepted / sizeof accepted[0]; i++)
    if (h2o_lcstris(v, end, accepted[i], strlen(accepted[i]))) return 1;
  return end > 5 && h2o_lcstris(v + end - 5, 5, "+json", 5);
}

/* Path segments: "/v1/models/income/predict" -> ["v1", "models", "income", "predict"]. */
#define MAX_SEGMENTS 8
typedef struct {
  h2o_iovec_t seg[MAX_SEGMENTS];
  size_t n;
} path_t;

static int split_path(h2o_iovec_t path, path_t *out) {
  out->n = 0;
  size_t i = 0;
  while (i < path.len) {
    while (i < path.len && path.base[i] == '/') i++;
    if (i >= path.len) break;
    size_t start = i;
    while (i < path.len && path.base[i] != '/') i++;
    if (out->n == MAX_SEGMENTS) return -1;
    out->seg[out->n++] = h2o_iovec_init(path.base + start, i - start);
  }
  return 0;
}

static int seg_is(const path_t *p, size_t i, const char *s) {
  return i < p->n && p->seg[i].len == strlen(s) && memcmp(p->seg[i].base, s, p->seg[i].len) == 0;
}

static int method_is(h2o_req_t *req, const char *m) {
  return h2o_memis(req->method.base, req->method.len, m, strlen(m));
}

/* ---- predictions ---- */

static void pending_link(io_thread_t *io, pending_t *p) {
  p->next = io->pending.next;
  p->prev = &io->pending;
  io->pending.next->prev = p;
  io->pending.next = p;
}

static void pending_unlink(pending_t *p) {
  p->prev->next = p->next;
  p->next->prev = p->prev;
}

/*
 * Stops counting P as in flight: before its scores are sent, so that a client who has its
 * answer never sees the request still counted (another loop may serve its /metrics). A
 * request answered early (deadline, shutdown) stays counted until its job is back, since
 * a worker is still busy with it.
 */
static void pending_uncount(pending_t *p) {
  if (p->in_flight) metrics_inflight_add(p->io->s->metrics, -1);
  p->in_flight = 0;
}

static void pending_free(pending_t *p) {
  if (p->slot != NULL) *p->slot = NULL;
  model_unref(p->model);
  api_request_free(&p->areq);
  free(p->job.out);
  pending_uncount(p);
  free(p);
}

/* h2o drops the request (client gone, or after the response): forget it. */
static void on_request_dispose(void *ptr) {
  pending_t *p = *(pending_t **)ptr;
  if (p == NULL) return;
  p->req = NULL;
  p->slot = NULL;
  atomic_store_explicit(&p->job.cancelled, 1, memory_order_relaxed);
}

/* Detaches P from its request once it has been answered. */
static void pending_answered(pending_t *p) {
  if (p->slot != NULL) *p->slot = NULL;
  p->slot = NULL;
  p->req = NULL;
}

/* Worker thread: hand the job back to the loop that owns its request. */
static void on_job_done(batch_job_t *job) {
  pending_t *p = (pending_t *)job;
  io_thread_t *io = p->io;
  pthread_mutex_lock(&io->done_lock);
  p->next_done = io->done_head;
  io->done_head = p;
  pthread_mutex_unlock(&io->done_lock);
  uv_async_send(&io->wake);
}

static void answer_pending(pending_t *p) {
  io_thread_t *io = p->io;
  h2o_req_t *req = p->req;
  pending_uncount(p);
  /*
   * Past its deadline a request gets 504 even when its scores arrived meanwhile (the loop
   * may have been starved of CPU until after the worker finished): the deadline is a promise
   * to the client, who may well have given up.
   */
  if (batcher_now() > p->job.deadline) {
    metrics_rejected(io->s->metrics, "deadline");
    send_error(io, req, p->route, p->t0, 504, p->out_fmt, "the request's deadline passed before it was scored");
  } else if (p->job.skipped) {
    send_error(io, req, p->route, p->t0, 500, p->out_fmt, "the request could not be scored (out of memory)");
  } else {
    api_body_t body = {0};
    int rc = p->v2 ? api_encode_v2_infer(p->model->name, p->model->forest, &p->areq, p->job.out, &body)
                   : api_encode_v1(p->model->name, p->model->forest, p->model->schema, &p->areq, p->job.out,
                                   p->out_fmt, &body);
    if (rc != 0)
      send_error(io, req, p->route, p->t0, 500, p->out_fmt, "out of memory while encoding the response");
    else
      send_api_body(io, req, p->route, p->t0, 200, &body);
  }
  pending_answered(p);
}

static int handle_predict(io_thread_t *io, h2o_req_t *req, h2o_iovec_t name, int v2, double t0) {
  server_t *s = io->s;
  metrics_route_t route = v2 ? METRICS_ROUTE_INFER : METRICS_ROUTE_PREDICT;
  api_format_t in_fmt = v2 ? API_JSON : request_format(req, H2O_TOKEN_CONTENT_TYPE);
  api_format_t out_fmt = v2 ? API_JSON : request_format(req, H2O_TOKEN_ACCEPT);
  char msg[512];
  if (!method_is(req, "POST")) {
    send_error(io, req, route, t0, 405, out_fmt, "use POST for predictions");
    return 0;
  }
  if (!body_type_supported(req)) {
    send_error(io, req, route, t0, 415, out_fmt,
               "unsupported Content-Type: send application/json or application/msgpack");
    return 0;
  }
  grove_model_t *model = registry_get(s->reg, name.base, name.len);
  if (model == NULL) {
    snprintf(msg, sizeof msg, "unknown model \"%.*s\" (GET /v1/models lists them)", (int)(name.len > 100 ? 100 : name.len),
             name.base);
    send_error(io, req, route, t0, 404, out_fmt, msg);
    return 0;
  }
  pending_t *p = calloc(1, sizeof *p);
  if (p == NULL) {
    model_unref(model);
    send_error(io, req, route, t0, 500, out_fmt, "out of memory");
    return 0;
  }
  p->io = io;
  p->req = req;
  p->model = model;
  p->out_fmt = out_fmt;
  p->v2 = v2;
  p->route = route;
  p->t0 = t0;
  metrics_inflight_add(s->metrics, 1);
  p->in_flight = 1;

  const char *body = req->entity.base ? req->entity.base : "";
  size_t len = req->entity.base ? req->entity.len : 0;
  api_error_t err = {0};
  int rc;
  if (v2) {
    size_t json_len = 0;
    ssize_t h = h2o_find_header_by_str(&req->headers, H2O_STRLIT("inference-header-content-length"), -1);
    if (h >= 0) {
      h2o_iovec_t v = req->headers.entries[h].value;
      size_t parsed = h2o_strtosize(v.base, v.len);
      if (parsed == SIZE_MAX || parsed > len) {
        pending_free(p);
        send_error(io, req, route, t0, 400, out_fmt, "Inference-Header-Content-Length is not a size within the body");
        return 0;
      }
      json_len = parsed;
    }
    rc = api_decode_v2_infer(body, len, json_len, model->forest, &s->limits, &p->areq, &err);
  } else {
    rc = api_decode_v1(body, len, in_fmt, model->forest, model->schema, &s->limits, &p->areq, &err);
  }
  if (rc != 0) {
    pending_free(p);
    send_error(io, req, route, t0, err.status ? err.status : 400, out_fmt, err.message);
    return 0;
  }
  uint32_t width = grove_forest_output_width(model->forest, p->areq.margin);
  p->job = (batch_job_t){.forest = model->forest, .rows = p->areq.rows, .nrows = p->areq.nrows,
                         .margin = p->areq.margin, .done = on_job_done,
                         .deadline = t0 + s->cfg->deadline_ms * 1e-3};
  p->job.out = malloc(p->areq.nrows * width * sizeof(float));
  if (p->job.out == NULL) {
    pending_free(p);
    send_error(io, req, route, t0, 500, out_fmt, "out of memory for the predictions");
    return 0;
  }
  rc = batcher_submit(s->batcher, &p->job);
  if (rc != 0) {
    pending_free(p);
    if (rc == -1) {
      metrics_rejected(s->metrics, "queue_full");
      h2o_add_header(&req->pool, &req->res.headers, H2O_TOKEN_RETRY_AFTER, NULL, H2O_STRLIT("1"));
      send_error(io, req, route, t0, 503, out_fmt, "too many rows queued; retry shortly");
    } else {
      send_error(io, req, route, t0, 500, out_fmt, "out of memory");
    }
    return 0;
  }
  p->slot = h2o_mem_alloc_shared(&req->pool, sizeof *p->slot, on_request_dispose);
  *p->slot = p;
  pending_link(io, p);
  return 0;
}

/* Completed jobs come back here, on the loop that owns their requests. */
static void begin_shutdown(io_thread_t *io);

static void on_wake(uv_async_t *handle) {
  io_thread_t *io = handle->data;
  pthread_mutex_lock(&io->done_lock);
  pending_t *list = io->done_head;
  io->done_head = NULL;
  pthread_mutex_unlock(&io->done_lock);
  while (list != NULL) {
    pending_t *p = list;
    list = p->next_done;
    pending_unlink(p);
    if (p->req != NULL) answer_pending(p);
    pending_free(p);
  }
  if (atomic_load(&io->stop_requested) && !io->stopping) begin_shutdown(io);
}

/* ---- metadata, health, metrics, admin ---- */

static void handle_model_meta(io_thread_t *io, h2o_req_t *req, h2o_iovec_t name, int v2, double t0) {
  grove_model_t *m = registry_get(io->s->reg, name.base, name.len);
  if (m == NULL) {
    char msg[256];
    snprintf(msg, sizeof msg, "unknown model \"%.*s\"", (int)(name.len > 100 ? 100 : name.len), name.base);
    send_error(io, req, METRICS_ROUTE_MODELS, t0, 404, API_JSON, msg);
    return;
  }
  uint64_t reloads, failures;
  registry_reload_counts(io->s->reg, m->name, &reloads, &failures);
  api_model_meta_t meta = {.name = m->name, .path = m->path, .loaded_at = m->loaded_at,
                           .load_seconds = m->load_seconds, .reloads = reloads};
  api_body_t body = {0};
  int rc = v2 ? api_encode_model_v2(&meta, m->forest, &body) : api_encode_model_v1(&meta, m->forest, m->schema, &body);
  if (rc != 0)
    send_error(io, req, METRICS_ROUTE_MODELS, t0, 500, API_JSON, "out of memory");
  else
    send_api_body(io, req, METRICS_ROUTE_MODELS, t0, 200, &body);
  model_unref(m);
}

static void handle_model_list(io_thread_t *io, h2o_req_t *req, double t0) {
  grove_model_t *models[MAX_MODELS];
  size_t n = registry_list(io->s->reg, models, MAX_MODELS);
  api_model_meta_t metas[MAX_MODELS];
  const grove_forest_t *forests[MAX_MODELS];
  for (size_t i = 0; i < n; i++) {
    uint64_t reloads, failures;
    registry_reload_counts(io->s->reg, models[i]->name, &reloads, &failures);
    metas[i] = (api_model_meta_t){.name = models[i]->name, .path = models[i]->path,
                                  .loaded_at = models[i]->loaded_at, .load_seconds = models[i]->load_seconds,
                                  .reloads = reloads};
    forests[i] = models[i]->forest;
  }
  api_body_t body = {0};
  if (api_encode_models_v1(metas, forests, n, &body) != 0)
    send_error(io, req, METRICS_ROUTE_MODELS, t0, 500, API_JSON, "out of memory");
  else
    send_api_body(io, req, METRICS_ROUTE_MODELS, t0, 200, &body);
  for (size_t i = 0; i < n; i++) model_unref(models[i]);
}

static void handle_metrics(io_thread_t *io, h2o_req_t *req, double t0) {
  grove_model_t *models[MAX_MODELS];
  size_t n = registry_list(io->s->reg, models, MAX_MODELS);
  metrics_model_t info[MAX_MODELS];
  for (size_t i = 0; i < n; i++) {
    grove_forest_info_t fi;
    grove_forest_get_info(models[i]->forest, &fi);
    uint64_t reloads, failures;
    registry_reload_counts(io->s->reg, models[i]->name, &reloads, &failures);
    info[i] = (metrics_model_t){.name = models[i]->name, .format = fi.format, .objective = fi.objective,
                                .trees = fi.num_trees, .features = fi.num_features, .isa = grove_engine_isa(),
                                .loaded_at = models[i]->loaded_at, .load_seconds = models[i]->load_seconds,
                                .reloads = reloads, .reload_failures = failures};
  }
  /* Count this scrape before rendering so that it sees itself. */
  metrics_request_done(io->s->metrics, METRICS_ROUTE_METRICS, 200, batcher_now() - t0);
  size_t len;
  char *text = metrics_render(io->s->metrics, info, n, &len);
  for (size_t i = 0; i < n; i++) model_unref(models[i]);
  if (text == NULL) {
    send_error(io, req, METRICS_ROUTE_METRICS, t0, 500, API_JSON, "out of memory");
    return;
  }
  req->res.status = 200;
  req->res.reason = "OK";
  static const char ctype[] = "text/plain; version=0.0.4; charset=utf-8";
  h2o_add_header(&req->pool, &req->res.headers, H2O_TOKEN_CONTENT_TYPE, NULL, ctype, sizeof ctype - 1);
  req->res.content_length = len;
  h2o_send_inline(req, text, len);
  free(text);
}

/* Reloads run on libuv's thread pool: loading a big model must not stall the loop. */
typedef struct {
  uv_work_t work;
  io_thread_t *io;
  h2o_req_t *req;            /* NULL once disposed of */
  void **slot;
  char name[256];
  int rc;
  char err[512];
  double t0;
} reload_t;

static void on_reload_dispose(void *ptr) {
  reload_t *r = *(reload_t **)ptr;
  if (r != NULL) r->req = NULL, r->slot = NULL;
}

static void reload_work(uv_work_t *w) {
  reload_t *r = w->data;
  r->rc = registry_reload(r->io->s->reg, r->name, strlen(r->name), r->err, sizeof r->err);
}

static void reload_after(uv_work_t *w, int status) {
  reload_t *r = w->data;
  (void)status;
  if (r->rc == 0)
    grove_log("info", "model reloaded", "model=%s", r->name);
  else
    grove_log("warn", "model reload failed; the previous version keeps serving", "model=%s error=\"%s\"", r->name, r->err);
  if (r->req != NULL) {
    if (r->slot != NULL) *r->slot = NULL;
    if (r->rc == 0) {
      char json[400];
      snprintf(json, sizeof json, "{\"model\":\"%s\",\"reloaded\":true}", r->name);
      send_json(r->io, r->req, METRICS_ROUTE_ADMIN, r->t0, 200, json);
    } else {
      send_error(r->io, r->req, METRICS_ROUTE_ADMIN, r->t0, r->rc == -2 ? 404 : 422, API_JSON, r->err);
    }
  }
  free(r);
}

static int peer_is_loopback(h2o_req_t *req) {
  struct sockaddr_storage ss;
  socklen_t len = req->conn->callbacks->get_peername(req->conn, (struct sockaddr *)&ss);
  if (len == 0) return 0;
  if (ss.ss_family == AF_INET)
    return (ntohl(((struct sockaddr_in *)&ss)->sin_addr.s_addr) >> 24) == 127;
  if (ss.ss_family == AF_INET6) {
    const struct in6_addr *a = &((struct sockaddr_in6 *)&ss)->sin6_addr;
    return IN6_IS_ADDR_LOOPBACK(a) || (IN6_IS_ADDR_V4MAPPED(a) && a->s6_addr[12] == 127);
  }
  return ss.ss_family == AF_UNIX;
}

/* With a token: the token. Without one: only clients on this machine. */
static int authorized(server_t *s, h2o_req_t *req) {
  const char *token = s->cfg->admin_token;
  if (token == NULL || token[0] == '\0') return peer_is_loopback(req);
  const char *v;
  size_t n;
  if (!header_value(req, H2O_TOKEN_AUTHORIZATION, &v, &n)) return 0;
  size_t tl = strlen(token);
  return n == tl + 7 && memcmp(v, "Bearer ", 7) == 0 && memcmp(v + 7, token, tl) == 0;
}

/* Answers 401/403 and returns 1 when REQ may not use /admin. */
static int admin_refused(io_thread_t *io, h2o_req_t *req, double t0) {
  if (authorized(io->s, req)) return 0;
  int has_token = io->s->cfg->admin_token != NULL && io->s->cfg->admin_token[0] != '\0';
  send_error(io, req, METRICS_ROUTE_ADMIN, t0, has_token ? 401 : 403, API_JSON,
             has_token ? "missing or wrong admin token (Authorization: Bearer ...)"
                       : "admin endpoints answer only loopback clients when no --admin-token is set");
  return 1;
}

static void handle_reload(io_thread_t *io, h2o_req_t *req, h2o_iovec_t name, double t0) {
  if (!method_is(req, "POST")) {
    send_error(io, req, METRICS_ROUTE_ADMIN, t0, 405, API_JSON, "use POST to reload a model");
    return;
  }
  if (admin_refused(io, req, t0)) return;
  if (name.len >= sizeof ((reload_t *)0)->name) {
    send_error(io, req, METRICS_ROUTE_ADMIN, t0, 404, API_JSON, "model name too long");
    return;
  }
  reload_t *r = calloc(1, sizeof *r);
  if (r == NULL) {
    send_error(io, req, METRICS_ROUTE_ADMIN, t0, 500, API_JSON, "out of memory");
    return;
  }
  memcpy(r->name, name.base, name.len);
  r->io = io;
  r->req = req;
  r->t0 = t0;
  r->work.data = r;
  r->slot = h2o_mem_alloc_shared(&req->pool, sizeof(void *), on_reload_dispose);
  *r->slot = r;
  if (uv_queue_work(&io->loop, &r->work, reload_work, reload_after) != 0) {
    *r->slot = NULL;
    free(r);
    send_error(io, req, METRICS_ROUTE_ADMIN, t0, 500, API_JSON, "cannot start the reload");
  }
}

static int admin_refused(io_thread_t *io, h2o_req_t *req, double t0);

static void handle_config(io_thread_t *io, h2o_req_t *req, double t0) {
  if (admin_refused(io, req, t0)) return;
  const grove_config_t *c = io->s->cfg;
  char json[512];
  snprintf(json, sizeof json,
           "{\"io_threads\":%u,\"workers\":%u,\"max_batch_rows\":%u,\"max_delay_us\":%u,\"max_queue_rows\":%u,"
           "\"max_body\":%llu,\"deadline_ms\":%u,\"isa\":\"%s\",\"kernel\":\"%s\",\"version\":\"%s\"}",
           c->io_threads, c->workers, c->max_batch_rows, c->max_delay_us, c->max_queue_rows,
           (unsigned long long)c->max_body, c->deadline_ms, grove_engine_isa(), grove_engine_kernel(), GROVE_VERSION);
  send_json(io, req, METRICS_ROUTE_ADMIN, t0, 200, json);
}

/* ---- routing ---- */

static int on_req(h2o_handler_t *self, h2o_req_t *req) {
  server_t *s = ((api_handler_t *)self)->s;
  io_thread_t *io = io_of(req);
  double t0 = batcher_now();
  path_t p;
  if (split_path(req->path_normalized, &p) != 0) p.n = MAX_SEGMENTS + 1;
  int get = method_is(req, "GET") || method_is(req, "HEAD");

  if (p.n == 1 && seg_is(&p, 0, "predict")) {
    const char *name = s->default_model ? s->default_model : "";
    return handle_predict(io, req, h2o_iovec_init(name, strlen(name)), 0, t0);
  }
  if (seg_is(&p, 0, "v1") && seg_is(&p, 1, "models")) {
    if (p.n == 4 && seg_is(&p, 3, "predict")) return handle_predict(io, req, p.seg[2], 0, t0);
    if (p.n == 2 && get) return handle_model_list(io, req, t0), 0;
    if (p.n == 3 && get) return handle_model_meta(io, req, p.seg[2], 0, t0), 0;
  }
  if (seg_is(&p, 0, "v2")) {
    if (p.n == 1 && get) {
      char json[256];
      snprintf(json, sizeof json, "{\"name\":\"grove\",\"version\":\"%s\",\"extensions\":[\"binary_tensor_data\"]}",
               GROVE_VERSION);
      return send_json(io, req, METRICS_ROUTE_MODELS, t0, 200, json), 0;
    }
    if (p.n == 3 && seg_is(&p, 1, "health") && get) {
      if (seg_is(&p, 2, "live")) return send_json(io, req, METRICS_ROUTE_HEALTH, t0, 200, "{\"live\":true}"), 0;
      if (seg_is(&p, 2, "ready")) {
        int ready = atomic_load(&s->ready);
        return send_json(io, req, METRICS_ROUTE_HEALTH, t0, ready ? 200 : 503,
                         ready ? "{\"ready\":true}" : "{\"ready\":false}"), 0;
      }
    }
    if (seg_is(&p, 1, "models") && p.n >= 3) {
      if (p.n == 3 && get) return handle_model_meta(io, req, p.seg[2], 1, t0), 0;
      if (p.n == 4 && seg_is(&p, 3, "ready") && get) {
        grove_model_t *m = registry_get(s->reg, p.seg[2].base, p.seg[2].len);
        char json[400];
        snprintf(json, sizeof json, "{\"name\":\"%.*s\",\"ready\":%s}", (int)(p.seg[2].len > 200 ? 200 : p.seg[2].len),
                 p.seg[2].base, m && atomic_load(&s->ready) ? "true" : "false");
        int status = m == NULL ? 404 : atomic_load(&s->ready) ? 200 : 503;
        model_unref(m);
        return send_json(io, req, METRICS_ROUTE_HEALTH, t0, status, m ? json : "{\"error\":\"unknown model\"}"), 0;
      }
      if (p.n == 4 && seg_is(&p, 3, "infer")) return handle_predict(io, req, p.seg[2], 1, t0);
      if (p.n == 6 && seg_is(&p, 3, "versions") && seg_is(&p, 5, "infer"))
        return handle_predict(io, req, p.seg[2], 1, t0);
    }
  }
  if (p.n == 1 && seg_is(&p, 0, "metrics") && get) return handle_metrics(io, req, t0), 0;
  if (p.n == 1 && seg_is(&p, 0, "healthz") && get)
    return send_json(io, req, METRICS_ROUTE_HEALTH, t0, 200, "{\"live\":true}"), 0;
  if (p.n == 1 && seg_is(&p, 0, "admin") && get) { /* the dashboard page is ui/admin.html */
    metrics_request_done(s->metrics, METRICS_ROUTE_STATIC, 302, batcher_now() - t0);
    h2o_send_redirect(req, 302, "Found", H2O_STRLIT("/admin.html"));
    return 0;
  }
  if (seg_is(&p, 0, "admin")) {
    if (p.n == 4 && seg_is(&p, 1, "models") && seg_is(&p, 3, "reload")) return handle_reload(io, req, p.seg[2], t0), 0;
    if (p.n == 2 && seg_is(&p, 1, "config") && get) return handle_config(io, req, t0), 0;
  }
  /* Anything else under the API's prefixes is an API 404/405; the rest is the UI's. */
  if (seg_is(&p, 0, "v1") || seg_is(&p, 0, "v2") || seg_is(&p, 0, "predict") || seg_is(&p, 0, "metrics") ||
      (seg_is(&p, 0, "admin") && p.n > 1) || p.n > MAX_SEGMENTS) {
    send_error(io, req, METRICS_ROUTE_OTHER, t0, get ? 404 : 405, API_JSON,
               get ? "no such endpoint" : "method not allowed for this endpoint");
    return 0;
  }
  return -1;
}

/* ---- I/O threads ---- */

static void on_accept(uv_stream_t *listener, int status) {
  io_thread_t *io = listener->data;
  if (status != 0) return;
  uv_tcp_t *conn = malloc(sizeof *conn);
  if (conn == NULL) return;
  uv_tcp_init(listener->loop, conn);
  if (uv_accept(listener, (uv_stream_t *)conn) != 0) {
    uv_close((uv_handle_t *)conn, (uv_close_cb)free);
    return;
  }
  h2o_socket_t *sock = h2o_uv_socket_create((uv_stream_t *)conn, (uv_close_cb)free);
  h2o_accept(&io->accept_ctx, sock);
}

static int connections_open(io_thread_t *io) {
  return !h2o_linklist_is_empty(&io->ctx.http1._conns) || !h2o_linklist_is_empty(&io->ctx.http2._conns) ||
         h2o_timeout_is_linked(&io->ctx.http2._graceful_shutdown_timeout);
}

static void begin_shutdown(io_thread_t *io) {
  io->stopping = 1;
  io->stop_started = batcher_now();
  if (io->listener_open) {
    uv_close((uv_handle_t *)&io->listener, NULL);
    io->listener_open = 0;
  }
  h2o_context_request_shutdown(&io->ctx);
}

static void on_tick(uv_timer_t *t) {
  io_thread_t *io = t->data;
  double now = batcher_now();
  for (pending_t *p = io->pending.next; p != &io->pending; p = p->next) {
    if (p->req != NULL && now > p->job.deadline) {
      /* Answer now; the job stays listed until the batcher hands it back. */
      atomic_store_explicit(&p->job.cancelled, 1, memory_order_relaxed);
      metrics_rejected(io->s->metrics, "deadline");
      send_error(io, p->req, p->route, p->t0, 504, p->out_fmt, "the request's deadline passed before it was scored");
      pending_answered(p);
    }
  }
  if (atomic_load(&io->stop_requested) && !io->stopping) begin_shutdown(io);
  if (io->stopping) {
    /* Past the grace period: give up on what is left (the batcher skips cancelled jobs),
     * but keep the loop until every job is back, since workers still post to it. */
    int overdue = now - io->stop_started > io->s->cfg->shutdown_grace_s;
    for (pending_t *p = io->pending.next; overdue && p != &io->pending; p = p->next) {
      atomic_store_explicit(&p->job.cancelled, 1, memory_order_relaxed);
      if (p->req != NULL) {
        send_error(io, p->req, p->route, p->t0, 503, p->out_fmt, "the server is shutting down");
        pending_answered(p);
      }
    }
    if (io->pending.next == &io->pending) {
      /* h2o 2.2 leaves idle HTTP/1 keep-alive connections open on shutdown; they wait in
       * the request-read timeout list, so expiring that list closes exactly them. */
      io->ctx.http1.req_timeout.timeout = 0;
      h2o_timeout_run(&io->loop, &io->ctx.http1.req_timeout, uv_now(&io->loop));
      if (overdue || !connections_open(io)) uv_stop(&io->loop);
    }
  }
}

static void close_handle(uv_handle_t *h, void *arg) {
  (void)arg;
  if (!uv_is_closing(h)) uv_close(h, NULL);
}

static void *io_main(void *arg) {
  io_thread_t *io = arg;
  uv_run(&io->loop, UV_RUN_DEFAULT);
  /* Connections still open after the grace period belong to h2o, which has no way to
   * drop them: leave them to the process exit rather than free what h2o still uses. */
  if (connections_open(io)) return NULL;
  h2o_context_dispose(&io->ctx);
  uv_walk(&io->loop, close_handle, NULL);
  uv_run(&io->loop, UV_RUN_DEFAULT);
  uv_loop_close(&io->loop);
  return NULL;
}

/*
 * One listening socket per thread on the same address (SO_REUSEPORT): the kernel spreads
 * connections over the threads. PROBE binds without SO_REUSEPORT and closes at once:
 * SO_REUSEPORT alone would let a second grove join a port already in use and silently
 * share its traffic.
 */
static int listen_socket(const char *host, uint32_t port, int probe, char *err, size_t errlen) {
  struct addrinfo hints = {.ai_family = AF_UNSPEC, .ai_socktype = SOCK_STREAM, .ai_flags = AI_PASSIVE}, *res;
  char service[16];
  snprintf(service, sizeof service, "%u", port);
  int gai = getaddrinfo(host, service, &hints, &res);
  if (gai != 0) {
    snprintf(err, errlen, "cannot resolve %s: %s", host, gai_strerror(gai));
    return -1;
  }
  int fd = socket(res->ai_family, SOCK_STREAM | SOCK_CLOEXEC, 0), one = 1;
  if (fd < 0 || setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one) != 0 ||
      (!probe && setsockopt(fd, SOL_SOCKET, SO_REUSEPORT, &one, sizeof one) != 0) ||
      bind(fd, res->ai_addr, res->ai_addrlen) != 0 || (!probe && listen(fd, SOMAXCONN) != 0)) {
    snprintf(err, errlen, "cannot listen on %s:%u: %s", host, port, strerror(errno));
    if (fd >= 0) close(fd);
    fd = -1;
  }
  freeaddrinfo(res);
  if (probe && fd >= 0) close(fd);
  return fd;
}

static int io_thread_init(server_t *s, io_thread_t *io, uint32_t index, char *err, size_t errlen) {
  io->s = s;
  io->index = index;
  io->pending.next = io->pending.prev = &io->pending;
  pthread_mutex_init(&io->done_lock, NULL);
  io->listen_fd = listen_socket(s->cfg->host, s->cfg->port, 0, err, errlen);
  if (io->listen_fd < 0) return -1;
  uv_loop_init(&io->loop);
  h2o_context_init(&io->ctx, &io->loop, &s->config);
  io->accept_ctx.ctx = &io->ctx;
  io->accept_ctx.hosts = s->config.hosts;
  io->accept_ctx.ssl_ctx = s->ssl_ctx;
  uv_async_init(&io->loop, &io->wake, on_wake);
  io->wake.data = io;
  uv_timer_init(&io->loop, &io->tick);
  io->tick.data = io;
  uv_timer_start(&io->tick, on_tick, TICK_MS, TICK_MS);
  uv_tcp_init(&io->loop, &io->listener);
  io->listener.data = io;
  int rc = uv_tcp_open(&io->listener, io->listen_fd);
  if (rc == 0) rc = uv_listen((uv_stream_t *)&io->listener, SOMAXCONN, on_accept);
  if (rc != 0) {
    snprintf(err, errlen, "cannot listen: %s", uv_strerror(rc));
    return -1;
  }
  io->listener_open = 1;
  return 0;
}

/* ---- signals (main thread) ---- */

typedef struct {
  server_t *s;
  uv_signal_t term, intr, hup;
} signals_t;

static void log_reload_failure(const char *name, const char *error) {
  grove_log("warn", "model reload failed; the previous version keeps serving", "model=%s error=\"%s\"", name, error);
}

static void on_signal(uv_signal_t *h, int signum) {
  signals_t *sig = h->data;
  server_t *s = sig->s;
  if (signum == SIGHUP) {
    grove_log("info", "SIGHUP: reloading every model", NULL);
    int failed = registry_reload_all(s->reg, log_reload_failure);
    grove_log(failed ? "warn" : "info", "reload finished", "failed=%d", failed);
    return;
  }
  grove_log("info", "shutting down: finishing requests in flight", "signal=%s grace_s=%u",
            signum == SIGTERM ? "TERM" : "INT", s->cfg->shutdown_grace_s);
  atomic_store(&s->ready, 0);
  for (uint32_t i = 0; i < s->nthreads; i++) {
    atomic_store(&s->threads[i].stop_requested, 1);
    uv_async_send(&s->threads[i].wake);
  }
  uv_close((uv_handle_t *)&sig->term, NULL);
  uv_close((uv_handle_t *)&sig->intr, NULL);
  uv_close((uv_handle_t *)&sig->hup, NULL);
}

static SSL_CTX *make_ssl_ctx(const grove_config_t *cfg, char *err, size_t errlen) {
  SSL_CTX *ctx = SSL_CTX_new(TLS_server_method());
  if (ctx == NULL || SSL_CTX_use_certificate_chain_file(ctx, cfg->tls_cert) != 1 ||
      SSL_CTX_use_PrivateKey_file(ctx, cfg->tls_key, SSL_FILETYPE_PEM) != 1) {
    snprintf(err, errlen, "TLS: cannot use %s / %s: %s", cfg->tls_cert, cfg->tls_key,
             ERR_reason_error_string(ERR_get_error()));
    SSL_CTX_free(ctx);
    return NULL;
  }
  SSL_CTX_set_min_proto_version(ctx, TLS1_2_VERSION);
  h2o_ssl_register_alpn_protocols(ctx, h2o_http2_alpn_protocols);
  return ctx;
}

int server_run(const grove_config_t *cfg, registry_t *reg, grove_metrics_t *metrics, const char *default_model) {
  signal(SIGPIPE, SIG_IGN);
  server_t *s = calloc(1, sizeof *s);
  if (s == NULL) return 1;
  s->cfg = cfg;
  s->reg = reg;
  s->metrics = metrics;
  s->default_model = default_model;
  /* A request that can never fit in the queue is too large (413), not a reason to retry. */
  s->limits.max_rows = cfg->max_request_rows < cfg->max_queue_rows ? cfg->max_request_rows : cfg->max_queue_rows;
  atomic_init(&s->ready, 0);
  char err[512];
  int rc = 1;

  h2o_config_init(&s->config);
  s->config.max_request_entity_size = cfg->max_body;
  s->config.filecache.capacity = 1024;
  h2o_hostconf_t *host = h2o_config_register_host(&s->config, h2o_iovec_init(H2O_STRLIT("default")), 65535);
  h2o_pathconf_t *root = h2o_config_register_path(host, "/", 0);
  api_handler_t *handler = (api_handler_t *)h2o_create_handler(root, sizeof *handler);
  handler->super.on_req = on_req;
  handler->s = s;
  static const char *index_files[] = {"index.html", NULL};
  h2o_file_register(root, cfg->ui_dir, index_files, NULL, 0);

  if (cfg->tls_cert != NULL && (s->ssl_ctx = make_ssl_ctx(cfg, err, sizeof err)) == NULL) {
    grove_log("error", "cannot start", "error=\"%s\"", err);
    goto out;
  }
  /* Spinning idle workers pay only when loops and workers each have a core. */
  long cores = sysconf(_SC_NPROCESSORS_ONLN);
  int spin = cores > 0 && (long)cfg->io_threads + (long)cfg->workers <= cores;
  s->batcher = batcher_new(cfg->workers, cfg->max_batch_rows, cfg->max_delay_us, cfg->max_queue_rows, spin, metrics);
  s->threads = calloc(cfg->io_threads, sizeof *s->threads);
  if (s->batcher == NULL || s->threads == NULL) {
    grove_log("error", "cannot start", "error=\"out of memory or threads\"");
    goto out;
  }
  if (listen_socket(cfg->host, cfg->port, 1, err, sizeof err) < 0) {
    grove_log("error", "cannot start", "error=\"%s\"", err);
    goto out;
  }
  for (uint32_t i = 0; i < cfg->io_threads; i++) {
    if (io_thread_init(s, &s->threads[i], i, err, sizeof err) != 0) {
      grove_log("error", "cannot start", "error=\"%s\"", err);
      for (uint32_t j = 0; j <= i; j++)
        if (s->threads[j].listen_fd > 0) close(s->threads[j].listen_fd);
      goto out;
    }
    s->nthreads++;
  }

  signals_t sig = {.s = s};
  uv_loop_t *main_loop = uv_default_loop();
  uv_signal_init(main_loop, &sig.term);
  uv_signal_init(main_loop, &sig.intr);
  uv_signal_init(main_loop, &sig.hup);
  sig.term.data = sig.intr.data = sig.hup.data = &sig;
  uv_signal_start(&sig.term, on_signal, SIGTERM);
  uv_signal_start(&sig.intr, on_signal, SIGINT);
  uv_signal_start(&sig.hup, on_signal, SIGHUP);

  for (uint32_t i = 0; i < s->nthreads; i++) pthread_create(&s->threads[i].tid, NULL, io_main, &s->threads[i]);
  atomic_store(&s->ready, 1);
  grove_log("info", "ready", "url=%s://%s:%u", s->ssl_ctx ? "https" : "http", cfg->host, cfg->port);
  uv_run(main_loop, UV_RUN_DEFAULT);
  for (uint32_t i = 0; i < s->nthreads; i++) pthread_join(s->threads[i].tid, NULL);
  uv_loop_close(main_loop);
  grove_log("info", "stopped", NULL);
  rc = 0;

out:
  batcher_free(s->batcher);
  for (uint32_t i = 0; i < s->nthreads; i++) pthread_mutex_destroy(&s->threads[i].done_lock);
  free(s->threads);
  h2o_config_dispose(&s->config);
  if (s->ssl_ctx) SSL_CTX_free(s->ssl_ctx);
  free(s);
  return rc;
}
