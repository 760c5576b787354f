/* Reading a request: headers, the formats it asks for, its method. */
#include "request.h"

#include <string.h>

int request_header(h2o_req_t *req, const h2o_token_t *token, const char **value, size_t *len) {
  ssize_t i = h2o_find_header(&req->headers, token, -1);
  if (i < 0) return 0;
  *value = req->headers.entries[i].value.base;
  *len = req->headers.entries[i].value.len;
  return 1;
}

api_format_t request_format(h2o_req_t *req, const h2o_token_t *token) {
  const char *v;
  size_t n;
  return request_header(req, token, &v, &n) ? api_format_from_header(v, n) : API_JSON;
}

int request_method_is(h2o_req_t *req, const char *m) {
  return h2o_memis(req->method.base, req->method.len, m, strlen(m));
}
