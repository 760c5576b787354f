/*
 * Answers: every response the daemon sends goes through here, so each carries
 * Server-Timing, is counted in the metrics by route and status, is access-logged when
 * asked, and closes its connection while the server drains.
 */
#ifndef GROVE_HTTP_RESPOND_H
#define GROVE_HTTP_RESPOND_H

#include "server_internal.h"

/* Sends STATUS with LEN bytes of BODY (copied) as CONTENT_TYPE. T0: when the request
 * arrived (batcher_now()), for the latency histogram and Server-Timing. */
void respond_bytes(io_thread_t *io, h2o_req_t *req, metrics_route_t route, double t0, int status,
                   const char *content_type, const char *body, size_t len);

/* Sends BODY (with Inference-Header-Content-Length when it has one) and frees it. */
void respond_api_body(io_thread_t *io, h2o_req_t *req, metrics_route_t route, double t0, int status,
                      api_body_t *body);

/* Sends {"error": MESSAGE} in FMT (JSON or msgpack). */
void respond_error(io_thread_t *io, h2o_req_t *req, metrics_route_t route, double t0, int status,
                   api_format_t fmt, const char *message);

/* Sends the NUL-terminated JSON text JSON. */
void respond_json(io_thread_t *io, h2o_req_t *req, metrics_route_t route, double t0, int status,
                  const char *json);

#endif /* GROVE_HTTP_RESPOND_H */
