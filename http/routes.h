/*
 * The route table: method + path pattern -> handler, for every endpoint of the daemon.
 * Paths that match no route fall through to the UI's static files, except under the
 * API's own prefixes (/v1, /v2, /predict, /metrics, /admin/...), which answer 404/405.
 */
#ifndef GROVE_HTTP_ROUTES_H
#define GROVE_HTTP_ROUTES_H

#include <h2o.h>

/* Result of routes_dispatch() for a request no route claims: h2o then asks the next
 * handler (the static files). */
#define ROUTES_DECLINED (-1)

/* h2o's on_req: answers REQ through its route's handler, or returns ROUTES_DECLINED. */
int routes_dispatch(h2o_handler_t *self, h2o_req_t *req);

#endif /* GROVE_HTTP_ROUTES_H */
