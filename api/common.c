/*
 * What the API's codecs share, below all of them: the checks and conversions every decoder
 * uses (so JSON, msgpack and OIP requests are refused with the same messages) and the
 * label rules every encoder uses. Nothing here knows a wire format.
 */
#include "common.h"

#include <math.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* ------------------------------------------------------------------------- */
/* Errors                                                                     */

int api__fail(api_error_t *err, int status, const char *fmt, ...) {
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

const char *api__feature_name(const grove_forest_t *forest, const grove_schema_t *schema,
                              uint32_t j, char buf[static 16]) {
  const char *name = grove_forest_feature_name(forest, j);
  if (name == NULL && schema != NULL && j < schema->num_features) name = schema->features[j].name;
  if (name != NULL) return name;
  snprintf(buf, 16, "f%u", j);
  return buf;
}

const char *api__feature_label(const grove_forest_t *forest, const grove_schema_t *schema,
                               uint32_t j, char *buf, size_t size) {
  char fallback[16];
  snprintf(buf, size, "%.*s", API_QUOTE_MAX, api__feature_name(forest, schema, j, fallback));
  return buf;
}

int32_t api__feature_lookup(const grove_forest_t *forest, const grove_schema_t *schema,
                            const char *name, size_t len) {
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

int api__feature_is_categorical(const grove_forest_t *forest, const grove_schema_t *schema,
                                uint32_t j) {
  if (schema != NULL && j < schema->num_features)
    return schema->features[j].type == GROVE_FEATURE_CATEGORICAL;
  return grove_forest_feature_type(forest, j) == GROVE_FEATURE_CATEGORICAL;
}

int api__alloc_rows(size_t nrows, const grove_forest_t *forest, const api_limits_t *limits,
                    api_request_t *req, api_error_t *err) {
  grove_forest_info_t info;
  grove_forest_get_info(forest, &info);
  if (nrows == 0) return api__fail(err, 400, "no rows: the request must hold at least one row");
  if (limits != NULL && limits->max_rows > 0 && nrows > limits->max_rows)
    return api__fail(err, 413, "%zu rows in one request; the limit is %zu", nrows,
                     limits->max_rows);
  size_t nf = info.num_features ? info.num_features : 1;
  if (nrows > SIZE_MAX / sizeof(float) / nf)
    return api__fail(err, 413, "%zu rows is too many", nrows);
  float *rows = malloc(nrows * nf * sizeof *rows);
  if (rows == NULL) return api__fail(err, 500, "out of memory for %zu rows", nrows);
  for (size_t i = 0; i < nrows * nf; i++) rows[i] = NAN;
  free(req->rows);
  req->rows = rows;
  req->nrows = nrows;
  req->num_features = info.num_features;
  if (!grove_forest_takes_doubles(forest)) return 0;
  free(req->rows64);
  free(req->inexact);
  req->rows64 =
      nrows <= SIZE_MAX / sizeof(double) / nf ? malloc(nrows * nf * sizeof(double)) : NULL;
  req->inexact = calloc(nrows, 1);
  req->ninexact = 0;
  if (req->rows64 == NULL || req->inexact == NULL)
    return api__fail(err, 500, "out of memory for %zu rows", nrows);
  for (size_t i = 0; i < nrows * nf; i++) req->rows64[i] = NAN;
  return 0;
}

/* Stores X for the feature at LOC at *DST as the model takes it, and X itself in the
 * request's doubles when the model takes doubles (see api__put_number). */
static void store(const grove_forest_t *forest, const api_loc_t *loc, double x, float *dst) {
  int exact;
  *dst = grove_forest_input_value(forest, loc->feature, x, &exact);
  api_request_t *req = loc->req;
  if (req == NULL || req->rows64 == NULL || loc->index >= req->nrows) return;
  req->rows64[loc->index * req->num_features + loc->feature] = x;
  if (!exact && !req->inexact[loc->index]) {
    req->inexact[loc->index] = 1;
    req->ninexact++;
  }
}

static int fail_at(api_error_t *err, const grove_forest_t *forest, const grove_schema_t *schema,
                   const api_loc_t *loc, const char *fmt, ...)
    __attribute__((format(printf, 5, 6)));
static int fail_at(api_error_t *err, const grove_forest_t *forest, const grove_schema_t *schema,
                   const api_loc_t *loc, const char *fmt, ...) {
  char name[API_QUOTE_MAX + 16], what[200];
  va_list ap;
  va_start(ap, fmt);
  vsnprintf(what, sizeof what, fmt, ap);
  va_end(ap);
  api__feature_label(forest, schema, loc->feature, name, sizeof name);
  if (loc->what == NULL) return api__fail(err, 400, "feature '%s': %s", name, what);
  return api__fail(err, 400, "%s %zu, feature '%s': %s", loc->what, loc->index, name, what);
}

int api__put_number(double d, const grove_forest_t *forest, const grove_schema_t *schema,
                    const api_loc_t *loc, float *dst, api_error_t *err) {
  if (isnan(d))
    return fail_at(err, forest, schema, loc, "NaN is not a value (use null for a missing value)");
  if (isinf((float)d)) return fail_at(err, forest, schema, loc, "value out of float32 range");
  store(forest, loc, d, dst);
  return 0;
}

int api__put_category_code(double code, const grove_forest_t *forest, const grove_schema_t *schema,
                           const api_loc_t *loc, float *dst, api_error_t *err) {
  if (isnan(code) || isinf((float)code))
    return fail_at(err, forest, schema, loc, "a category code must be a finite number");
  store(forest, loc, code, dst);
  return 0;
}

int api__put_feature_number(double d, const grove_forest_t *forest, const grove_schema_t *schema,
                            const api_loc_t *loc, float *dst, api_error_t *err) {
  return api__feature_is_categorical(forest, schema, loc->feature)
             ? api__put_category_code(d, forest, schema, loc, dst, err)
             : api__put_number(d, forest, schema, loc, dst, err);
}

int api__put_category_string(const char *s, size_t len, const grove_forest_t *forest,
                             const grove_schema_t *schema, int unknown_missing,
                             const api_loc_t *loc, float *dst, api_error_t *err) {
  uint32_t j = loc->feature;
  int quoted = (int)(len > API_QUOTE_MAX ? API_QUOTE_MAX : len);
  if (grove_schema_is_missing(schema, j, s, len)) return 0; /* e.g. the Adult data's "?" */
  if (!api__feature_is_categorical(forest, schema, j))
    return fail_at(err, forest, schema, loc, "expected a number, got the string \"%.*s\"", quoted,
                   s);
  if (schema == NULL || j >= schema->num_features)
    return fail_at(err, forest, schema, loc,
                   "category strings need a schema.json with categories; send the integer code");
  double code;
  if (grove_schema_category_read(schema, j, s, len, GROVE_CATEGORIES_LABELS, &code) ==
      GROVE_CATEGORY_LABEL) { /* a string is a label, matched by its text or numeric value */
    store(forest, loc, code, dst);
    return 0;
  }
  if (unknown_missing) return 0; /* *dst stays missing */
  /* Name a few valid categories, as many as fit. */
  const grove_schema_feature_t *f = &schema->features[j];
  char some[120];
  size_t used = 0;
  some[0] = '\0';
  uint32_t shown = 0;
  for (; shown < f->num_categories; shown++) {
    int n = snprintf(some + used, sizeof some - used, "%s\"%.*s\"", shown ? ", " : "", 32,
                     f->categories[shown]);
    if (n < 0 || (size_t)n >= sizeof some - used - 8) {
      some[used] = '\0';
      break;
    }
    used += (size_t)n;
  }
  return fail_at(err, forest, schema, loc, "unknown category \"%.*s\" (known: %s%s)", quoted, s,
                 shown ? some : "none", shown < f->num_categories ? ", ..." : "");
}

int api__put_text(const char *s, size_t len, const grove_forest_t *forest,
                  const grove_schema_t *schema, int unknown_missing, const api_loc_t *loc,
                  float *dst, api_error_t *err) {
  if (api__feature_is_categorical(forest, schema, loc->feature))
    return api__put_category_string(s, len, forest, schema, unknown_missing, loc, dst, err);
  char text[64], *end;
  if (len > 0 && len < sizeof text && memchr(s, '\0', len) == NULL) {
    memcpy(text, s, len);
    text[len] = '\0';
    double d = strtod(text, &end);
    if (*end == '\0' && end != text)
      return isnan(d) ? 0 : api__put_feature_number(d, forest, schema, loc, dst, err);
  }
  return api__put_category_string(s, len, forest, schema, 0, loc, dst, err); /* words it */
}

const api_v1_choice_t api__v1_choices[API_V1_CHOICES] = {
    {"errors", 6, {"request", "per_row"}, offsetof(api_request_t, per_row_errors)},
    {"unknown_categories", 18, {"refuse", "missing"}, offsetof(api_request_t, unknown_missing)},
};

int api__v1_choice(const api_v1_choice_t *c, const char *word, api_request_t *req,
                   api_error_t *err) {
  for (int w = 0; word != NULL && w < 2; w++)
    if (strcmp(word, c->words[w]) == 0) {
      *(int *)((char *)req + c->offset) = w;
      return 0;
    }
  return api__fail(err, 400, "\"%s\" must be \"%s\" or \"%s\"", c->key, c->words[0], c->words[1]);
}

int *api__v1_flag(api_request_t *req, const char *key, size_t klen) {
  static const struct {
    const char *key;
    size_t offset;
  } flags[] = {{"margin", offsetof(api_request_t, margin)},
               {"labels", offsetof(api_request_t, labels)},
               {"explain", offsetof(api_request_t, explain)},
               {"leaves", offsetof(api_request_t, leaves)}};
  for (size_t i = 0; i < sizeof flags / sizeof flags[0]; i++)
    if (strlen(flags[i].key) == klen && memcmp(flags[i].key, key, klen) == 0)
      return (int *)((char *)req + flags[i].offset);
  return NULL;
}

int api__row_failed(api_request_t *req, size_t r, const api_error_t *err) {
  if (!req->per_row_errors || err->status != 400 || r >= req->nrows) return -1;
  if (req->row_errors == NULL && (req->row_errors = calloc(req->nrows, sizeof(char *))) == NULL)
    return -1;
  if (req->row_errors[r] == NULL) {
    if ((req->row_errors[r] = strdup(err->message)) == NULL) return -1;
    req->nbad++;
  }
  for (uint32_t j = 0; j < req->num_features; j++) {
    req->rows[r * req->num_features + j] = NAN;
    if (req->rows64 != NULL) req->rows64[r * req->num_features + j] = NAN;
  }
  if (req->inexact != NULL && req->inexact[r]) {
    req->inexact[r] = 0;
    req->ninexact--;
  }
  return 0;
}

const char *api__feature_list(const grove_forest_t *forest, const grove_schema_t *schema, char *buf,
                              size_t size) {
  grove_forest_info_t info;
  grove_forest_get_info(forest, &info);
  size_t used = 0;
  buf[0] = '\0';
  for (uint32_t j = 0; j < info.num_features; j++) {
    char name[API_QUOTE_MAX + 16];
    api__feature_label(forest, schema, j, name, sizeof name);
    int n = snprintf(buf + used, size - used, "%s'%s'", j ? ", " : "", name);
    if (n < 0 || (size_t)n + 6 >= size - used) {
      snprintf(buf + used, size - used, "%s...", j ? ", " : "");
      break;
    }
    used += (size_t)n;
  }
  return buf;
}

/* ------------------------------------------------------------------------- */
/* Labels                                                                     */

int api__wants_labels(const grove_forest_t *forest, const api_request_t *req) {
  grove_forest_info_t info;
  grove_forest_get_info(forest, &info);
  return req->labels && (info.task == GROVE_TASK_BINARY || info.task == GROVE_TASK_MULTICLASS);
}

int32_t api__class_index(const grove_forest_t *forest, const api_request_t *req, const float *out,
                         uint32_t width, uint32_t col) {
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

void api__answer_init(api_answer_t *a, const char *model_name, const grove_forest_t *forest,
                      const grove_schema_t *schema, const api_request_t *req, const float *out) {
  grove_forest_info_t info;
  grove_forest_get_info(forest, &info);
  uint32_t width = grove_forest_output_width(forest, req->margin);
  *a = (api_answer_t){.model_name = model_name ? model_name : "",
                      .forest = forest,
                      .schema = schema,
                      .req = req,
                      .out = out,
                      .width = width,
                      .labels = api__wants_labels(forest, req),
                      .label_columns = info.task == GROVE_TASK_BINARY && width > 1 ? width : 1,
                      .num_groups = info.num_groups,
                      .num_features = info.num_features,
                      .num_trees = info.num_trees};
}

int32_t api__answer_label(const api_answer_t *a, size_t r, uint32_t col) {
  if (api__answer_row_error(a, r) != NULL) return -1;
  return api__class_index(a->forest, a->req, a->out + r * a->width, a->width, col);
}

const char *api__answer_row_error(const api_answer_t *a, size_t r) {
  return a->req->row_errors != NULL ? a->req->row_errors[r] : NULL;
}
