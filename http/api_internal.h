/*
 * What the API's format halves share: the per-format entry points that http/api.c
 * dispatches to, and the helpers every decoder and encoder uses so that JSON and msgpack
 * requests are checked the same way and refused with the same messages.
 */
#ifndef GROVE_API_INTERNAL_H
#define GROVE_API_INTERNAL_H

#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include "api.h"

/* ------------------------------------------------------------------------- */
/* Per-format halves (api_json.c, api_msgpack.c); arguments as in api.h.       */
/* The decoders get REQ zeroed with req->labels = 1, and BODY zeroed; on failure api.c   */
/* frees whatever a decoder left in REQ.                                                */

int api_json_decode_v1(const char *body, size_t len, const grove_forest_t *forest, const grove_schema_t *schema,
                       const api_limits_t *limits, api_request_t *req, api_error_t *err);
/* The fast path for {"rows": [[...]]} alone: 0 when it decoded BODY, 1 when it leaves it
 * (REQ untouched) to the json-c path. */
int api_json_decode_rows_fast(const char *body, size_t len, const grove_forest_t *forest,
                              const grove_schema_t *schema, const api_limits_t *limits, api_request_t *req,
                              api_error_t *err);
/* The same through json-c alone, without the fast path for plain rows (tests compare them). */
int api_json_decode_v1_generic(const char *body, size_t len, const grove_forest_t *forest,
                               const grove_schema_t *schema, const api_limits_t *limits, api_request_t *req,
                               api_error_t *err);
int api_json_encode_v1(const char *model_name, const grove_forest_t *forest, const grove_schema_t *schema,
                       const api_request_t *req, const float *out, api_body_t *body);
int api_json_encode_error(const char *message, api_body_t *body);

int api_msgpack_decode_v1(const char *body, size_t len, const grove_forest_t *forest,
                          const grove_schema_t *schema, const api_limits_t *limits, api_request_t *req,
                          api_error_t *err);
int api_msgpack_encode_v1(const char *model_name, const grove_forest_t *forest, const grove_schema_t *schema,
                          const api_request_t *req, const float *out, api_body_t *body);
int api_msgpack_encode_error(const char *message, api_body_t *body);

/* ------------------------------------------------------------------------- */
/* Errors                                                                     */

/* Fills ERR (the message is cut to fit) and returns -1. */
int api_fail(api_error_t *err, int status, const char *fmt, ...) __attribute__((format(printf, 3, 4)));

/* ------------------------------------------------------------------------- */
/* Decoding helpers (api.c)                                                  */

/* Bytes of a user-supplied string quoted in a message, at most. */
#define API_QUOTE_MAX 48

/* Where a value sits, for messages: "row 3, feature 'age'" / "record 0, feature 'f2'". */
typedef struct {
  const char *what;   /* "row", "record" */
  size_t index;       /* 0-based */
  uint32_t feature;
} api_loc_t;

/* Writes feature J's name (or "f<J>" when the model and schema have none) to BUF. */
/* The features' names, as many as fit in BUF (then "..."), for "unknown feature" messages. */
const char *api_feature_list(const grove_forest_t *forest, const grove_schema_t *schema, char *buf, size_t size);

const char *api_feature_label(const grove_forest_t *forest, const grove_schema_t *schema, uint32_t j, char *buf,
                              size_t size);

/* Index of the feature called NAME (LEN bytes): the model's names, else the schema's, else
 * "f0".."f<n-1>". -1 when unknown. */
int32_t api_feature_lookup(const grove_forest_t *forest, const grove_schema_t *schema, const char *name,
                           size_t len);

/* 1 when feature J takes category codes (the schema's type when there is a schema). */
int api_feature_is_categorical(const grove_forest_t *forest, const grove_schema_t *schema, uint32_t j);

/* Checks the row count against LIMITS (0 rows: 400, too many: 413), then allocates
 * req->rows (NROWS x num_features, all NaN) and sets nrows / num_features. */
int api_alloc_rows(size_t nrows, const grove_forest_t *forest, const api_limits_t *limits, api_request_t *req,
                   api_error_t *err);

/* Stores number D at *DST as float32 (the one rounding numpy does); NaN and values beyond
 * float32's range are refused with a message naming LOC. */
int api_put_number(double d, const grove_forest_t *forest, const grove_schema_t *schema, const api_loc_t *loc,
                   float *dst, api_error_t *err);

/* Stores integer category code CODE of the categorical feature at LOC (0 <= code < 2^24, and
 * below the schema's category count when there is a schema). */
int api_put_category_code(double code, const grove_forest_t *forest, const grove_schema_t *schema,
                          const api_loc_t *loc, float *dst, api_error_t *err);

/* Stores the code of category string S (LEN bytes) of the feature at LOC: the feature must
 * be categorical with schema categories; unknown strings are refused, naming a few valid ones. */
int api_put_category_string(const char *s, size_t len, const grove_forest_t *forest,
                            const grove_schema_t *schema, const api_loc_t *loc, float *dst, api_error_t *err);

/* ------------------------------------------------------------------------- */
/* Encoding helpers (api.c)                                                  */

/* Class index of output column COL of a row (binary models) or of the whole row OUT (WIDTH
 * floats; multi-class models): -1 when the model is not a classifier or the row is NaN.
 * Binary: p > 0.5 (margins, and binary:logitraw scores: m > 0); softprob and multi-class
 * margins: argmax; softmax: the class index itself. */
int32_t api_class_index(const grove_forest_t *forest, const api_request_t *req, const float *out, uint32_t width,
                        uint32_t col);

/* 1 when the response carries labels: a classifier and req->labels. */
int api_wants_labels(const grove_forest_t *forest, const api_request_t *req);

/* A growing output buffer; a failed allocation sticks in FAILED and later writes do nothing. */
typedef struct {
  char *data;
  size_t len, cap;
  int failed;
} api_buf_t;

int api_buf_reserve(api_buf_t *b, size_t more);
void api_buf_put(api_buf_t *b, const void *p, size_t n);
void api_buf_puts(api_buf_t *b, const char *s);
void api_buf_printf(api_buf_t *b, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
/* A JSON string literal: quotes, escapes, and U+FFFD for bytes that are not UTF-8. */
void api_buf_json_string(api_buf_t *b, const char *s, size_t len);
/* A float32 as a JSON number with 9 significant digits (round-trips); NaN is null and
 * infinities are written as 1e999 / -1e999, which JSON parsers read back as infinities. */
void api_buf_json_float(api_buf_t *b, float v);
/* Moves the buffer into BODY (NUL-terminated, not counted in len); frees it on failure. */
int api_buf_finish(api_buf_t *b, const char *content_type, api_body_t *body);

#endif /* GROVE_API_INTERNAL_H */
