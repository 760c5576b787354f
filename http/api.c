/*
 * The format-independent half of the API: dispatch to the JSON and msgpack halves, and
 * the checks and helpers they share (feature lookup, value conversion, labels, buffers).
 */
#include <ctype.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "api_internal.h"

/* Category codes are floats in a row: above 2^24 they stop being exact. */
#define MAX_CATEGORY_CODE 16777216.0

void api_request_free(api_request_t *req) {
  if (req == NULL) return;
  free(req->rows);
  free(req->id);
  free(req->output_name);
  req->rows = NULL;
  req->id = NULL;
  req->output_name = NULL;
  req->nrows = 0;
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
    while (i < len && value[i] != ',') i++; /* skip parameters */
  }
  return API_JSON;
}

int api_decode_v1(const char *body, size_t len, api_format_t fmt, const grove_forest_t *forest,
                  const grove_schema_t *schema, const api_limits_t *limits, api_request_t *req,
                  api_error_t *err) {
  memset(req, 0, sizeof *req);
  req->labels = 1;
  int rc = fmt == API_MSGPACK ? api_msgpack_decode_v1(body, len, forest, schema, limits, req, err)
                              : api_json_decode_v1(body, len, forest, schema, limits, req, err);
  if (rc != 0) {
    api_request_free(req);
    return -1;
  }
  return 0;
}

int api_encode_v1(const char *model_name, const grove_forest_t *forest, const grove_schema_t *schema,
                  const api_request_t *req, const float *out, api_format_t fmt, api_body_t *body) {
  memset(body, 0, sizeof *body);
  return fmt == API_MSGPACK ? api_msgpack_encode_v1(model_name, forest, schema, req, out, body)
                            : api_json_encode_v1(model_name, forest, schema, req, out, body);
}

int api_encode_error(const char *message, api_format_t fmt, api_body_t *body) {
  memset(body, 0, sizeof *body);
  if (message == NULL) message = "error";
  return fmt == API_MSGPACK ? api_msgpack_encode_error(message, body) : api_json_encode_error(message, body);
}

/* ------------------------------------------------------------------------- */
/* Errors                                                                     */

int api_fail(api_error_t *err, int status, const char *fmt, ...) {
  if (err == NULL) return -1;
  err->status = status;
  va_list ap;
  va_start(ap, fmt);
  vsnprintf(err->message, sizeof err->message, fmt, ap);
  va_end(ap);
  return -1;
}

/* ------------------------------------------------------------------------- */
/* Decoding helpers                                                           */

const char *api_feature_label(const grove_forest_t *forest, const grove_schema_t *schema, uint32_t j, char *buf,
                              size_t size) {
  const char *name = grove_forest_feature_name(forest, j);
  if (name == NULL && schema != NULL && j < schema->num_features) name = schema->features[j].name;
  if (name != NULL) {
    snprintf(buf, size, "%.*s", API_QUOTE_MAX, name);
  } else {
    snprintf(buf, size, "f%u", j);
  }
  return buf;
}

int32_t api_feature_lookup(const grove_forest_t *forest, const grove_schema_t *schema, const char *name,
                           size_t len) {
  grove_forest_info_t info;
  grove_forest_get_info(forest, &info);
  if (memchr(name, '\0', len) != NULL) return -1;
  if (info.has_feature_names) {
    for (uint32_t j = 0; j < info.num_features; j++) {
      const char *fn = grove_forest_feature_name(forest, j);
      if (fn != NULL && strlen(fn) == len && memcmp(fn, name, len) == 0) return (int32_t)j;
    }
    return -1;
  }
  if (schema != NULL && schema->num_features == info.num_features) {
    for (uint32_t j = 0; j < schema->num_features; j++) {
      const char *fn = schema->features[j].name;
      if (fn != NULL && strlen(fn) == len && memcmp(fn, name, len) == 0) return (int32_t)j;
    }
  }
  /* "f<index>", no sign, no leading zeros */
  if (len < 2 || len > 11 || name[0] != 'f' || (name[1] == '0' && len > 2)) return -1;
  uint64_t j = 0;
  for (size_t i = 1; i < len; i++) {
    if (name[i] < '0' || name[i] > '9') return -1;
    j = j * 10 + (uint64_t)(name[i] - '0');
  }
  return j < info.num_features ? (int32_t)j : -1;
}

int api_feature_is_categorical(const grove_forest_t *forest, const grove_schema_t *schema, uint32_t j) {
  if (schema != NULL && j < schema->num_features) return schema->features[j].type == GROVE_FEATURE_CATEGORICAL;
  return grove_forest_feature_type(forest, j) == GROVE_FEATURE_CATEGORICAL;
}

int api_alloc_rows(size_t nrows, const grove_forest_t *forest, const api_limits_t *limits, api_request_t *req,
                   api_error_t *err) {
  grove_forest_info_t info;
  grove_forest_get_info(forest, &info);
  if (nrows == 0) return api_fail(err, 400, "no rows: the request must hold at least one row");
  if (limits != NULL && limits->max_rows > 0 && nrows > limits->max_rows)
    return api_fail(err, 413, "%zu rows in one request; the limit is %zu", nrows, limits->max_rows);
  size_t nf = info.num_features ? info.num_features : 1;
  if (nrows > SIZE_MAX / sizeof(float) / nf) return api_fail(err, 413, "%zu rows is too many", nrows);
  float *rows = malloc(nrows * nf * sizeof *rows);
  if (rows == NULL) return api_fail(err, 500, "out of memory for %zu rows", nrows);
  for (size_t i = 0; i < nrows * nf; i++) rows[i] = NAN;
  free(req->rows);
  req->rows = rows;
  req->nrows = nrows;
  req->num_features = info.num_features;
  return 0;
}

static int fail_at(api_error_t *err, const grove_forest_t *forest, const grove_schema_t *schema,
                   const api_loc_t *loc, const char *fmt, ...) __attribute__((format(printf, 5, 6)));
static int fail_at(api_error_t *err, const grove_forest_t *forest, const grove_schema_t *schema,
                   const api_loc_t *loc, const char *fmt, ...) {
  char name[API_QUOTE_MAX + 16], what[200];
  va_list ap;
  va_start(ap, fmt);
  vsnprintf(what, sizeof what, fmt, ap);
  va_end(ap);
  return api_fail(err, 400, "%s %zu, feature '%s': %s", loc->what, loc->index,
                  api_feature_label(forest, schema, loc->feature, name, sizeof name), what);
}

int api_put_number(double d, const grove_forest_t *forest, const grove_schema_t *schema, const api_loc_t *loc,
                   float *dst, api_error_t *err) {
  if (isnan(d)) return fail_at(err, forest, schema, loc, "NaN is not a value (use null for a missing value)");
  float f = (float)d;
  if (isinf(f)) return fail_at(err, forest, schema, loc, "value out of float32 range");
  *dst = f;
  return 0;
}

int api_put_category_code(double code, const grove_forest_t *forest, const grove_schema_t *schema,
                          const api_loc_t *loc, float *dst, api_error_t *err) {
  if (!(code >= 0 && code < MAX_CATEGORY_CODE) || code != floor(code))
    return fail_at(err, forest, schema, loc, "a category code must be an integer from 0 to 16777215");
  if (schema != NULL && loc->feature < schema->num_features &&
      schema->features[loc->feature].type == GROVE_FEATURE_CATEGORICAL &&
      code >= schema->features[loc->feature].num_categories)
    return fail_at(err, forest, schema, loc, "category code %.0f out of range (%u categories)", code,
                   schema->features[loc->feature].num_categories);
  *dst = (float)code;
  return 0;
}

int api_put_category_string(const char *s, size_t len, const grove_forest_t *forest,
                            const grove_schema_t *schema, const api_loc_t *loc, float *dst, api_error_t *err) {
  uint32_t j = loc->feature;
  int quoted = (int)(len > API_QUOTE_MAX ? API_QUOTE_MAX : len);
  if (!api_feature_is_categorical(forest, schema, j))
    return fail_at(err, forest, schema, loc, "expected a number, got the string \"%.*s\"", quoted, s);
  if (schema == NULL || j >= schema->num_features)
    return fail_at(err, forest, schema, loc,
                   "category strings need a schema.json with categories; send the integer code");
  int32_t code = grove_schema_category_code(schema, j, s, len);
  if (code >= 0) {
    *dst = (float)code;
    return 0;
  }
  /* Name a few valid categories, as many as fit. */
  const grove_schema_feature_t *f = &schema->features[j];
  char some[120];
  size_t used = 0;
  some[0] = '\0';
  uint32_t shown = 0;
  for (; shown < f->num_categories; shown++) {
    int n = snprintf(some + used, sizeof some - used, "%s\"%.*s\"", shown ? ", " : "", 32, f->categories[shown]);
    if (n < 0 || (size_t)n >= sizeof some - used - 8) {
      some[used] = '\0';
      break;
    }
    used += (size_t)n;
  }
  return fail_at(err, forest, schema, loc, "unknown category \"%.*s\" (known: %s%s)", quoted, s,
                 shown ? some : "none", shown < f->num_categories ? ", ..." : "");
}

/* ------------------------------------------------------------------------- */
/* Encoding helpers                                                           */

int api_wants_labels(const grove_forest_t *forest, const api_request_t *req) {
  grove_forest_info_t info;
  grove_forest_get_info(forest, &info);
  return req->labels && (info.task == GROVE_TASK_BINARY || info.task == GROVE_TASK_MULTICLASS);
}

int32_t api_class_index(const grove_forest_t *forest, const api_request_t *req, const float *out, uint32_t width,
                        uint32_t col) {
  grove_forest_info_t info;
  grove_forest_get_info(forest, &info);
  if (info.task == GROVE_TASK_BINARY) {
    float v = out[col];
    if (isnan(v)) return -1;
    if (req->margin || info.transform == GROVE_TRANSFORM_IDENTITY) return v > 0.0f;
    return v > 0.5f;
  }
  if (info.task != GROVE_TASK_MULTICLASS) return -1;
  if (width == 1) { /* softmax: the class index */
    float v = out[0];
    if (!(v >= 0.0f && v < (float)info.num_groups)) return -1;
    return (int32_t)v;
  }
  int32_t best = -1;
  for (uint32_t k = 0; k < width; k++)
    if (!isnan(out[k]) && (best < 0 || out[k] > out[best])) best = (int32_t)k;
  return best;
}

int api_buf_reserve(api_buf_t *b, size_t more) {
  if (b->failed) return -1;
  if (more <= b->cap - b->len) return 0;
  size_t cap = b->cap ? b->cap : 256;
  while (cap - b->len < more) {
    if (cap > SIZE_MAX / 2) {
      b->failed = 1;
      return -1;
    }
    cap *= 2;
  }
  char *p = realloc(b->data, cap);
  if (p == NULL) {
    b->failed = 1;
    return -1;
  }
  b->data = p;
  b->cap = cap;
  return 0;
}

void api_buf_put(api_buf_t *b, const void *p, size_t n) {
  if (n == 0 || api_buf_reserve(b, n) != 0) return;
  memcpy(b->data + b->len, p, n);
  b->len += n;
}

void api_buf_puts(api_buf_t *b, const char *s) { api_buf_put(b, s, strlen(s)); }

void api_buf_printf(api_buf_t *b, const char *fmt, ...) {
  va_list ap;
  char small[128];
  va_start(ap, fmt);
  int n = vsnprintf(small, sizeof small, fmt, ap);
  va_end(ap);
  if (n < 0) {
    b->failed = 1;
    return;
  }
  if ((size_t)n < sizeof small) return api_buf_put(b, small, (size_t)n);
  if (api_buf_reserve(b, (size_t)n + 1) != 0) return;
  va_start(ap, fmt);
  vsnprintf(b->data + b->len, (size_t)n + 1, fmt, ap);
  va_end(ap);
  b->len += (size_t)n;
}

/* Length of the valid UTF-8 sequence at S (N bytes left), or 0 when it is not one. */
static size_t utf8_len(const unsigned char *s, size_t n) {
  unsigned c = s[0];
  size_t len;
  unsigned min;
  if (c < 0x80) return 1;
  if (c >= 0xC2 && c <= 0xDF) len = 2, min = 0x80;
  else if (c >= 0xE0 && c <= 0xEF) len = 3, min = 0x800;
  else if (c >= 0xF0 && c <= 0xF4) len = 4, min = 0x10000;
  else return 0;
  if (n < len) return 0;
  unsigned cp = c & (0x7F >> len);
  for (size_t i = 1; i < len; i++) {
    if ((s[i] & 0xC0) != 0x80) return 0;
    cp = (cp << 6) | (s[i] & 0x3F);
  }
  if (cp < min || cp > 0x10FFFF || (cp >= 0xD800 && cp <= 0xDFFF)) return 0;
  return len;
}

void api_buf_json_string(api_buf_t *b, const char *str, size_t n) {
  static const char hex[] = "0123456789abcdef";
  const unsigned char *s = (const unsigned char *)str;
  if (api_buf_reserve(b, n + 2) != 0) return;
  api_buf_put(b, "\"", 1);
  size_t i = 0;
  while (i < n) {
    size_t run = i; /* copy plain bytes in one go */
    while (run < n && s[run] >= 0x20 && s[run] < 0x80 && s[run] != '"' && s[run] != '\\') run++;
    api_buf_put(b, s + i, run - i);
    i = run;
    if (i >= n) break;
    unsigned char c = s[i];
    if (c == '"' || c == '\\') {
      char esc[2] = {'\\', (char)c};
      api_buf_put(b, esc, 2);
      i++;
    } else if (c < 0x20) {
      char esc[6] = {'\\', 'u', '0', '0', hex[c >> 4], hex[c & 15]};
      if (c == '\n') api_buf_put(b, "\\n", 2);
      else if (c == '\t') api_buf_put(b, "\\t", 2);
      else if (c == '\r') api_buf_put(b, "\\r", 2);
      else api_buf_put(b, esc, 6);
      i++;
    } else {
      size_t l = utf8_len(s + i, n - i);
      if (l == 0) {
        api_buf_put(b, "\xEF\xBF\xBD", 3); /* U+FFFD */
        i++;
      } else {
        api_buf_put(b, s + i, l);
        i += l;
      }
    }
  }
  api_buf_put(b, "\"", 1);
}

/*
 * |V| * 10^K rounded to an integer half to even, as printf rounds the exact value, for
 * V = M * 2^E (M < 2^24): M * 5^K * 2^(E+K) in 128-bit integers. Returns -1 when it does
 * not fit them (K outside 0..26, or a shift past 127 bits).
 */
static int64_t scaled_digits(uint32_t m, int e2, int k) {
  if (k < 0 || k > 26) return -1;
  unsigned __int128 x = m;
  for (int i = 0; i < k; i++) x *= 5;
  int shift = -(e2 + k);
  if (shift <= 0) return shift < -40 ? -1 : (int64_t)(x << -shift);
  if (shift > 127) return -1;
  unsigned __int128 q = x >> shift, rem = x - (q << shift), half = (unsigned __int128)1 << (shift - 1);
  if (rem > half || (rem == half && (q & 1))) q++;
  return (int64_t)q;
}

/*
 * Writes V (finite) to OUT as printf's "%.9g" does, without printf (an eighth of the loop
 * thread's user time in single-row answers went to it); 0 when V is out of the fast
 * range (|V| < 1e-18 or >= 1e9, where the caller uses snprintf). tests/test_api_json.c
 * compares the two on every float class.
 */
static size_t format_float9(float v, char *out) {
  char *o = out;
  uint32_t bits;
  memcpy(&bits, &v, sizeof bits);
  if (bits >> 31) *o++ = '-';
  const uint32_t biased = (bits >> 23) & 0xff, frac = bits & 0x7fffff;
  if (biased == 0 && frac == 0) {
    *o++ = '0';
    return (size_t)(o - out);
  }
  const uint32_t m = biased ? frac | 0x800000 : frac;
  const int e2 = biased ? (int)biased - 150 : -149;
  /* The decimal exponent of the rounded value: a guess from log10, then corrected. */
  int e10 = (int)floor(log10(fabs((double)v)));
  int64_t d = -1;
  for (int tries = 0; tries < 3; tries++) {
    d = scaled_digits(m, e2, 8 - e10);
    if (d < 0) return 0;
    if (d >= 1000000000) e10++;
    else if (d < 100000000) e10--;
    else break;
  }
  if (d < 100000000 || d >= 1000000000 || e10 < -18 || e10 >= 9) return 0;
  char dig[9];
  int nd = 9;
  for (int i = 8; i >= 0; i--, d /= 10) dig[i] = (char)('0' + d % 10);
  while (nd > 1 && dig[nd - 1] == '0') nd--;
  if (e10 >= -4) { /* %g's fixed form: 9 > e10 >= -4 */
    if (e10 < 0) {
      *o++ = '0';
      *o++ = '.';
      for (int i = -1; i > e10; i--) *o++ = '0';
      memcpy(o, dig, (size_t)nd);
      o += nd;
    } else {
      for (int i = 0; i <= e10; i++) *o++ = i < nd ? dig[i] : '0';
      if (nd > e10 + 1) {
        *o++ = '.';
        memcpy(o, dig + e10 + 1, (size_t)(nd - e10 - 1));
        o += nd - e10 - 1;
      }
    }
  } else { /* d.ddde-XX */
    *o++ = dig[0];
    if (nd > 1) {
      *o++ = '.';
      memcpy(o, dig + 1, (size_t)(nd - 1));
      o += nd - 1;
    }
    *o++ = 'e';
    *o++ = '-';
    *o++ = (char)('0' + -e10 / 10);
    *o++ = (char)('0' + -e10 % 10);
  }
  return (size_t)(o - out);
}

void api_buf_json_float(api_buf_t *b, float v) {
  if (isnan(v)) return api_buf_put(b, "null", 4);
  if (isinf(v)) return v > 0 ? api_buf_put(b, "1e999", 5) : api_buf_put(b, "-1e999", 6);
  if (api_buf_reserve(b, 32) != 0) return;
  size_t fast = format_float9(v, b->data + b->len);
  if (fast > 0) {
    b->len += fast;
    return;
  }
  int n = snprintf(b->data + b->len, 32, "%.9g", (double)v);
  if (n > 0 && n < 32) b->len += (size_t)n;
  else b->failed = 1;
}

int api_buf_finish(api_buf_t *b, const char *content_type, api_body_t *body) {
  if (api_buf_reserve(b, 1) == 0) b->data[b->len] = '\0';
  if (b->failed) {
    free(b->data);
    memset(b, 0, sizeof *b);
    return -1;
  }
  body->data = b->data;
  body->len = b->len;
  body->content_type = content_type;
  memset(b, 0, sizeof *b);
  return 0;
}

const char *api_feature_list(const grove_forest_t *forest, const grove_schema_t *schema, char *buf, size_t size) {
  grove_forest_info_t info;
  grove_forest_get_info(forest, &info);
  size_t used = 0;
  buf[0] = '\0';
  for (uint32_t j = 0; j < info.num_features; j++) {
    char name[API_QUOTE_MAX + 16];
    api_feature_label(forest, schema, j, name, sizeof name);
    int n = snprintf(buf + used, size - used, "%s'%s'", j ? ", " : "", name);
    if (n < 0 || (size_t)n + 6 >= size - used) {
      snprintf(buf + used, size - used, "%s...", j ? ", " : "");
      break;
    }
    used += (size_t)n;
  }
  return buf;
}
