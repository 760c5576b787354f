/*
 * Internal to http/: the request handlers the route table (routes.c) points to, one file
 * per family: handle_predict.c (predict, infer), handle_models.c (metadata, health,
 * metrics), handle_admin.c (reload, config, the dashboard). A handler always answers
 * REQ, now or later from its loop; T0 is when the request arrived (batcher_now()).
 */
#ifndef GROVE_HTTP_HANDLERS_H
#define GROVE_HTTP_HANDLERS_H

#include "server_internal.h"

/* What the route's pattern captured: {name} and {version} path segments (empty if none). */
typedef struct {
  h2o_iovec_t name;
  h2o_iovec_t version;
} route_match_t;

typedef void (*handler_fn)(io_thread_t *io, h2o_req_t *req, const route_match_t *m, double t0);

/* handle_predict.c */
void handle_predict_v1(io_thread_t *io, h2o_req_t *req, const route_match_t *m, double t0);
void handle_predict_default(io_thread_t *io, h2o_req_t *req, const route_match_t *m, double t0);
void handle_infer_v2(io_thread_t *io, h2o_req_t *req, const route_match_t *m, double t0);
/* Decodes and queues the predictions IO received in this pass of reads (its flush timeout:
 * after h2o has read every frame, so streams reset meanwhile are dropped unread). */
void handle_predict_flush(io_thread_t *io);
/* Answers the predictions whose scores the workers have handed back to IO (its wake-up). */
void handle_predict_complete(io_thread_t *io);
/* Answers IO's predictions past their deadline with 504; GIVE_UP (shutdown's grace is
 * over): cancels every job and answers the rest with 503. */
void handle_predict_expire(io_thread_t *io, double now, int give_up);
/* 1 when IO has no prediction in flight. */
int handle_predict_idle(io_thread_t *io);

/* handle_models.c */
void handle_models_v1(io_thread_t *io, h2o_req_t *req, const route_match_t *m, double t0);
void handle_model_v1(io_thread_t *io, h2o_req_t *req, const route_match_t *m, double t0);
void handle_model_v2(io_thread_t *io, h2o_req_t *req, const route_match_t *m, double t0);
void handle_server_v2(io_thread_t *io, h2o_req_t *req, const route_match_t *m, double t0);
void handle_live(io_thread_t *io, h2o_req_t *req, const route_match_t *m, double t0);
void handle_ready(io_thread_t *io, h2o_req_t *req, const route_match_t *m, double t0);
void handle_model_ready(io_thread_t *io, h2o_req_t *req, const route_match_t *m, double t0);
void handle_metrics(io_thread_t *io, h2o_req_t *req, const route_match_t *m, double t0);

/* handle_admin.c */
void handle_admin_page(io_thread_t *io, h2o_req_t *req, const route_match_t *m, double t0);
void handle_admin_reload(io_thread_t *io, h2o_req_t *req, const route_match_t *m, double t0);
void handle_admin_config(io_thread_t *io, h2o_req_t *req, const route_match_t *m, double t0);

#endif /* GROVE_HTTP_HANDLERS_H */
