/* Answers: Server-Timing, metrics, access log and draining in one place (respond.h). */
#include "respond.h"

#include <stdio.h>
#include <string.h>

#include "log.h"

static const char *reason_of(int status) {
  switch (status) {
    case 200:
      return "OK";
    case 400:
      return "Bad Request";
    case 401:
      return "Unauthorized";
    case 403:
      return "Forbidden";
    case 404:
      return "Not Found";
    case 405:
      return "Method Not Allowed";
    case 413:
      return "Payload Too Large";
    case 415:
      return "Unsupported Media Type";
    case 422:
      return "Unprocessable Entity";
    case 429:
      return "Too Many Requests";
    case 500:
      return "Internal Server Error";
    case 503:
      return "Service Unavailable";
    case 504:
      return "Gateway Timeout";
    default:
      return "Unknown";
  }
}

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
void respond_bytes(io_thread_t *io, h2o_req_t *req, metrics_route_t route, double t0, int status,
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
  h2o_add_header_by_str(&req->pool, &req->res.headers, H2O_STRLIT("server-timing"), 0, NULL, timing,
                        tn);
  h2o_add_header(&req->pool, &req->res.headers, H2O_TOKEN_CONTENT_TYPE, NULL, content_type,
                 strlen(content_type));
  req->res.content_length = len;
  if (io->s->cfg->access_log)
    log_event("info", "access", "method=%.*s path=\"%.*s\" status=%d bytes=%zu ms=%.3f",
              (int)req->method.len, req->method.base,
              (int)(req->path.len > 200 ? 200 : req->path.len), req->path.base, status, len,
              seconds * 1e3);
  metrics_request_done(io->s->metrics, route, status, seconds);
  h2o_send_inline(req, body, len);
}

void respond_api_body(io_thread_t *io, h2o_req_t *req, metrics_route_t route, double t0, int status,
                      api_body_t *body) {
  if (body->inference_header_len > 0) {
    char v[32];
    int n = snprintf(v, sizeof v, "%zu", body->inference_header_len);
    h2o_add_header_by_str(&req->pool, &req->res.headers,
                          H2O_STRLIT("inference-header-content-length"), 0, NULL,
                          h2o_strdup(&req->pool, v, (size_t)n).base, (size_t)n);
  }
  respond_bytes(io, req, route, t0, status, body->content_type, body->data, body->len);
  api_body_free(body);
}

void respond_error(io_thread_t *io, h2o_req_t *req, metrics_route_t route, double t0, int status,
                   api_format_t fmt, const char *message) {
  api_body_t body = {0};
  if (api_encode_error(message, fmt, &body) != 0) {
    static const char fallback[] = "{\"error\":\"out of memory\"}";
    respond_bytes(io, req, route, t0, 500, "application/json", fallback, sizeof fallback - 1);
    return;
  }
  respond_api_body(io, req, route, t0, status, &body);
}

void respond_json(io_thread_t *io, h2o_req_t *req, metrics_route_t route, double t0, int status,
                  const char *json) {
  respond_bytes(io, req, route, t0, status, "application/json", json, strlen(json));
}
