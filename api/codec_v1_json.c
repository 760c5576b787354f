/*
 * v1 JSON: {"rows": [[...]]} and {"records": [{...}]} requests, and the prediction and
 * error answers. Requests are parsed with json-c in strict mode, except plain
 * {"rows": [[...]]} bodies, which a small hand-written reader takes first
 * (api__json_decode_rows_fast, checked against json-c by tests and the fuzzer); answers
 * are written by hand into a growing buffer (big batches).
 */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "buf.h"
#include "codecs.h"
#include "json_read.h"

#define CONTENT_TYPE_JSON "application/json"

/* ------------------------------------------------------------------------- */
/* v1 requests                                                                */

typedef struct {
  const grove_forest_t *forest;
  const grove_schema_t *schema;
  api_error_t *err;
} v1_ctx_t;

/* Stores JSON value V (any type) at *dst for the feature at LOC. */
static int put_value(const v1_ctx_t *c, json_object *v, const api_loc_t *loc, float *dst) {
  char name[API_QUOTE_MAX + 16];
  if (v == NULL || json_object_is_type(v, json_type_null)) return 0; /* missing: stays NaN */
  int categorical = api__feature_is_categorical(c->forest, c->schema, loc->feature);
  if (api__json_is_number(v)) {
    double d;
    if (api__json_number_value(v, &d) != 0)
      return api__fail(c->err, 400, "%s %zu, feature '%s': integer out of range", loc->what,
                       loc->index,
                       api__feature_label(c->forest, c->schema, loc->feature, name, sizeof name));
    return categorical ? api__put_category_code(d, c->forest, c->schema, loc, dst, c->err)
                       : api__put_number(d, c->forest, c->schema, loc, dst, c->err);
  }
  if (json_object_is_type(v, json_type_string))
    return api__put_category_string(json_object_get_string(v),
                                    (size_t)json_object_get_string_len(v), c->forest, c->schema,
                                    loc, dst, c->err);
  return api__fail(c->err, 400, "%s %zu, feature '%s': expected %s or null, got %s", loc->what,
                   loc->index,
                   api__feature_label(c->forest, c->schema, loc->feature, name, sizeof name),
                   categorical ? "a category string or code" : "a number", api__json_type_name(v));
}

/* Row R, an array of values in feature order, into req->rows. */
static int decode_row(const v1_ctx_t *c, json_object *row, size_t r, api_request_t *req) {
  uint32_t nf = req->num_features;
  if (!json_object_is_type(row, json_type_array))
    return api__fail(c->err, 400, "row %zu: expected an array of %u values, got %s", r, nf,
                     api__json_type_name(row));
  size_t m = json_object_array_length(row);
  if (m != nf)
    return api__fail(c->err, 400, "row %zu: %zu values, the model has %u features", r, m, nf);
  for (uint32_t j = 0; j < nf; j++) {
    api_loc_t loc = {"row", r, j};
    if (put_value(c, json_object_array_get_idx(row, j), &loc, &req->rows[r * nf + j]) != 0)
      return -1;
  }
  return 0;
}

/* Record R, an object of feature: value, into req->rows (absent features stay missing). */
static int decode_record(const v1_ctx_t *c, json_object *rec, size_t r, api_request_t *req) {
  uint32_t nf = req->num_features;
  if (!json_object_is_type(rec, json_type_object))
    return api__fail(c->err, 400, "record %zu: expected an object of feature: value, got %s", r,
                     api__json_type_name(rec));
  uint32_t next = 0; /* keys usually come in feature order: try the next feature first */
  json_object_object_foreach(rec, key, val) {
    const char *expected = next < nf ? grove_forest_feature_name(c->forest, next) : NULL;
    int32_t j = expected != NULL && strcmp(expected, key) == 0
                    ? (int32_t)next
                    : api__feature_lookup(c->forest, c->schema, key, strlen(key));
    if (j < 0) {
      char some[120];
      return api__fail(c->err, 400, "record %zu: unknown feature \"%.*s\" (features: %s)", r,
                       API_QUOTE_MAX, key,
                       api__feature_list(c->forest, c->schema, some, sizeof some));
    }
    next = (uint32_t)j + 1;
    api_loc_t loc = {"record", r, (uint32_t)j};
    if (put_value(c, val, &loc, &req->rows[r * nf + (uint32_t)j]) != 0) return -1;
  }
  return 0;
}

/* The elements of ARRAY (rows or records, by DECODE) into req->rows. */
static int decode_array(const v1_ctx_t *c, json_object *array, const api_limits_t *limits,
                        api_request_t *req,
                        int (*decode)(const v1_ctx_t *, json_object *, size_t, api_request_t *)) {
  size_t n = json_object_array_length(array);
  if (api__alloc_rows(n, c->forest, limits, req, c->err) != 0) return -1;
  for (size_t r = 0; r < n; r++)
    if (decode(c, json_object_array_get_idx(array, r), r, req) != 0) return -1;
  return 0;
}

/*
 * The fast path for the common shape {"rows": [[number|null, ...], ...]}, optionally with
 * "margin" / "labels" booleans. json-c builds an object per number, and that with its
 * allocations was ~15% of the server's CPU on one-row requests. It takes only strict JSON
 * of exactly that shape and gives the same rows as the json-c path (the same number
 * conversion and the same checks, api__put_number / api__put_category_code); for anything
 * else, every error included, it returns 1 and leaves REQ as it found it, so that the
 * json-c path decides and words the message. tests/test_api_json.c and the api_json fuzz
 * target compare the two paths.
 */
typedef struct {
  const char *p, *end;
} cursor_t;

static void skip_space(cursor_t *c) {
  while (c->p < c->end && api__json_is_space(*c->p)) c->p++;
}

/* Consumes literal S (after whitespace); 0 on success. */
static int take(cursor_t *c, const char *s) {
  skip_space(c);
  size_t n = strlen(s);
  if ((size_t)(c->end - c->p) < n || memcmp(c->p, s, n) != 0) return -1;
  c->p += n;
  return 0;
}

/* A key without escapes or control characters; 0 on success. */
static int take_key(cursor_t *c, const char **key, size_t *len) {
  if (take(c, "\"") != 0) return -1;
  const char *start = c->p;
  while (c->p < c->end && *c->p != '"') {
    if (*c->p == '\\' || (unsigned char)*c->p < 0x20) return -1;
    c->p++;
  }
  if (c->p == c->end) return -1;
  *key = start;
  *len = (size_t)(c->p++ - start);
  return take(c, ":");
}

static int take_bool(cursor_t *c, int *out) {
  if (take(c, "true") == 0) return *out = 1, 0;
  if (take(c, "false") == 0) return *out = 0, 0;
  return -1;
}

/*
 * A strict JSON number or null, as the json-c path reads it: integers of up to 18 digits
 * as int64 (json-c's int type, which number_value rounds straight to float32), the rest
 * with strtod. *missing is set for null. 0 on success.
 */
static int take_value(cursor_t *c, double *out, int *missing) {
  skip_space(c);
  *missing = 0;
  if (take(c, "null") == 0) return *missing = 1, 0;
  const char *q = c->p, *start = c->p;
  if (q < c->end && *q == '-') q++;
  if (q == c->end || *q < '0' || *q > '9') return -1;
  const char *digits = q;
  if (*q == '0')
    q++;
  else
    while (q < c->end && *q >= '0' && *q <= '9') q++;
  const int integer_digits = (int)(q - digits);
  int integral = 1;
  if (q < c->end && *q == '.') {
    integral = 0;
    if (++q == c->end || *q < '0' || *q > '9') return -1;
    while (q < c->end && *q >= '0' && *q <= '9') q++;
  }
  if (q < c->end && (*q == 'e' || *q == 'E')) {
    integral = 0;
    if (++q < c->end && (*q == '+' || *q == '-')) q++;
    if (q == c->end || *q < '0' || *q > '9') return -1;
    while (q < c->end && *q >= '0' && *q <= '9') q++;
  }
  char text[64];
  if ((size_t)(q - start) >= sizeof text || (integral && integer_digits > 18)) return -1;
  c->p = q;
  if (integral) { /* at most 18 digits: exact in int64, summed here rather than by strtoll */
    int64_t v = 0;
    for (const char *d = digits; d < q; d++) v = v * 10 + (*d - '0');
    *out = (double)(float)(digits > start ? -v : v);
    return 0;
  }
  memcpy(text, start, (size_t)(q - start));
  text[q - start] = '\0';
  *out = strtod(text, NULL);
  return 0;
}

/* What the fast path reads rows for: the model, and which of its features take codes. */
typedef struct {
  const grove_forest_t *forest;
  const grove_schema_t *schema;
  const api_limits_t *limits;
  uint32_t nf;
  const uint8_t *categorical;
  api_error_t *err;
} fast_rows_t;

/* The array of rows after "rows": into *VALS (grown here; the caller frees it) and *N. */
static int take_rows(cursor_t *c, const fast_rows_t *f, float **vals, size_t *n) {
  const uint32_t nf = f->nf;
  size_t cap = 0;
  if (take(c, "[") != 0) return -1;
  do {
    if (take(c, "[") != 0) return -1;
    if (f->limits != NULL && f->limits->max_rows > 0 && *n >= f->limits->max_rows) return -1;
    if (*n == cap) {
      cap = cap ? 2 * cap : 4;
      float *grown = realloc(*vals, cap * nf * sizeof *grown);
      if (grown == NULL) return -1;
      *vals = grown;
    }
    for (uint32_t j = 0; j < nf; j++) {
      double d;
      int missing;
      float *dst = &(*vals)[*n * nf + j];
      if ((j > 0 && take(c, ",") != 0) || take_value(c, &d, &missing) != 0) return -1;
      *dst = NAN;
      api_loc_t loc = {"row", *n, j};
      if (!missing &&
          (f->categorical[j] ? api__put_category_code(d, f->forest, f->schema, &loc, dst, f->err)
                             : api__put_number(d, f->forest, f->schema, &loc, dst, f->err)) != 0)
        return -1;
    }
    if (take(c, "]") != 0) return -1;
    (*n)++;
  } while (take(c, ",") == 0);
  return take(c, "]");
}

int api__json_decode_rows_fast(const char *body, size_t len, const grove_forest_t *forest,
                               const grove_schema_t *schema, const api_limits_t *limits,
                               api_request_t *req, api_error_t *err) {
  cursor_t c = {body, body + len};
  grove_forest_info_t info;
  grove_forest_get_info(forest, &info);
  const uint32_t nf = info.num_features;
  int margin = req->margin, labels = req->labels, seen_rows = 0, seen_margin = 0, seen_labels = 0;
  float *vals = NULL;
  size_t n = 0;
  if (nf == 0 || nf > 4096 || take(&c, "{") != 0) return 1;
  uint8_t categorical[4096];
  for (uint32_t j = 0; j < nf; j++)
    categorical[j] = (uint8_t)api__feature_is_categorical(forest, schema, j);
  const fast_rows_t f = {forest, schema, limits, nf, categorical, err};
  for (int first = 1;; first = 0) {
    if (!first && take(&c, ",") != 0) break;
    const char *key;
    size_t klen;
    if (take_key(&c, &key, &klen) != 0) goto fallback;
    if (klen == 6 && memcmp(key, "margin", 6) == 0 && !seen_margin) {
      if (take_bool(&c, &margin) != 0) goto fallback;
      seen_margin = 1;
    } else if (klen == 6 && memcmp(key, "labels", 6) == 0 && !seen_labels) {
      if (take_bool(&c, &labels) != 0) goto fallback;
      seen_labels = 1;
    } else if (klen == 4 && memcmp(key, "rows", 4) == 0 && !seen_rows) {
      seen_rows = 1;
      if (take_rows(&c, &f, &vals, &n) != 0) goto fallback;
    } else {
      goto fallback;
    }
  }
  if (take(&c, "}") != 0 || !seen_rows || n == 0) goto fallback;
  skip_space(&c);
  if (c.p != c.end) goto fallback;
  free(req->rows);
  *req = (api_request_t){.rows = vals,
                         .nrows = n,
                         .num_features = nf,
                         .margin = margin,
                         .labels = labels,
                         .id = req->id,
                         .output_name = req->output_name,
                         .binary_output = req->binary_output};
  return 0;
fallback:
  free(vals);
  return 1;
}

int api__json_decode_v1(const char *body, size_t len, const grove_forest_t *forest,
                        const grove_schema_t *schema, const api_limits_t *limits,
                        api_request_t *req, api_error_t *err) {
  if (api__json_decode_rows_fast(body, len, forest, schema, limits, req, err) == 0) return 0;
  return api__json_decode_v1_generic(body, len, forest, schema, limits, req, err);
}

int api__json_decode_v1_generic(const char *body, size_t len, const grove_forest_t *forest,
                                const grove_schema_t *schema, const api_limits_t *limits,
                                api_request_t *req, api_error_t *err) {
  json_object *root = api__json_parse_object(body, len, err);
  if (root == NULL) return -1;
  v1_ctx_t c = {forest, schema, err};
  grove_forest_info_t info;
  grove_forest_get_info(forest, &info);
  req->num_features = info.num_features;
  json_object *rows = NULL, *records = NULL;
  int rc = 0;
  json_object_object_foreach(root, key, val) {
    if (strcmp(key, "rows") == 0) {
      rows = val;
    } else if (strcmp(key, "records") == 0) {
      records = val;
    } else if (strcmp(key, "margin") != 0 && strcmp(key, "labels") != 0) {
      rc = api__fail(err, 400,
                     "unknown key \"%.*s\": expected \"rows\" or \"records\", and optionally "
                     "\"margin\" and \"labels\"",
                     API_QUOTE_MAX, key);
      break;
    }
  }
  if (rc == 0) rc = api__json_get_bool(root, "margin", &req->margin, "", err);
  if (rc == 0) rc = api__json_get_bool(root, "labels", &req->labels, "", err);
  if (rc == 0 && rows != NULL && records != NULL)
    rc = api__fail(err, 400, "give \"rows\" or \"records\", not both");
  if (rc == 0 && rows == NULL && records == NULL)
    rc =
        api__fail(err, 400,
                  "expected {\"rows\": [[number|null, ...], ...]} in the model's feature order, or "
                  "{\"records\": [{\"feature\": value, ...}, ...]}");
  if (rc == 0 && rows != NULL) {
    rc = json_object_is_type(rows, json_type_array)
             ? decode_array(&c, rows, limits, req, decode_row)
             : api__fail(err, 400, "\"rows\" must be an array of arrays, got %s",
                         api__json_type_name(rows));
  }
  if (rc == 0 && records != NULL) {
    rc = json_object_is_type(records, json_type_array)
             ? decode_array(&c, records, limits, req, decode_record)
             : api__fail(err, 400, "\"records\" must be an array of objects, got %s",
                         api__json_type_name(records));
  }
  json_object_put(root);
  return rc;
}

/* ------------------------------------------------------------------------- */
/* Prediction responses                                                       */

/* Writes label COL of row R. */
static void put_label(api_buf_t *b, const api_answer_t *a, size_t r, uint32_t col) {
  int32_t k = api__answer_label(a, r, col);
  if (k < 0) return api_buf_put(b, "null", 4);
  if (a->schema != NULL && (uint32_t)k < a->schema->num_labels)
    return api_buf_json_string(b, a->schema->labels[k], strlen(a->schema->labels[k]));
  api_buf_printf(b, "%d", k);
}

/* Writes N floats of ROW: a number, or an array of them when N > 1. */
static void put_floats(api_buf_t *b, const float *row, uint32_t n) {
  if (n == 1) return api_buf_json_float(b, row[0]);
  api_buf_put(b, "[", 1);
  for (uint32_t k = 0; k < n; k++) {
    if (k) api_buf_put(b, ",", 1);
    api_buf_json_float(b, row[k]);
  }
  api_buf_put(b, "]", 1);
}

int api__json_encode_v1(const api_answer_t *a, api_body_t *body) {
  const size_t n = a->req->nrows;
  api_buf_t b = {0};
  if (n > SIZE_MAX / 32 / (a->width + 1)) return -1;
  api_buf_reserve(&b, 64 + n * (a->width + 1) * 16);
  api_buf_puts(&b, "{\"model\":");
  api_buf_json_string(&b, a->model_name, strlen(a->model_name));
  api_buf_puts(&b, ",\"predictions\":[");
  for (size_t r = 0; r < n && !b.failed; r++) {
    if (r) api_buf_put(&b, ",", 1);
    put_floats(&b, a->out + r * a->width, a->width);
  }
  api_buf_put(&b, "]", 1);
  if (a->labels) {
    api_buf_puts(&b, ",\"labels\":[");
    for (size_t r = 0; r < n && !b.failed; r++) {
      if (r) api_buf_put(&b, ",", 1);
      if (a->label_columns > 1) api_buf_put(&b, "[", 1);
      for (uint32_t k = 0; k < a->label_columns; k++) {
        if (k) api_buf_put(&b, ",", 1);
        put_label(&b, a, r, k);
      }
      if (a->label_columns > 1) api_buf_put(&b, "]", 1);
    }
    api_buf_put(&b, "]", 1);
  }
  api_buf_put(&b, "}", 1);
  return api_buf_finish(&b, CONTENT_TYPE_JSON, body);
}

int api__json_encode_error(const char *message, api_body_t *body) {
  api_buf_t b = {0};
  api_buf_puts(&b, "{\"error\":");
  api_buf_json_string(&b, message, strlen(message));
  api_buf_put(&b, "}", 1);
  return api_buf_finish(&b, CONTENT_TYPE_JSON, body);
}
