/*
 * The API's entry points: each picks the codec for the request's protocol and format and
 * owns the request's life (reset before a decoder runs, freed when one fails), so no codec
 * needs to know another or this file.
 */
#include <ctype.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "api.h"
#include "codecs.h"

/* The one place a request's defaults are set: every decoder starts from this. */
static void request_reset(api_request_t *req) {
  memset(req, 0, sizeof *req);
  req->labels = 1;
}

/* A request for a model with SCHEMA starts from the schema's defaults. */
static void request_start(api_request_t *req, const grove_schema_t *schema) {
  request_reset(req);
  req->unknown_missing = schema != NULL && schema->unknown_missing;
}

void api_request_free(api_request_t *req) {
  if (req == NULL) return;
  free(req->rows);
  free(req->rows64);
  free(req->inexact);
  free(req->id);
  free(req->contribs);
  free(req->leaf_ids);
  for (size_t r = 0; req->row_errors != NULL && r < req->nrows; r++) free(req->row_errors[r]);
  free(req->row_errors);
  request_reset(req);
}

void api_body_free(api_body_t *body) {
  if (body == NULL) return;
  free(body->data);
  body->data = NULL;
  body->len = 0;
  body->inference_header_len = 0;
}

static int media_type_is(const char *s, size_t len, const char *type) {
  size_t n = strlen(type);
  if (len != n) return 0;
  for (size_t i = 0; i < n; i++)
    if (tolower((unsigned char)s[i]) != type[i]) return 0;
  return 1;
}

/* Content-Type is one media type; Accept is a list: the first JSON or msgpack entry wins. */
api_format_t api_format_from_header(const char *value, size_t len) {
  if (value == NULL) return API_JSON;
  size_t i = 0;
  while (i < len) {
    while (i < len && (value[i] == ' ' || value[i] == '\t' || value[i] == ',')) i++;
    size_t start = i;
    while (i < len && value[i] != ';' && value[i] != ',') i++;
    size_t end = i;
    while (end > start && (value[end - 1] == ' ' || value[end - 1] == '\t')) end--;
    if (media_type_is(value + start, end - start, "application/msgpack") ||
        media_type_is(value + start, end - start, "application/x-msgpack") ||
        media_type_is(value + start, end - start, "application/vnd.msgpack"))
      return API_MSGPACK;
    if (media_type_is(value + start, end - start, "application/json")) return API_JSON;
    if (media_type_is(value + start, end - start, "application/x-www-form-urlencoded"))
      return API_FORM;
    if (media_type_is(value + start, end - start, "multipart/form-data")) return API_MULTIPART;
    if (media_type_is(value + start, end - start, "text/html")) return API_HTML;
    while (i < len && value[i] != ',') i++; /* skip parameters */
  }
  return API_JSON;
}

/* Explanations asked for: the model must be able to give them (422 with the engine's
 * reason: the request is well formed, this model cannot answer it) and they must fit the
 * limits (413), checked before anything is allocated for them. */
static int explain_prepare(const grove_forest_t *forest, const api_limits_t *limits,
                           api_request_t *req, api_error_t *err) {
  if (!req->explain && !req->leaves) return 0;
  grove_error_t gerr = {{0}};
  if (req->explain && grove_forest_explainable(forest, &gerr) != GROVE_OK)
    return api__fail(err, 422, "this model cannot be explained: %s", gerr.msg);
  grove_forest_info_t info;
  grove_forest_get_info(forest, &info);
  const size_t width = req->explain ? grove_forest_contribs_width(forest) : 0;
  const size_t trees = req->leaves ? info.num_trees : 0, n = req->nrows;
  const size_t per_row = width + trees; /* both below 2^32 each: no overflow */
  const size_t max = limits != NULL && limits->max_explain_values > 0 ? limits->max_explain_values
                                                                      : SIZE_MAX / sizeof(double);
  if (per_row > 0 && n > max / per_row)
    return api__fail(err, 413,
                     "explaining %zu rows takes %zu values each; at most %zu values in one "
                     "request: send fewer rows",
                     n, per_row, max);
  if (width > 0 && (req->contribs = malloc(n * width * sizeof(double))) == NULL)
    return api__fail(err, 500, "out of memory for the contributions of %zu rows", n);
  /* (A model without trees still answers its rows' empty lists of leaves.) */
  if (req->leaves && (req->leaf_ids = malloc((n * trees + 1) * sizeof(uint32_t))) == NULL)
    return api__fail(err, 500, "out of memory for the leaves of %zu rows", n);
  return 0;
}

/* Runs DECODE's result through the common rule: a failed decoder leaves nothing behind;
 * explanations asked for are checked and allocated. */
static int decoded(int rc, const grove_forest_t *forest, const api_limits_t *limits,
                   api_request_t *req, api_error_t *err) {
  if (rc == 0 && explain_prepare(forest, limits, req, err) == 0) return 0;
  api_request_free(req);
  return -1;
}

int api_decode_v1(const char *body, size_t len, api_format_t fmt, const grove_forest_t *forest,
                  const grove_schema_t *schema, const api_limits_t *limits, api_request_t *req,
                  api_error_t *err) {
  request_start(req, schema);
  return decoded(fmt == API_MSGPACK
                     ? api__msgpack_decode_v1(body, len, forest, schema, limits, req, err)
                     : api__json_decode_v1(body, len, forest, schema, limits, req, err),
                 forest, limits, req, err);
}

int api_decode_form(const char *body, size_t len, const char *content_type, size_t content_type_len,
                    const grove_forest_t *forest, const grove_schema_t *schema,
                    const api_limits_t *limits, api_request_t *req, api_error_t *err) {
  request_start(req, schema);
  int multipart = api_format_from_header(content_type, content_type_len) == API_MULTIPART;
  return decoded(api__form_decode(body, len, content_type, content_type_len, multipart, forest,
                                  schema, limits, req, err),
                 forest, limits, req, err);
}

int api_decode_v2_infer(const char *body, size_t len, size_t json_len, const grove_forest_t *forest,
                        const grove_schema_t *schema, const api_limits_t *limits,
                        api_request_t *req, api_error_t *err) {
  request_start(req, schema);
  return decoded(api__oip_decode_infer(body, len, json_len, forest, schema, limits, req, err),
                 forest, limits, req, err);
}

int api_encode_v1(const char *model_name, const grove_forest_t *forest,
                  const grove_schema_t *schema, const api_request_t *req, const float *out,
                  api_format_t fmt, api_body_t *body) {
  memset(body, 0, sizeof *body);
  api_answer_t a;
  api__answer_init(&a, model_name, forest, schema, req, out);
  api_v1_encode_fn *encode = fmt == API_MSGPACK ? api__msgpack_encode_v1
                             : fmt == API_HTML  ? api__html_encode_v1
                                                : api__json_encode_v1;
  return encode(&a, body);
}

int api_encode_v2_infer(const char *model_name, const grove_forest_t *forest,
                        const grove_schema_t *schema, const api_request_t *req, const float *out,
                        api_body_t *body) {
  memset(body, 0, sizeof *body);
  api_answer_t a;
  api__answer_init(&a, model_name, forest, schema, req, out);
  return api__oip_encode_infer(&a, body);
}

int api_encode_error(const char *message, api_format_t fmt, api_body_t *body) {
  memset(body, 0, sizeof *body);
  if (message == NULL) message = "error";
  api_error_encode_fn *encode = fmt == API_MSGPACK ? api__msgpack_encode_error
                                : fmt == API_HTML  ? api__html_encode_error
                                                   : api__json_encode_error;
  return encode(message, body);
}
