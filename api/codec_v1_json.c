/*
 * v1 JSON: {"rows": [[...]]} and {"records": [{...}]} requests, and the prediction and
 * error answers. A request is read in two passes of the pull reader (json_pull.h): the
 * first checks the whole body and counts its rows, so that malformed JSON and too many rows
 * are refused before anything is allocated; the second fills rows allocated once, at their
 * exact size. Answers are written by hand into a growing buffer (big batches).
 */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "buf.h"
#include "codecs.h"
#include "json_pull.h"

#define CONTENT_TYPE_JSON "application/json"

/* ------------------------------------------------------------------------- */
/* v1 requests                                                                */

typedef struct {
  const grove_forest_t *forest;
  const grove_schema_t *schema;
  const char *body;
  size_t len;
  uint32_t nf;
  int unknown_missing;
  api_error_t *err;
} v1_ctx_t;

/* Stores the value whose first token J holds at *DST for the feature at LOC (moving past
 * the value). Missing (null) leaves *DST as it is. */
static int put_value(const v1_ctx_t *c, jp_t *j, const api_loc_t *loc, float *dst) {
  char name[API_QUOTE_MAX + 16];
  const int categorical = api__feature_is_categorical(c->forest, c->schema, loc->feature);
  switch (j->kind) {
    case JP_NULL:
      return 0;
    case JP_NUMBER: {
      jp_number_t n;
      jp_number(j, &n);
      if (n.integral && !n.fits)
        return api__fail(c->err, 400, "%s %zu, feature '%s': integer out of range", loc->what,
                         loc->index,
                         api__feature_label(c->forest, c->schema, loc->feature, name, sizeof name));
      return api__put_feature_number(n.d, c->forest, c->schema, loc, dst, c->err);
    }
    case JP_STRING: {
      char small[256], *heap;
      size_t len;
      const char *s = api__json_text(j, small, sizeof small, &heap, &len);
      int rc = s == NULL ? api__fail(c->err, 500, "out of memory")
                         : api__put_category_string(s, len, c->forest, c->schema,
                                                    c->unknown_missing, loc, dst, c->err);
      free(heap);
      return rc;
    }
    default: {
      jp_kind_t k = j->kind;
      jp_skip(j, NULL, NULL); /* the body is valid: pass 1 read it whole */
      return api__fail(c->err, 400, "%s %zu, feature '%s': expected %s or null, got %s", loc->what,
                       loc->index,
                       api__feature_label(c->forest, c->schema, loc->feature, name, sizeof name),
                       categorical ? "a category string or code" : "a number", jp_kind_name(k));
    }
  }
}

/* Row R, an array of values in feature order, into req->rows. A wrong length is reported
 * before a bad value, as the row's length is checked first. */
static int decode_row(const v1_ctx_t *c, jp_t *j, size_t r, api_request_t *req) {
  const uint32_t nf = c->nf;
  if (j->kind != JP_ARRAY) {
    jp_kind_t k = j->kind;
    jp_skip(j, NULL, NULL);
    return api__fail(c->err, 400, "row %zu: expected an array of %u values, got %s", r, nf,
                     jp_kind_name(k));
  }
  api_error_t first = {0};
  size_t m = 0;
  for (jp_kind_t k = jp_next(j); k != JP_ARRAY_END && k > JP_DONE; k = jp_next(j), m++) {
    api_loc_t loc = {"row", r, (uint32_t)m, req};
    if (m >= nf || first.status != 0)
      jp_skip(j, NULL, NULL);
    else if (put_value(c, j, &loc, &req->rows[r * nf + m]) != 0)
      first = *c->err;
  }
  if (m != nf)
    return api__fail(c->err, 400, "row %zu: %zu values, the model has %u features", r, m, nf);
  if (first.status != 0) *c->err = first;
  return first.status != 0 ? -1 : 0;
}

/* The feature a record's key names: the one after the previous key first (keys usually
 * come in feature order), else by lookup; -1 after refusing an unknown one. */
static int32_t record_feature(const v1_ctx_t *c, const jp_t *j, size_t r, uint32_t next) {
  char small[256], *heap, some[120];
  size_t len;
  const char *key = api__json_text(j, small, sizeof small, &heap, &len);
  if (key == NULL) return api__fail(c->err, 500, "out of memory");
  const char *expected = next < c->nf ? grove_forest_feature_name(c->forest, next) : NULL;
  int32_t f = expected != NULL && strlen(expected) == len && memcmp(expected, key, len) == 0
                  ? (int32_t)next
                  : api__feature_lookup(c->forest, c->schema, key, len);
  if (f < 0)
    api__fail(c->err, 400, "record %zu: unknown feature \"%.*s\" (features: %s)", r, API_QUOTE_MAX,
              key, api__feature_list(c->forest, c->schema, some, sizeof some));
  free(heap);
  return f;
}

/* Record R, an object of feature: value, into req->rows (absent features stay missing). */
static int decode_record(const v1_ctx_t *c, jp_t *j, size_t r, api_request_t *req) {
  if (j->kind != JP_OBJECT) {
    jp_kind_t k = j->kind;
    jp_skip(j, NULL, NULL);
    return api__fail(c->err, 400, "record %zu: expected an object of feature: value, got %s", r,
                     jp_kind_name(k));
  }
  uint32_t next = 0;
  int failed = 0; /* after the first bad value the rest of the record is only skipped */
  for (jp_kind_t k = jp_next(j); k == JP_KEY; k = jp_next(j)) {
    int32_t f = failed ? -1 : record_feature(c, j, r, next);
    jp_next(j);
    if (f < 0) {
      failed = 1;
      jp_skip(j, NULL, NULL);
      continue;
    }
    next = (uint32_t)f + 1;
    api_loc_t loc = {"record", r, (uint32_t)f, req};
    failed = put_value(c, j, &loc, &req->rows[r * c->nf + (uint32_t)f]) != 0;
  }
  return failed ? -1 : 0;
}

/* What the first pass finds at the top level. */
typedef struct {
  size_t rows_at, records_at; /* offsets of the values (0: absent; 0 is the '{') */
  jp_kind_t rows_kind, records_kind;
  size_t count; /* elements of the rows or records array */
} v1_scan_t;

/* One top-level member: an option read now, or rows / records located and counted. */
static int scan_member(jp_t *j, const char *key, size_t klen, v1_scan_t *s, api_request_t *req,
                       api_error_t *err) {
  const int rows = klen == 4 && memcmp(key, "rows", 4) == 0,
            records = klen == 7 && memcmp(key, "records", 7) == 0;
  int *flag = api__v1_flag(req, key, klen); /* "margin", "labels", "explain", "leaves" */
  jp_kind_t k = jp_next(j);
  size_t at = j->offset, count = 0;
  char word[16] = "";
  if (k == JP_STRING && jp_string(j, word, sizeof word) == SIZE_MAX) word[0] = '\0';
  if (k == JP_ERROR || jp_skip(j, &count, NULL) != 0) return api__json_syntax_error(j, err);
  for (size_t o = 0; o < API_V1_CHOICES; o++)
    if (api__v1_choices[o].key_len == klen && memcmp(api__v1_choices[o].key, key, klen) == 0)
      return api__v1_choice(&api__v1_choices[o], k == JP_STRING ? word : NULL, req, err);
  if (!rows && !records && flag == NULL)
    return api__fail(err, 400, "unknown key \"%.*s\": " API_V1_KEYS_HELP,
                     (int)(klen > API_QUOTE_MAX ? API_QUOTE_MAX : klen), key);
  if ((rows && s->rows_at) || (records && s->records_at))
    return api__fail(err, 400, "\"%s\" appears twice", rows ? "rows" : "records");
  if (flag != NULL) {
    if (k != JP_TRUE && k != JP_FALSE)
      return api__fail(err, 400, "\"%.*s\" must be true or false, got %s", (int)klen, key,
                       jp_kind_name(k));
    *flag = k == JP_TRUE;
    return 0;
  }
  *(rows ? &s->rows_at : &s->records_at) = at;
  *(rows ? &s->rows_kind : &s->records_kind) = k;
  if (k == JP_ARRAY) s->count = count;
  return 0;
}

/* Pass 1: the whole body is valid JSON of the v1 shape; rows / records located. */
static int scan_body(const char *body, size_t len, v1_scan_t *s, api_request_t *req,
                     api_error_t *err) {
  jp_t j;
  if (api__json_body_start(&j, body, len, err) != 0) return -1;
  memset(s, 0, sizeof *s);
  api_error_t semantic = {0}; /* the first, reported once the whole body is known valid */
  for (jp_kind_t k = jp_next(&j); k != JP_OBJECT_END; k = jp_next(&j)) {
    if (k != JP_KEY)
      return api__json_syntax_error(&j, err); /* JP_ERROR: the only other token here */
    char small[64], *heap;
    size_t klen;
    const char *key = api__json_text(&j, small, sizeof small, &heap, &klen);
    if (key == NULL) return api__fail(err, 500, "out of memory");
    api_error_t e = {0};
    int rc = scan_member(&j, key, klen, s, req, &e);
    free(heap);
    if (rc != 0 && j.kind == JP_ERROR) return api__json_syntax_error(&j, err);
    if (rc != 0 && semantic.status == 0) semantic = e;
  }
  if (jp_next(&j) != JP_DONE) return api__json_syntax_error(&j, err);
  if (semantic.status != 0) return *err = semantic, -1;
  if (s->rows_at && s->records_at)
    return api__fail(err, 400, "give \"rows\" or \"records\", not both");
  if (!s->rows_at && !s->records_at)
    return api__fail(
        err, 400,
        "expected {\"rows\": [[number|null, ...], ...]} in the model's feature order, or "
        "{\"records\": [{\"feature\": value, ...}, ...]}");
  jp_kind_t k = s->rows_at ? s->rows_kind : s->records_kind;
  if (k != JP_ARRAY)
    return api__fail(err, 400,
                     s->rows_at ? "\"rows\" must be an array of arrays, got %s"
                                : "\"records\" must be an array of objects, got %s",
                     jp_kind_name(k));
  return 0;
}

int api__json_decode_v1(const char *body, size_t len, const grove_forest_t *forest,
                        const grove_schema_t *schema, const api_limits_t *limits,
                        api_request_t *req, api_error_t *err) {
  v1_scan_t s;
  if (scan_body(body, len, &s, req, err) != 0) return -1;
  if (api__alloc_rows(s.count, forest, limits, req, err) != 0) return -1;
  v1_ctx_t c = {forest, schema, body, len, req->num_features, req->unknown_missing, err};
  int (*decode)(const v1_ctx_t *, jp_t *, size_t, api_request_t *) =
      s.rows_at ? decode_row : decode_record;
  jp_t j;
  jp_init_at(&j, body, len, s.rows_at ? s.rows_at : s.records_at);
  jp_next(&j); /* the array */
  size_t r = 0;
  for (jp_kind_t k = jp_next(&j); k != JP_ARRAY_END && k > JP_DONE; k = jp_next(&j), r++)
    if (decode(&c, &j, r, req) != 0 && api__row_failed(req, r, err) != 0) return -1;
  return 0;
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

/* Row R's contributions: num_features + 1 numbers (the last the bias), or one array of
 * them per group for a multi-group model; null for a row that failed. */
static void put_contribs(api_buf_t *b, const api_answer_t *a, size_t r) {
  if (api__answer_row_error(a, r) != NULL) return api_buf_put(b, "null", 4);
  const uint32_t per = a->num_features + 1;
  const double *c = a->req->contribs + r * a->num_groups * per;
  if (a->num_groups > 1) api_buf_put(b, "[", 1);
  for (uint32_t g = 0; g < a->num_groups; g++) {
    api_buf_puts(b, g ? ",[" : "[");
    for (uint32_t k = 0; k < per; k++) {
      if (k) api_buf_put(b, ",", 1);
      api_buf_json_double(b, c[g * per + k]);
    }
    api_buf_put(b, "]", 1);
  }
  if (a->num_groups > 1) api_buf_put(b, "]", 1);
}

/* "contributions", "feature_names" and "leaves", as the request asked for them. */
static void put_explanations(api_buf_t *b, const api_answer_t *a) {
  const api_request_t *req = a->req;
  if (req->contribs != NULL) {
    api_buf_puts(b, ",\"contributions\":[");
    for (size_t r = 0; r < req->nrows && !b->failed; r++) {
      if (r) api_buf_put(b, ",", 1);
      put_contribs(b, a, r);
    }
    api_buf_puts(b, "],\"feature_names\":[");
    for (uint32_t j = 0; j < a->num_features && !b->failed; j++) {
      char buf[16];
      const char *name = api__feature_name(a->forest, a->schema, j, buf);
      if (j) api_buf_put(b, ",", 1);
      api_buf_json_string(b, name, strlen(name));
    }
    api_buf_put(b, "]", 1);
  }
  if (req->leaf_ids != NULL) {
    api_buf_puts(b, ",\"leaves\":[");
    for (size_t r = 0; r < req->nrows && !b->failed; r++) {
      if (r) api_buf_put(b, ",", 1);
      if (api__answer_row_error(a, r) != NULL) {
        api_buf_put(b, "null", 4);
        continue;
      }
      api_buf_put(b, "[", 1);
      for (uint32_t t = 0; t < a->num_trees; t++)
        api_buf_printf(b, t ? ",%u" : "%u", req->leaf_ids[r * a->num_trees + t]);
      api_buf_put(b, "]", 1);
    }
    api_buf_put(b, "]", 1);
  }
}

int api__json_encode_v1(const api_answer_t *a, api_body_t *body) {
  const size_t n = a->req->nrows;
  api_buf_t b = {0};
  if (n > SIZE_MAX / 32 / (a->width + 1)) return -1;
  /* Explanations are bounded by limits.max_explain_values when decoded: ~24 bytes each. */
  size_t explained = (a->req->contribs ? (size_t)a->num_groups * (a->num_features + 1) : 0) +
                     (a->req->leaf_ids ? a->num_trees : 0);
  if (explained > 0 && n > SIZE_MAX / 32 / explained) return -1;
  api_buf_reserve(&b, 64 + n * (a->width + 1) * 16 + (explained ? n * explained * 12 : 0));
  api_buf_puts(&b, "{\"model\":");
  api_buf_json_string(&b, a->model_name, strlen(a->model_name));
  api_buf_puts(&b, ",\"predictions\":[");
  for (size_t r = 0; r < n && !b.failed; r++) {
    if (r) api_buf_put(&b, ",", 1);
    if (api__answer_row_error(a, r) != NULL)
      api_buf_put(&b, "null", 4);
    else
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
  if (a->req->per_row_errors) {
    api_buf_puts(&b, ",\"errors\":[");
    for (size_t r = 0; r < n && !b.failed; r++) {
      const char *e = api__answer_row_error(a, r);
      if (r) api_buf_put(&b, ",", 1);
      if (e == NULL)
        api_buf_put(&b, "null", 4);
      else
        api_buf_json_string(&b, e, strlen(e));
    }
    api_buf_put(&b, "]", 1);
  }
  put_explanations(&b, a);
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
