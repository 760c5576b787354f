/*
 * Predictions (v1 predict, OIP v2 infer). A request is only noted when it arrives; its body
 * is decoded once h2o has read every frame that came with it (the I/O thread's flush
 * timeout), so a stream the client resets in the same read is never decoded nor scored. Small
 * bodies are decoded on the loop; large ones on libuv's thread pool, so that no body holds
 * the loop for long. The rows go to the batcher and the answer is sent on the same loop when
 * a worker has scored them. A request whose client leaves is disposed of by h2o at any
 * time: a pool disposer clears our pointer to it, so nothing touches it afterwards. Requests
 * of a few rows are scored on the loop itself when the workers are idle: those one pass has
 * read in batches per model (batcher_score_inline_jobs), a single one otherwise.
 */
#include "handlers.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>

#include "content_coding.h"
#include "log.h"
#include "request.h"
#include "respond.h"

/* Bodies up to this size are decoded on the loop: a few milliseconds at most. */
#define INLINE_DECODE_MAX (256 * 1024)
/* A connection whose clients abandon more predictions than this within RESET_WINDOW_S
 * seconds is closed (HTTP/2 rapid reset). */
#define RESET_LIMIT       200
#define RESET_WINDOW_S    10.0

/* A prediction in flight: owned by its loop thread, lent to the batcher while queued. */
struct pending {
  batch_job_t job; /* first: the batcher's done callback casts back */
  io_thread_t *io;
  h2o_req_t *req;          /* NULL once answered or disposed of by h2o */
  pending_t **slot;        /* pool slot whose disposer clears req */
  const void *conn;        /* the request's connection, for counting abandoned requests */
  registry_model_t *model; /* the version the request started on */
  api_request_t areq;
  api_format_t in_fmt, out_fmt;
  char form_type[160]; /* a form's Content-Type (its boundary), kept for pool threads */
  int v2;              /* answer in the Open Inference Protocol */
  int compressed;      /* Content-Encoding gzip or deflate: inflated before decoding */
  metrics_route_t route;
  metrics_slot_t *metrics_slot; /* its model's, for the batcher's per-model metrics */
  double t0;
  size_t json_len; /* OIP: Inference-Header-Content-Length (API_OIP_NO_HEADER: none) */
  char *body_copy; /* a large body, copied for the thread pool */
  size_t body_len;
  uv_work_t work;  /* its decoding there */
  api_error_t err; /* its result */
  int decode_rc;
  pending_t *next_done;       /* io->done_head list (guarded by io->done_lock) */
  h2o_linklist_t link;        /* io->pending (loop thread only) */
  h2o_linklist_t decode_link; /* io->to_decode until decoded */
  int in_flight;              /* counted in grove_inflight_requests until answered or freed */
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

/* Frees P, which the batcher no longer holds, and takes it off its loop's lists. */
static void pending_free(pending_t *p) {
  if (p->slot != NULL) *p->slot = NULL;
  if (h2o_linklist_is_linked(&p->link)) h2o_linklist_unlink(&p->link);
  if (h2o_linklist_is_linked(&p->decode_link)) h2o_linklist_unlink(&p->decode_link);
  registry_model_unref(p->model);
  api_request_free(&p->areq);
  free(p->job.out);
  free(p->body_copy);
  pending_uncount(p);
  free(p);
}

/* The count of abandoned predictions of connection CONN on IO within the window, or NULL:
 * only abandoning a prediction starts one (reset_count_add), so busy connections that never
 * do take no slot. */
static reset_count_t *reset_count_find(io_thread_t *io, const void *conn, double now) {
  for (size_t i = 0; i < SERVER_RESET_SLOTS; i++) {
    reset_count_t *c = &io->resets[i];
    if (c->conn == conn && now - c->since <= RESET_WINDOW_S) return c;
  }
  return NULL;
}

/* CONN's count, found or started in the slot that matters least: a free or expired one, else
 * the one with the fewest resets, so that a flooding connection keeps its count however many
 * others abandon a request now and then. */
static reset_count_t *reset_count_add(io_thread_t *io, const void *conn, double now) {
  reset_count_t *c = reset_count_find(io, conn, now);
  if (c != NULL) return c;
  reset_count_t *least = &io->resets[0];
  for (size_t i = 0; i < SERVER_RESET_SLOTS; i++) {
    c = &io->resets[i];
    if (c->conn == NULL || now - c->since > RESET_WINDOW_S) {
      least = c;
      break;
    }
    if (c->resets < least->resets) least = c;
  }
  *least = (reset_count_t){.conn = conn, .since = now};
  return least;
}

/* h2o drops the request (client gone, or after the response): forget it. Dropped before it
 * was answered, it was abandoned (HTTP/2 RST_STREAM, or the connection went away). */
static void on_request_dispose(void *ptr) {
  pending_t *p = *(pending_t **)ptr;
  if (p == NULL) return;
  p->req = NULL;
  p->slot = NULL;
  atomic_store_explicit(&p->job.cancelled, 1, memory_order_relaxed);
  metrics_request_reset(p->io->s->metrics);
  reset_count_add(p->io, p->conn, batcher_now())->resets++;
}

/* Detaches P from its request once it has been answered. */
static void pending_answered(pending_t *p) {
  if (p->slot != NULL) *p->slot = NULL;
  p->slot = NULL;
  p->req = NULL;
}

/* Answers P's request with an error now and frees P (which the batcher does not hold). */
static void pending_fail(pending_t *p, int status, const char *message) {
  if (p->req != NULL) respond_error(p->io, p->req, p->route, p->t0, status, p->out_fmt, message);
  pending_answered(p);
  pending_free(p);
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
    int rc = p->v2 ? api_encode_v2_infer(p->model->name, p->model->forest, p->model->schema,
                                         &p->areq, p->job.out, &body)
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
      /* Answer now; the pending stays listed until its decoding or scoring is done. */
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

/* Decodes P's body (BODY, LEN bytes) into p->areq with the codec its route and headers
 * asked for: on the loop or on a pool thread (it touches nothing of the loop's). */
static int decode_body(pending_t *p, const char *body, size_t len) {
  const server_t *s = p->io->s;
  if (p->v2)
    return api_decode_v2_infer(body, len, p->json_len, p->model->forest, p->model->schema,
                               &s->limits, &p->areq, &p->err);
  if (p->in_fmt == API_FORM || p->in_fmt == API_MULTIPART)
    return api_decode_form(body, len, p->form_type, strlen(p->form_type), p->model->forest,
                           p->model->schema, &s->limits, &p->areq, &p->err);
  return api_decode_v1(body, len, p->in_fmt, p->model->forest, p->model->schema, &s->limits,
                       &p->areq, &p->err);
}

/* The format P's body is decoded with: its Content-Type's, but a urlencoded body that is a
 * JSON object is JSON (curl -d sends its default Content-Type with JSON bodies). The form's
 * Content-Type is kept for its decoder. */
static void body_format(pending_t *p, h2o_req_t *req) {
  const char *v;
  size_t n;
  p->in_fmt = request_format(req, H2O_TOKEN_CONTENT_TYPE);
  if (p->in_fmt != API_FORM && p->in_fmt != API_MULTIPART) return;
  if (p->in_fmt == API_FORM) {
    size_t i = 0, len = req->entity.base ? req->entity.len : 0;
    while (i < len && strchr(" \t\r\n", req->entity.base[i]) != NULL) i++;
    if (i < len && req->entity.base[i] == '{') {
      p->in_fmt = API_JSON;
      return;
    }
  }
  if (request_header(req, H2O_TOKEN_CONTENT_TYPE, &v, &n))
    snprintf(p->form_type, sizeof p->form_type, "%.*s", (int)n, v);
}

/* Hands P's job (out allocated, or NULL when that failed) to the workers; on failure answers
 * and frees P. */
static void enqueue(pending_t *p) {
  server_t *s = p->io->s;
  batcher_status_t rc = p->job.out == NULL ? BATCHER_ENOMEM : batcher_submit(s->batcher, &p->job);
  if (rc == BATCHER_OK) return;
  if (rc == BATCHER_EFULL) {
    metrics_rejected(s->metrics, "queue_full");
    if (p->req != NULL)
      h2o_add_header(&p->req->pool, &p->req->res.headers, H2O_TOKEN_RETRY_AFTER, NULL,
                     H2O_STRLIT("1"));
    pending_fail(p, 503, "too many rows queued; retry shortly");
  } else {
    pending_fail(p, 500, "out of memory for the predictions");
  }
}

/* The predictions IO's flush has collected: scored here in batches per model when the
 * workers are idle (an engine call for many of the pass's requests, not one each), else
 * queued.
 * Answering may make h2o read a connection's next request: it waits for the next flush. */
static void score_collected(io_thread_t *io) {
  const size_t n = io->collected;
  if (n == 0) return;
  pending_t *ps[SERVER_FLUSH_BATCH];
  batch_job_t *jobs[SERVER_FLUSH_BATCH];
  uint8_t scored[SERVER_FLUSH_BATCH];
  memcpy(ps, io->collect, n * sizeof *ps);
  io->collected = 0;
  for (size_t i = 0; i < n; i++) jobs[i] = &ps[i]->job;
  batcher_score_inline_jobs(io->s->batcher, jobs, n, scored, &io->inline_scratch);
  for (size_t i = 0; i < n; i++) {
    if (!scored[i]) {
      enqueue(ps[i]);
      continue;
    }
    if (ps[i]->req != NULL) answer_pending(ps[i]);
    pending_free(ps[i]);
  }
}

/* Queues P's decoded rows (or, during a flush, collects them); on failure answers and frees
 * P. */
static void submit(pending_t *p) {
  server_t *s = p->io->s;
  uint32_t width = grove_forest_output_width(p->model->forest, p->areq.margin);
  /* Explanations of a model that takes doubles are computed from every row's doubles. */
  const int explain = p->areq.contribs != NULL || p->areq.leaf_ids != NULL;
  p->job = (batch_job_t){.forest = p->model->forest,
                         .rows = p->areq.rows,
                         .nrows = p->areq.nrows,
                         .rows64 = p->areq.ninexact > 0 || explain ? p->areq.rows64 : NULL,
                         .inexact = p->areq.ninexact > 0 ? p->areq.inexact : NULL,
                         .ninexact = p->areq.ninexact,
                         .contribs = p->areq.contribs,
                         .leaves = p->areq.leaf_ids,
                         .metrics_slot = p->metrics_slot,
                         .margin = p->areq.margin,
                         .done = on_job_done,
                         .deadline = p->job.deadline};
  p->job.out = malloc(p->areq.nrows * width * sizeof(float));
  if (p->job.out != NULL && p->io->collecting) { /* scored with the flush's others, or queued */
    p->io->collect[p->io->collected++] = p;
    if (p->io->collected == SERVER_FLUSH_BATCH) score_collected(p->io);
    return;
  }
  if (p->job.out != NULL && batcher_score_inline(s->batcher, &p->job, &p->io->inline_scratch)) {
    /* Scored here: no hand-off to a worker and back (two thread wake-ups) for a few rows. */
    answer_pending(p);
    pending_free(p);
    return;
  }
  enqueue(p);
}

/* The outcome of decoding P: submit its rows, or answer its error. */
static void decoded(pending_t *p) {
  free(p->body_copy);
  p->body_copy = NULL;
  if (p->req == NULL) /* abandoned meanwhile */
    pending_free(p);
  else if (p->decode_rc != 0)
    pending_fail(p, p->err.status ? p->err.status : 400, p->err.message);
  else
    submit(p);
}

static void decode_work(uv_work_t *w) {
  pending_t *p = w->data;
  if (!p->compressed) {
    p->decode_rc = decode_body(p, p->body_copy, p->body_len);
    return;
  }
  char *body;
  size_t len;
  int status = content_coding_inflate(p->body_copy, p->body_len, p->io->s->max_body, &body, &len,
                                      p->err.message, sizeof p->err.message);
  if (status != 0) {
    p->err.status = status;
    p->decode_rc = -1;
    return;
  }
  p->decode_rc = decode_body(p, body, len);
  free(body);
}

static void decode_after(uv_work_t *w, int status) {
  (void)status;
  decoded(w->data);
}

/* Decodes P's body here or, when large, on the thread pool (with a copy: h2o frees the body
 * with its request, which the client may abandon meanwhile). */
static void start_decoding(pending_t *p) {
  h2o_iovec_t body = p->req->entity;
  const char *bytes = body.base ? body.base : "";
  size_t len = body.base ? body.len : 0;
  if (len <= INLINE_DECODE_MAX && !p->compressed) { /* inflating may cost far more than LEN */
    p->decode_rc = decode_body(p, bytes, len);
    decoded(p);
    return;
  }
  p->body_len = len;
  p->work.data = p;
  if ((p->body_copy = malloc(len)) == NULL) {
    pending_fail(p, 503, "out of memory for the request's body");
    return;
  }
  memcpy(p->body_copy, bytes, len);
  if (uv_queue_work(&p->io->loop, &p->work, decode_work, decode_after) != 0)
    pending_fail(p, 500, "cannot start decoding the request");
}

void handle_predict_flush(io_thread_t *io) {
  io->collecting = 1;
  while (!h2o_linklist_is_empty(&io->to_decode)) {
    pending_t *p = (pending_t *)((char *)io->to_decode.next - offsetof(pending_t, decode_link));
    h2o_linklist_unlink(&p->decode_link);
    if (p->req == NULL)
      pending_free(p); /* reset or answered (deadline) before it was read */
    else
      start_decoding(p);
  }
  io->collecting = 0;
  score_collected(io);
}

/* Whether the connection behind REQ has abandoned so many predictions that it is closed:
 * then its socket is shut down (h2o sees the end of the stream and closes it cleanly). */
static int close_if_abusive(io_thread_t *io, h2o_req_t *req, metrics_route_t route, double t0) {
  reset_count_t *c = reset_count_find(io, req->conn, t0);
  if (c == NULL || c->resets <= RESET_LIMIT) return 0;
  h2o_socket_t *sock = req->conn->callbacks->get_socket(req->conn);
  int fd = sock != NULL ? h2o_socket_get_fd(sock) : -1;
  log_event("warn", "closing a connection that keeps abandoning its requests",
            "resets=%u window_s=%.0f", c->resets, RESET_WINDOW_S);
  c->resets = 0;
  respond_error(io, req, route, t0, 429, API_JSON,
                "too many requests abandoned on this connection; it is closed");
  if (fd >= 0) shutdown(fd, SHUT_RDWR);
  return 1;
}

/*
 * Content types a prediction body may declare: JSON, msgpack, a form (urlencoded or
 * multipart), text/plain and octet-stream read as JSON (some clients send JSON so), and
 * Triton's binary requests. Anything else (XML, ...) is refused with 415 rather than misread.
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
                                         "multipart/form-data",
                                         "text/plain",
                                         "application/octet-stream"};
  for (size_t i = 0; i < sizeof accepted / sizeof accepted[0]; i++)
    if (h2o_lcstris(v, end, accepted[i], strlen(accepted[i]))) return 1;
  return end > 5 && h2o_lcstris(v + end - 5, 5, "+json", 5);
}

/* The request's Content-Encoding. */
static content_coding_t content_coding_of_request(h2o_req_t *req) {
  const char *v;
  size_t n;
  return request_header(req, H2O_TOKEN_CONTENT_ENCODING, &v, &n) ? content_coding_of(v, n)
                                                                 : CONTENT_IDENTITY;
}

/* OIP's Inference-Header-Content-Length into *LEN (API_OIP_NO_HEADER when absent) for a body
 * sent with CODING; -1 when it is not a size within the body. */
static int header_length(h2o_req_t *req, content_coding_t coding, size_t *len) {
  ssize_t h =
      h2o_find_header_by_str(&req->headers, H2O_STRLIT("inference-header-content-length"), -1);
  *len = API_OIP_NO_HEADER;
  if (h < 0) return 0;
  h2o_iovec_t v = req->headers.entries[h].value;
  size_t n = h2o_strtosize(v.base, v.len), body = req->entity.base ? req->entity.len : 0;
  /* A compressed body's header length counts inflated bytes: the codec checks it then. */
  if (n == SIZE_MAX || (n > body && coding == CONTENT_IDENTITY)) return -1;
  *len = n;
  return 0;
}

/* POST a prediction for model NAME: v1 (JSON or msgpack, by headers) or OIP v2 (V2). */
static void predict(io_thread_t *io, h2o_req_t *req, h2o_iovec_t name, int v2, double t0) {
  metrics_route_t route = v2 ? METRICS_ROUTE_INFER : METRICS_ROUTE_PREDICT;
  api_format_t out_fmt = v2 ? API_JSON : request_format(req, H2O_TOKEN_ACCEPT);
  if (close_if_abusive(io, req, route, t0)) return;
  const content_coding_t coding = content_coding_of_request(req);
  const char *refused =
      !body_type_supported(req)
          ? "unsupported Content-Type: send application/json, application/msgpack or a form"
      : coding == CONTENT_UNSUPPORTED
          ? "unsupported Content-Encoding: send the body as it is, or gzip or deflate it"
          : NULL;
  size_t json_len = API_OIP_NO_HEADER;
  int bad_header = v2 && refused == NULL && header_length(req, coding, &json_len) != 0;
  if (bad_header) refused = "Inference-Header-Content-Length is not a size within the body";
  if (refused != NULL) {
    respond_error(io, req, route, t0, bad_header ? 400 : 415, out_fmt, refused);
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
  /* Only a served model's name gets a slot (a label value): a 404 above made none. */
  metrics_slot_t *slot = metrics_model_slot(io->s->metrics, model->name);
  route = metrics_route_of_model(route, slot);
  pending_t *p = calloc(1, sizeof *p);
  if (p == NULL) {
    registry_model_unref(model);
    respond_error(io, req, route, t0, 500, out_fmt, "out of memory");
    return;
  }
  *p = (pending_t){.io = io,
                   .req = req,
                   .conn = req->conn,
                   .model = model,
                   .out_fmt = out_fmt,
                   .v2 = v2,
                   .route = route,
                   .metrics_slot = slot,
                   .t0 = t0,
                   .json_len = json_len,
                   .in_flight = 1,
                   .compressed = coding == CONTENT_COMPRESSED,
                   .in_fmt = API_JSON};
  if (!v2) body_format(p, req);
  p->job.deadline = t0 + io->s->cfg->deadline_ms * 1e-3; /* from arrival, decoding included */
  metrics_inflight_add(io->s->metrics, 1);
  p->slot = h2o_mem_alloc_shared(&req->pool, sizeof *p->slot, on_request_dispose);
  *p->slot = p;
  h2o_linklist_insert(&io->pending, &p->link);
  h2o_linklist_insert(&io->to_decode, &p->decode_link);
  if (!h2o_timeout_is_linked(&io->flush_entry))
    h2o_timeout_link(io->evloop, &io->flush_timeout, &io->flush_entry);
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
