/*
 * Predictions (v1 predict, OIP v2 infer): decoded on the loop, handed to the batcher, and
 * answered on the same loop when a worker has scored them. A request whose client leaves
 * is disposed of by h2o at any time: a pool disposer clears our pointer to it, so nothing
 * touches it afterwards.
 */
#include "handlers.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "request.h"
#include "respond.h"

/* A prediction in flight: owned by its loop thread, lent to the batcher while queued. */
struct pending {
  batch_job_t job; /* first: the batcher's done callback casts back */
  io_thread_t *io;
  h2o_req_t *req;          /* NULL once answered or disposed of by h2o */
  pending_t **slot;        /* pool slot whose disposer clears req */
  registry_model_t *model; /* the version the request started on */
  api_request_t areq;
  api_format_t out_fmt;
  int v2; /* answer in the Open Inference Protocol */
  metrics_route_t route;
  double t0;
  pending_t *next_done; /* io->done_head list (guarded by io->done_lock) */
  h2o_linklist_t link;  /* io->pending (loop thread only) */
  int in_flight;        /* counted in grove_inflight_requests until answered or freed */
};

static pending_t *pending_of(h2o_linklist_t *link) {
  return (pending_t *)((char *)link - offsetof(pending_t, link));
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
  registry_model_unref(p->model);
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
    respond_error(io, req, p->route, p->t0, 504, p->out_fmt,
                  "the request's deadline passed before it was scored");
  } else if (p->job.skipped) {
    respond_error(io, req, p->route, p->t0, 500, p->out_fmt,
                  "the request could not be scored (out of memory)");
  } else {
    api_body_t body = {0};
    int rc =
        p->v2 ? api_encode_v2_infer(p->model->name, p->model->forest, &p->areq, p->job.out, &body)
              : api_encode_v1(p->model->name, p->model->forest, p->model->schema, &p->areq,
                              p->job.out, p->out_fmt, &body);
    if (rc != 0)
      respond_error(io, req, p->route, p->t0, 500, p->out_fmt,
                    "out of memory while encoding the response");
    else
      respond_api_body(io, req, p->route, p->t0, 200, &body);
  }
  pending_answered(p);
}

void handle_predict_complete(io_thread_t *io) {
  pthread_mutex_lock(&io->done_lock);
  pending_t *list = io->done_head;
  io->done_head = NULL;
  pthread_mutex_unlock(&io->done_lock);
  while (list != NULL) {
    pending_t *p = list;
    list = p->next_done;
    h2o_linklist_unlink(&p->link);
    if (p->req != NULL) answer_pending(p);
    pending_free(p);
  }
}

void handle_predict_expire(io_thread_t *io, double now, int give_up) {
  for (h2o_linklist_t *l = io->pending.next; l != &io->pending; l = l->next) {
    pending_t *p = pending_of(l);
    if (give_up) atomic_store_explicit(&p->job.cancelled, 1, memory_order_relaxed);
    if (p->req == NULL) continue;
    if (now > p->job.deadline) {
      /* Answer now; the job stays listed until the batcher hands it back. */
      atomic_store_explicit(&p->job.cancelled, 1, memory_order_relaxed);
      metrics_rejected(io->s->metrics, "deadline");
      respond_error(io, p->req, p->route, p->t0, 504, p->out_fmt,
                    "the request's deadline passed before it was scored");
      pending_answered(p);
    } else if (give_up) {
      respond_error(io, p->req, p->route, p->t0, 503, p->out_fmt, "the server is shutting down");
      pending_answered(p);
    }
  }
}

int handle_predict_idle(io_thread_t *io) { return h2o_linklist_is_empty(&io->pending); }

/*
 * Content types a prediction body may declare. curl -d sends form-urlencoded and some
 * clients send text/plain with a JSON body: both are read as JSON. Anything else (XML,
 * multipart, ...) is refused with 415 rather than misread.
 */
static int body_type_supported(h2o_req_t *req) {
  const char *v;
  size_t n;
  if (!request_header(req, H2O_TOKEN_CONTENT_TYPE, &v, &n)) return 1;
  size_t end = 0;
  while (end < n && v[end] != ';') end++;
  while (end > 0 && (v[end - 1] == ' ' || v[end - 1] == '\t')) end--;
  static const char *const accepted[] = {"application/json",
                                         "application/msgpack",
                                         "application/x-msgpack",
                                         "application/vnd.msgpack",
                                         "application/x-www-form-urlencoded",
                                         "text/plain",
                                         "application/octet-stream"};
  for (size_t i = 0; i < sizeof accepted / sizeof accepted[0]; i++)
    if (h2o_lcstris(v, end, accepted[i], strlen(accepted[i]))) return 1;
  return end > 5 && h2o_lcstris(v + end - 5, 5, "+json", 5);
}

/* Decodes P's request body into p->areq with the codec its route and headers ask for. */
static int decode_body(pending_t *p, h2o_req_t *req, api_error_t *err) {
  const server_t *s = p->io->s;
  const char *body = req->entity.base ? req->entity.base : "";
  size_t len = req->entity.base ? req->entity.len : 0;
  if (!p->v2)
    return api_decode_v1(body, len, request_format(req, H2O_TOKEN_CONTENT_TYPE), p->model->forest,
                         p->model->schema, &s->limits, &p->areq, err);
  size_t json_len = 0;
  ssize_t h =
      h2o_find_header_by_str(&req->headers, H2O_STRLIT("inference-header-content-length"), -1);
  if (h >= 0) {
    h2o_iovec_t v = req->headers.entries[h].value;
    json_len = h2o_strtosize(v.base, v.len);
    if (json_len == SIZE_MAX || json_len > len) {
      err->status = 400;
      snprintf(err->message, sizeof err->message,
               "Inference-Header-Content-Length is not a size within the body");
      return -1;
    }
  }
  return api_decode_v2_infer(body, len, json_len, p->model->forest, &s->limits, &p->areq, err);
}

/* Queues P's rows; on failure answers REQ and frees P. */
static void submit(pending_t *p, h2o_req_t *req) {
  io_thread_t *io = p->io;
  server_t *s = io->s;
  uint32_t width = grove_forest_output_width(p->model->forest, p->areq.margin);
  p->job = (batch_job_t){.forest = p->model->forest,
                         .rows = p->areq.rows,
                         .nrows = p->areq.nrows,
                         .margin = p->areq.margin,
                         .done = on_job_done,
                         .deadline = p->t0 + s->cfg->deadline_ms * 1e-3};
  p->job.out = malloc(p->areq.nrows * width * sizeof(float));
  batcher_status_t rc = p->job.out == NULL ? BATCHER_ENOMEM : batcher_submit(s->batcher, &p->job);
  if (rc != BATCHER_OK) {
    metrics_route_t route = p->route;
    api_format_t fmt = p->out_fmt;
    double t0 = p->t0;
    pending_free(p);
    if (rc == BATCHER_EFULL) {
      metrics_rejected(s->metrics, "queue_full");
      h2o_add_header(&req->pool, &req->res.headers, H2O_TOKEN_RETRY_AFTER, NULL, H2O_STRLIT("1"));
      respond_error(io, req, route, t0, 503, fmt, "too many rows queued; retry shortly");
    } else {
      respond_error(io, req, route, t0, 500, fmt, "out of memory for the predictions");
    }
    return;
  }
  p->slot = h2o_mem_alloc_shared(&req->pool, sizeof *p->slot, on_request_dispose);
  *p->slot = p;
  h2o_linklist_insert(&io->pending, &p->link);
}

/* POST a prediction for model NAME: v1 (JSON or msgpack, by headers) or OIP v2 (V2). */
static void predict(io_thread_t *io, h2o_req_t *req, h2o_iovec_t name, int v2, double t0) {
  metrics_route_t route = v2 ? METRICS_ROUTE_INFER : METRICS_ROUTE_PREDICT;
  api_format_t out_fmt = v2 ? API_JSON : request_format(req, H2O_TOKEN_ACCEPT);
  if (!body_type_supported(req)) {
    respond_error(io, req, route, t0, 415, out_fmt,
                  "unsupported Content-Type: send application/json or application/msgpack");
    return;
  }
  registry_model_t *model = registry_get(io->s->reg, name.base, name.len);
  if (model == NULL) {
    char msg[256];
    snprintf(msg, sizeof msg, "unknown model \"%.*s\" (GET /v1/models lists them)",
             (int)(name.len > 100 ? 100 : name.len), name.base);
    respond_error(io, req, route, t0, 404, out_fmt, msg);
    return;
  }
  pending_t *p = calloc(1, sizeof *p);
  if (p == NULL) {
    registry_model_unref(model);
    respond_error(io, req, route, t0, 500, out_fmt, "out of memory");
    return;
  }
  *p = (pending_t){.io = io,
                   .req = req,
                   .model = model,
                   .out_fmt = out_fmt,
                   .v2 = v2,
                   .route = route,
                   .t0 = t0,
                   .in_flight = 1};
  metrics_inflight_add(io->s->metrics, 1);
  api_error_t err = {0};
  if (decode_body(p, req, &err) != 0) {
    pending_free(p);
    respond_error(io, req, route, t0, err.status ? err.status : 400, out_fmt, err.message);
    return;
  }
  submit(p, req);
}

void handle_predict_v1(io_thread_t *io, h2o_req_t *req, const route_match_t *m, double t0) {
  predict(io, req, m->name, 0, t0);
}

void handle_predict_default(io_thread_t *io, h2o_req_t *req, const route_match_t *m, double t0) {
  (void)m;
  const char *name = io->s->default_model ? io->s->default_model : "";
  predict(io, req, h2o_iovec_init(name, strlen(name)), 0, t0);
}

void handle_infer_v2(io_thread_t *io, h2o_req_t *req, const route_match_t *m, double t0) {
  predict(io, req, m->name, 1, t0);
}
