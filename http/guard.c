/* Checks before routing, and h2o's own errors as JSON (guard.h). */
#include "guard.h"

#include <stdio.h>
#include <string.h>

#include "respond.h"

static int is_name(const char *s, size_t len, const char *name) {
  return len == strlen(name) && h2o_lcstris(s, len, name, len);
}

/*
 * HTTP/1 framing that two parsers could read differently (RFC 9112 6.3): more than one
 * Content-Length, more than one Transfer-Encoding, or both. h2o 2.2.5 takes the first
 * Content-Length, or the chunked encoding over it, and keeps neither header for the
 * handler; so the check reads the request's header block as the client sent it, which h2o
 * leaves at the start of the socket's input buffer until the response is done (it parses it
 * in place and consumes it afterwards).
 */
static int http1_framing_conflict(h2o_req_t *req) {
  if (req->version >= 0x200) return 0;
  h2o_socket_t *sock = req->conn->callbacks->get_socket(req->conn);
  if (sock == NULL || sock->input == NULL) return 0;
  const char *p = sock->input->bytes, *end = p + sock->input->size;
  while (p < end && (*p == '\r' || *p == '\n')) p++; /* empty lines a client may send first */
  const char *line_end = memchr(p, '\n', (size_t)(end - p)); /* the request line */
  int lengths = 0, encodings = 0;
  while (line_end != NULL && (p = line_end + 1) < end) {
    line_end = memchr(p, '\n', (size_t)(end - p));
    const char *stop = line_end ? line_end : end;
    if (stop > p && stop[-1] == '\r') stop--;
    if (stop == p) break; /* the empty line that ends the header block */
    const char *colon = memchr(p, ':', (size_t)(stop - p));
    if (colon == NULL) continue;
    lengths += is_name(p, (size_t)(colon - p), "content-length");
    encodings += is_name(p, (size_t)(colon - p), "transfer-encoding");
  }
  return lengths > 1 || encodings > 1 || (lengths > 0 && encodings > 0);
}

static int has_control_byte(h2o_iovec_t s) {
  for (size_t i = 0; i < s.len; i++)
    if ((unsigned char)s.base[i] < 0x20 || s.base[i] == 0x7f) return 1;
  return 0;
}

int guard_refuses(io_thread_t *io, h2o_req_t *req, double t0) {
  h2o_add_header_by_str(&req->pool, &req->res.headers, H2O_STRLIT("x-content-type-options"), 0,
                        NULL, H2O_STRLIT("nosniff"));
  char msg[200];
  int status = 0;
  if (http1_framing_conflict(req)) {
    status = 400;
    snprintf(msg, sizeof msg,
             "conflicting Content-Length / Transfer-Encoding headers: the request's length is "
             "ambiguous");
    req->http1_is_persistent = 0; /* what follows on this connection cannot be trusted */
  } else if (req->entity.base != NULL && req->entity.len > io->s->max_body) {
    status = 413;
    snprintf(msg, sizeof msg,
             "the request body of %zu bytes is larger than the --max-body limit of %zu bytes",
             req->entity.len, io->s->max_body);
  } else if (has_control_byte(req->path_normalized)) {
    status = 400;
    snprintf(msg, sizeof msg, "the path holds a control character");
  }
  if (status == 0) return 0;
  respond_error(io, req, METRICS_ROUTE_OTHER, t0, status, API_JSON, msg);
  return 1;
}

size_t guard_h2o_body_limit(size_t max_body) {
  size_t margin = max_body / 4 > (1u << 20) ? max_body / 4 : (1u << 20);
  return max_body > SIZE_MAX - margin ? SIZE_MAX : max_body + margin;
}

typedef struct {
  h2o_filter_t super;
  size_t max_body;
} error_filter_t;

typedef struct {
  h2o_ostream_t super;
  size_t max_body;
} json_error_ostream_t;

/* The error body h2o sends (plain text) becomes {"error": ...}. */
static void send_as_json(h2o_ostream_t *self, h2o_req_t *req, h2o_iovec_t *bufs, size_t nbufs,
                         h2o_send_state_t state) {
  json_error_ostream_t *o = (json_error_ostream_t *)self;
  char text[256];
  size_t n = 0;
  for (size_t i = 0; i < nbufs && n < sizeof text - 1; i++) {
    size_t take = bufs[i].len < sizeof text - 1 - n ? bufs[i].len : sizeof text - 1 - n;
    memcpy(text + n, bufs[i].base, take);
    n += take;
  }
  text[n] = '\0';
  char msg[300];
  if (req->res.status == 413)
    snprintf(msg, sizeof msg, "the request body is larger than the --max-body limit of %zu bytes",
             o->max_body);
  else
    snprintf(msg, sizeof msg, "the request is malformed: %s", n ? text : req->res.reason);
  api_body_t body;
  h2o_iovec_t out = {NULL, 0};
  if (api_encode_error(msg, API_JSON, &body) == 0) {
    out = h2o_strdup(&req->pool, body.data, body.len);
    api_body_free(&body);
  }
  req->res.content_length =
      out.len; /* headers are written by the protocol's own ostream, after this */
  h2o_ostream_send_next(self, req, &out, out.len ? 1 : 0, state);
}

static void on_setup_ostream(h2o_filter_t *self, h2o_req_t *req, h2o_ostream_t **slot) {
  if (req->res.status >= 400) {
    ssize_t i = h2o_find_header(&req->res.headers, H2O_TOKEN_CONTENT_TYPE, -1);
    if (i >= 0) req->res.headers.entries[i].value = h2o_iovec_init(H2O_STRLIT("application/json"));
    h2o_add_header_by_str(&req->pool, &req->res.headers, H2O_STRLIT("x-content-type-options"), 0,
                          NULL, H2O_STRLIT("nosniff"));
    json_error_ostream_t *o = (json_error_ostream_t *)h2o_add_ostream(req, sizeof *o, slot);
    o->super.do_send = send_as_json;
    o->max_body = ((error_filter_t *)self)->max_body;
    slot = &o->super.next;
  }
  h2o_setup_next_ostream(req, slot);
}

void guard_register_error_filter(h2o_hostconf_t *hostconf, size_t max_body) {
  error_filter_t *f = (error_filter_t *)h2o_create_filter(&hostconf->fallback_path, sizeof *f);
  f->super.on_setup_ostream = on_setup_ostream;
  f->max_body = max_body;
}
