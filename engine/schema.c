/* schema.json: feature names, kinds, ranges, category strings and class labels. */
#include <json-c/json.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "error.h"
#include "file.h"
#include "kernels/forest.h"

#define MAX_SCHEMA_DEPTH 16

void grove_schema_free(grove_schema_t *s) {
  if (s == NULL) return;
  for (uint32_t i = 0; i < s->num_features; i++) {
    grove_schema_feature_t *f = &s->features[i];
    free(f->name);
    free(f->description);
    for (uint32_t c = 0; c < f->num_categories; c++) free(f->categories[c]);
    free(f->categories);
    for (uint32_t m = 0; m < f->num_missing; m++) free(f->missing[m]);
    free(f->missing);
  }
  for (uint32_t i = 0; i < s->num_labels; i++) free(s->labels[i]);
  free(s->labels);
  for (uint32_t m = 0; m < s->num_missing; m++) free(s->missing[m]);
  free(s->missing);
  free(s->features);
  free(s->description);
  free(s);
}

/* Copies string member KEY of O into *out (NULL when absent); -1 on a wrong type or OOM. */
static int dup_string(json_object *o, const char *key, char **out) {
  json_object *v;
  *out = NULL;
  if (!json_object_object_get_ex(o, key, &v) || json_object_is_type(v, json_type_null)) return 0;
  if (!json_object_is_type(v, json_type_string)) return -1;
  *out = strdup(json_object_get_string(v));
  return *out ? 0 : -1;
}

/* Copies a JSON array of strings into *out / *count. */
static int dup_string_array(json_object *arr, char ***out, uint32_t *count) {
  size_t n = json_object_array_length(arr);
  *out = calloc(n ? n : 1, sizeof **out);
  *count = 0;
  if (*out == NULL) return -1;
  for (size_t i = 0; i < n; i++) {
    json_object *s = json_object_array_get_idx(arr, i);
    if (!json_object_is_type(s, json_type_string)) return -1;
    if (((*out)[i] = strdup(json_object_get_string(s))) == NULL) return -1;
    *count = (uint32_t)(i + 1);
  }
  return 0;
}

/* The optional "missing" member of O: an array of strings into *OUT / *COUNT. */
static int dup_missing(json_object *o, char ***out, uint32_t *count) {
  json_object *v;
  if (!json_object_object_get_ex(o, "missing", &v)) return 0;
  return json_object_is_type(v, json_type_array) ? dup_string_array(v, out, count) : -1;
}

static double number_or_nan(json_object *o, const char *key) {
  json_object *v;
  if (!json_object_object_get_ex(o, key, &v)) return NAN;
  if (!json_object_is_type(v, json_type_double) && !json_object_is_type(v, json_type_int))
    return NAN;
  return json_object_get_double(v);
}

static grove_err_t parse_feature(json_object *o, uint32_t i, grove_schema_feature_t *f,
                                 grove_error_t *err) {
  json_object *type, *cats;
  if (!json_object_is_type(o, json_type_object))
    return grove__error_set(err, GROVE_EPARSE, "features[%u]: expected an object", i);
  if (dup_string(o, "name", &f->name) != 0 || f->name == NULL)
    return grove__error_set(err, GROVE_EPARSE, "features[%u]: \"name\" must be a string", i);
  if (dup_string(o, "description", &f->description) != 0)
    return grove__error_set(err, GROVE_EPARSE, "features[%u]: \"description\" must be a string", i);
  const char *t = "numeric";
  if (json_object_object_get_ex(o, "type", &type)) {
    if (!json_object_is_type(type, json_type_string))
      return grove__error_set(err, GROVE_EPARSE, "features[%u]: \"type\" must be a string", i);
    t = json_object_get_string(type);
  }
  if (dup_missing(o, &f->missing, &f->num_missing) != 0)
    return grove__error_set(err, GROVE_EPARSE,
                            "features[%u]: \"missing\" must be an array of strings", i);
  f->min = number_or_nan(o, "min");
  f->max = number_or_nan(o, "max");
  f->step = number_or_nan(o, "step");
  if (strcmp(t, "numeric") == 0) {
    f->type = GROVE_FEATURE_NUMERIC;
  } else if (strcmp(t, "integer") == 0) {
    f->type = GROVE_FEATURE_INTEGER;
  } else if (strcmp(t, "categorical") == 0) {
    f->type = GROVE_FEATURE_CATEGORICAL;
    if (!json_object_object_get_ex(o, "categories", &cats) ||
        !json_object_is_type(cats, json_type_array))
      return grove__error_set(err, GROVE_EPARSE,
                              "features[%u] (%s): categorical needs a \"categories\" array", i,
                              f->name);
    if (dup_string_array(cats, &f->categories, &f->num_categories) != 0)
      return grove__error_set(err, GROVE_EPARSE, "features[%u] (%s): categories must be strings", i,
                              f->name);
  } else {
    return grove__error_set(err, GROVE_EPARSE, "features[%u] (%s): unknown type \"%s\"", i, f->name,
                            t);
  }
  return GROVE_OK;
}

static grove_err_t parse_schema(json_object *root, grove_schema_t *s, grove_error_t *err) {
  json_object *features, *labels;
  if (!json_object_is_type(root, json_type_object))
    return grove__error_set(err, GROVE_EPARSE, "expected a JSON object");
  if (dup_string(root, "description", &s->description) != 0)
    return grove__error_set(err, GROVE_EPARSE, "\"description\" must be a string");
  if (json_object_object_get_ex(root, "labels", &labels)) {
    if (!json_object_is_type(labels, json_type_array) ||
        dup_string_array(labels, &s->labels, &s->num_labels) != 0)
      return grove__error_set(err, GROVE_EPARSE, "\"labels\" must be an array of strings");
  }
  if (dup_missing(root, &s->missing, &s->num_missing) != 0)
    return grove__error_set(err, GROVE_EPARSE, "\"missing\" must be an array of strings");
  char *unknown;
  if (dup_string(root, "unknown_categories", &unknown) != 0 ||
      (unknown != NULL && strcmp(unknown, "refuse") != 0 && strcmp(unknown, "missing") != 0)) {
    free(unknown);
    return grove__error_set(err, GROVE_EPARSE,
                            "\"unknown_categories\" must be \"refuse\" or \"missing\"");
  }
  s->unknown_missing = unknown != NULL && strcmp(unknown, "missing") == 0;
  free(unknown);
  if (!json_object_object_get_ex(root, "features", &features) ||
      !json_object_is_type(features, json_type_array))
    return grove__error_set(err, GROVE_EPARSE, "missing \"features\" array");
  size_t n = json_object_array_length(features);
  s->features = calloc(n ? n : 1, sizeof *s->features);
  if (s->features == NULL) return grove__error_set(err, GROVE_ENOMEM, "out of memory");
  for (size_t i = 0; i < n; i++) {
    s->num_features = (uint32_t)(i + 1);
    grove_err_t rc =
        parse_feature(json_object_array_get_idx(features, i), (uint32_t)i, &s->features[i], err);
    if (rc != GROVE_OK) return rc;
  }
  return GROVE_OK;
}

grove_err_t grove_schema_load_file(const char *path, grove_schema_t **out, grove_error_t *err) {
  *out = NULL;
  char *data;
  size_t len;
  grove_err_t rc = grove__file_read(path, &data, &len, err);
  if (rc != GROVE_OK) return rc;
  json_tokener *tok = json_tokener_new_ex(MAX_SCHEMA_DEPTH);
  json_object *root = tok && len <= INT32_MAX ? json_tokener_parse_ex(tok, data, (int)len) : NULL;
  if (root == NULL || json_tokener_get_error(tok) != json_tokener_success) {
    rc = grove__error_set(
        err, GROVE_EPARSE, "%s: not valid JSON: %s", path,
        tok ? json_tokener_error_desc(json_tokener_get_error(tok)) : "out of memory");
    json_object_put(root);
    json_tokener_free(tok);
    free(data);
    return rc;
  }
  json_tokener_free(tok);
  free(data);
  grove_schema_t *s = calloc(1, sizeof *s);
  rc = s ? parse_schema(root, s, err) : grove__error_set(err, GROVE_ENOMEM, "out of memory");
  json_object_put(root);
  if (rc != GROVE_OK) {
    grove__error_prefix(err, path);
    grove_schema_free(s);
    return rc;
  }
  *out = s;
  return GROVE_OK;
}

grove_err_t grove_schema_check(const grove_schema_t *s, const grove_forest_t *f,
                               grove_error_t *err) {
  if (s->num_features != f->info.num_features)
    return grove__error_set(err, GROVE_EINVAL, "schema has %u features, the model %u",
                            s->num_features, f->info.num_features);
  for (uint32_t i = 0; i < s->num_features; i++) {
    const char *name = grove_forest_feature_name(f, i);
    if (name != NULL && strcmp(name, s->features[i].name) != 0)
      return grove__error_set(err, GROVE_EINVAL,
                              "schema feature %u is \"%s\", the model's is \"%s\"", i,
                              s->features[i].name, name);
    int model_cat = grove_forest_feature_type(f, i) == GROVE_FEATURE_CATEGORICAL;
    int schema_cat = s->features[i].type == GROVE_FEATURE_CATEGORICAL;
    if (model_cat && !schema_cat)
      return grove__error_set(err, GROVE_EINVAL,
                              "feature \"%s\" is categorical in the model but not in the schema",
                              s->features[i].name);
  }
  if (s->num_labels > 0 && f->info.task == GROVE_TASK_MULTICLASS &&
      s->num_labels != f->info.num_groups)
    return grove__error_set(err, GROVE_EINVAL, "schema has %u labels, the model %u classes",
                            s->num_labels, f->info.num_groups);
  if (s->num_labels > 0 && f->info.task == GROVE_TASK_BINARY && s->num_labels != 2)
    return grove__error_set(err, GROVE_EINVAL, "a binary model needs 2 labels, the schema has %u",
                            s->num_labels);
  return GROVE_OK;
}

int32_t grove_schema_category_code(const grove_schema_t *s, uint32_t i, const char *value,
                                   size_t len) {
  if (i >= s->num_features) return -1;
  const grove_schema_feature_t *f = &s->features[i];
  for (uint32_t c = 0; c < f->num_categories; c++)
    if (strlen(f->categories[c]) == len && memcmp(f->categories[c], value, len) == 0)
      return (int32_t)c;
  return -1;
}

/* Whether S[0..LEN) is a whole number as strtod reads it (no NaN: missing is the caller's). */
static int parse_double(const char *s, size_t len, double *out) {
  char buf[64];
  if (len == 0 || len >= sizeof buf) return 0;
  memcpy(buf, s, len);
  buf[len] = '\0';
  char *end;
  *out = strtod(buf, &end);
  return end == buf + len && !isnan(*out);
}

int grove_schema_category_labels_numeric(const grove_schema_t *s, uint32_t i) {
  if (s == NULL || i >= s->num_features) return 0;
  const grove_schema_feature_t *f = &s->features[i];
  if (f->type != GROVE_FEATURE_CATEGORICAL || f->num_categories == 0) return 0;
  for (uint32_t c = 0; c < f->num_categories; c++) {
    double v;
    if (!parse_double(f->categories[c], strlen(f->categories[c]), &v)) return 0;
  }
  return 1;
}

/* The label TEXT is, by its text or (NUMBER non-NULL, numeric labels) by value; -1: none. */
static int32_t label_code(const grove_schema_t *s, uint32_t i, const char *text, size_t len,
                          const double *number) {
  int32_t code = grove_schema_category_code(s, i, text, len);
  if (code >= 0 || number == NULL || !grove_schema_category_labels_numeric(s, i)) return code;
  const grove_schema_feature_t *f = &s->features[i];
  for (uint32_t c = 0; c < f->num_categories; c++) {
    double v;
    if (parse_double(f->categories[c], strlen(f->categories[c]), &v) && v == *number)
      return (int32_t)c;
  }
  return -1;
}

grove_category_kind_t grove_schema_category_read(const grove_schema_t *s, uint32_t i,
                                                 const char *text, size_t len,
                                                 grove_categories_t mode, double *code) {
  double number = 0.0;
  const int is_number = parse_double(text, len, &number);
  const int has_labels =
      s != NULL && i < s->num_features && s->features[i].type == GROVE_FEATURE_CATEGORICAL;
  const int32_t label = has_labels && mode != GROVE_CATEGORIES_CODES
                            ? label_code(s, i, text, len, is_number ? &number : NULL)
                            : -1;
  if (mode == GROVE_CATEGORIES_LABELS || (mode == GROVE_CATEGORIES_AUTO && label >= 0)) {
    if (label < 0) return GROVE_CATEGORY_UNKNOWN;
    *code = label;
    /* Auto: a number that is also another label's code could mean either. */
    if (mode == GROVE_CATEGORIES_AUTO && is_number && number == floor(number) && number >= 0 &&
        number < s->features[i].num_categories && number != label)
      return GROVE_CATEGORY_AMBIGUOUS;
    return GROVE_CATEGORY_LABEL;
  }
  if (!is_number) return GROVE_CATEGORY_UNKNOWN;
  *code = number;
  return GROVE_CATEGORY_CODE;
}

/* Whether VALUE is one of the N strings of LIST. */
static int listed(char *const *list, uint32_t n, const char *value, size_t len) {
  for (uint32_t k = 0; k < n; k++)
    if (strlen(list[k]) == len && memcmp(list[k], value, len) == 0) return 1;
  return 0;
}

int grove_schema_is_missing(const grove_schema_t *s, uint32_t i, const char *value, size_t len) {
  if (s == NULL) return 0;
  if (listed(s->missing, s->num_missing, value, len)) return 1;
  return i < s->num_features &&
         listed(s->features[i].missing, s->features[i].num_missing, value, len);
}
