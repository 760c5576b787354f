/* Reading a request: headers, the formats it asks for, its method. */
#ifndef GROVE_HTTP_REQUEST_H
#define GROVE_HTTP_REQUEST_H

#include <h2o.h>

#include "api.h"

/* 1 with *VALUE / *LEN set when REQ has header TOKEN (the first one), else 0. */
int request_header(h2o_req_t *req, const h2o_token_t *token, const char **value, size_t *len);

/* The format a Content-Type or Accept header (TOKEN) names; JSON when absent. */
api_format_t request_format(h2o_req_t *req, const h2o_token_t *token);

/* 1 when REQ's method is M. */
int request_method_is(h2o_req_t *req, const char *m);

#endif /* GROVE_HTTP_REQUEST_H */
