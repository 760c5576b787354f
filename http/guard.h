/*
 * What every request must pass before it is routed: HTTP/1 framing that could smuggle a
 * second request, a body over --max-body, control bytes in the path. And h2o's own protocol
 * errors (its 413 for an oversized body, its 400 for broken chunked framing) answered as
 * JSON like every other error.
 */
#ifndef GROVE_HTTP_GUARD_H
#define GROVE_HTTP_GUARD_H

#include "server_internal.h"

/* Answers REQ with a 4xx and returns 1 when it may not go further (see above). */
int guard_refuses(io_thread_t *io, h2o_req_t *req, double t0);

/* The h2o limit on bodies to configure for a --max-body of MAX_BODY: larger, so that bodies
 * somewhat over the limit reach guard_refuses and get its JSON 413 (h2o 2.2.5 resets an
 * HTTP/2 stream past its own limit, which clients take as "retry"). */
size_t guard_h2o_body_limit(size_t max_body);

/* Rewrites the error answers h2o sends before any handler runs (they go through HOSTCONF's
 * fallback path) as {"error": ...} JSON; MAX_BODY is named in the 413's message. */
void guard_register_error_filter(h2o_hostconf_t *hostconf, size_t max_body);

#endif /* GROVE_HTTP_GUARD_H */
