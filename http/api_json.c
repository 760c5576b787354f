/*
 * The JSON half of the API: v1 rows/records requests, OIP v2 infer requests (with Triton's
 * binary tensor extension), and every JSON response. Requests are parsed with json-c in
 * strict mode, except plain {"rows": [[...]]} bodies, which a small hand-written reader
 * takes first (api_json_decode_rows_fast, checked against json-c by tests and the fuzzer);
 * prediction responses are written by hand into a growing buffer (big batches), metadata
 * responses are built as json-c trees.
 */
#include <json-c/json.h>
#include <math.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "api_internal.h"

#define JSON_MAX_DEPTH 16
#define CONTENT_TYPE_JSON "application/json"
#define CONTENT_TYPE_BINARY "application/octet-stream"
#define V2_OUTPUT_NAME "predict"

/* ------------------------------------------------------------------------- */
/* Parsing                                                                    */

static int is_space(char c) { return c == ' ' || c == '\t' || c == '\n' || c == '\r'; }

/*
 * One tokener per thread, reset for each body: a new one per request costs several
 * allocations and a cleared parse stack on the I/O loop's hot path. The key's destructor
 * frees it when the thread ends.
 */
static pthread_key_t tokener_key;
static pthread_once_t tokener_once = PTHREAD_ONCE_INIT;

static void tokener_free(void *tok) { json_tokener_free(tok); }
static void tokener_key_init(void) { pthread_key_create(&tokener_key, tokener_free); }

static json_tokener *thread_tokener(void) {
  pthread_once(&tokener_once, tokener_key_init);
  json_tokener *tok = pthread_getspecific(tokener_key);
  if (tok == NULL && (tok = json_tokener_new_ex(JSON_MAX_DEPTH)) != NULL) {
    json_tokener_set_flags(tok, JSON_TOKENER_STRICT | JSON_TOKENER_VALIDATE_UTF8);
    if (pthread_setspecific(tokener_key, tok) != 0) {
      json_tokener_free(tok);
      tok = NULL;
    }
  }
  return tok;
}

/* Parses BODY as one JSON object, all of it; NULL with ERR filled otherwise. */
static json_object *parse_object(const char *body, size_t len, api_error_t *err) {
  size_t i = 0;
  while (i < len && is_space(body[i])) i++;
  if (i == len) {
    api_fail(err, 400, "empty body: expected a JSON object");
    return NULL;
  }
  if (len > INT32_MAX) {
    api_fail(err, 413, "body of %zu bytes is too large", len);
    return NULL;
  }
  json_tokener *tok = thread_tokener();
  if (tok == NULL) {
    api_fail(err, 500, "out of memory");
    return NULL;
  }
  json_tokener_reset(tok);
  json_object *root = json_tokener_parse_ex(tok, body, (int)len);
  enum json_tokener_error jerr = json_tokener_get_error(tok);
  size_t end = json_tokener_get_parse_end(tok);
  if (jerr == json_tokener_continue) {
    json_object_put(root);
    api_fail(err, 400, "not valid JSON: the body ends in the middle of a value");
    return NULL;
  }
  if (root == NULL || jerr != json_tokener_success) {
    json_object_put(root);
    api_fail(err, 400, "not valid JSON at byte %zu: %s", end, json_tokener_error_desc(jerr));
    return NULL;
  }
  for (size_t k = end; k < len; k++) {
    if (!is_space(body[k])) {
      json_object_put(root);
      api_fail(err, 400, "not valid JSON: unexpected data at byte %zu after the object", k);
      return NULL;
    }
  }
  if (!json_object_is_type(root, json_type_object)) {
    json_object_put(root);
    api_fail(err, 400, "expected a JSON object, got %s", json_type_to_name(json_object_get_type(root)));
    return NULL;
  }
  return root;
}

static int is_number(json_object *v) {
  return json_object_is_type(v, json_type_int) || json_object_is_type(v, json_type_double);
}

/* The value of a JSON number as a double; ints beyond int64/uint64 are clamped by json-c
 * without telling, so those two values are refused as too large. */
static int number_value(json_object *v, double *out) {
  if (json_object_is_type(v, json_type_double)) {
    *out = json_object_get_double(v);
    return 0;
  }
  int64_t i = json_object_get_int64(v);
  if (i == INT64_MIN) return -1;
  if (i == INT64_MAX) {
    uint64_t u = json_object_get_uint64(v);
    if (u == UINT64_MAX) return -1;
    *out = (double)(float)u; /* one rounding, straight to float32 */
    return 0;
  }
  *out = (double)(float)i;
  return 0;
}

/* A boolean option: absent leaves *out alone. */
static int get_bool(json_object *o, const char *key, int *out, const char *where, api_error_t *err) {
  json_object *v;
  if (!json_object_object_get_ex(o, key, &v)) return 0;
  if (!json_object_is_type(v, json_type_boolean))
    return api_fail(err, 400, "%s\"%s\" must be true or false, got %s", where, key,
                    json_type_to_name(json_object_get_type(v)));
  *out = json_object_get_boolean(v);
  return 0;
}

static const char *type_name(json_object *v) { return json_type_to_name(json_object_get_type(v)); }

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
  int categorical = api_feature_is_categorical(c->forest, c->schema, loc->feature);
  if (is_number(v)) {
    double d;
    if (number_value(v, &d) != 0)
      return api_fail(c->err, 400, "%s %zu, feature '%s': integer out of range", loc->what, loc->index,
                      api_feature_label(c->forest, c->schema, loc->feature, name, sizeof name));
    return categorical ? api_put_category_code(d, c->forest, c->schema, loc, dst, c->err)
                       : api_put_number(d, c->forest, c->schema, loc, dst, c->err);
  }
  if (json_object_is_type(v, json_type_string))
    return api_put_category_string(json_object_get_string(v), (size_t)json_object_get_string_len(v), c->forest,
                                   c->schema, loc, dst, c->err);
  return api_fail(c->err, 400, "%s %zu, feature '%s': expected %s or null, got %s", loc->what, loc->index,
                  api_feature_label(c->forest, c->schema, loc->feature, name, sizeof name),
                  categorical ? "a category string or code" : "a number", type_name(v));
}

static int decode_rows(const v1_ctx_t *c, json_object *rows, const api_limits_t *limits, api_request_t *req) {
  uint32_t nf = req->num_features;
  size_t n = json_object_array_length(rows);
  if (api_alloc_rows(n, c->forest, limits, req, c->err) != 0) return -1;
  for (size_t r = 0; r < n; r++) {
    json_object *row = json_object_array_get_idx(rows, r);
    if (!json_object_is_type(row, json_type_array))
      return api_fail(c->err, 400, "row %zu: expected an array of %u values, got %s", r, nf, type_name(row));
    size_t m = json_object_array_length(row);
    if (m != nf)
      return api_fail(c->err, 400, "row %zu: %zu values, the model has %u features", r, m, nf);
    for (uint32_t j = 0; j < nf; j++) {
      api_loc_t loc = {"row", r, j};
      if (put_value(c, json_object_array_get_idx(row, j), &loc, &req->rows[r * nf + j]) != 0) return -1;
    }
  }
  return 0;
}

static int decode_records(const v1_ctx_t *c, json_object *records, const api_limits_t *limits,
                          api_request_t *req) {
  uint32_t nf = req->num_features;
  size_t n = json_object_array_length(records);
  if (api_alloc_rows(n, c->forest, limits, req, c->err) != 0) return -1;
  for (size_t r = 0; r < n; r++) {
    json_object *rec = json_object_array_get_idx(records, r);
    if (!json_object_is_type(rec, json_type_object))
      return api_fail(c->err, 400, "record %zu: expected an object of feature: value, got %s", r,
                      type_name(rec));
    uint32_t next = 0; /* keys usually come in feature order: try the next feature first */
    json_object_object_foreach(rec, key, val) {
      const char *expected = next < nf ? grove_forest_feature_name(c->forest, next) : NULL;
      int32_t j = expected != NULL && strcmp(expected, key) == 0
                      ? (int32_t)next
                      : api_feature_lookup(c->forest, c->schema, key, strlen(key));
      if (j < 0) {
        char some[120];
        return api_fail(c->err, 400, "record %zu: unknown feature \"%.*s\" (features: %s)", r, API_QUOTE_MAX, key,
                        api_feature_list(c->forest, c->schema, some, sizeof some));
      }
      next = (uint32_t)j + 1;
      api_loc_t loc = {"record", r, (uint32_t)j};
      if (put_value(c, val, &loc, &req->rows[r * nf + (uint32_t)j]) != 0) return -1;
    }
  }
  return 0;
}

/*
 * The fast path for the common shape {"rows": [[number|null, ...], ...]}, optionally with
 * "margin" / "labels" booleans. json-c builds an object per number, and that with its
 * allocations was ~15% of the server's CPU on one-row requests. It takes only strict JSON
 * of exactly that shape and gives the same rows as the json-c path (the same number
 * conversion and the same checks, api_put_number / api_put_category_code); for anything
 * else, every error included, it returns 1 and leaves REQ as it found it, so that the
 * json-c path decides and words the message. tests/test_api_json.c and the api_json fuzz
 * target compare the two paths.
 */
typedef struct {
  const char *p, *end;
} cursor_t;

static void skip_space(cursor_t *c) {
  while (c->p < c->end && is_space(*c->p)) c->p++;
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
  if (*q == '0') q++;
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

int api_json_decode_rows_fast(const char *body, size_t len, const grove_forest_t *forest,
                              const grove_schema_t *schema, const api_limits_t *limits, api_request_t *req,
                              api_error_t *err) {
  cursor_t c = {body, body + len};
  grove_forest_info_t info;
  grove_forest_get_info(forest, &info);
  const uint32_t nf = info.num_features;
  int margin = req->margin, labels = req->labels, seen_rows = 0, seen_margin = 0, seen_labels = 0;
  float *vals = NULL;
  size_t n = 0, cap = 0;
  if (nf == 0 || nf > 4096 || take(&c, "{") != 0) return 1;
  uint8_t categorical[4096];
  for (uint32_t j = 0; j < nf; j++) categorical[j] = (uint8_t)api_feature_is_categorical(forest, schema, j);
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
      if (take(&c, "[") != 0) goto fallback;
      do {
        if (take(&c, "[") != 0) goto fallback;
        if (limits != NULL && limits->max_rows > 0 && n >= limits->max_rows) goto fallback;
        if (n == cap) {
          cap = cap ? 2 * cap : 4;
          float *grown = realloc(vals, cap * nf * sizeof *grown);
          if (grown == NULL) goto fallback;
          vals = grown;
        }
        for (uint32_t j = 0; j < nf; j++) {
          double d;
          int missing;
          float *dst = &vals[n * nf + j];
          if ((j > 0 && take(&c, ",") != 0) || take_value(&c, &d, &missing) != 0) goto fallback;
          *dst = NAN;
          api_loc_t loc = {"row", n, j};
          if (!missing && (categorical[j] ? api_put_category_code(d, forest, schema, &loc, dst, err)
                                          : api_put_number(d, forest, schema, &loc, dst, err)) != 0)
            goto fallback;
        }
        if (take(&c, "]") != 0) goto fallback;
        n++;
      } while (take(&c, ",") == 0);
      if (take(&c, "]") != 0) goto fallback;
    } else {
      goto fallback;
    }
  }
  if (take(&c, "}") != 0 || !seen_rows || n == 0) goto fallback;
  skip_space(&c);
  if (c.p != c.end) goto fallback;
  free(req->rows);
  req->rows = vals;
  req->nrows = n;
  req->num_features = nf;
  req->margin = margin;
  req->labels = labels;
  return 0;
fallback:
  free(vals);
  return 1;
}

int api_json_decode_v1(const char *body, size_t len, const grove_forest_t *forest, const grove_schema_t *schema,
                       const api_limits_t *limits, api_request_t *req, api_error_t *err) {
  if (api_json_decode_rows_fast(body, len, forest, schema, limits, req, err) == 0) return 0;
  return api_json_decode_v1_generic(body, len, forest, schema, limits, req, err);
}

int api_json_decode_v1_generic(const char *body, size_t len, const grove_forest_t *forest,
                               const grove_schema_t *schema, const api_limits_t *limits, api_request_t *req,
                               api_error_t *err) {
  json_object *root = parse_object(body, len, err);
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
      rc = api_fail(err, 400, "unknown key \"%.*s\": expected \"rows\" or \"records\", and optionally "
                    "\"margin\" and \"labels\"", API_QUOTE_MAX, key);
      break;
    }
  }
  if (rc == 0) rc = get_bool(root, "margin", &req->margin, "", err);
  if (rc == 0) rc = get_bool(root, "labels", &req->labels, "", err);
  if (rc == 0 && rows != NULL && records != NULL)
    rc = api_fail(err, 400, "give \"rows\" or \"records\", not both");
  if (rc == 0 && rows == NULL && records == NULL)
    rc = api_fail(err, 400, "expected {\"rows\": [[number|null, ...], ...]} in the model's feature order, or "
                  "{\"records\": [{\"feature\": value, ...}, ...]}");
  if (rc == 0 && rows != NULL) {
    rc = json_object_is_type(rows, json_type_array)
             ? decode_rows(&c, rows, limits, req)
             : api_fail(err, 400, "\"rows\" must be an array of arrays, got %s", type_name(rows));
  }
  if (rc == 0 && records != NULL) {
    rc = json_object_is_type(records, json_type_array)
             ? decode_records(&c, records, limits, req)
             : api_fail(err, 400, "\"records\" must be an array of objects, got %s", type_name(records));
  }
  json_object_put(root);
  return rc;
}

/* ------------------------------------------------------------------------- */
/* OIP v2 requests                                                            */

typedef enum { DT_FLOAT, DT_INT, DT_UINT, DT_BOOL } dt_kind_t;

typedef struct {
  const char *name;
  dt_kind_t kind;
  uint8_t size;
} v2_dtype_t;

static const v2_dtype_t v2_dtypes[] = {
    {"FP32", DT_FLOAT, 4}, {"FP64", DT_FLOAT, 8}, {"INT8", DT_INT, 1},   {"INT16", DT_INT, 2},
    {"INT32", DT_INT, 4},  {"INT64", DT_INT, 8},  {"UINT8", DT_UINT, 1}, {"UINT16", DT_UINT, 2},
    {"UINT32", DT_UINT, 4}, {"UINT64", DT_UINT, 8}, {"BOOL", DT_BOOL, 1},
};

typedef struct {
  const grove_forest_t *forest;
  const v2_dtype_t *dt;
  uint32_t nf;
  float *rows;
  size_t pos;          /* next element */
  api_error_t *err;
} v2_fill_t;

/* Counts the leaves of nested arrays V (non-arrays count 1). */
static size_t count_leaves(json_object *v) {
  if (!json_object_is_type(v, json_type_array)) return 1;
  size_t n = 0, m = json_object_array_length(v);
  for (size_t i = 0; i < m; i++) n += count_leaves(json_object_array_get_idx(v, i));
  return n;
}

static int v2_put(v2_fill_t *f, json_object *v) {
  size_t r = f->pos / f->nf;
  api_loc_t loc = {"row", r, (uint32_t)(f->pos % f->nf)};
  float *dst = &f->rows[f->pos++];
  char name[API_QUOTE_MAX + 16];
  const char *fname = api_feature_label(f->forest, NULL, loc.feature, name, sizeof name);
  switch (f->dt->kind) {
  case DT_BOOL:
    if (!json_object_is_type(v, json_type_boolean))
      return api_fail(f->err, 400, "row %zu, feature '%s': BOOL data must be true or false, got %s", r, fname,
                      type_name(v));
    *dst = json_object_get_boolean(v) ? 1.0f : 0.0f;
    return 0;
  case DT_FLOAT: {
    if (json_object_is_type(v, json_type_null)) return 0; /* missing */
    double d;
    if (!is_number(v))
      return api_fail(f->err, 400, "row %zu, feature '%s': %s data must be numbers (or null), got %s", r, fname,
                      f->dt->name, type_name(v));
    if (number_value(v, &d) != 0)
      return api_fail(f->err, 400, "row %zu, feature '%s': integer out of range", r, fname);
    return api_put_number(d, f->forest, NULL, &loc, dst, f->err);
  }
  case DT_INT:
  case DT_UINT: {
    if (!json_object_is_type(v, json_type_int))
      return api_fail(f->err, 400, "row %zu, feature '%s': %s data must be integers, got %s", r, fname,
                      f->dt->name, type_name(v));
    int bits = f->dt->size * 8;
    int64_t i = json_object_get_int64(v);
    if (f->dt->kind == DT_UINT && bits == 64) {
      uint64_t u = json_object_get_uint64(v);
      if (i < 0 || u == UINT64_MAX)
        return api_fail(f->err, 400, "row %zu, feature '%s': value out of UINT64 range", r, fname);
      *dst = (float)u;
      return 0;
    }
    int64_t lo = f->dt->kind == DT_UINT ? 0 : bits == 64 ? INT64_MIN + 1 : -((int64_t)1 << (bits - 1));
    int64_t hi = bits == 64 ? INT64_MAX - 1
                 : f->dt->kind == DT_UINT ? ((int64_t)1 << bits) - 1 : ((int64_t)1 << (bits - 1)) - 1;
    if (i < lo || i > hi)
      return api_fail(f->err, 400, "row %zu, feature '%s': value out of %s range", r, fname, f->dt->name);
    *dst = (float)i;
    return 0;
  }
  }
  return -1;
}

static int v2_fill(v2_fill_t *f, json_object *v) {
  if (!json_object_is_type(v, json_type_array)) return v2_put(f, v);
  size_t m = json_object_array_length(v);
  for (size_t i = 0; i < m; i++)
    if (v2_fill(f, json_object_array_get_idx(v, i)) != 0) return -1;
  return 0;
}

static uint64_t load_le(const unsigned char *p, unsigned size) {
  uint64_t v = 0;
  for (unsigned i = 0; i < size; i++) v |= (uint64_t)p[i] << (8 * i);
  return v;
}

/* Converts N little-endian elements of type DT at P into f->rows. */
static int v2_fill_binary(v2_fill_t *f, const unsigned char *p, size_t n) {
  for (size_t e = 0; e < n; e++, p += f->dt->size) {
    uint64_t bits = load_le(p, f->dt->size);
    float *dst = &f->rows[e];
    api_loc_t loc = {"row", e / f->nf, (uint32_t)(e % f->nf)};
    switch (f->dt->kind) {
    case DT_BOOL:
      *dst = bits ? 1.0f : 0.0f;
      break;
    case DT_UINT:
      *dst = (float)bits;
      break;
    case DT_INT: {
      unsigned shift = 64 - 8u * f->dt->size;
      int64_t i = (int64_t)(bits << shift) >> shift; /* sign-extend */
      *dst = (float)i;
      break;
    }
    case DT_FLOAT: {
      double d;
      if (f->dt->size == 4) {
        uint32_t b32 = (uint32_t)bits;
        float x;
        memcpy(&x, &b32, sizeof x);
        d = x;
      } else {
        memcpy(&d, &bits, sizeof d);
      }
      if (isnan(d)) break; /* NaN = missing */
      if (api_put_number(d, f->forest, NULL, &loc, dst, f->err) != 0) return -1;
      break;
    }
    }
  }
  return 0;
}

/* Reads "shape" into *n rows (a [f] shape is one row). */
static int v2_shape(json_object *input, uint32_t nf, size_t *n, api_error_t *err) {
  json_object *shape;
  if (!json_object_object_get_ex(input, "shape", &shape) || !json_object_is_type(shape, json_type_array))
    return api_fail(err, 400, "inputs[0]: \"shape\" must be an array: [rows, %u] or [%u]", nf, nf);
  size_t rank = json_object_array_length(shape);
  int64_t dims[2] = {1, 0};
  if (rank != 1 && rank != 2)
    return api_fail(err, 400, "inputs[0]: shape has %zu dimensions; expected [rows, %u] or [%u]", rank, nf, nf);
  for (size_t d = 0; d < rank; d++) {
    json_object *v = json_object_array_get_idx(shape, d);
    if (!json_object_is_type(v, json_type_int) || json_object_get_int64(v) < 0)
      return api_fail(err, 400, "inputs[0]: shape[%zu] must be a non-negative integer", d);
    dims[2 - rank + d] = json_object_get_int64(v);
  }
  if (dims[1] != (int64_t)nf)
    return api_fail(err, 400, "inputs[0]: shape has %lld features per row, the model has %u", (long long)dims[1],
                    nf);
  if ((uint64_t)dims[0] > SIZE_MAX) return api_fail(err, 413, "inputs[0]: too many rows");
  *n = (size_t)dims[0];
  return 0;
}

static int v2_outputs(json_object *root, api_request_t *req, api_error_t *err) {
  json_object *params, *outputs;
  if (json_object_object_get_ex(root, "parameters", &params)) {
    if (!json_object_is_type(params, json_type_object))
      return api_fail(err, 400, "\"parameters\" must be an object");
    if (get_bool(params, "binary_data_output", &req->binary_output, "parameters: ", err) != 0) return -1;
  }
  if (!json_object_object_get_ex(root, "outputs", &outputs) || json_object_is_type(outputs, json_type_null))
    return 0;
  if (!json_object_is_type(outputs, json_type_array))
    return api_fail(err, 400, "\"outputs\" must be an array");
  size_t n = json_object_array_length(outputs);
  for (size_t i = 0; i < n; i++) {
    json_object *o = json_object_array_get_idx(outputs, i), *name, *oparams;
    if (!json_object_is_type(o, json_type_object) || !json_object_object_get_ex(o, "name", &name) ||
        !json_object_is_type(name, json_type_string))
      return api_fail(err, 400, "outputs[%zu]: expected an object with a \"name\"", i);
    if (strcmp(json_object_get_string(name), V2_OUTPUT_NAME) != 0)
      return api_fail(err, 400, "outputs[%zu]: unknown output \"%.*s\" (the model's output is \"" V2_OUTPUT_NAME
                      "\")", i, API_QUOTE_MAX, json_object_get_string(name));
    if (json_object_object_get_ex(o, "parameters", &oparams)) {
      if (!json_object_is_type(oparams, json_type_object))
        return api_fail(err, 400, "outputs[%zu]: \"parameters\" must be an object", i);
      char where[48];
      snprintf(where, sizeof where, "outputs[%zu].parameters: ", i);
      if (get_bool(oparams, "binary_data_output", &req->binary_output, where, err) != 0) return -1;
    }
    if (req->output_name == NULL && (req->output_name = strdup(V2_OUTPUT_NAME)) == NULL)
      return api_fail(err, 500, "out of memory");
  }
  return 0;
}

static int v2_decode(json_object *root, const char *bin, size_t bin_len, int has_binary,
                     const grove_forest_t *forest, const api_limits_t *limits, api_request_t *req,
                     api_error_t *err) {
  grove_forest_info_t info;
  grove_forest_get_info(forest, &info);
  uint32_t nf = info.num_features;
  json_object *id, *inputs, *dtype, *data, *params, *size_v = NULL;

  if (json_object_object_get_ex(root, "id", &id) && !json_object_is_type(id, json_type_null)) {
    if (!json_object_is_type(id, json_type_string)) return api_fail(err, 400, "\"id\" must be a string");
    if ((req->id = strdup(json_object_get_string(id))) == NULL) return api_fail(err, 500, "out of memory");
  }
  if (v2_outputs(root, req, err) != 0) return -1;

  if (!json_object_object_get_ex(root, "inputs", &inputs) || !json_object_is_type(inputs, json_type_array))
    return api_fail(err, 400, "expected \"inputs\": [{\"name\", \"shape\": [rows, %u], \"datatype\", \"data\"}]",
                    nf);
  if (json_object_array_length(inputs) != 1)
    return api_fail(err, 400, "expected exactly one input tensor of shape [rows, %u], got %zu", nf,
                    json_object_array_length(inputs));
  json_object *input = json_object_array_get_idx(inputs, 0), *name;
  if (!json_object_is_type(input, json_type_object)) return api_fail(err, 400, "inputs[0] must be an object");
  if (!json_object_object_get_ex(input, "name", &name) || !json_object_is_type(name, json_type_string))
    return api_fail(err, 400, "inputs[0]: \"name\" must be a string");
  if (!json_object_object_get_ex(input, "datatype", &dtype) || !json_object_is_type(dtype, json_type_string))
    return api_fail(err, 400, "inputs[0]: \"datatype\" must be a string such as \"FP32\"");
  const v2_dtype_t *dt = NULL;
  for (size_t i = 0; i < sizeof v2_dtypes / sizeof v2_dtypes[0]; i++)
    if (strcmp(json_object_get_string(dtype), v2_dtypes[i].name) == 0) dt = &v2_dtypes[i];
  if (dt == NULL)
    return api_fail(err, 400, "inputs[0]: unsupported datatype \"%.*s\" (FP32, FP64, INT8..INT64, "
                    "UINT8..UINT64 or BOOL)", API_QUOTE_MAX, json_object_get_string(dtype));
  size_t n = 0;
  if (v2_shape(input, nf, &n, err) != 0) return -1;
  if (json_object_object_get_ex(input, "parameters", &params)) {
    if (!json_object_is_type(params, json_type_object))
      return api_fail(err, 400, "inputs[0]: \"parameters\" must be an object");
    json_object_object_get_ex(params, "binary_data_size", &size_v);
  }
  int has_data = json_object_object_get_ex(input, "data", &data);
  v2_fill_t fill = {forest, dt, nf, NULL, 0, err};

  if (size_v != NULL) {
    if (!json_object_is_type(size_v, json_type_int) || json_object_get_int64(size_v) < 0)
      return api_fail(err, 400, "inputs[0]: \"binary_data_size\" must be a non-negative integer");
    if (!has_binary)
      return api_fail(err, 400, "inputs[0]: \"binary_data_size\" needs the Inference-Header-Content-Length "
                      "header (the JSON's length) and the tensor bytes after the JSON");
    if (has_data) return api_fail(err, 400, "inputs[0]: give \"data\" or \"binary_data_size\", not both");
    uint64_t size = (uint64_t)json_object_get_int64(size_v);
    if (nf != 0 && n > SIZE_MAX / nf / dt->size) return api_fail(err, 413, "inputs[0]: too many rows");
    uint64_t want = (uint64_t)n * nf * dt->size;
    if (size != want)
      return api_fail(err, 400, "inputs[0]: binary_data_size is %llu bytes, shape and %s need %llu",
                      (unsigned long long)size, dt->name, (unsigned long long)want);
    if (size > bin_len)
      return api_fail(err, 400, "inputs[0]: binary_data_size is %llu bytes, only %zu follow the JSON",
                      (unsigned long long)size, bin_len);
    if (size < bin_len)
      return api_fail(err, 400, "%zu bytes after the tensors (the JSON is Inference-Header-Content-Length bytes)",
                      bin_len - (size_t)size);
    if (api_alloc_rows(n, forest, limits, req, err) != 0) return -1;
    fill.rows = req->rows;
    return v2_fill_binary(&fill, (const unsigned char *)bin, n * nf);
  }
  if (!has_data) return api_fail(err, 400, "inputs[0]: no \"data\" (nor \"parameters\": {\"binary_data_size\"})");
  if (has_binary && bin_len > 0)
    return api_fail(err, 400, "%zu bytes after the JSON but no input names them with binary_data_size", bin_len);
  if (!json_object_is_type(data, json_type_array))
    return api_fail(err, 400, "inputs[0]: \"data\" must be an array");
  size_t count = count_leaves(data);
  if (nf == 0 ? count != 0 : n > SIZE_MAX / nf || count != n * nf)
    return api_fail(err, 400, "inputs[0]: shape [%zu, %u] needs %zu values, \"data\" has %zu", n, nf,
                    nf != 0 && n <= SIZE_MAX / nf ? n * nf : (size_t)0, count);
  if (api_alloc_rows(n, forest, limits, req, err) != 0) return -1;
  fill.rows = req->rows;
  return v2_fill(&fill, data);
}

int api_decode_v2_infer(const char *body, size_t len, size_t json_len, const grove_forest_t *forest,
                        const api_limits_t *limits, api_request_t *req, api_error_t *err) {
  memset(req, 0, sizeof *req);
  req->labels = 1;
  if (json_len > len) {
    return api_fail(err, 400, "Inference-Header-Content-Length is %zu but the body has only %zu bytes", json_len,
                    len);
  }
  size_t jlen = json_len ? json_len : len;
  json_object *root = parse_object(body, jlen, err);
  if (root == NULL) return -1;
  int rc = v2_decode(root, body + jlen, len - jlen, json_len > 0, forest, limits, req, err);
  json_object_put(root);
  if (rc != 0) api_request_free(req);
  return rc;
}

/* ------------------------------------------------------------------------- */
/* Prediction responses                                                       */

static void put_label(api_buf_t *b, const grove_schema_t *schema, int32_t k) {
  if (k < 0) return api_buf_put(b, "null", 4);
  if (schema != NULL && (uint32_t)k < schema->num_labels)
    return api_buf_json_string(b, schema->labels[k], strlen(schema->labels[k]));
  api_buf_printf(b, "%d", k);
}

int api_json_encode_v1(const char *model_name, const grove_forest_t *forest, const grove_schema_t *schema,
                       const api_request_t *req, const float *out, api_body_t *body) {
  grove_forest_info_t info;
  grove_forest_get_info(forest, &info);
  const uint32_t width = grove_forest_output_width(forest, req->margin);
  api_buf_t b = {0};
  if (req->nrows > SIZE_MAX / 32 / (width + 1)) return -1;
  api_buf_reserve(&b, 64 + req->nrows * (width + 1) * 16);
  api_buf_puts(&b, "{\"model\":");
  const char *name = model_name ? model_name : "";
  api_buf_json_string(&b, name, strlen(name));
  api_buf_puts(&b, ",\"predictions\":[");
  for (size_t r = 0; r < req->nrows && !b.failed; r++) {
    const float *row = out + r * width;
    if (r) api_buf_put(&b, ",", 1);
    if (width == 1) {
      api_buf_json_float(&b, row[0]);
      continue;
    }
    api_buf_put(&b, "[", 1);
    for (uint32_t k = 0; k < width; k++) {
      if (k) api_buf_put(&b, ",", 1);
      api_buf_json_float(&b, row[k]);
    }
    api_buf_put(&b, "]", 1);
  }
  api_buf_put(&b, "]", 1);
  if (api_wants_labels(forest, req)) {
    api_buf_puts(&b, ",\"labels\":[");
    /* Binary models with several targets get one label per target. */
    int per_column = info.task == GROVE_TASK_BINARY && width > 1;
    for (size_t r = 0; r < req->nrows && !b.failed; r++) {
      const float *row = out + r * width;
      if (r) api_buf_put(&b, ",", 1);
      if (!per_column) {
        put_label(&b, schema, api_class_index(forest, req, row, width, 0));
        continue;
      }
      api_buf_put(&b, "[", 1);
      for (uint32_t k = 0; k < width; k++) {
        if (k) api_buf_put(&b, ",", 1);
        put_label(&b, schema, api_class_index(forest, req, row, width, k));
      }
      api_buf_put(&b, "]", 1);
    }
    api_buf_put(&b, "]", 1);
  }
  api_buf_put(&b, "}", 1);
  return api_buf_finish(&b, CONTENT_TYPE_JSON, body);
}

int api_encode_v2_infer(const char *model_name, const grove_forest_t *forest, const api_request_t *req,
                        const float *out, api_body_t *body) {
  memset(body, 0, sizeof *body);
  const uint32_t width = grove_forest_output_width(forest, req->margin);
  const size_t count = req->nrows * width;
  if (width != 0 && req->nrows > SIZE_MAX / 16 / width) return -1;
  api_buf_t b = {0};
  api_buf_reserve(&b, 256 + (req->binary_output ? count * 4 : count * 16));
  api_buf_puts(&b, "{\"model_name\":");
  const char *name = model_name ? model_name : "";
  api_buf_json_string(&b, name, strlen(name));
  if (req->id != NULL) {
    api_buf_puts(&b, ",\"id\":");
    api_buf_json_string(&b, req->id, strlen(req->id));
  }
  const char *oname = req->output_name ? req->output_name : V2_OUTPUT_NAME;
  api_buf_puts(&b, ",\"outputs\":[{\"name\":");
  api_buf_json_string(&b, oname, strlen(oname));
  api_buf_puts(&b, ",\"datatype\":\"FP32\",\"shape\":[");
  if (width == 1) api_buf_printf(&b, "%zu]", req->nrows);
  else api_buf_printf(&b, "%zu,%u]", req->nrows, width);
  if (req->binary_output) {
    api_buf_printf(&b, ",\"parameters\":{\"binary_data_size\":%zu}}]}", count * 4);
    size_t header = b.len;
    if (api_buf_reserve(&b, count * 4) == 0) {
      unsigned char *p = (unsigned char *)b.data + b.len;
      for (size_t i = 0; i < count; i++, p += 4) {
        uint32_t bits;
        memcpy(&bits, &out[i], 4);
        p[0] = (unsigned char)bits;
        p[1] = (unsigned char)(bits >> 8);
        p[2] = (unsigned char)(bits >> 16);
        p[3] = (unsigned char)(bits >> 24);
      }
      b.len += count * 4;
    }
    if (api_buf_finish(&b, CONTENT_TYPE_BINARY, body) != 0) return -1;
    body->inference_header_len = header;
    return 0;
  }
  api_buf_puts(&b, ",\"data\":[");
  for (size_t i = 0; i < count && !b.failed; i++) {
    if (i) api_buf_put(&b, ",", 1);
    api_buf_json_float(&b, out[i]);
  }
  api_buf_puts(&b, "]}]}");
  return api_buf_finish(&b, CONTENT_TYPE_JSON, body);
}

int api_json_encode_error(const char *message, api_body_t *body) {
  api_buf_t b = {0};
  api_buf_puts(&b, "{\"error\":");
  api_buf_json_string(&b, message, strlen(message));
  api_buf_put(&b, "}", 1);
  return api_buf_finish(&b, CONTENT_TYPE_JSON, body);
}

/* ------------------------------------------------------------------------- */
/* Metadata responses (json-c trees)                                          */

/* Adds VAL to O under KEY; a NULL VAL (failed allocation) sets *failed. */
static void add(json_object *o, const char *key, json_object *val, int *failed) {
  if (val == NULL || o == NULL || json_object_object_add(o, key, val) != 0) {
    json_object_put(val);
    *failed = 1;
  }
}

static void push(json_object *a, json_object *val, int *failed) {
  if (val == NULL || a == NULL || json_object_array_add(a, val) != 0) {
    json_object_put(val);
    *failed = 1;
  }
}

static json_object *new_string(const char *s) { return json_object_new_string(s ? s : ""); }

static const char *task_name(grove_task_t t) {
  switch (t) {
  case GROVE_TASK_REGRESSION: return "regression";
  case GROVE_TASK_BINARY: return "binary";
  case GROVE_TASK_MULTICLASS: return "multiclass";
  case GROVE_TASK_RANKING: return "ranking";
  }
  return "unknown";
}

static const char *feature_type_name(grove_feature_type_t t) {
  switch (t) {
  case GROVE_FEATURE_NUMERIC: return "numeric";
  case GROVE_FEATURE_INTEGER: return "integer";
  case GROVE_FEATURE_INDICATOR: return "indicator";
  case GROVE_FEATURE_CATEGORICAL: return "categorical";
  }
  return "numeric";
}

static json_object *string_array(char **s, uint32_t n, int *failed) {
  json_object *a = json_object_new_array_ext((int)n);
  if (a == NULL) *failed = 1;
  for (uint32_t i = 0; i < n && a != NULL; i++) push(a, new_string(s[i]), failed);
  return a;
}

/* "classes": the schema's labels, or the number of classes (null for regression). */
static json_object *classes(const grove_forest_info_t *info, const grove_schema_t *schema, int *failed) {
  if (schema != NULL && schema->num_labels > 0) return string_array(schema->labels, schema->num_labels, failed);
  if (info->task == GROVE_TASK_MULTICLASS) return json_object_new_int64(info->num_groups);
  if (info->task == GROVE_TASK_BINARY) return json_object_new_int64(2);
  return json_object_new_null();
}

/*
 * The model's schema: its schema.json, or one generated from its feature names and types.
 * AS_FILE gives a schema.json to keep beside the model (grove schema): no "classes", and a
 * categorical feature without strings gets its codes "0".."N-1" as names, up to the highest
 * its splits name, so that the file loads back.
 */
static json_object *schema_json(const grove_forest_t *forest, const grove_schema_t *schema, int as_file,
                                int *failed) {
  grove_forest_info_t info;
  grove_forest_get_info(forest, &info);
  json_object *o = json_object_new_object(), *features = json_object_new_array();
  if (schema != NULL) {
    if (schema->description != NULL) add(o, "description", new_string(schema->description), failed);
    if (schema->num_labels > 0) add(o, "labels", string_array(schema->labels, schema->num_labels, failed), failed);
    for (uint32_t j = 0; j < schema->num_features; j++) {
      const grove_schema_feature_t *f = &schema->features[j];
      json_object *fo = json_object_new_object();
      add(fo, "name", new_string(f->name), failed);
      add(fo, "type", json_object_new_string(feature_type_name(f->type)), failed);
      if (!isnan(f->min)) add(fo, "min", json_object_new_double(f->min), failed);
      if (!isnan(f->max)) add(fo, "max", json_object_new_double(f->max), failed);
      if (!isnan(f->step)) add(fo, "step", json_object_new_double(f->step), failed);
      if (f->description != NULL) add(fo, "description", new_string(f->description), failed);
      if (f->type == GROVE_FEATURE_CATEGORICAL)
        add(fo, "categories", string_array(f->categories, f->num_categories, failed), failed);
      push(features, fo, failed);
    }
  } else {
    for (uint32_t j = 0; j < info.num_features; j++) {
      json_object *fo = json_object_new_object();
      char name[32];
      const char *fn = grove_forest_feature_name(forest, j);
      if (fn == NULL) {
        snprintf(name, sizeof name, "f%u", j);
        fn = name;
      }
      grove_feature_type_t t = grove_forest_feature_type(forest, j);
      add(fo, "name", new_string(fn), failed);
      add(fo, "type", json_object_new_string(t == GROVE_FEATURE_CATEGORICAL ? "categorical"
                                             : t == GROVE_FEATURE_NUMERIC  ? "numeric"
                                                                           : "integer"),
          failed);
      if (as_file && t == GROVE_FEATURE_CATEGORICAL) {
        json_object *codes = json_object_new_array();
        for (uint32_t c = 0, n = grove_forest_category_bound(forest, j); c < n; c++) {
          char code[16];
          snprintf(code, sizeof code, "%u", c);
          push(codes, new_string(code), failed);
        }
        add(fo, "categories", codes, failed);
      }
      push(features, fo, failed);
    }
  }
  add(o, "features", features, failed);
  if (!as_file) add(o, "classes", classes(&info, schema, failed), failed);
  return o;
}

static json_object *model_json(const api_model_meta_t *meta, const grove_forest_t *forest,
                               const grove_schema_t *schema, int with_schema, int *failed) {
  grove_forest_info_t info;
  grove_forest_get_info(forest, &info);
  json_object *o = json_object_new_object();
  if (o == NULL) {
    *failed = 1;
    return NULL;
  }
  add(o, "name", new_string(meta->name), failed);
  if (meta->path != NULL) add(o, "path", new_string(meta->path), failed);
  add(o, "format", new_string(info.format), failed);
  if (info.source_model[0] != '\0') add(o, "source_model", new_string(info.source_model), failed);
  add(o, "objective", new_string(info.objective), failed);
  add(o, "booster", new_string(info.booster), failed);
  add(o, "task", json_object_new_string(task_name(info.task)), failed);
  add(o, "num_features", json_object_new_int64(info.num_features), failed);
  add(o, "trees", json_object_new_int64(info.num_trees), failed);
  add(o, "max_depth", json_object_new_int64(info.max_depth), failed);
  add(o, "leaves", json_object_new_int64((int64_t)info.num_leaves), failed);
  add(o, "num_outputs", json_object_new_int64(info.num_outputs), failed);
  add(o, "classes", classes(&info, schema, failed), failed);
  add(o, "memory_bytes", json_object_new_int64((int64_t)info.memory_bytes), failed);
  add(o, "isa", new_string(grove_engine_isa()), failed);
  add(o, "kernel", new_string(grove_engine_kernel()), failed);
  add(o, "loaded_at", json_object_new_double(meta->loaded_at), failed);
  add(o, "load_seconds", json_object_new_double(meta->load_seconds), failed);
  add(o, "reloads", json_object_new_int64((int64_t)meta->reloads), failed);
  if (with_schema) add(o, "schema", schema_json(forest, schema, 0, failed), failed);
  return o;
}

/* Serializes and frees ROOT into BODY. */
static int finish_tree_as(json_object *root, int failed, int flags, api_body_t *body) {
  memset(body, 0, sizeof *body);
  if (failed || root == NULL) {
    json_object_put(root);
    return -1;
  }
  size_t len;
  const char *s = json_object_to_json_string_length(root, flags | JSON_C_TO_STRING_NOSLASHESCAPE, &len);
  char *copy = s ? malloc(len + 1) : NULL;
  if (copy != NULL) memcpy(copy, s, len + 1);
  json_object_put(root);
  if (copy == NULL) return -1;
  body->data = copy;
  body->len = len;
  body->content_type = CONTENT_TYPE_JSON;
  return 0;
}

static int finish_tree(json_object *root, int failed, api_body_t *body) {
  return finish_tree_as(root, failed, JSON_C_TO_STRING_PLAIN, body);
}

int api_encode_schema_file(const grove_forest_t *forest, const grove_schema_t *schema, api_body_t *body) {
  int failed = 0;
  json_object *o = schema_json(forest, schema, 1, &failed);
  return finish_tree_as(o, failed, JSON_C_TO_STRING_PRETTY, body);
}

int api_encode_model_v1(const api_model_meta_t *meta, const grove_forest_t *forest,
                        const grove_schema_t *schema, api_body_t *body) {
  int failed = 0;
  json_object *o = model_json(meta, forest, schema, 1, &failed);
  return finish_tree(o, failed, body);
}

int api_encode_models_v1(const api_model_meta_t *metas, const grove_forest_t *const *forests, size_t n,
                         api_body_t *body) {
  int failed = 0;
  json_object *root = json_object_new_object(), *models = json_object_new_array();
  for (size_t i = 0; i < n && models != NULL; i++) push(models, model_json(&metas[i], forests[i], NULL, 0, &failed), &failed);
  add(root, "models", models, &failed);
  return finish_tree(root, failed, body);
}

int api_encode_model_v2(const api_model_meta_t *meta, const grove_forest_t *forest, api_body_t *body) {
  grove_forest_info_t info;
  grove_forest_get_info(forest, &info);
  int failed = 0;
  uint32_t width = grove_forest_output_width(forest, 0);
  json_object *root = json_object_new_object(), *versions = json_object_new_array();
  add(root, "name", new_string(meta->name), &failed);
  push(versions, json_object_new_string("1"), &failed);
  add(root, "versions", versions, &failed);
  add(root, "platform", json_object_new_string("grove"), &failed);

  json_object *inputs = json_object_new_array(), *in = json_object_new_object(), *ishape = json_object_new_array();
  add(in, "name", json_object_new_string("input"), &failed);
  add(in, "datatype", json_object_new_string("FP32"), &failed);
  push(ishape, json_object_new_int64(-1), &failed);
  push(ishape, json_object_new_int64(info.num_features), &failed);
  add(in, "shape", ishape, &failed);
  push(inputs, in, &failed);
  add(root, "inputs", inputs, &failed);

  json_object *outputs = json_object_new_array(), *out = json_object_new_object(), *oshape = json_object_new_array();
  add(out, "name", json_object_new_string(V2_OUTPUT_NAME), &failed);
  add(out, "datatype", json_object_new_string("FP32"), &failed);
  push(oshape, json_object_new_int64(-1), &failed);
  if (width != 1) push(oshape, json_object_new_int64(width), &failed);
  add(out, "shape", oshape, &failed);
  push(outputs, out, &failed);
  add(root, "outputs", outputs, &failed);
  return finish_tree(root, failed, body);
}
